#include <catch2/catch.hpp>

#include "engine/dispatcher.hpp"
#include "engine/timers.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

std::vector<std::string> fired_types(Store& store, std::int64_t after = 0) {
  std::vector<std::string> out;
  for (const auto& e : store.events_after(after, 100)) {
    if (e.event.source == kSchedulerSource) {
      out.push_back(std::string(to_string(e.event.type)) + "@" + format_time(e.event.occurred));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a rotation's start, midpoint and end become timers at UTC midnight", "[timers]") {
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {});
  auto timers = rotation_timers(r);
  REQUIRE(timers.size() == 3);
  CHECK(format_time(timers[0].due) == "2027-01-04T00:00:00Z");
  CHECK(timers[0].event.type == EventType::rotation_started);
  CHECK(format_time(timers[1].due) == "2027-01-17T00:00:00Z");  // 4 + 27/2 days
  CHECK(format_time(timers[2].due) == "2027-02-01T00:00:00Z");  // the day after the last
  CHECK(timers[2].event.type == EventType::rotation_ended);
}

TEST_CASE("durable timers fire once, when due, through the inbox", "[timers]") {
  test::TempDir dir;
  auto store = test::open_test_store(dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> no_hooks;
  auto at = [](const char* t) { return *parse_time(t); };
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {});
  store->append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                      at("2027-01-01T00:00:00Z"));
  Dispatcher(*store, no_hooks, 100).run(at("2027-01-01T00:00:00Z"));

  CHECK(fire_due_timers(*store, at("2027-01-03T23:59:59Z"), 10) == 0);
  CHECK(fire_due_timers(*store, at("2027-01-04T00:00:00Z"), 10) == 1);
  CHECK(fire_due_timers(*store, at("2027-01-04T00:00:00Z"), 10) == 0);

  SECTION("a restart after the timers fired does not fire them again") {
    store.reset();
    store = test::open_test_store(dir, test::default_backend());
    CHECK(fire_due_timers(*store, at("2027-01-20T00:00:00Z"), 10) == 1);  // the midpoint
    CHECK(fired_types(*store) ==
          std::vector<std::string>{"rotation.started@2027-01-04T00:00:00Z",
                                   "rotation.midpoint@2027-01-17T00:00:00Z"});
  }
  SECTION("a cancelled rotation's remaining timers are gone") {
    store->append_event(test::event_for(r, EventType::rotation_cancelled, "2027-01-05T00:00:00Z"),
                        at("2027-01-05T00:00:00Z"));
    Dispatcher(*store, no_hooks, 100).run(at("2027-01-05T00:00:00Z"));
    CHECK(fire_due_timers(*store, at("2027-12-31T00:00:00Z"), 10) == 0);
  }
  SECTION("a rotation moved later ends at its new date") {
    auto moved = r;
    moved.end = *parse_date("2027-02-14");
    Event update = test::event_for(moved, EventType::rotation_updated, "2027-01-05T00:00:00Z");
    store->append_event(update, at("2027-01-05T00:00:00Z"));
    Dispatcher(*store, no_hooks, 100).run(at("2027-01-05T00:00:00Z"));
    auto before = store->last_event_seq();
    fire_due_timers(*store, at("2027-02-01T00:00:00Z"), 10);
    CHECK(fired_types(*store, before) ==
          std::vector<std::string>{"rotation.midpoint@2027-01-24T00:00:00Z"});
    fire_due_timers(*store, at("2027-02-15T00:00:00Z"), 10);
    CHECK(fired_types(*store, before).back() == "rotation.ended@2027-02-15T00:00:00Z");
  }
}

TEST_CASE("a local hour is the wall clock's, on the days of a change of offset too",
          "[timers][timezone]") {
  using rapport::local_time;
  using rapport::next_local_hour;
  auto day = [](const char* d) { return *rapport::parse_date(d); };
  // New York: EDT from Sunday 2027-03-14 02:00; 07:00 that day is 11:00Z, the day before 12:00Z.
  CHECK(local_time(day("2027-03-14"), std::chrono::hours(7), "America/New_York") ==
        *rapport::parse_time("2027-03-14T11:00:00Z"));
  CHECK(local_time(day("2027-03-13"), std::chrono::hours(7), "America/New_York") ==
        *rapport::parse_time("2027-03-13T12:00:00Z"));
  // Weekdays only: after Friday 07:00, Monday's.
  auto weekdays = [](unsigned d) { return d <= 5; };
  CHECK(next_local_hour(*rapport::parse_time("2027-03-12T12:00:00Z"), "America/New_York", 7,
                        weekdays) == *rapport::parse_time("2027-03-15T11:00:00Z"));
}

