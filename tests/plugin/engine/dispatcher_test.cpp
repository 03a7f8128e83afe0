#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "engine/dispatcher.hpp"
#include "engine/source.hpp"
#include "hooks/introductions/introductions.hpp"
#include "rapport/json.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

class ThrowingHook : public Hook {
 public:
  std::string name() const override { return "broken"; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event&, const HookContext&) override {
    throw std::runtime_error("boom");
  }
};

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<Store> store = test::open_test_store(dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> hooks;
  TimePoint now = *parse_time("2027-01-04T00:00:00Z");
  Rotation rotation = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                                          {{"P1", Role::attending}, {"P2", Role::nurse}});

  Fixture() {
    hooks.push_back(
        std::make_unique<hooks::Introductions>("introductions", hooks::IntroductionsOptions{}));
    for (const char* id : {"S1", "P1", "P2"}) {
      Person p;
      p.id = id;
      p.role = id[0] == 'S' ? Role::student : Role::other;
      p.name = "Someone";
      store->put_person(p);
    }
    append(test::event_for(rotation, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"));
    append(test::event_for(rotation, EventType::rotation_started, "2027-01-04T00:00:00Z"));
  }
  void append(const Event& e) { store->append_event(e, now); }
  DispatchStats run() { return Dispatcher(*store, hooks, 100).run(now); }
};

}  // namespace

TEST_CASE("the dispatcher applies events to the mirror and runs subscribed hooks", "[dispatcher]") {
  Fixture f;
  auto stats = f.run();
  CHECK(stats.events == 2);
  CHECK(stats.actions == 2);
  CHECK(f.store->rotation("R1"));
  CHECK(f.store->actions_of("S1").size() == 2);
  CHECK(f.run().events == 0);  // drained
}

TEST_CASE("reprocessing the inbox never creates a second action", "[dispatcher][idempotency]") {
  Fixture f;
  f.run();
  // As after a crash that lost the progress but not the outbox rows.
  f.store->set_progress(kMirrorConsumer, 0);
  f.store->set_progress("introductions", 0);
  auto again = f.run();
  CHECK(again.events == 2);
  CHECK(again.actions == 0);
  CHECK(f.store->actions_after(0, 100).size() == 2);
}

TEST_CASE("a failing hook is recorded and the other hooks go on", "[dispatcher]") {
  Fixture f;
  f.hooks.insert(f.hooks.begin(), std::make_unique<ThrowingHook>());
  auto stats = f.run();
  CHECK(stats.failures == 1);
  CHECK(stats.actions == 2);
  CHECK(f.store->progress("broken") == f.store->last_event_seq());
}

TEST_CASE("an event whose data does not fit its type does not block the inbox", "[dispatcher]") {
  Fixture f;
  f.append(Event{"bad", EventType::evaluation_submitted, "test", f.now, "S1", "{\"id\":1}"});
  auto stats = f.run();
  CHECK(stats.failures == 1);
  CHECK(f.store->progress(kMirrorConsumer) == f.store->last_event_seq());
}

TEST_CASE("no action about a student who opted out, and no opted-out contact suggested",
          "[dispatcher][opt-out]") {
  Fixture f;
  SECTION("student opted out") {
    auto s = *f.store->person("S1");
    s.opted_out = true;
    f.store->put_person(s);
    auto stats = f.run();
    CHECK(stats.actions == 0);
    CHECK(stats.suppressed == 2);
  }
  SECTION("one contact opted out") {
    auto p = *f.store->person("P2");
    p.opted_out = true;
    f.store->put_person(p);
    f.run();
    auto actions = f.store->actions_of("S1");
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].contact_id == "P1");
  }
}

