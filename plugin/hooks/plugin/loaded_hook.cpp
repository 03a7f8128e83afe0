#include "hooks/plugin/loaded_hook.hpp"

#include <dlfcn.h>

#include <boost/json.hpp>

#include <memory>
#include <stdexcept>

#include "hooks/common/team_text.hpp"
#include "rapport/json.hpp"

namespace rapport::hooks {
namespace {

std::string error_of(std::string what, const std::string& path) {
  return "plugin \"" + path + "\": " + what;
}

// One action from the plugin: a whole CloudEvent, or just its data object.
Action action_of(const boost::json::value& item) {
  if (item.is_object() && item.as_object().contains("specversion")) {
    return action_from_json(boost::json::serialize(item));
  }
  boost::json::object data = item.is_object() ? item.as_object() : boost::json::object{};
  // Placeholders the engine overwrites: plugins need not invent ids or times.
  data.emplace("student", "");
  data.emplace("hook", "");
  data.emplace("event", "");
  data.emplace("evidence", boost::json::object{});
  boost::json::object envelope{{"specversion", "1.0"},
                               {"id", ""},
                               {"time", "1970-01-01T00:00:00Z"},
                               {"data", std::move(data)}};
  return action_from_json(boost::json::serialize(envelope));
}

}  // namespace

LoadedHook::LoadedHook(std::string name, const std::string& path, const std::string& config_json)
    : name_(std::move(name)) {
  library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_) throw std::runtime_error(error_of(std::string("cannot load: ") + dlerror(), path));
  auto entry = reinterpret_cast<rapport_plugin_entry_fn>(dlsym(library_, RAPPORT_PLUGIN_ENTRY_SYMBOL));
  if (!entry) {
    dlclose(library_);
    throw std::runtime_error(
        error_of("exports no " + std::string(RAPPORT_PLUGIN_ENTRY_SYMBOL) + " symbol", path));
  }
  table_ = entry();
  if (!table_ || table_->abi_version != RAPPORT_PLUGIN_ABI_VERSION) {
    unsigned version = table_ ? table_->abi_version : 0;
    dlclose(library_);
    throw std::runtime_error(error_of(
        "speaks plugin ABI version " + std::to_string(version) + "; this rapport knows only " +
            std::to_string(RAPPORT_PLUGIN_ABI_VERSION),
        path));
  }
  if (!table_->init || !table_->handle || !table_->free_string || !table_->destroy) {
    dlclose(library_);
    throw std::runtime_error(error_of("has a table with a missing function", path));
  }
  kind_ = table_->name ? table_->name : "";
  version_ = table_->version ? table_->version : "";
  for (const char* const* t = table_->event_types; t && *t; ++t) {
    auto type = parse_event_type(*t);
    if (!type) {
      dlclose(library_);
      throw std::runtime_error(error_of("asks for unknown event type \"" + std::string(*t) + "\"", path));
    }
    types_.push_back(*type);
  }
  char* error = nullptr;
  instance_ = table_->init(config_json.c_str(), &error);
  if (!instance_) {
    std::string message = error ? error : "init returned no instance";
    if (error) table_->free_string(error);
    dlclose(library_);
    throw std::runtime_error(error_of("rejected its config: " + message, path));
  }
}

LoadedHook::~LoadedHook() {
  if (instance_) table_->destroy(instance_);
  if (library_) dlclose(library_);
}

std::vector<Action> LoadedHook::handle(const Event& event, const HookContext& context) {
  std::string student = event.subject;
  if (student.empty() && event.type == EventType::team_changed) {
    // A source may send a team before the mirror knows its rotation's student.
    auto data = boost::json::parse(event.payload);
    if (auto r = context.rotation(std::string(data.at("rotation").as_string()))) {
      student = r->student_id;
    }
  }
  std::string event_json = to_json(event);
  std::string context_json = to_json(snapshot_of(context, student));
  char* out = nullptr;
  rapport_status status = table_->handle(instance_, event_json.c_str(), context_json.c_str(), &out);
  std::unique_ptr<char, void (*)(char*)> owned(out, table_->free_string);
  std::string text = out ? out : "";
  if (status == RAPPORT_STATUS_RETRY) throw RetryLater(text.empty() ? "plugin asked to retry" : text);
  if (status != RAPPORT_STATUS_OK) throw std::runtime_error(text.empty() ? "plugin error" : text);

  boost::json::error_code ec;
  auto parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_array()) {
    throw std::runtime_error("plugin returned something other than a JSON array of actions");
  }
  std::vector<Action> actions;
  for (const auto& item : parsed.as_array()) {
    Action a = action_of(item);
    // The engine owns identity: same hook, event, type and contact, same id.
    a.hook = name_;
    a.event_id = event_key(event);
    a.student_id = student;
    a.id = make_action_id(a.hook, a.event_id, a.type, a.contact_id);
    // Two actions of one type for one contact from one event: tell them apart by position.
    for (const auto& earlier : actions) {
      if (earlier.id == a.id) {
        a.id = make_action_id(a.hook, a.event_id + "#" + std::to_string(actions.size()), a.type,
                              a.contact_id);
      }
    }
    a.created = event.occurred;
    actions.push_back(std::move(a));
  }
  return actions;
}

HookKind plugin_hook_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "plugin";
  kind.schema = {"hooks (plugin)",
                 "A hook from a shared library built against rapport/plugin.h.",
                 {
                     {.name = "plugin", .type = Type::path,
                      .description = "the shared library (.so) to load", .required = true},
                     {.name = "config", .type = Type::any,
                      .description = "the plugin's own settings, handed to it as JSON",
                      .default_value = "{}"},
                     {.name = "max_retries", .type = Type::integer,
                      .description = "RETRY answers for one event before it counts as an error",
                      .default_value = "8", .min = 0, .max = 100},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    const config::Node* cfg = s.node()->get("config");
    return std::make_unique<LoadedHook>(name, s.str("plugin"),
                                        cfg ? config::to_json_text(*cfg) : "{}");
  };
  return kind;
}

}  // namespace rapport::hooks