TEST_CASE("a site's time zone from a source times the rotations after it, in the same batch",
          "[timers][timezone]") {
  test::TempDir dir;
  auto store = test::open_test_store(dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> no_hooks;
  auto at = [](const char* t) { return *parse_time(t); };
  auto site = [&](const char* id, const char* zone) {
    return Event{std::string("site-") + zone,
                 EventType::site_updated,
                 "platform",
                 at("2027-01-01T00:00:00Z"),
                 "",
                 std::string(R"({"id":")") + id + R"(","timezone":")" + zone + R"("})"};
  };
  auto r1 = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {});
  auto r2 = test::make_rotation("R2", "S1", "2027-02-01", "2027-02-28", {});
  auto r3 = test::make_rotation("R3", "S1", "2027-03-01", "2027-03-28", {});
  const auto when = "2027-01-01T00:00:00Z";
  for (const auto& e : {test::event_for(r1, EventType::rotation_scheduled, when),
                        site("Test General", "America/Chicago"),
                        test::event_for(r2, EventType::rotation_scheduled, when),
                        site("Test General", "Europe/Berlin"),
                        test::event_for(r3, EventType::rotation_scheduled, when)}) {
    store->append_event(e, at(when));
  }
  Dispatcher(*store, no_hooks, 100).run(at(when));  // all five in one transaction
  std::map<std::string, std::string> started;
  for (const auto& t : store->timers_about("S1")) {
    if (t.event.type == EventType::rotation_started) started[t.id] = format_time(t.due);
  }
  // Each site event re-times the rotations already known; each rotation after it is timed
  // in the zone it gave.
  CHECK(started == std::map<std::string, std::string>{
                       {rotation_timer_prefix("R1") + "rotation.started", "2027-01-03T23:00:00Z"},
                       {rotation_timer_prefix("R2") + "rotation.started", "2027-01-31T23:00:00Z"},
                       {rotation_timer_prefix("R3") + "rotation.started", "2027-02-28T23:00:00Z"}});
}

TEST_CASE("a rotation's moment fires with the rotation as the mirror has it then", "[timers]") {
  test::TempDir dir;
  auto store = test::open_test_store(dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> no_hooks;
  auto at = [](const char* t) { return *parse_time(t); };
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
  store->append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                      at("2027-01-01T00:00:00Z"));
  Dispatcher(*store, no_hooks, 100).run(at("2027-01-01T00:00:00Z"));
  // The timer names the rotation; it does not carry a copy of it.
  auto pending = store->timers_about("S1");
  REQUIRE(pending.size() == 3);
  for (const auto& t : pending) CHECK(referenced_rotation(t.event.payload) == "R1");

  // A roster edit after the timers were set: the start carries the team as it is now.
  auto edited = r;
  edited.team.push_back({"N1", Role::nurse, edited.start, edited.end});
  store->put_team("R1", edited.team);
  auto before = store->last_event_seq();
  REQUIRE(fire_due_timers(*store, at("2027-01-04T00:00:00Z"), 10) == 1);
  auto fired = store->events_after(before, 10);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].event.type == EventType::rotation_started);
  auto carried = rotation_from_json(fired[0].event.payload);
  CHECK(carried.id == "R1");
  CHECK(carried.team.size() == 2);

  SECTION("its subject is the student the mirror has then, as its payload's") {
    auto moved = edited;
    moved.student_id = "S2";
    store->put_rotation(moved);
    auto seq = store->last_event_seq();
    REQUIRE(fire_due_timers(*store, at("2027-01-17T00:00:00Z"), 10) == 1);
    auto midpoint = store->events_after(seq, 10).at(0).event;
    CHECK(midpoint.subject == "S2");
    CHECK(rotation_from_json(midpoint.payload).student_id == "S2");
  }
  SECTION("one of a rotation the mirror has as cancelled does not fire, and goes") {
    auto cancelled = edited;
    cancelled.status = RotationStatus::cancelled;
    store->put_rotation(cancelled);  // the mirror alone: its timers are still there
    CHECK(fire_due_timers(*store, at("2027-12-31T00:00:00Z"), 10) == 0);
    CHECK(store->timers_about("S1").empty());
  }
  // A timer of a rotation the mirror does not have (R9), about `student`.
  auto orphan = [&](const char* student) {
    return Timer{
        "rotation/R9/rotation.started", at("2027-01-04T00:00:00Z"),
        Event{"R9/rotation.started/2027-01-04", EventType::rotation_started, kSchedulerSource,
              at("2027-01-04T00:00:00Z"), student, rotation_reference("R9")}};
  };
  SECTION("one whose rotation the mirror no longer has does not fire, and goes") {
    store->put_timer(orphan("S9"));
    CHECK(fire_due_timers(*store, at("2027-01-05T00:00:00Z"), 10) == 0);
    CHECK(store->timers_about("S9").empty());
  }
  SECTION("in one batch with a timer whose rotation is gone, the others fire, and both go") {
    store->put_timer(orphan("S1"));
    auto seq = store->last_event_seq();
    CHECK(fire_due_timers(*store, at("2027-12-31T00:00:00Z"), 10) == 2);  // midpoint, end
    auto batch = store->events_after(seq, 10);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].event.type == EventType::rotation_midpoint);
    CHECK(batch[1].event.type == EventType::rotation_ended);
    CHECK(store->timers_about("S1").empty());
  }
  SECTION("one stored with the rotation itself (before references) fires as it is") {
    auto old = rotation_timers(r).back();
    old.event.payload = to_json(r);
    old.id = "rotation/R1/old";
    old.due = at("2027-01-05T00:00:00Z");
    store->put_timer(old);
    auto seq = store->last_event_seq();
    CHECK(fire_due_timers(*store, at("2027-01-05T00:00:00Z"), 10) == 1);
    CHECK(store->events_after(seq, 10).at(0).event.payload == to_json(r));
  }
}
