#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "engine/dispatcher.hpp"
#include "engine/engine.hpp"
#include "hooks/plugin/loaded_hook.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<Store> store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
  std::vector<std::unique_ptr<Hook>> hooks;
  TimePoint now = *parse_time("2027-01-04T00:00:00Z");

  void add_rotation(const std::string& id) {
    auto r = test::make_rotation(id, "S1", "2027-01-04", "2027-01-31", {{"P1", Role::nurse}});
    store->append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                        now);
    store->append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z"),
                        now);
  }
  std::map<std::string, std::int64_t> reports(const std::string& kind) {
    std::map<std::string, std::int64_t> out;
    for (const auto& r : store->reports()) {
      if (r.kind == kind) out[r.consumer] = r.count;
    }
    return out;
  }
};

}  // namespace

TEST_CASE("a C plugin is loaded and its actions get the engine's deterministic ids",
          "[plugin][abi]") {
  hooks::LoadedHook hook("flaky_one", FLAKY_PLUGIN, "{}");
  CHECK(hook.kind() == "flaky");
  CHECK(hook.version() == "0.1");
  CHECK(hook.subscribed() == std::vector<EventType>{EventType::rotation_started});
  test::FakeContext context;
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::nurse}});
  auto event = test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z");
  CHECK_THROWS_AS(hook.handle(event, context), RetryLater);
  CHECK_THROWS_WITH(hook.handle(event, context), "registry busy");
  auto actions = hook.handle(event, context);
  REQUIRE(actions.size() == 1);
  const auto& a = actions[0];
  CHECK(a.hook == "flaky_one");
  CHECK(a.student_id == "S1");
  CHECK(a.contact_id == "P1");
  CHECK(a.evidence.at("from") == "c");
  CHECK(a.id == make_action_id("flaky_one", "test/R1/rotation.started", ActionType::introduce, "P1"));
  CHECK(a.created == event.occurred);
}

TEST_CASE("a plugin of another ABI version, a missing library and a rejected config stop the "
          "start with a clear message",
          "[plugin][abi]") {
  CHECK_THROWS_WITH(hooks::LoadedHook("x", FUTURE_ABI_PLUGIN, "{}"),
                    Contains("speaks plugin ABI version 99; this rapport knows only 1"));
  CHECK_THROWS_WITH(hooks::LoadedHook("x", "/nonexistent/plugin.so", "{}"),
                    Contains("cannot load"));
  CHECK_THROWS_WITH(hooks::LoadedHook("x", FLAKY_PLUGIN, "{\"reject\":true}"),
                    Contains("rejected its config: config.reject is set"));
}

TEST_CASE("RETRY holds the plugin at its event with backoff while other work goes on; ERROR "
          "is recorded and it moves on",
          "[plugin][dispatcher]") {
  Fixture f;
  f.hooks.push_back(std::make_unique<hooks::LoadedHook>("flaky", FLAKY_PLUGIN, "{}"));
  Dispatcher dispatcher(*f.store, f.hooks, 100, {{"flaky", HookPolicy{std::chrono::milliseconds(20), 8}}});
  f.add_rotation("R-BAD");
  f.add_rotation("R1");

  auto first = dispatcher.run(f.now);
  CHECK(first.failures == 1);  // R-BAD: ERROR, recorded, moved on
  CHECK(first.retries == 1);   // R1: RETRY, held
  CHECK(f.store->progress(kMirrorConsumer) == f.store->last_event_seq());
  CHECK(f.store->progress("flaky") < f.store->last_event_seq());

  CHECK(dispatcher.run(f.now).retries == 0);  // still backing off: not called again
  auto later = f.now + std::chrono::seconds(5);
  CHECK(dispatcher.run(later).retries == 1);   // second RETRY
  auto done = dispatcher.run(later + std::chrono::minutes(5));
  CHECK(done.actions == 1);
  CHECK(f.store->progress("flaky") == f.store->last_event_seq());
  CHECK(f.reports("error") == std::map<std::string, std::int64_t>{{"flaky", 1}});
  CHECK(f.reports("retry") == std::map<std::string, std::int64_t>{{"flaky", 2}});
}

TEST_CASE("a plugin slower than its budget is reported", "[plugin][dispatcher]") {
  Fixture f;
  f.hooks.push_back(std::make_unique<hooks::LoadedHook>("flaky", FLAKY_PLUGIN, "{}"));
  Dispatcher dispatcher(*f.store, f.hooks, 100, {{"flaky", HookPolicy{std::chrono::milliseconds(5), 0}}});
  f.add_rotation("R-SLOW");
  auto stats = dispatcher.run(f.now);
  CHECK(stats.slow == 1);
  CHECK(f.reports("slow").at("flaky") == 1);
  CHECK(stats.failures == 1);  // max_retries 0: the first RETRY already counts as an error
}

TEST_CASE("plugins come in through YAML with their own config", "[plugin][config]") {
  test::TempDir dir;
  Registry registry;
  register_builtins(registry);
  std::string yaml = "store:\n  path: " + dir.file("r.db") +
                     "\nhooks:\n  research:\n    plugin: " RESEARCH_PLUGIN
                     "\n    budget: 50ms\n    config:\n      openings:\n"
                     "        - {id: OPP-1, faculty: P9, specialty: Internal Medicine,"
                     " kind: research, title: Sepsis registry}\n";
  auto config = config::load_config_text(yaml, "test.yaml", registry);
  auto engine = Engine::build(*config, registry);
  auto& store = engine->store();
  Person student{"S1", Role::student, "Stu", std::nullopt, "Internal Medicine",
                 std::nullopt, std::nullopt, false};
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::attending}});
  store.append_event(Event{"p", EventType::person_updated, "t", *parse_time("2027-01-01T00:00:00Z"),
                           "S1", to_json(student)},
                     *parse_time("2027-01-01T00:00:00Z"));
  store.append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                     *parse_time("2027-01-01T00:00:00Z"));
  engine->step(*parse_time("2027-01-04T00:00:00Z"));
  auto actions = store.actions_of("S1");
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].type == ActionType::opportunity);
  CHECK(actions[0].contact_id == "P9");
  CHECK(actions[0].hook == "research");
  CHECK(actions[0].reason ==
        "You are interested in Internal Medicine: ask about the research opening \"Sepsis "
        "registry\" while you rotate here.");

  SECTION("a bad plugin config fails at start, naming the plugin") {
    auto bad = config::load_config_text(
        "hooks:\n  research:\n    plugin: " RESEARCH_PLUGIN "\n    config: {openings: 3}\n",
        "test.yaml", registry);
    CHECK_THROWS_WITH(Engine::build(*bad, registry),
                      Contains("rejected its config: config.openings: expected a list"));
  }
}
