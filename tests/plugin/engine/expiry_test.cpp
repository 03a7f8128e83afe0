#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "support/fake_context.hpp"
#include "support/recording_sink.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

using test::RecordingSink;

TimePoint at(const char* text) {
  return *parse_time(text);
}

// The built-in hooks as configured (their max_lateness defaults), a recording sink.
struct Setup {
  test::TempDir dir;
  Registry registry;
  std::unique_ptr<Engine> engine;
  RecordingSink* sink = nullptr;

  explicit Setup(const std::string& hooks_yaml, const std::string& engine_yaml = "") {
    register_builtins(registry);
    auto config = config::load_config_text(
        test::store_yaml(dir, test::default_backend()) + "\nhooks:\n" + hooks_yaml + engine_yaml,
        "test.yaml", registry);
    engine = Engine::build(*config, registry);
    auto recorder = std::make_unique<RecordingSink>();
    sink = recorder.get();
    engine->add_sink(std::move(recorder));
  }
  Store& store() { return engine->store(); }
  void person(const std::string& id, Role role, TimePoint when) {
    Person p{id, role, "Someone", std::nullopt, std::nullopt, std::nullopt, std::nullopt, false};
    store().append_event(Event{"p-" + id, EventType::person_updated, "t", when, id, to_json(p)},
                         when);
  }
  // The rotation R1 (January 4 to 31, attending A1 and nurse N1) as first learned of at
  // `learned`.
  void rotation(TimePoint learned) {
    auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}, {"N1", Role::nurse}});
    store().append_event(Event{"r1", EventType::rotation_scheduled, "t", learned, "S1", to_json(r)},
                         learned);
  }
  std::map<std::string, int> actions_by_type() {
    std::map<std::string, int> out;
    for (const auto& a : store().actions_of("S1")) ++out[std::string(to_string(a.type))];
    return out;
  }
  std::int64_t expired(const std::string& stage) {
    auto counts = store().expired_counts();
    return counts.count(stage) ? counts.at(stage) : 0;
  }
};

const char* kHooks = "  introductions: {}\n  thank_you: {}\n";

}  // namespace

TEST_CASE("an action past its expiry when made is not made; every hook sets one",
          "[engine][expiry]") {
  SECTION("a rotation first seen on its third day: introductions still go out") {
    Setup s(kHooks);
    s.rotation(at("2027-01-06T09:00:00Z"));
    s.engine->step(at("2027-01-06T09:00:00Z"));
    CHECK(s.actions_by_type() == std::map<std::string, int>{{"introduce", 2}});
    auto intro = s.store().actions_of("S1").at(0);
    REQUIRE(intro.expires);
    CHECK(*intro.expires == at("2027-01-07T00:00:00Z"));  // start + 3 days
    CHECK(s.expired("made") == 0);
  }
  SECTION("first seen on day 40: no introduction, the thank-you still") {
    Setup s(kHooks);
    s.rotation(at("2027-02-12T09:00:00Z"));
    s.engine->step(at("2027-02-12T09:00:00Z"));
    CHECK(s.actions_by_type() == std::map<std::string, int>{{"thank_you", 1}});
    CHECK(s.expired("made") == 2);
  }
  SECTION("first seen weeks after its end: nothing") {
    Setup s(kHooks);
    s.rotation(at("2027-03-01T09:00:00Z"));
    s.engine->step(at("2027-03-01T09:00:00Z"));
    CHECK(s.actions_by_type().empty());
    CHECK(s.expired("made") == 3);
  }
}

TEST_CASE("an action that expires while its sink is down is not sent", "[engine][expiry]") {
  Setup s(kHooks);
  s.rotation(at("2027-01-01T00:00:00Z"));
  s.sink->accept = false;
  s.engine->step(at("2027-01-04T00:00:00Z"));
  CHECK(s.store().actions_of("S1").size() == 2);
  s.sink->accept = true;
  s.engine->step(at("2027-01-09T00:00:00Z"));  // the introductions expired on the 7th
  CHECK(s.sink->received.empty());
  CHECK(s.expired("delivery") == 2);
}

