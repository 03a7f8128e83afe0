// engine.partitions in one process (no lease: it takes every partition), on the store
// RAPPORT_TEST_STORE names: changing the number moves each per-student hook's place to the
// new partitions and back, and no event is handled twice or skipped on the way.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <tuple>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "status/status_report.hpp"
#include "support/fake_context.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

// Counts what it was handed, by student and event type; one action per event.
class CountingHook : public Hook {
 public:
  explicit CountingHook(std::map<std::pair<std::string, EventType>, int>& handled)
      : handled_(handled) {}
  std::string name() const override { return "each"; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_started, EventType::rotation_ended};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override {
    ++handled_[{event.subject, event.type}];
    const auto type =
        event.type == EventType::rotation_started ? ActionType::introduce : ActionType::thank_you;
    return {test::synthetic_action(name(), event, type, "A1", context.now())};
  }

 private:
  std::map<std::pair<std::string, EventType>, int>& handled_;
};

std::map<std::string, std::int64_t> places(Store& store) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [consumer, seq] : store.all_progress()) {
    if (consumer.starts_with("each")) out[consumer] = seq;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "engine.partitions changed from 1 to 4 to 1 to 2: each per-student hook's place moves "
    "with it, and every event is handled once",
    "[engine]") {
  test::TempDir dir;
  const auto backend = test::default_backend();
  std::map<std::pair<std::string, EventType>, int> handled;
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  auto engine_with = [&](int partitions) {
    std::vector<std::unique_ptr<Hook>> hooks;
    hooks.push_back(std::make_unique<CountingHook>(handled));
    auto engine = std::make_unique<Engine>(test::open_test_store(dir, backend),
                                           std::vector<std::unique_ptr<Source>>{}, std::move(hooks),
                                           std::vector<std::unique_ptr<Sink>>{}, 3);
    engine->spread_dispatch(partitions, {"each"});
    return engine;
  };
  auto send = [&](Engine& engine, int from, int to, EventType type) {
    for (int i = from; i < to; ++i) {
      auto s = "S" + std::to_string(i);
      auto r =
          test::make_rotation("R-" + s, s, "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
      engine.store().append_event(
          test::event_for(r, type,
                          type == EventType::rotation_started ? "2027-01-04T08:00:00Z"
                                                              : "2027-01-31T17:00:00Z"),
          now);
    }
  };
  auto mirror = [](Engine& engine) { return engine.store().progress(kMirrorConsumer); };
  {
    auto engine = engine_with(1);
    send(*engine, 0, 10, EventType::rotation_started);
    engine->step(now);
    CHECK(places(engine->store()) ==
          std::map<std::string, std::int64_t>{{"each", mirror(*engine)}});
  }
  {
    auto engine = engine_with(4);
    send(*engine, 10, 20, EventType::rotation_started);
    engine->step(now);
    const auto at = mirror(*engine);
    CHECK(places(engine->store()) ==
          std::map<std::string, std::int64_t>{
              {"each#0", at}, {"each#1", at}, {"each#2", at}, {"each#3", at}});
    CHECK(engine->store().cursor(kPartitionsState, kPartitionsKey) == "4");
  }
  {
    auto engine = engine_with(1);
    send(*engine, 20, 30, EventType::rotation_started);
    engine->step(now);
    CHECK(places(engine->store()) ==
          std::map<std::string, std::int64_t>{{"each", mirror(*engine)}});
  }
  {
    auto engine = engine_with(2);
    send(*engine, 0, 30, EventType::rotation_ended);
    engine->step(now);
    const auto at = mirror(*engine);
    CHECK(places(engine->store()) ==
          std::map<std::string, std::int64_t>{{"each#0", at}, {"each#1", at}});
    CHECK(engine->store().actions_after(0, 1000).size() == 60);
  }
  REQUIRE(handled.size() == 60);
  for (const auto& [key, times] : handled) {
    INFO(key.first);
    CHECK(times == 1);
  }
}

TEST_CASE(
    "a config that says engine.partitions: 4, then one that leaves it out, moves the "
    "introductions' place to four partitions and back to one",
    "[engine]") {
  test::TempDir dir;
  Registry registry;
  register_builtins(registry);
  auto build = [&](const std::string& engine_section) {
    auto config = config::load_config_text(test::store_yaml(dir, test::default_backend()) +
                                               "\nhooks:\n  introductions: {}\n  "
                                               "letter_candidates: {}\n" +
                                               engine_section,
                                           "test.yaml", registry);
    return Engine::build(*config, registry);
  };
  auto hooks_progress = [](Store& store) {
    std::set<std::string> out;
    for (const auto& [consumer, seq] : store.all_progress()) {
      if (consumer.starts_with("introductions") || consumer.starts_with("letter")) {
        out.insert(consumer);
      }
    }
    return out;
  };
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  {
    auto engine = build("engine: {partitions: 4}\n");
    auto r =
        test::make_rotation("R-S1", "S1", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
    engine->store().append_event(
        test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z"), now);
    engine->step(now);
    // `rapport status` gives a hook's place as its slowest partition's.
    auto status = status::status_of(
        *config::load_config_text(test::store_yaml(dir, test::default_backend()) +
                                      "\nhooks:\n  introductions: {}\nengine: {partitions: 4}\n",
                                  "test.yaml", registry),
        engine->store());
    bool shown = false;
    for (const auto& c : status.at("consumers").as_array()) {
      if (c.at("name") != "introductions") continue;
      shown = true;
      CHECK(c.at("at").as_int64() == engine->store().progress(kMirrorConsumer));
      CHECK(c.at("behind").as_int64() == 0);
    }
    CHECK(shown);
    // The letter assignment spans all students: it keeps one place.
    CHECK(hooks_progress(engine->store()) ==
          std::set<std::string>{"introductions#0", "introductions#1", "introductions#2",
                                "introductions#3", "letter_candidates"});
  }
  {
    auto engine = build("");
    engine->step(now);
    CHECK(hooks_progress(engine->store()) ==
          std::set<std::string>{"introductions", "letter_candidates"});
    CHECK(engine->store().cursor(kPartitionsState, kPartitionsKey) == "1");
  }
}