TEST_CASE("the memory is built again when another process (a backfill) moved the mirror on",
          "[dispatcher]") {
  Fixture f;
  Dispatcher daemon(*f.store, f.hooks, 100);
  daemon.run(f.now);
  CHECK(daemon.graph().edge_count() == 2);
  // A backfill in another process: its own connection and dispatcher, history only.
  auto other = test::open_test_store(f.dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> none;
  auto earlier = test::make_rotation("R0", "S1", "2025-01-06", "2025-02-02",
                                     {{"P1", Role::attending}, {"P3", Role::nurse}});
  auto history = test::event_for(earlier, EventType::rotation_scheduled, "2025-01-01T00:00:00Z");
  history.source += kHistorySuffix;
  other->append_event(history, f.now);
  CHECK(Dispatcher(*other, none, 100).run(f.now).events == 1);
  CHECK(daemon.run(f.now).actions == 0);  // history, and already in the mirror
  CHECK(daemon.graph().edge_count() == 4);
}

TEST_CASE(
    "history written straight into the mirror (a backfill's bulk path) waits for the events the "
    "mirror has not had, and the memory is built again",
    "[dispatcher][backfill]") {
  Fixture f;
  auto other = test::open_test_store(f.dir, test::default_backend());
  std::vector<std::unique_ptr<Hook>> none;
  Dispatcher backfill(*other, none, 100);
  // Under way at the bound: its moments still to come are set, as from the inbox.
  auto earlier = test::make_rotation("R0", "S1", "2027-01-01", "2027-01-10",
                                     {{"P1", Role::attending}, {"P3", Role::nurse}});
  auto history = test::event_for(earlier, EventType::rotation_scheduled, "2027-01-04T00:00:00Z");
  history.source += kHistorySuffix;
  // The fixture's two events wait in the inbox: these would overtake them.
  const auto changed = other->progress(kMirrorChanged);
  CHECK_FALSE(backfill.apply_history({history}, f.now));
  CHECK_FALSE(other->rotation("R0"));
  CHECK(other->progress(kMirrorChanged) == changed);

  Dispatcher daemon(*f.store, f.hooks, 100);
  daemon.run(f.now);
  CHECK(daemon.graph().edge_count() == 2);
  const auto last = f.store->last_event_seq();
  {
    Transaction tx(*other);
    CHECK(backfill.apply_history({history}, f.now));
    tx.commit();
  }
  REQUIRE(other->rotation("R0"));
  CHECK(other->rotation("R0")->team.size() == 2);
  CHECK(f.store->last_event_seq() == last);  // nothing went through the inbox
  CHECK(other->progress(kMirrorChanged) == changed + 1);
  std::set<std::string> timers;
  for (const auto& t : f.store->due_timers(*parse_time("2027-03-01T00:00:00Z"), 100)) {
    if (t.id.find("R0") != std::string::npos) timers.insert(t.id);
  }
  CHECK_FALSE(timers.empty());  // its end and what follows, not its start (passed)
  for (const auto& id : timers) CHECK(id.find("started") == std::string::npos);
  // The daemon's memory learns of it (no event told it).
  CHECK(daemon.run(f.now).actions == 0);
  CHECK(daemon.graph().edge_count() == 4);
}

TEST_CASE(
    "a backfill's run of people is written at once as one by one: one that does not read is "
    "reported and the rest go on, interests kept, the last word on a person counts",
    "[dispatcher][backfill]") {
  Fixture f;
  f.run();
  std::vector<std::unique_ptr<Hook>> none;
  Dispatcher backfill(*f.store, none, 100);
  auto person = [&](const std::string& key, const std::string& data) {
    return Event{"person.updated/" + key,
                 EventType::person_updated,
                 std::string("rapport/sources/registrar") + kHistorySuffix,
                 f.now,
                 "",
                 data};
  };
  const std::vector<Event> events = {
      person("H1/a", R"({"id":"H1","role":"attending","name":"One","opted_out":false})"),
      person("H2", R"({"id":"H2","role":"not a role","name":"Two"})"),
      person("H3", R"({"id":"H3","role":"resident","name":"Three","interests":["Cardiology"]})"),
      person("H4", R"({"id":"H4","role":"nurse","name":"Four"})"),
      person("H1/b", R"({"id":"H1","role":"attending","name":"One","opted_out":true})"),
  };
  {
    Transaction tx(*f.store);
    CHECK(backfill.apply_history(events, f.now));
    tx.commit();
  }
  REQUIRE(f.store->person("H1"));
  CHECK(f.store->person("H1")->opted_out);  // the later row
  CHECK_FALSE(f.store->person("H2"));
  REQUIRE(f.store->person("H3"));
  CHECK(f.store->person("H3")->interests == std::vector<std::string>{"Cardiology"});
  REQUIRE(f.store->person("H4"));
  CHECK(f.store->person("H4")->role == Role::nurse);
  auto reports = f.store->reports();
  REQUIRE(reports.size() == 1);
  CHECK_THAT(reports[0].last_message, Catch::Matchers::StartsWith("event person.updated/H2 "));
}

TEST_CASE(
    "a backfill's runs of rotations and roster rows are written at once as one by one: a "
    "cancelled, a misfit, an unknown rotation, a removal and a bad row each in their place",
    "[dispatcher][backfill]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  const std::string source = std::string("rapport/sources/registrar") + kHistorySuffix;
  int n = 0;
  auto rotation = [&](const char* id, const char* start, const char* end,
                      std::vector<std::pair<std::string, Role>> team = {},
                      EventType type = EventType::rotation_scheduled) {
    auto e = test::event_for(test::make_rotation(id, "S1", start, end, std::move(team)), type,
                             "2027-01-04T00:00:00Z");
    e.id += "/" + std::to_string(++n);
    e.source = source;
    return e;
  };
  auto team = [&](const std::string& data) {
    return Event{
        "team.changed/" + std::to_string(++n), EventType::team_changed, source, now, "", data};
  };
  // Scheduled, but cancelled by its status: its timers go, as a cancellation's.
  auto cancelled_by_status = rotation("R7", "2027-05-03", "2027-05-28");
  cancelled_by_status.payload.replace(cancelled_by_status.payload.find("\"scheduled\""), 11,
                                      "\"cancelled\"");
  const std::vector<Event> events = {
      rotation("R1", "2026-11-02", "2026-11-29"),  // long over: no timers
      rotation("R7", "2027-05-03", "2027-05-28"),  // its timers, until cancelled below
      rotation("R2", "2027-01-01", "2027-01-24"),  // under way: its end and what follows
      rotation("R3", "2027-02-01", "2027-02-28", {{"P7", Role::attending}}),
      // Moved, with a team of its own: the last word counts.
      rotation("R2", "2027-01-01", "2027-01-31", {{"P9", Role::nurse}}),
      Event{"rotation.scheduled/bad", EventType::rotation_scheduled, source, now, "S1",
            R"({"id": 5})"},
      rotation("R4", "2027-03-01", "2027-03-28"),
      rotation("R6", "2027-04-05", "2027-04-30"),
      rotation("R5", "2027-03-01", "2027-03-28", {}, EventType::rotation_cancelled),
      cancelled_by_status,
      team(R"({"rotation":"R1","added":[{"person":"P1","role":"attending","row":"x1"},)"
           R"({"person":"P2","role":"nurse"}]})"),
      team(R"({"rotation":"R2","added":[{"person":"P1","role":"attending","row":"x2"},)"
           R"({"person":"P3","role":"not a role"}]})"),
      team(R"({"rotation":"R9","added":[{"person":"P4","role":"nurse"}]})"),  // unknown
      team(R"({"rotation":"R3","added":[{"person":"P5","role":"resident","row":"x3"}]})"),
      team(R"({"rotation":"R1","added":[{"person":"P6","role":"resident","row":"x1"}]})"),
      team(R"({"rotation":"R3","removed":["P7"],"added":[{"person":"P8","role":"nurse"}]})"),
      team(R"({"rotation":"R4","added":[{"person":"P1","role":"attending"}]})"),
      team(R"({"rotation":"R6","added":[{"person":"P2","role":"nurse","start":"2027-04-05",)"
           R"("end":"2027-04-12"},{"person":"P2","role":"nurse","start":"2027-04-19"}]})"),
  };
  struct Result {
    std::vector<Rotation> rotations;
    std::vector<std::string> timers;
    std::int64_t reports = 0;
    std::size_t edges = 0;
  };
  std::vector<Result> results;
  for (bool at_once : {true, false}) {
    test::TempDir dir;
    auto store = test::open_test_store(dir, backend);
    std::vector<std::unique_ptr<Hook>> none;
    Dispatcher backfill(*store, none, 100);
    if (at_once) {
      backfill.graph();  // built (empty) before: the runs keep it in step
      Transaction tx(*store);
      CHECK(backfill.apply_history(events, now));
      tx.commit();
    } else {
      for (const auto& e : events) store->append_event(e, now);
      backfill.run_mirror(now, nullptr);  // the memory is then built from the mirror
    }
    Result r;
    store->for_each_rotation([&](const Rotation& each) { r.rotations.push_back(each); });
    for (const auto& t : store->due_timers(*parse_time("2028-01-01T00:00:00Z"), 1000)) {
      r.timers.push_back(t.id + "@" + format_time(t.due));
    }
    std::sort(r.timers.begin(), r.timers.end());
    for (const auto& report : store->reports()) r.reports += report.count;
    r.edges = backfill.graph().edge_count();
    results.push_back(std::move(r));
  }
  CHECK(results[0].rotations == results[1].rotations);
  CHECK(results[0].timers == results[1].timers);
  CHECK(results[0].edges == results[1].edges);
  CHECK(results[0].edges > 0);
  CHECK(results[0].reports == 2);  // the misfit and the unknown rotation
  CHECK(results[1].reports == 2);
  const auto& rotations = results[0].rotations;
  REQUIRE(rotations.size() == 7);
  CHECK(rotations[0].team.size() == 2);  // R1: P2 and P6 (x1 taken over from P1)
  CHECK(rotations[0].team[1].person_id == "P6");
  CHECK(rotations[1].end == *parse_date("2027-01-31"));
  REQUIRE(rotations[1].team.size() == 2);  // R2: P1 and P9; P3's row did not fit
  CHECK(rotations[1].team[1].person_id == "P9");
  CHECK(rotations[2].team.size() == 2);  // R3: P5 and P8, P7 removed
  CHECK(rotations[4].status == RotationStatus::cancelled);
  REQUIRE(rotations[5].team.size() == 1);
  CHECK(rotations[5].team[0].spans.size() == 2);
  CHECK(rotations[6].status == RotationStatus::cancelled);
  bool r1_timer = false, r2_timer = false, r7_timer = false;
  for (const auto& t : results[0].timers) {
    r1_timer = r1_timer || t.find("R1") != std::string::npos;
    r2_timer = r2_timer || t.find("R2") != std::string::npos;
    r7_timer = r7_timer || t.find("R7") != std::string::npos;
  }
  CHECK_FALSE(r1_timer);
  CHECK(r2_timer);
  CHECK_FALSE(r7_timer);

  // The runs themselves: what goes at once, and what alone (0).
  test::TempDir dir;
  auto store = test::open_test_store(dir, backend);
  Transaction tx(*store);
  std::vector<std::size_t> runs;
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t run = apply_run_to_mirror(*store, events, i, {}, nullptr);
    runs.push_back(run);
    if (run == 0) {
      try {
        apply_to_mirror(*store, events[i]);
      } catch (const JsonError&) {
      }
    }
    i += std::max<std::size_t>(run, 1);
  }
  // Five rotations; the misfit; R4 and R6; R5 cancelled; R7 by its status; then the rosters:
  // two, the unknown rotation, two, the removal, two.
  CHECK(runs == std::vector<std::size_t>{5, 0, 2, 0, 0, 2, 0, 2, 0, 2});
}

