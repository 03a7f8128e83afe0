// Scenario tests written as data (tests/plugin/hooks/scenarios/*.yaml): a small history,
// the config, a period to run on the simulated clock, and the exact actions expected,
// reasons included. The engine is the real one, on a real SQLite store.
#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <filesystem>
#include <set>

#include "config/config.hpp"
#include "config/node.hpp"
#include "engine/engine.hpp"
#include "rapport/json.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

std::string json_of(const YAML::Node& node) {
  config::ParseContext ctx{"scenario", nullptr, {}};
  return config::to_json_text(config::parse_yaml(YAML::Dump(node), ctx));
}

TimePoint moment(const std::string& text) {
  if (auto d = parse_date(text)) return TimePoint{*d};
  auto t = parse_time(text);
  if (!t) throw std::runtime_error("scenario: bad time " + text);
  return *t;
}

struct Expected {
  std::string type, student, contact, due, reason;
  bool operator<(const Expected& o) const {
    return std::tie(type, student, contact, due) < std::tie(o.type, o.student, o.contact, o.due);
  }
};

std::string show(const std::vector<Expected>& list) {
  std::string out;
  for (const auto& e : list) {
    out += "  - {type: " + e.type + ", student: " + e.student + ", contact: " + e.contact +
           ", due: \"" + e.due + "\"}\n    reason: \"" + e.reason + "\"\n";
  }
  return out;
}

void run_scenario(const std::string& path) {
  YAML::Node s = YAML::LoadFile(path);
  INFO("scenario " << path << ": " << s["name"].as<std::string>());
  test::TempDir dir;
  Registry registry;
  register_builtins(registry);
  std::string yaml =
      test::store_yaml(dir, test::default_backend()) + "\n" + s["config"].as<std::string>();
  auto config = config::load_config_text(yaml, path, registry);
  auto engine = Engine::build(*config, registry);
  auto& store = engine->store();

  TimePoint from = moment(s["run"]["from"].as<std::string>());
  TimePoint to = moment(s["run"]["to"].as<std::string>());
  struct Pending {
    TimePoint at;
    Event event;
  };
  std::vector<Pending> pending;
  int n = 0;
  for (const auto& p : s["people"]) {
    pending.push_back({from, Event{"person-" + std::to_string(++n), EventType::person_updated,
                                   "scenario", from, p["id"].as<std::string>(), json_of(p)}});
  }
  for (const auto& e : s["events"]) {
    TimePoint at = moment(e["at"].as<std::string>());
    auto type = parse_event_type(e["type"].as<std::string>());
    REQUIRE(type);
    std::string data = json_of(e["data"]);
    std::string subject;
    auto parsed = boost::json::parse(data).as_object();
    if (parsed.contains("student")) subject = std::string(parsed["student"].as_string());
    pending.push_back(
        {at, Event{"event-" + std::to_string(++n), *type, "scenario", at, subject, data}});
  }
  std::vector<bool> submitted(pending.size(), false);
  for (TimePoint now = from; now <= to; now += std::chrono::hours(24)) {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (submitted[i] || pending[i].at > now) continue;
      submitted[i] = true;
      Transaction tx(store);
      store.append_event(pending[i].event, now);
      tx.commit();
    }
    engine->step(now);
  }

  std::vector<Expected> expected, actual;
  for (const auto& e : s["expect"]) {
    expected.push_back({e["type"].as<std::string>(), e["student"].as<std::string>(),
                        e["contact"].as<std::string>(), e["due"].as<std::string>(),
                        e["reason"] ? e["reason"].as<std::string>() : ""});
  }
  for (const auto& [seq, a] : store.actions_after(0, 100000)) {
    actual.push_back(
        {std::string(to_string(a.type)), a.student_id, a.contact_id, format_time(a.due), a.reason});
    if (s["forbid_evidence"]) {
      for (const auto& key : s["forbid_evidence"]) {
        INFO("action " << a.id << " carries evidence " << key.as<std::string>());
        CHECK(a.evidence.count(key.as<std::string>()) == 0);
      }
    }
  }
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  // Reasons are compared where the scenario states them.
  for (std::size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    if (expected[i].reason.empty()) actual[i].reason.clear();
  }
  INFO("actual actions:\n" << show(actual));
  CHECK(show(actual) == show(expected));

  std::vector<std::string> notices;
  for (const auto& r : store.reports()) {
    if (r.kind == "notice") notices.push_back(r.last_message);
  }
  for (const auto& want : s["expect_notices"]) {
    bool found = false;
    for (const auto& got : notices)
      found = found || got.find(want.as<std::string>()) != std::string::npos;
    INFO("notice wanted: " << want.as<std::string>());
    CHECK(found);
  }
  if (s["expect_no_notices"] && s["expect_no_notices"].as<bool>()) CHECK(notices.empty());
}

}  // namespace

TEST_CASE("every hook scenario produces exactly the actions it expects", "[hook][scenario]") {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(test::source_dir() + "/tests/plugin/hooks/scenarios")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 15);
  auto file = GENERATE_COPY(from_range(files));
  SECTION(std::filesystem::path(file).filename().string()) {
    run_scenario(file);
  }
}
