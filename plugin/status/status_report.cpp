#include "status/status_report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>

#include "engine/dispatcher.hpp"
#include "engine/registry.hpp"
#include "store/open_store.hpp"

namespace rapport::status {
namespace json = boost::json;

namespace {

// "2027-06-30", "2027-06-30 17:15:00", "2027-06-30T17:15:00Z"...: a date or time.
bool time_shaped(const std::string& text) {
  static const std::regex shape(
      R"(\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?)");
  return text.size() <= 40 && std::regex_match(text, shape);
}

// Where a cursor stands, and nothing else. A SQL source's cursor also holds the key of
// the last row read and digests of the rows read at that moment, which with a little
// guessing give an evaluation's score and evaluator away: only its time ("at") is shown,
// and only when it is a time (a cursor column may be a key). Anything else shows as "set".
std::string position_of(const std::string& value) {
  boost::system::error_code ec;
  auto parsed = json::parse(value, ec);
  if (!ec && parsed.is_object()) {
    const auto* at = parsed.as_object().if_contains("at");
    if (at && at->is_string() && time_shaped(std::string(at->as_string()))) {
      return std::string(at->as_string());
    }
    return "set";
  }
  return time_shaped(value) ? value : "set";
}

}  // namespace

json::object status_of(const config::Config& config, Store& store) {
  auto progress = store.all_progress();
  auto last = store.last_event_seq();
  auto counts = store.counts();
  auto expired = store.expired_counts();
  auto of = [&](const char* stage) {
    auto it = expired.find(stage);
    return it == expired.end() ? std::int64_t{0} : it->second;
  };
  json::object out{{"store", json::object{{"type", store.backend()},
                                          {"path", store_name(config)},
                                          {"schema", store.schema_version()}}},
                   {"inbox_events", counts.events},
                   {"outbox_actions", counts.actions},
                   {"timers_pending", counts.timers},
                   {"held_actions", store.held_count()},
                   {"expired", json::object{{"before_made", of("made")},
                                            {"while_held", of("held")},
                                            {"before_delivery", of("delivery")}}},
                   {"withdrawn", of("withdrawn")}};
  // Processes sharing the store: those seen within two lease times, and who holds what.
  const auto lease =
      std::chrono::duration_cast<std::chrono::seconds>(config.section("store").duration("lease"));
  json::array processes, leases;
  for (const auto& p : store.live_processes(2 * lease)) {
    processes.push_back(json::object{{"instance", p.instance},
                                     {"host", p.host},
                                     {"pid", p.pid},
                                     {"started", p.started},
                                     {"heartbeat", p.heartbeat},
                                     {"leases", p.leases}});
  }
  for (const auto& l : store.leases()) {
    if (l.until.empty()) continue;  // given back
    leases.push_back(json::object{
        {"name", l.name}, {"holder", l.holder}, {"until", l.until}, {"epoch", l.epoch}});
  }
  out["processes"] = std::move(processes);
  out["leases"] = std::move(leases);
  // Every configured source, then any the store still has a state of (removed from the
  // configuration since). A source without a recorded state has not failed: up.
  std::map<std::string, Store::SourceState> states;
  for (auto& s : store.source_states()) states[s.source] = std::move(s);
  json::array sources;
  // By value: the state's node, which may hold the name, is erased below.
  auto source = [&](std::string name, const std::string& type) {
    json::object o{{"name", name}, {"type", type}, {"up", true}};
    if (auto it = states.find(name); it != states.end()) {
      o["up"] = it->second.up;
      o["since"] = it->second.since;
      if (!it->second.up) o["message"] = it->second.message;
      states.erase(it);
    }
    json::object cursors;
    for (const auto& [entity, value] : store.cursors(name)) cursors[entity] = position_of(value);
    o["cursors"] = std::move(cursors);
    sources.push_back(std::move(o));
  };
  for (const auto& [name, section] : config.section().sections("sources")) {
    source(name, section.str("type"));
  }
  while (!states.empty()) source(states.begin()->first, "not configured");
  out["sources"] = std::move(sources);
  json::array consumers;
  auto consumer = [&](const std::string& kind, const std::string& name, std::int64_t at,
                      std::int64_t behind) {
    consumers.push_back(
        json::object{{"kind", kind}, {"name", name}, {"at", at}, {"behind", behind}});
    return &consumers.back().as_object();
  };
  auto at_of = [&](const std::string& c) { return progress.count(c) ? progress.at(c) : 0; };
  consumer("mirror", "mirror", at_of(kMirrorConsumer), last - at_of(kMirrorConsumer));
  // A hook's place; with engine.partitions, that of its slowest partition ("name#N").
  auto hook_at = [&](const std::string& name) {
    if (progress.count(name)) return progress.at(name);
    std::optional<std::int64_t> slowest;
    const std::string prefix = name + "#";
    for (auto it = progress.lower_bound(prefix);
         it != progress.end() && it->first.starts_with(prefix); ++it) {
      slowest = std::min(slowest.value_or(it->second), it->second);
    }
    return slowest.value_or(0);
  };
  for (const auto& [name, section] : config.section().sections("hooks")) {
    if (section.boolean("enabled")) consumer("hook", name, hook_at(name), last - hook_at(name));
  }
  bool budget = false;
  for (const auto& [name, section] : config.section().sections("sinks")) {
    if (!reads_actions(section)) {
      // A staff chat channel: its messages by state.
      auto* o = consumer("sink", name, 0, 0);
      (*o)["audience"] = section.str("audience");
      json::object messages;
      for (const auto& [state, n] : store.digest_counts(name)) messages[state] = n;
      (*o)["deliveries"] = std::move(messages);
      if (auto why = store.sink_disabled(name)) (*o)["disabled"] = *why;
      continue;
    }
    auto seq = at_of("sink:" + name);
    // A student sink reads the prompts the budget released, in their own order.
    bool student = section.str("audience") == "student";
    budget = budget || student;
    auto* o = consumer("sink", name, seq,
                       student ? store.count_released_after(seq) : store.count_actions_after(seq));
    (*o)["audience"] = section.str("audience");
    // Sinks that deliver action by action (webhook): their own queue and dead letters.
    json::object deliveries;
    for (const auto& [state, n] : store.delivery_counts(name)) deliveries[state] = n;
    if (!deliveries.empty()) (*o)["deliveries"] = std::move(deliveries);
    if (auto why = store.sink_disabled(name)) (*o)["disabled"] = *why;
    // Sinks that send digests (email): their digests by state, and who had no address.
    if (section.str("type") == "email") {
      json::object digests;
      for (const auto& [state, n] : store.digest_counts(name)) digests[state] = n;
      (*o)["deliveries"] = std::move(digests);
      json::array missing;
      for (const auto& id : store.students_without_address(name))
        missing.push_back(json::value(id));
      (*o)["students_without_address"] = std::move(missing);
    }
  }
  if (budget) {
    auto seq = at_of(kPromptBudgetConsumer);
    consumer("budget", "prompt_budget", seq, store.count_actions_after(seq));
    json::object prompts{{"sent", 0}, {"deferred", 0}, {"dropped", 0}};
    for (const auto& [state, n] : store.prompt_counts()) prompts[state] = n;
    out["prompts"] = std::move(prompts);
  }
  out["consumers"] = std::move(consumers);
  json::array reports;
  for (const auto& r : store.reports()) {
    reports.push_back(json::object{{"consumer", r.consumer},
                                   {"kind", r.kind},
                                   {"count", r.count},
                                   {"last_at", r.last_at},
                                   {"last_message", r.last_message}});
  }
  out["reports"] = std::move(reports);
  return out;
}

}  // namespace rapport::status