TEST_CASE("history that does not fit, written straight into the mirror, is reported by its id",
          "[dispatcher][backfill]") {
  Fixture f;
  f.run();
  std::vector<std::unique_ptr<Hook>> none;
  Dispatcher backfill(*f.store, none, 100);
  Event misfit{"rotation.scheduled/B9/x",
               EventType::rotation_scheduled,
               std::string("rapport/sources/registrar") + kHistorySuffix,
               f.now,
               "S1",
               R"({"id": 5})"};
  {
    Transaction tx(*f.store);
    CHECK(backfill.apply_history({misfit}, f.now));
    tx.commit();
  }
  auto reports = f.store->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].consumer == kMirrorConsumer);
  CHECK(reports[0].kind == "error");
  CHECK_THAT(reports[0].last_message,
             Catch::Matchers::StartsWith(
                 "event rotation.scheduled/B9/x (rapport/sources/registrar/history): "));
}

TEST_CASE(
    "team.changed rows add and remove spans: a person split over two stretches is one member "
    "introduced once, a row moved in one event moves, an open row follows its rotation",
    "[dispatcher][spans]") {
  Fixture f;
  int n = 0;
  auto team_changed = [&](const std::string& data) {
    Event e{"team-" + std::to_string(++n),        EventType::team_changed, "test", f.now, "S1",
            R"({"rotation": "R1", )" + data + "}"};
    f.append(e);
    f.run();
  };
  auto member = [&](const std::string& person) -> std::optional<TeamMember> {
    auto rotation = f.store->rotation("R1");  // kept: a range-for would not keep it alive
    REQUIRE(rotation);
    for (const auto& m : rotation->team) {
      if (m.person_id == person) return m;
    }
    return std::nullopt;
  };
  auto d = [](const char* text) { return *parse_date(text); };
  Person p3;
  p3.id = "P3";
  p3.role = Role::nurse;
  p3.name = "Someone";
  f.store->put_person(p3);
  f.run();

  team_changed(R"("added": [{"person": "P3", "role": "nurse", "start": "2027-01-04",
                             "end": "2027-01-08"}])");
  team_changed(R"("added": [{"person": "P3", "role": "nurse", "start": "2027-01-11",
                             "end": "2027-01-15"}])");
  REQUIRE(member("P3"));
  CHECK(member("P3")->days() == 10);
  int introductions = 0;
  for (const auto& a : f.store->actions_of("S1")) {
    introductions += a.type == ActionType::introduce && a.contact_id == "P3";
  }
  CHECK(introductions == 1);

  // The second stretch goes (a removal may leave out the role).
  team_changed(R"("removed": [{"person": "P3", "start": "2027-01-11", "end": "2027-01-15"}])");
  REQUIRE(member("P3"));
  CHECK(member("P3")->spans == std::vector<DateRange>{{d("2027-01-04"), d("2027-01-08")}});
  // Moved in one event: the removal is applied first.
  team_changed(R"("added": [{"person": "P3", "role": "nurse", "start": "2027-01-18",
                             "end": "2027-01-22"}],
                  "removed": [{"person": "P3", "role": "nurse", "start": "2027-01-04",
                               "end": "2027-01-08"}])");
  REQUIRE(member("P3"));
  CHECK(member("P3")->spans == std::vector<DateRange>{{d("2027-01-18"), d("2027-01-22")}});
  // A row wholly outside the rotation does not make a member; a person's id removes all.
  team_changed(R"("added": [{"person": "P5", "role": "nurse", "start": "2027-03-01",
                             "end": "2027-03-05"}])");
  CHECK_FALSE(member("P5"));
  team_changed(R"("removed": ["P3"])");
  CHECK_FALSE(member("P3"));

  // A row without dates covers the rotation wherever it moves.
  team_changed(R"("added": [{"person": "P4", "role": "resident"}])");
  REQUIRE(member("P4"));
  CHECK(member("P4")->days() == 28);
  auto moved = f.rotation;
  moved.start = d("2027-02-01");
  moved.end = d("2027-02-14");
  moved.team.clear();
  f.append(test::event_for(moved, EventType::rotation_updated, "2027-01-05T00:00:00Z"));
  f.run();
  REQUIRE(member("P4"));
  CHECK(member("P4")->spans == std::vector<DateRange>{{d("2027-02-01"), d("2027-02-14")}});
  CHECK_FALSE(member("P1"));  // its dates were the old rotation's: no day inside the new one
}

