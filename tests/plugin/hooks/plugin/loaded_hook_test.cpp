#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "engine/dispatcher.hpp"
#include "engine/engine.hpp"
#include "hooks/plugin/loaded_hook.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"

#include <thread>

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
  CHECK(a.id ==
        make_action_id("flaky_one", "test/R1/rotation.started", ActionType::introduce, "P1"));
  CHECK(a.created == event.occurred);
}

TEST_CASE(
    "a plugin of another ABI version, a missing library and a rejected config stop the "
    "start with a clear message",
    "[plugin][abi]") {
  CHECK_THROWS_WITH(hooks::LoadedHook("x", FUTURE_ABI_PLUGIN, "{}"),
                    Contains("speaks plugin ABI version 99; this rapport knows only 1"));
  CHECK_THROWS_WITH(hooks::LoadedHook("x", "/nonexistent/plugin.so", "{}"),
                    Contains("cannot load"));
  CHECK_THROWS_WITH(hooks::LoadedHook("x", FLAKY_PLUGIN, "{\"reject\":true}"),
                    Contains("rejected its config: config.reject is set"));
}

TEST_CASE(
    "RETRY holds the plugin at its event with backoff while other work goes on; ERROR "
    "is recorded and it moves on",
    "[plugin][dispatcher]") {
  Fixture f;
  f.hooks.push_back(std::make_unique<hooks::LoadedHook>("flaky", FLAKY_PLUGIN, "{}"));
  Dispatcher dispatcher(*f.store, f.hooks, 100,
                        {{"flaky", HookPolicy{std::chrono::milliseconds(20), 8}}});
  f.add_rotation("R-BAD");
  f.add_rotation("R1");

  auto first = dispatcher.run(f.now);
  CHECK(first.failures == 1);  // R-BAD: ERROR, recorded, moved on
  CHECK(first.retries == 1);   // R1: RETRY, held
  CHECK(f.store->progress(kMirrorConsumer) == f.store->last_event_seq());
  CHECK(f.store->progress("flaky") < f.store->last_event_seq());

  CHECK(dispatcher.run(f.now).retries == 0);  // still backing off: not called again
  auto later = f.now + std::chrono::seconds(5);
  CHECK(dispatcher.run(later).retries == 1);  // second RETRY
  auto done = dispatcher.run(later + std::chrono::minutes(5));
  CHECK(done.actions == 1);
  CHECK(f.store->progress("flaky") == f.store->last_event_seq());
  CHECK(f.reports("error") == std::map<std::string, std::int64_t>{{"flaky", 1}});
  CHECK(f.reports("retry") == std::map<std::string, std::int64_t>{{"flaky", 2}});
}

TEST_CASE("a plugin slower than its budget is reported", "[plugin][dispatcher]") {
  Fixture f;
  f.hooks.push_back(std::make_unique<hooks::LoadedHook>("flaky", FLAKY_PLUGIN, "{}"));
  Dispatcher dispatcher(*f.store, f.hooks, 100,
                        {{"flaky", HookPolicy{std::chrono::milliseconds(5), 0}}});
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
  Person student{"S1",         Role::student, "Stu", std::nullopt, "Internal Medicine",
                 std::nullopt, std::nullopt,  false};
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
    auto bad = config::load_config_text("hooks:\n  research:\n    plugin: " RESEARCH_PLUGIN
                                        "\n    config: {openings: 3}\n",
                                        "test.yaml", registry);
    CHECK_THROWS_WITH(Engine::build(*bad, registry),
                      Contains("rejected its config: config.openings: expected a list"));
  }
}

namespace {

// A hook that records what reaches it: the engine's other hooks, which must go on.
struct Recording final : Hook {
  std::vector<std::string>* seen;
  explicit Recording(std::vector<std::string>* s) : seen(s) {}
  std::string name() const override { return "recording"; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext&) override {
    seen->push_back(event.subject + "/" + event.id);
    return {};
  }
};

std::unique_ptr<Hook> isolated(const char* plugin = MISBEHAVING_PLUGIN) {
  ::setenv("RAPPORT_PLUGIN_HOST", PLUGIN_HOST, 1);
  hooks::IsolationOptions options;
  options.memory_limit = 256u << 20;
  options.call_timeout = std::chrono::milliseconds(500);
  return std::make_unique<hooks::LoadedHook>("isolated",
                                             hooks::load_isolated(plugin, "{}", options));
}

}  // namespace

