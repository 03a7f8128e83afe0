#include "engine/registry.hpp"

#include <stdexcept>

#include "config/config.hpp"

namespace rapport {
namespace {

using config::Key;
using config::Node;
using config::Schema;
using config::Type;

template <typename Kinds>
std::vector<std::string> names_of(const Kinds& kinds) {
  std::vector<std::string> out;
  for (const auto& k : kinds) out.push_back(k.type);
  return out;
}

template <typename Kinds>
auto find_kind(const Kinds& kinds, const std::string& type) -> decltype(&kinds.front()) {
  for (const auto& k : kinds) {
    if (k.type == type) return &k;
  }
  return nullptr;
}

template <typename Kinds>
void check_unique(const Kinds& kinds, const std::string& type, const char* what) {
  if (find_kind(kinds, type)) {
    throw std::logic_error(std::string("duplicate ") + what + " type \"" + type + "\"");
  }
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Sources and sinks name their kind with `type:`; hooks default it to their own name.
template <typename Kinds>
const Schema* resolve(const Kinds& kinds, const char* what, bool type_defaults_to_name,
                      const std::string& name, const Node& entry, std::string& error) {
  std::string type = type_defaults_to_name ? name : "";
  if (entry.kind != Node::Kind::map && entry.kind != Node::Kind::null) {
    error = std::string("expected a mapping for this ") + what;
    return nullptr;
  }
  if (type_defaults_to_name && entry.get("plugin")) type = "plugin";
  if (const Node* t = entry.get("type")) type = t->scalar;
  if (type.empty()) {
    error =
        std::string("missing required key \"type\" (one of ") + join_names(names_of(kinds)) + ")";
    return nullptr;
  }
  if (const auto* kind = find_kind(kinds, type)) return &kind->schema;
  error = std::string("unknown ") + what + " type \"" + type + "\"" +
          config::suggestion(type, names_of(kinds)) + " (known: " + join_names(names_of(kinds)) +
          ")";
  return nullptr;
}

void add_common_keys(Schema& schema, const std::string& type, bool is_hook,
                     const HookKind* hook = nullptr) {
  schema.keys.insert(schema.keys.begin(),
                     Key{.name = "type",
                         .type = Type::enumeration,
                         .description = is_hook ? "the hook to run (defaults to the entry's name)"
                                                : "the kind of component",
                         .required = !is_hook,
                         .choices = {type}});
  if (is_hook) {
    schema.keys.insert(schema.keys.begin() + 1, Key{.name = "enabled",
                                                    .type = Type::boolean,
                                                    .description = "run this hook",
                                                    .default_value = "true"});
    schema.keys.insert(schema.keys.begin() + 2,
                       Key{.name = "budget",
                           .type = Type::duration,
                           .description = "handling one event slower than this is reported "
                                          "(log and `rapport status`)",
                           .default_value = "250ms",
                           .min = 1,
                           .max = 600'000});
  }
  if (hook && !hook->max_lateness.empty()) {
    schema.keys.insert(
        schema.keys.begin() + 3,
        Key{.name = "max_lateness",
            .type = Type::duration,
            .description = "how long after " + hook->lateness_from +
                           " an action may still be made or sent; later it expires (not made, "
                           "not sent, not released from a hold; counted in `rapport status`)",
            .default_value = hook->max_lateness,
            .min = 0,
            .max = 3'650.0 * 86'400'000});
  }
}

}  // namespace

std::chrono::seconds max_lateness_of(const config::Section& hook) {
  return std::chrono::duration_cast<std::chrono::seconds>(hook.duration("max_lateness"));
}

Registry::Registry() {
  root_.name = "rapport";
  root_.description = "The top level of the configuration file.";
  root_.keys = {
      {.name = "store",
       .type = Type::section,
       .description = "durable state",
       .default_value = "",
       .schema = &config::store_schema()},
      {.name = "sources",
       .type = Type::sections,
       .description = "where events come from, by name",
       .default_value = "",
       .resolve = [this](
                      const std::string& n, const Node& e,
                      std::string& err) { return resolve(sources_, "source", false, n, e, err); }},
      {.name = "hooks",
       .type = Type::sections,
       .description = "networking hooks to run, by name (the name is the hook unless `type` "
                      "says otherwise; an entry with `plugin:` loads a shared library)",
       .default_value = "",
       .resolve = [this](const std::string& n, const Node& e,
                         std::string& err) { return resolve(hooks_, "hook", true, n, e, err); }},
      {.name = "sinks",
       .type = Type::sections,
       .description = "where actions go, by name",
       .default_value = "",
       .resolve = [this](const std::string& n, const Node& e,
                         std::string& err) { return resolve(sinks_, "sink", false, n, e, err); }},
      {.name = "listener",
       .type = Type::section,
       .description = "inbound webhooks",
       .default_value = "",
       .schema = &config::listener_schema()},
      {.name = "engine",
       .type = Type::section,
       .description = "dispatcher and scheduler",
       .default_value = "",
       .schema = &config::engine_schema()},
      {.name = "log",
       .type = Type::section,
       .description = "logging",
       .default_value = "",
       .schema = &config::log_schema()},
      {.name = "retention",
       .type = Type::section,
       .description = "how long data is kept",
       .default_value = "",
       .schema = &config::retention_schema()},
      {.name = "status_page",
       .type = Type::section,
       .description = "the admins' status page",
       .default_value = "",
       .schema = &config::status_page_schema()},
  };
}

void Registry::add(HookKind kind) {
  check_unique(hooks_, kind.type, "hook");
  add_common_keys(kind.schema, kind.type, true, &kind);
  hooks_.push_back(std::move(kind));
}

void Registry::add(SourceKind kind) {
  check_unique(sources_, kind.type, "source");
  add_common_keys(kind.schema, kind.type, false);
  sources_.push_back(std::move(kind));
}

void Registry::add(SinkKind kind) {
  check_unique(sinks_, kind.type, "sink");
  add_common_keys(kind.schema, kind.type, false);
  // Every sink: what may leave through it, and on which basis (the disclosure log).
  kind.schema.keys.push_back(Key{
      .name = "fields",
      .type = Type::string_list,
      .description = "allow-list of the action's data fields sent (type, student, contact, "
                     "due, reason, evidence, hook, event, contact_details or one of its "
                     "fields such as contact_details.email); empty: all",
      .default_value = "",
      .choices = {"type", "student", "contact", "due", "reason", "evidence", "hook", "event",
                  "contact_details", "contact_details.id", "contact_details.role",
                  "contact_details.name", "contact_details.email", "contact_details.specialty"}});
  kind.schema.keys.push_back(
      Key{.name = "basis",
          .type = Type::enumeration,
          .description = "why the school may disclose through this sink, recorded with each "
                         "action sent (the school's decision: consent or directory information)",
          .default_value = "consent",
          .choices = {"consent", "directory"}});
  // Who reads what leaves through it, and the prompt budget of those that students read.
  if (!kind.schema.find("audience")) {
    kind.schema.keys.push_back(
        Key{.name = "audience",
            .type = Type::enumeration,
            .description = "who reads what this sink sends: host (the platform, which decides "
                           "what to show: every action), student (each student, directly: "
                           "only the prompts the prompt budget lets through) or staff",
            .default_value = "host",
            .choices = {"host", "student", "staff"}});
  }
  for (const char* name : {"prompt_budget", "timezone"}) {
    if (kind.schema.find(name)) {
      throw std::logic_error("sink " + kind.type + " declares \"" + name +
                             "\", which every sink has (the prompt budget's)");
    }
  }
  kind.schema.keys.push_back(
      Key{.name = "prompt_budget",
          .type = Type::integer,
          .description = "with audience: student, at most this many prompts per student per "
                         "week (one prompt: the actions of one type made for one event); "
                         "the rest waits for the next week or, expiring first, is dropped. "
                         "One budget for all student sinks: each must give the same",
          .default_value = "5",
          .min = 1,
          .max = 100});
  kind.schema.keys.push_back(
      Key{.name = "timezone",
          .type = Type::string,
          .description = "IANA time zone of this sink's readers: a budget week starts on "
                         "Monday 00:00 there; empty: engine.timezone",
          .default_value = "",
          .check = [](const std::string& zone) {
            return zone.empty() ? std::string() : config::time_zone_problem(zone);
          }});
  sinks_.push_back(std::move(kind));
}

const HookKind* Registry::hook(const std::string& type) const {
  return find_kind(hooks_, type);
}
const SourceKind* Registry::source(const std::string& type) const {
  return find_kind(sources_, type);
}
const SinkKind* Registry::sink(const std::string& type) const {
  return find_kind(sinks_, type);
}

std::vector<const config::Schema*> Registry::component_schemas() const {
  std::vector<const config::Schema*> out;
  for (const auto& k : sources_) out.push_back(&k.schema);
  for (const auto& k : hooks_) out.push_back(&k.schema);
  for (const auto& k : sinks_) out.push_back(&k.schema);
  return out;
}

}  // namespace rapport