namespace {
// Records, at each event, how far its own progress is committed as another connection
// sees it.
class ProgressWatcher : public Hook {
 public:
  explicit ProgressWatcher(Store& observer) : observer_(observer) {}
  std::string name() const override { return "watcher"; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event&, const HookContext&) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    seen.push_back(observer_.progress("watcher"));
    return {};
  }
  std::vector<std::int64_t> seen;

 private:
  Store& observer_;
};
}  // namespace

TEST_CASE("a dispatch transaction ends once it took engine.batch_time; the next goes on after it",
          "[dispatcher]") {
  test::TempDir dir;
  auto store = test::open_test_store(dir, test::default_backend());
  auto observer = test::open_test_store(dir, test::default_backend());
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  for (int i = 1; i <= 5; ++i) {
    auto r = test::make_rotation("R" + std::to_string(i), "S1", "2027-01-04", "2027-01-31", {});
    store->append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z"),
                        now);
  }
  std::vector<std::unique_ptr<Hook>> hooks;
  hooks.push_back(std::make_unique<ProgressWatcher>(*observer));
  auto& watcher = static_cast<ProgressWatcher&>(*hooks.back());
  Dispatcher dispatcher(*store, hooks, 100);
  const bool limited = GENERATE(true, false);
  if (limited) dispatcher.limit_batch_time(std::chrono::milliseconds(1));
  auto stats = dispatcher.run(now);
  CHECK(stats.events == 5);
  REQUIRE(watcher.seen.size() == 5);
  if (limited) {
    // One event per transaction: each event sees the one before it committed.
    CHECK(watcher.seen.front() == 0);
    for (std::size_t i = 1; i < watcher.seen.size(); ++i) {
      CHECK(watcher.seen[i] > watcher.seen[i - 1]);
    }
  } else {
    // All five in one transaction: nothing committed until the end.
    CHECK(watcher.seen == std::vector<std::int64_t>(5, 0));
  }
  CHECK(store->progress("watcher") == store->last_event_seq());
  CHECK(dispatcher.run(now).events == 0);
}