TEST_CASE(
    "isolation: process: a plugin that crashes, aborts, hangs or leaks costs that plugin "
    "and that event, not the engine or the other hooks",
    "[plugin][isolation]") {
  auto bad = GENERATE(as<std::string>{}, "R-SEGV", "R-ABORT", "R-HANG", "R-LEAK");
  CAPTURE(bad);
  Fixture f;
  std::vector<std::string> seen;
  f.hooks.push_back(isolated());
  f.hooks.push_back(std::make_unique<Recording>(&seen));
  Dispatcher dispatcher(*f.store, f.hooks, 100,
                        {{"isolated", HookPolicy{std::chrono::milliseconds(5000), 1}}});
  f.add_rotation(bad);
  f.add_rotation("R1");

  auto first = dispatcher.run(f.now);  // the process dies on `bad`: a RETRY, restarted at once
  CHECK(first.retries == 1);
  CHECK(seen.size() == 2);  // the other hook had both events
  CHECK(f.store->progress("recording") == f.store->last_event_seq());
  CHECK(f.store->progress("isolated") < f.store->last_event_seq());

  auto second = dispatcher.run(f.now + std::chrono::seconds(5));  // dies again: an error now
  CHECK(second.failures == 1);
  CHECK(f.reports("error") == std::map<std::string, std::int64_t>{{"isolated", 1}});

  // The process comes back after its restart backoff (1 s after a second crash) and the
  // next event is handled as if nothing happened.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto third = dispatcher.run(f.now + std::chrono::minutes(5));
  CHECK(third.actions == 1);
  CHECK(f.store->progress("isolated") == f.store->last_event_seq());
}

TEST_CASE(
    "isolation: process: what a plugin prints does not disturb the wire; a bad config "
    "or library still stops the start",
    "[plugin][isolation]") {
  auto hook = isolated();
  auto* loaded = dynamic_cast<hooks::LoadedHook*>(hook.get());
  REQUIRE(loaded);
  CHECK(loaded->kind() == "misbehaving");
  CHECK(hook->subscribed() == std::vector<EventType>{EventType::rotation_started});
  test::FakeContext context;
  auto r = test::make_rotation("R-PRINT", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::nurse}});
  auto actions = hook->handle(
      test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z"), context);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].contact_id == "P1");

  hooks::IsolationOptions options;
  CHECK_THROWS_WITH(hooks::load_isolated(FLAKY_PLUGIN, "{\"reject\":true}", options),
                    Contains("rejected its config: config.reject is set"));
  CHECK_THROWS_WITH(hooks::load_isolated(FUTURE_ABI_PLUGIN, "{}", options),
                    Contains("speaks plugin ABI version 99"));
  CHECK_THROWS_WITH(hooks::load_isolated("/nonexistent/plugin.so", "{}", options),
                    Contains("cannot load"));
  options.host = "/nonexistent/rapport-plugin-host";
  CHECK_THROWS_WITH(hooks::load_isolated(FLAKY_PLUGIN, "{}", options), Contains("did not start"));
}

TEST_CASE("isolation: process comes in through YAML", "[plugin][isolation][config]") {
  ::setenv("RAPPORT_PLUGIN_HOST", PLUGIN_HOST, 1);
  test::TempDir dir;
  Registry registry;
  register_builtins(registry);
  std::string yaml = "store:\n  path: " + dir.file("r.db") +
                     "\nhooks:\n  iso:\n    plugin: " MISBEHAVING_PLUGIN
                     "\n    isolation: process\n    memory_limit: 268435456\n"
                     "    call_timeout: 2s\n";
  auto config = config::load_config_text(yaml, "test.yaml", registry);
  auto engine = Engine::build(*config, registry);
  auto& store = engine->store();
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::nurse}});
  store.append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                     *parse_time("2027-01-01T00:00:00Z"));
  engine->step(*parse_time("2027-01-04T00:00:00Z"));
  auto actions = store.actions_of("S1");
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].hook == "iso");
  CHECK_THROWS_WITH(
      config::load_config_text("hooks:\n  iso:\n    plugin: x.so\n    isolation: sandbox\n",
                               "test.yaml", registry),
      Contains("isolation"));
}