TEST_CASE(
    "with a people feed, actions about people it does not know yet are held, released "
    "when they arrive, and expire like any action",
    "[engine][privacy][hold]") {
  Setup s(kHooks, "engine: {unknown_people: hold}\n");
  s.person("S1", Role::student, at("2027-01-01T00:00:00Z"));
  s.person("A1", Role::attending, at("2027-01-01T00:00:00Z"));  // N1 is not known yet
  s.rotation(at("2027-01-01T00:00:00Z"));
  s.engine->step(at("2027-01-04T00:00:00Z"));
  CHECK(s.sink->received.size() == 1);  // A1's introduction
  CHECK(s.store().held_count() == 1);   // N1's

  SECTION("the contact arrives before the action expires: released and sent") {
    s.person("N1", Role::nurse, at("2027-01-05T00:00:00Z"));
    s.engine->step(at("2027-01-05T00:00:00Z"));
    CHECK(s.sink->received.size() == 2);
    CHECK(s.store().held_count() == 0);
  }
  SECTION("the contact arrives too late: never sent") {
    s.engine->step(at("2027-01-08T00:00:00Z"));
    CHECK(s.store().held_count() == 0);
    CHECK(s.expired("held") == 1);
    s.person("N1", Role::nurse, at("2027-01-09T00:00:00Z"));
    s.engine->step(at("2027-01-09T00:00:00Z"));
    CHECK(s.sink->received.size() == 1);
  }
  SECTION("an unknown student gets nothing until known") {
    s.person("N1", Role::nurse, at("2027-01-05T00:00:00Z"));
    auto r2 =
        test::make_rotation("R2", "S2", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
    s.store().append_event(
        test::event_for(r2, EventType::rotation_scheduled, "2027-01-05T00:00:00Z"),
        at("2027-01-05T00:00:00Z"));
    s.engine->step(at("2027-01-05T00:00:00Z"));
    CHECK(s.store().actions_of("S2").empty());
    s.person("S2", Role::student, at("2027-01-06T00:00:00Z"));
    s.engine->step(at("2027-01-06T00:00:00Z"));
    CHECK(s.store().actions_of("S2").size() == 1);
  }
}

TEST_CASE("unknown_people: auto holds only where a source reads people", "[engine][hold]") {
  Setup s(kHooks);  // no sources: nobody is waited for
  s.rotation(at("2027-01-01T00:00:00Z"));
  s.engine->step(at("2027-01-04T00:00:00Z"));
  CHECK(s.store().held_count() == 0);
  CHECK(s.sink->received.size() == 2);
}

TEST_CASE(
    "unsent actions follow the data: withdrawn when their rotation is cancelled or moved, or "
    "their contact left the team, before a sink took them",
    "[engine][withdrawal]") {
  auto cancelled = [](Rotation r) {
    r.status = RotationStatus::cancelled;
    return r;
  };
  auto moved = [](Rotation r) {  // the swap moves the team's dates with it
    r.start = *parse_date("2027-02-01");
    r.end = *parse_date("2027-02-28");
    for (auto& m : r.team) {
      m.start = r.start;
      m.end = r.end;
      m.spans = {{r.start, r.end}};
    }
    return r;
  };
  Setup s(kHooks);
  s.rotation(at("2027-01-01T00:00:00Z"));
  s.sink->accept = false;  // the sink is down while the introductions are made
  s.engine->step(at("2027-01-04T00:00:00Z"));
  REQUIRE(s.store().actions_of("S1").size() == 2);
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                               {{"A1", Role::attending}, {"N1", Role::nurse}});
  const auto swap = GENERATE(0, 1, 2, 3);
  if (swap == 0) {
    s.store().append_event(Event{"r1-c", EventType::rotation_cancelled, "t",
                                 at("2027-01-04T06:00:00Z"), "S1", to_json(cancelled(r))},
                           at("2027-01-04T06:00:00Z"));
  } else if (swap == 1) {
    s.store().append_event(Event{"r1-m", EventType::rotation_updated, "t",
                                 at("2027-01-04T06:00:00Z"), "S1", to_json(moved(r))},
                           at("2027-01-04T06:00:00Z"));
  } else if (swap == 3) {
    auto longer = r;
    longer.end = *parse_date("2027-02-07");  // extended: nothing introductions hang on
    s.store().append_event(Event{"r1-x", EventType::rotation_updated, "t",
                                 at("2027-01-04T06:00:00Z"), "S1", to_json(longer)},
                           at("2027-01-04T06:00:00Z"));
  } else {
    s.store().append_event(
        Event{"n1-left", EventType::team_changed, "t", at("2027-01-04T06:00:00Z"), "S1",
              R"({"rotation": "R1", "removed": ["N1"]})"},
        at("2027-01-04T06:00:00Z"));
  }
  s.sink->accept = true;
  s.engine->step(at("2027-01-04T07:00:00Z"));
  INFO("case " << swap);
  if (swap == 3) {
    CHECK(s.sink->received.size() == 2);
    CHECK(s.expired("withdrawn") == 0);
  } else if (swap == 2) {
    // Only the nurse's introduction: the attending is still on the team.
    REQUIRE(s.sink->received.size() == 1);
    std::string attending;
    for (const auto& a : s.store().actions_of("S1")) {
      if (a.contact_id == "A1") attending = a.id;
    }
    CHECK(s.sink->received.at(0) == attending);
    CHECK(s.expired("withdrawn") == 1);
  } else {
    CHECK(s.sink->received.empty());
    CHECK(s.expired("withdrawn") == 2);
  }
  CHECK(s.expired("delivery") == 0);
  if (swap == 1) {
    // The moved rotation is introduced at its new start.
    s.engine->step(at("2027-02-01T00:00:00Z"));
    CHECK(s.sink->received.size() == 2);
  }
}