namespace {
// Records the end of rotation R1 as the context gives it, at each event.
class EndReader : public Hook {
 public:
  std::string name() const override { return "reader"; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_started, EventType::rotation_updated};
  }
  std::vector<Action> handle(const Event&, const HookContext& context) override {
    auto r = context.rotation("R1");
    ends.push_back(r ? format_date(r->end) : "none");
    return {};
  }
  std::vector<std::string> ends;
};
}  // namespace

TEST_CASE("an event that fails part way through the mirror leaves no stale read behind it",
          "[dispatcher]") {
  test::TempDir dir;
  auto store = test::open_test_store(dir, test::default_backend());
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {});
  store->put_rotation(r);
  // A zone this machine does not know (a store written where tzdata differs): the rotation
  // and its team are written, then its timers fail.
  store->put_site_timezone(r.site, "Nowhere/Atlantis");
  auto moved = r;
  moved.end = *parse_date("2027-02-14");
  auto again = test::event_for(r, EventType::rotation_started, "2027-01-06T00:00:00Z");
  again.id += "-again";
  for (const auto& e :
       {test::event_for(r, EventType::rotation_started, "2027-01-04T00:00:00Z"),
        test::event_for(moved, EventType::rotation_updated, "2027-01-05T00:00:00Z"), again}) {
    store->append_event(e, now);
  }
  std::vector<std::unique_ptr<Hook>> hooks;
  hooks.push_back(std::make_unique<EndReader>());
  auto& reader = static_cast<EndReader&>(*hooks.back());
  auto stats = Dispatcher(*store, hooks, 100).run(now);  // all three in one transaction
  CHECK(stats.failures == 1);
  CHECK(store->rotation("R1")->end == moved.end);  // written before the timers failed
  // The failed event's own hooks run (they see the mirror as it is), and read what it wrote.
  CHECK(reader.ends == std::vector<std::string>{"2027-01-31", "2027-02-14", "2027-02-14"});
}

