#include "hooks/plugin/loaded_hook.hpp"

#include <boost/json.hpp>

#include <memory>
#include <stdexcept>

#include "hooks/common/team_text.hpp"
#include "rapport/json.hpp"

namespace rapport::hooks {
namespace {

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
    : LoadedHook(std::move(name), load_in_process(path, config_json)) {}

LoadedHook::LoadedHook(std::string name, std::unique_ptr<PluginCalls> calls)
    : name_(std::move(name)), calls_(std::move(calls)) {
  for (const auto& t : calls_->info().event_types) {
    auto type = parse_event_type(t);
    if (!type) {
      throw std::runtime_error("plugin of hook \"" + name_ + "\": asks for unknown event type \"" +
                               t + "\"");
    }
    types_.push_back(*type);
  }
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
  auto [status, text] = calls_->handle(event_json, context_json);
  if (status == RAPPORT_STATUS_RETRY)
    throw RetryLater(text.empty() ? "plugin asked to retry" : text);
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
                     {.name = "plugin",
                      .type = Type::path,
                      .description = "the shared library (.so) to load",
                      .required = true},
                     {.name = "config",
                      .type = Type::any,
                      .description = "the plugin's own settings, handed to it as JSON",
                      .default_value = "{}"},
                     {.name = "max_retries",
                      .type = Type::integer,
                      .description = "RETRY answers for one event before it counts as an error "
                                     "(with isolation: process, a crash or a hang is a RETRY)",
                      .default_value = "8",
                      .min = 0,
                      .max = 100},
                     {.name = "isolation",
                      .type = Type::enumeration,
                      .description = "in_process: the library is loaded into rapport; process: "
                                     "it runs in a child process (rapport-plugin-host), so that a "
                                     "crash, a hang or a leak costs the plugin, not the engine",
                      .default_value = "in_process",
                      .choices = {"in_process", "process"}},
                     {.name = "memory_limit",
                      .type = Type::integer,
                      .description = "isolation: process: the child's address space in bytes "
                                     "(0: no limit)",
                      .default_value = "1073741824",
                      .min = 0,
                      .max = 1'099'511'627'776.0},
                     {.name = "call_timeout",
                      .type = Type::duration,
                      .description = "isolation: process: one call's time limit; a plugin slower "
                                     "than this is killed, and the event retried",
                      .default_value = "10s",
                      .min = 10,
                      .max = 3'600'000},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    const config::Node* cfg = s.node()->get("config");
    std::string config_json = cfg ? config::to_json_text(*cfg) : "{}";
    if (s.str("isolation") == "process") {
      IsolationOptions options;
      options.memory_limit = std::size_t(s.integer("memory_limit"));
      options.call_timeout = s.duration("call_timeout");
      return std::make_unique<LoadedHook>(name,
                                          load_isolated(s.str("plugin"), config_json, options));
    }
    return std::make_unique<LoadedHook>(name, s.str("plugin"), config_json);
  };
  return kind;
}

}  // namespace rapport::hooks