TEST_CASE(
    "the memory learns whose evaluations and interests changed from the data, not the "
    "envelope",
    "[dispatcher][letters]") {
  Fixture f;
  Dispatcher daemon(*f.store, f.hooks, 100);
  daemon.run(f.now);
  REQUIRE(daemon.graph().edge_count() == 2);  // built: what follows updates it event by event
  auto changed_after = [&](std::uint64_t v) {
    auto ids = daemon.graph().changed_since(v);
    REQUIRE(ids);
    std::sort(ids->begin(), ids->end());
    return *ids;
  };
  Evaluation e{"E1", "R1", "P1", "S1", f.now, 7, 1, 9, true, false};
  // No subject at all, as a host may send it: the evaluation says whom it is about.
  auto v = daemon.graph().version();
  f.append({"ev1", EventType::evaluation_submitted, "test", f.now, "", to_json(e)});
  daemon.run(f.now);
  CHECK(changed_after(v) == std::vector<std::string>{"S1"});
  // A late edit moves it to another student: both students' evaluations changed.
  v = daemon.graph().version();
  e.student_id = "S2";
  f.append({"ev2", EventType::evaluation_submitted, "test", f.now, "P1", to_json(e)});
  daemon.run(f.now);
  CHECK(changed_after(v) == std::vector<std::string>{"S1", "S2"});
  // Interests name their person in the data.
  v = daemon.graph().version();
  f.append({"in1", EventType::interests_changed, "test", f.now, "",
            R"({"person":"S1","added":[{"specialty":"Surgery","rank":1}]})"});
  daemon.run(f.now);
  CHECK(changed_after(v) == std::vector<std::string>{"S1"});
  // One that fails part way (a removal written, then a row without a specialty): the
  // memory is built again after its batch.
  v = daemon.graph().version();
  f.append({"in2", EventType::interests_changed, "test", f.now, "",
            R"({"person":"S1","removed":[{"specialty":"Surgery"}],"added":[{"rank":2}]})"});
  CHECK(daemon.run(f.now).failures == 1);
  CHECK(f.store->person("S1")->interests.empty());  // the removal stayed
  CHECK_FALSE(daemon.graph().changed_since(v));
}
