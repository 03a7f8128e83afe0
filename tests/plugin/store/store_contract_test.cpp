// The store's contract: every case runs on each backend (SQLite, and PostgreSQL on the
// server the test command starts), the way SOCI runs its common tests on every backend.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "store/copy.hpp"
#include "store/plans.hpp"
#include "support/fake_context.hpp"
#include "support/test_store.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {
Event event(std::string source, std::string id) {
  return Event{std::move(id),
               EventType::rotation_started,
               std::move(source),
               *parse_time("2027-01-04T00:00:00Z"),
               "S1",
               "{}"};
}
TimePoint at(const char* text) {
  return *parse_time(text);
}
}  // namespace

TEST_CASE("the inbox keeps one event per source and id, in arrival order", "[store][inbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto now = *parse_time("2027-01-04T00:00:00Z");
  CHECK(store->append_event(event("a", "1"), now));
  CHECK_FALSE(store->append_event(event("a", "1"), now));
  CHECK(store->append_event(event("b", "1"), now));
  CHECK(store->append_event(event("a", "2"), now));
  auto events = store->events_after(0, 10);
  REQUIRE(events.size() == 3);
  CHECK(events[0].event.source == "a");
  CHECK(events[1].event.source == "b");
  CHECK(events[2].event.id == "2");
  CHECK(store->events_after(events[1].seq, 10).size() == 1);
}

TEST_CASE("the outbox keeps one action per id", "[store][outbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  Action a;
  a.id = "act_1";
  a.hook = "h";
  a.student_id = "S1";
  a.contact_id = "P1";
  a.reason = "r";
  a.event_id = "e";
  CHECK(store->add_action(a));
  CHECK_FALSE(store->add_action(a));
  CHECK(store->actions_after(0, 10).size() == 1);
  CHECK(store->actions_of("S1").front() == a);
}

TEST_CASE("a transaction that is not committed leaves nothing behind", "[store]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto now = *parse_time("2027-01-04T00:00:00Z");
  {
    Transaction tx(*store);
    store->append_event(event("a", "1"), now);
    {
      Transaction inner(*store);
      store->append_event(event("a", "2"), now);
      inner.commit();
    }
  }  // outer not committed
  CHECK(store->events_after(0, 10).empty());
  {
    Transaction tx(*store);
    store->append_event(event("a", "3"), now);
    tx.commit();
  }
  CHECK(store->events_after(0, 10).size() == 1);
}

TEST_CASE("the mirror stores people, rotations with their team, and evaluations", "[store]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  Person p{"P1", Role::nurse, "Pat", std::nullopt, "Nursing", std::nullopt, std::nullopt, false};
  store->put_person(p);
  CHECK(store->person("P1") == p);
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                               {{"P1", Role::nurse}, {"P2", Role::attending}});
  store->put_rotation(r);
  for (const auto& m : r.team) store->put_team_member(r.id, m);
  auto back = store->rotation("R1");
  REQUIRE(back);
  CHECK(back->team.size() == 2);
  store->remove_team_member("R1", "P1");
  CHECK(store->rotation("R1")->team.size() == 1);
  CHECK(store->rotations_of("S1").size() == 1);
  // Several at once: those the mirror has, with their teams; the others left out.
  store->put_rotation(test::make_rotation("R2", "S2", "2027-02-01", "2027-02-28", {}));
  store->put_team(
      "R2", {{"P3", Role::resident, *parse_date("2027-02-01"), *parse_date("2027-02-28"), {}}});
  // An id with what a PostgreSQL array literal must escape comes back too.
  const std::string odd = "R\"3,{ \\x}";
  store->put_rotation(test::make_rotation(odd, "S3", "2027-03-01", "2027-03-28", {}));
  REQUIRE(store->rotations({odd}).size() == 1);
  CHECK(store->rotations({odd}).at(0).id == odd);
  auto both = store->rotations({"R2", "R9", "R1"});
  std::sort(both.begin(), both.end(),
            [](const Rotation& a, const Rotation& b) { return a.id < b.id; });
  REQUIRE(both.size() == 2);
  CHECK(both[0] == *store->rotation("R1"));
  CHECK(both[1] == *store->rotation("R2"));
  CHECK(both[1].team.at(0).person_id == "P3");
  CHECK(store->rotations({}).empty());
}

TEST_CASE("a team and timers written at once leave what writing them one by one leaves",
          "[store][timers]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                               {{"P1", Role::nurse}, {"P2", Role::attending}, {"P9", Role::other}});
  store->put_rotation(r);
  store->put_team("R1", r.team);  // P9 stays: it is not listed below
  // P1 listed twice (the last entry counts), P2 with two spans, one given twice, and a
  // name that needs quoting in an array.
  TeamMember p1a{"P1", Role::nurse, *parse_date("2027-01-04"), *parse_date("2027-01-10"), {}};
  TeamMember p1b{"P1", Role::resident, *parse_date("2027-01-11"), *parse_date("2027-01-20"), {}};
  TeamMember p2{"P2",
                Role::attending,
                *parse_date("2027-01-04"),
                *parse_date("2027-01-31"),
                {{*parse_date("2027-01-04"), *parse_date("2027-01-08")},
                 {*parse_date("2027-01-20"), *parse_date("2027-01-31")},
                 {*parse_date("2027-01-04"), *parse_date("2027-01-08")}}};
  TeamMember odd{
      "P\"3,{}\\", Role::pharmacist, *parse_date("2027-01-05"), *parse_date("2027-01-06"), {}};
  const std::vector<TeamMember> listed{p1a, p2, odd, p1b};
  store->put_team("R1", listed);
  store->put_rotation(
      test::make_rotation("R2", "S1", "2027-01-04", "2027-01-31", {{"P9", Role::other}}));
  const auto before = store->rotation("R1");  // P9's rows, as R1 has them
  for (const auto& m : before->team) {
    if (m.person_id == "P9") store->put_team_member("R2", m);
  }
  for (const auto& m : listed) store->put_team_member("R2", m);
  auto at_once = store->rotation("R1"), one_by_one = store->rotation("R2");
  REQUIRE(at_once);
  REQUIRE(one_by_one);
  CHECK(at_once->team == one_by_one->team);
  REQUIRE(at_once->team.size() == 4);
  CHECK(at_once->team[0].person_id == "P\"3,{}\\");  // '"' sorts before digits
  CHECK(at_once->team[1].person_id == "P1");
  CHECK(at_once->team[1].role == Role::resident);
  CHECK(at_once->team[2].spans.size() == 2);
  CHECK(at_once->team[3].person_id == "P9");
  // A rotation without rows yet (the common case, written without deleting first).
  store->put_rotation(test::make_rotation("R3", "S1", "2027-01-04", "2027-01-31", {}));
  store->put_team("R3", listed);
  store->put_rotation(test::make_rotation("R4", "S1", "2027-01-04", "2027-01-31", {}));
  for (const auto& m : listed) store->put_team_member("R4", m);
  CHECK(store->rotation("R3")->team == store->rotation("R4")->team);
  CHECK(store->rotation("R3")->team.size() == 3);
  // Sent again: a member whose rows are already these is left alone, one that changed is
  // replaced, and a row a source gave an id is the rotation's own (without the id) once
  // the rotation lists that person.
  const auto d = [](const char* text) { return *parse_date(text); };
  store->add_team_row("R3", {"P7", Role::nurse, d("2027-01-04"), d("2027-01-31"), false, "row-7"});
  auto again = listed;
  again.push_back({"P7", Role::nurse, d("2027-01-04"), d("2027-01-31"), {}});
  store->put_team("R3", again);
  store->remove_team_row("R3", {"P7", std::nullopt, std::nullopt, std::nullopt, false, "row-7"});
  const auto sent_twice = store->rotation("R3")->team;
  CHECK(sent_twice.size() == 4);
  store->put_team("R3", again);
  CHECK(store->rotation("R3")->team == sent_twice);
  again.back().role = Role::resident;
  again.back().spans = {{d("2027-01-04"), d("2027-01-10")}, {d("2027-01-20"), d("2027-01-31")}};
  store->put_team("R3", again);
  const auto changed = store->rotation("R3")->team;
  REQUIRE(changed.size() == 4);
  const auto& p7 = changed.back();
  CHECK(p7.person_id == "P7");
  CHECK(p7.role == Role::resident);
  CHECK(p7.spans == again.back().spans);
  CHECK(std::equal(changed.begin(), changed.end() - 1, sent_twice.begin()));
  store->put_team("R1", {});

  auto e = event("s", "x");
  e.payload = R"({"note":"a \"quoted\" {value}, with \\ and commas"})";
  store->put_timer({"t0", at("2027-01-01T00:00:00Z"), event("s", "old")});
  store->put_timers({{"t1", at("2027-01-10T00:00:00Z"), e},
                     {"t0", at("2027-01-03T00:00:00Z"), e},
                     {"t1", at("2027-01-08T00:00:00Z"), e}});
  store->put_timers({});
  auto due = store->due_timers(at("2027-12-31T00:00:00Z"), 10);
  REQUIRE(due.size() == 2);
  CHECK(due[0].id == "t0");
  CHECK(due[0].due == at("2027-01-03T00:00:00Z"));
  CHECK(due[0].event == e);
  CHECK(due[1].id == "t1");
  CHECK(due[1].due == at("2027-01-08T00:00:00Z"));
}

TEST_CASE("timers written again: what differs is written, and of an id given twice the last",
          "[store][timers]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto timer = [](const std::string& id, const char* due, const char* subject) {
    auto e = event("scheduler", id);
    e.subject = subject;
    return Timer{id, at(due), e};
  };
  auto stored = [&] {
    std::vector<std::tuple<std::string, TimePoint, std::string>> out;
    for (const auto& t : store->due_timers(at("2099-01-01T00:00:00Z"), 100))
      out.emplace_back(t.id, t.due, t.event.subject);
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<Timer> r1{timer("rotation/R1/a", "2027-01-04T00:00:00Z", "S1"),
                              timer("rotation/R1/b", "2027-01-05T00:00:00Z", "S1"),
                              timer("rotation/R1/c", "2027-01-06T00:00:00Z", "S1")};
  store->put_timers(r1);
  // Under the same prefix but not in the batch: left as it is.
  store->put_timer(timer("rotation/R1/z", "2027-02-01T00:00:00Z", "S1"));
  const auto first = stored();
  REQUIRE(first.size() == 4);
  store->put_timers(r1);  // sent again unchanged
  CHECK(stored() == first);
  // One moved, one with another subject, one as it was; another rotation's between two
  // entries of R1's, whose first differs from what is stored and whose last does not.
  store->put_timers({timer("rotation/R1/a", "2027-01-11T00:00:00Z", "S1"),
                     timer("rotation/R1/b", "2027-01-05T00:00:00Z", "S2"),
                     timer("rotation/R1/c", "2027-01-06T00:00:00Z", "S1"),
                     timer("rotation/R2/a", "2027-01-07T00:00:00Z", "S3"),
                     timer("rotation/R2/b", "2027-01-08T00:00:00Z", "S3"),
                     timer("rotation/R1/c", "2027-03-03T00:00:00Z", "S1"),
                     timer("rotation/R1/a", "2027-01-11T00:00:00Z", "S1"),
                     timer("rotation/R1/c", "2027-01-06T00:00:00Z", "S1")});
  using Row = std::tuple<std::string, TimePoint, std::string>;
  CHECK(stored() == std::vector<Row>{{"rotation/R1/a", at("2027-01-11T00:00:00Z"), "S1"},
                                     {"rotation/R1/b", at("2027-01-05T00:00:00Z"), "S2"},
                                     {"rotation/R1/c", at("2027-01-06T00:00:00Z"), "S1"},
                                     {"rotation/R1/z", at("2027-02-01T00:00:00Z"), "S1"},
                                     {"rotation/R2/a", at("2027-01-07T00:00:00Z"), "S3"},
                                     {"rotation/R2/b", at("2027-01-08T00:00:00Z"), "S3"}});
  // An id given twice in one run, its first as stored and its last new: the last.
  store->put_timers({timer("rotation/R1/a", "2027-01-11T00:00:00Z", "S1"),
                     timer("rotation/R1/b", "2027-01-05T00:00:00Z", "S2"),
                     timer("rotation/R1/a", "2027-01-12T00:00:00Z", "S1")});
  CHECK(std::get<1>(stored()[0]) == at("2027-01-12T00:00:00Z"));
  store->put_timers({timer("rotation/R1/a", "2027-01-11T00:00:00Z", "S1"),
                     timer("rotation/R1/b", "2027-01-05T00:00:00Z", "S2")});
  // A prefix that begins another rotation's ("rotation/R1/" and "rotation/R1/x/"), more
  // of its rows than the read takes, and U+10FFFF after the prefix: what differs is
  // written all the same.
  for (int i = 0; i < 20; ++i) {
    store->put_timer(timer("rotation/R1/x/" + std::to_string(i), "2028-01-01T00:00:00Z", "S6"));
  }
  store->put_timer(timer("rotation/R1/\xf4\x8f\xbf\xbf", "2028-01-01T00:00:00Z", "S6"));
  store->put_timers({timer("rotation/R1/x/7", "2028-02-02T00:00:00Z", "S6"),
                     timer("rotation/R1/x/19", "2028-02-02T00:00:00Z", "S6")});
  store->put_timers({timer("rotation/R1/c", "2027-01-06T00:00:00Z", "S1"),
                     timer("rotation/R1/\xf4\x8f\xbf\xbf", "2028-03-03T00:00:00Z", "S6"),
                     timer("rotation/R1/z", "2027-02-02T00:00:00Z", "S1")});
  std::map<std::string, TimePoint> due;
  for (const auto& [id, when, subject] : stored()) due[id] = when;
  CHECK(due.at("rotation/R1/x/7") == at("2028-02-02T00:00:00Z"));
  CHECK(due.at("rotation/R1/x/19") == at("2028-02-02T00:00:00Z"));
  CHECK(due.at("rotation/R1/x/8") == at("2028-01-01T00:00:00Z"));
  CHECK(due.at("rotation/R1/\xf4\x8f\xbf\xbf") == at("2028-03-03T00:00:00Z"));
  CHECK(due.at("rotation/R1/z") == at("2027-02-02T00:00:00Z"));
  CHECK(due.at("rotation/R1/a") == at("2027-01-11T00:00:00Z"));
  for (int i = 0; i < 20; ++i) store->delete_timer("rotation/R1/x/" + std::to_string(i));
  store->delete_timer("rotation/R1/\xf4\x8f\xbf\xbf");
  store->put_timer(timer("rotation/R1/z", "2027-02-01T00:00:00Z", "S1"));
  // Ids without a '/' (no prefix to read by), one given twice.
  store->put_timers({timer("x", "2027-01-01T00:00:00Z", "S4"),
                     timer("y", "2027-01-02T00:00:00Z", "S4"),
                     timer("x", "2027-01-09T00:00:00Z", "S5")});
  auto all = stored();
  REQUIRE(all.size() == 8);
  CHECK(all[6] == Row{"x", at("2027-01-09T00:00:00Z"), "S5"});
  CHECK(all[7] == Row{"y", at("2027-01-02T00:00:00Z"), "S4"});
}

TEST_CASE("timers come back when due, in due order, and go by prefix", "[store][timers]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto at = [](const char* t) { return *parse_time(t); };
  store->put_timer({"rotation/R1/b", at("2027-01-10T00:00:00Z"), event("s", "b")});
  store->put_timer({"rotation/R1/a", at("2027-01-05T00:00:00Z"), event("s", "a")});
  store->put_timer({"rotation/R2/a", at("2027-01-06T00:00:00Z"), event("s", "c")});
  auto due = store->due_timers(at("2027-01-06T00:00:00Z"), 10);
  REQUIRE(due.size() == 2);
  CHECK(due[0].id == "rotation/R1/a");
  CHECK(due[1].id == "rotation/R2/a");
  // The limit cuts the batch short, and each call's own limit and moment count (a statement
  // kept from call to call must not keep the last call's).
  due = store->due_timers(at("2027-12-31T00:00:00Z"), 1);
  REQUIRE(due.size() == 1);
  CHECK(due[0].id == "rotation/R1/a");
  CHECK(store->due_timers(at("2027-12-31T00:00:00Z"), 10).size() == 3);
  CHECK(store->due_timers(at("2027-01-05T00:00:00Z"), 10).size() == 1);
  store->delete_timer("rotation/R2/a");
  CHECK(store->due_timers(at("2027-12-31T00:00:00Z"), 10).size() == 2);
  store->delete_timers_with_prefix("rotation/R1/");
  CHECK(store->due_timers(at("2027-12-31T00:00:00Z"), 10).empty());
  // Several at once: those named go, one unknown changes nothing, the rest stay.
  for (const char* id : {"x", "y", "z"})
    store->put_timer({id, at("2027-02-01T00:00:00Z"), event("s", id)});
  store->delete_timers({"z", "unknown", "x"});
  store->delete_timers({});
  due = store->due_timers(at("2027-12-31T00:00:00Z"), 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].id == "y");
}

TEST_CASE(
    "processes firing timers at once pass over each other's, and a subject's later timer "
    "waits for its earlier one another process holds",
    "[store][timers][postgresql]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  auto a = test::open_test_store(dir, "postgresql");
  auto b = test::open_test_store(dir, "postgresql");
  auto timer = [](const char* id, const char* due, const char* subject) {
    auto e = event("scheduler", id);
    e.subject = subject;
    return Timer{id, at(due), e};
  };
  a->put_timers({timer("s1-start", "2027-01-05T00:00:00Z", "S1"),
                 timer("s1-middle", "2027-01-06T00:00:00Z", "S1"),
                 timer("s2-start", "2027-01-05T12:00:00Z", "S2"),
                 timer("s3-later", "2027-02-01T00:00:00Z", "S3")});
  const auto now = at("2027-01-10T00:00:00Z");
  auto ids = [](const std::vector<Timer>& timers) {
    std::vector<std::string> out;
    for (const auto& t : timers) out.push_back(t.id);
    return out;
  };
  {
    Transaction firing(*a);
    REQUIRE(ids(a->due_timers(now, 1)) == std::vector<std::string>{"s1-start"});
    // B passes over S1's first moment, which A is firing, and over S1's second, which must
    // not enter the inbox before it; S2's is B's.
    CHECK(ids(b->due_timers(now, 10)) == std::vector<std::string>{"s2-start"});
    a->delete_timer("s1-start");
    firing.commit();
  }
  CHECK(ids(b->due_timers(now, 10)) == std::vector<std::string>{"s2-start", "s1-middle"});
  {
    // Held by A without being fired (rolled back): nothing is lost, B takes it afterwards.
    Transaction held(*a);
    REQUIRE(ids(a->due_timers(now, 10)) == std::vector<std::string>{"s2-start", "s1-middle"});
    CHECK(b->due_timers(now, 10).empty());
  }
  CHECK(ids(b->due_timers(now, 10)) == std::vector<std::string>{"s2-start", "s1-middle"});
}

TEST_CASE(
    "retention purges ended rotations with their rosters and evaluations, finished actions "
    "(their ids stay, so they are not made again) and people nothing names; dry runs only count",
    "[store][retention]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  const auto now = *parse_time("2026-12-01T00:00:00Z");
  for (const char* id : {"S1", "S2", "P1", "P2", "P3", "P4", "P5"}) {
    Person p{id,           id[0] == 'S' ? Role::student : Role::nurse,
             "Synthetic",  std::nullopt,
             "Nursing",    std::nullopt,
             std::nullopt, false};
    if (p.id == "P4") p.program_role = ProgramRole::director;  // suggested without a rotation
    store->put_person(p);
  }
  store->put_touch("S2", "P5", *parse_time("2026-11-20T00:00:00Z"));  // P5: a recent touch
  // An evaluation whose rotation the mirror never had, long ago.
  store->put_evaluation({"E_orphan", "R_gone", "P3", "S2", *parse_time("2019-03-01T00:00:00Z"), 3,
                         1, 5, true, false});
  auto old_rotation =
      test::make_rotation("R_old", "S1", "2020-01-06", "2020-01-31", {{"P1", Role::nurse}});
  auto new_rotation =
      test::make_rotation("R_new", "S2", "2026-11-02", "2026-11-27", {{"P2", Role::nurse}});
  for (const auto& r : {old_rotation, new_rotation}) {
    store->put_rotation(r);
    for (const auto& m : r.team) store->put_team_member(r.id, m);
  }
  store->put_evaluation(
      {"E_old", "R_old", "P1", "S1", *parse_time("2020-02-01T00:00:00Z"), 4, 1, 5, true, false});
  store->put_touch("S1", "P1", *parse_time("2020-02-02T00:00:00Z"));
  auto action = [&](std::string id, std::string student, std::string contact, const char* due) {
    Action a;
    a.id = std::move(id);
    a.hook = "h";
    a.student_id = std::move(student);
    a.contact_id = std::move(contact);
    a.due = *parse_time(due);
    a.reason = "r";
    a.event_id = "e";
    REQUIRE(store->add_action(a));
    return a;
  };
  auto done = action("act_done", "S1", "P1", "2020-02-01T00:00:00Z");
  action("act_pending", "S1", "P3", "2020-02-01T00:00:00Z");  // its delivery still retries
  action("act_new", "S2", "P2", "2026-11-03T00:00:00Z");
  store->enqueue_delivery("hooks", 1, "act_done", now);
  store->enqueue_delivery("hooks", 2, "act_pending", now);
  test::execute_in_store(dir, backend,
                         "UPDATE deliveries SET state = 'delivered' WHERE action_id = 'act_done';\n"
                         "UPDATE people SET seen_at = '2019-01-01T00:00:00Z'");
  store->set_progress("sink:hooks", 3);
  const auto erasures_before = store->progress(kMirrorChanged);
  const auto years = [&](int n) { return now - std::chrono::days(365 * n); };
  Store::PurgeBefore cutoffs{.now = now,
                             .inbox_payloads = years(1),
                             .delivery_attempts = years(1),
                             .rotations = years(5),
                             .people = years(5),
                             .actions = years(2),
                             .ids = years(5),
                             .reports = years(1),
                             .disclosures = std::nullopt,
                             .sinks = {"hooks", "late"}};

  // A configured sink that has passed nothing yet ("late", no progress): no action goes.
  CHECK(store->purge(cutoffs, 1000, true).at("actions") == 0);
  store->set_progress("sink:late", 3);
  auto would = store->purge(cutoffs, 1000, true);
  CHECK(would.at("rotations") == 1);
  CHECK(would.at("actions") == 1);
  CHECK(would.at("touches") == 1);
  CHECK(would.at("people") == 0);  // P1 is still named by R_old and act_done
  CHECK(store->rotation("R_old"));

  auto went = store->purge(cutoffs, 1000, false);
  CHECK(went.at("rotations") == 1);
  CHECK(went.at("actions") == 1);
  CHECK(went.at("people") == 1);       // P1: what named them went first
  CHECK(went.at("evaluations") == 1);  // E_orphan
  CHECK(store->person("P4"));          // a program director stays
  CHECK(store->person("P5"));          // named by a touch
  CHECK_FALSE(store->rotation("R_old"));
  CHECK(store->evaluations_of("S1").empty());
  CHECK(store->rotation("R_new"));
  CHECK(store->rotation("R_new")->team.size() == 1);
  CHECK_FALSE(store->person("P1"));
  CHECK(store->person("S1"));  // named by act_pending
  CHECK(store->person("P3"));
  CHECK(store->person("P2"));
  std::vector<std::string> left;
  for (const auto& a : store->actions_after(0, 10)) left.push_back(a.action.id);
  CHECK(left == std::vector<std::string>{"act_pending", "act_new"});
  CHECK_FALSE(store->add_action(done));                      // purged, not made again
  CHECK(store->progress(kMirrorChanged) > erasures_before);  // the memory is rebuilt

  // Nothing left to go; a second pass changes nothing.
  for (const auto& [kind, n] : store->purge(cutoffs, 1000, false)) {
    INFO(kind);
    CHECK(n == 0);
  }
  // The newest action can go too: the sequence goes on from where it was.
  cutoffs.actions = now;
  CHECK(store->purge(cutoffs, 1000, false).at("actions") == 1);  // act_new
  CHECK(store->last_action_seq() == 3);
  // The id records go after their own period; then the action could be made again.
  cutoffs.ids = now + std::chrono::hours(1);
  CHECK(store->purge(cutoffs, 1000, false).at("action ids") == 2);
  CHECK(store->add_action(done));
  CHECK(store->actions_after(3, 10).size() == 1);  // with a new sequence number
}

TEST_CASE("a lease is held by one process until it expires or is given back",
          "[store][retention]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto a = test::open_test_store(dir, backend);
  auto b = test::open_test_store(dir, backend);
  const auto now = *parse_time("2026-12-01T00:00:00Z");
  const auto later = now + std::chrono::minutes(10);
  CHECK(a->take_lease("purge", "host:1", now, later));
  CHECK(a->take_lease("purge", "host:1", now, later));  // renewed by its holder
  CHECK_FALSE(b->take_lease("purge", "host:2", now, later));
  CHECK(b->take_lease("purge", "host:2", later + std::chrono::seconds(1),
                      later + std::chrono::minutes(10)));  // expired: taken over
  CHECK_FALSE(a->take_lease("purge", "host:1", later + std::chrono::seconds(2), later));
  b->release_lease("purge", "host:2");
  CHECK(a->take_lease("purge", "host:1", now, later));
}

namespace {
Action make_action(std::string id, std::string student, std::string contact, const char* due,
                   std::string hook = "h") {
  Action a;
  a.id = std::move(id);
  a.hook = std::move(hook);
  a.student_id = std::move(student);
  a.contact_id = std::move(contact);
  a.created = at("2027-01-04T00:00:00Z");
  a.due = at(due);
  a.reason = "r";
  a.event_id = "e";
  return a;
}
}  // namespace

TEST_CASE(
    "events get partitions and are read by partition up to a position; progress is set at "
    "once and forgotten",
    "[store][inbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  const auto now = at("2027-01-04T00:00:00Z");
  for (int i = 1; i <= 6; ++i) store->append_event(event("a", std::to_string(i)), now);
  const auto events = store->events_after(0, 10);  // numbered
  REQUIRE(events.size() == 6);
  auto seq = [&](int i) { return events[std::size_t(i - 1)].seq; };
  // Nothing has a partition yet: no partition's read finds anything.
  CHECK(store->events_up_to(0, 0, seq(6), 10).empty());
  store->set_event_parts({{seq(1), 0}, {seq(2), 1}, {seq(3), 0}, {seq(5), 0}, {seq(6), 1}});
  store->set_event_parts({});
  auto ids = [](const std::vector<InboxEvent>& read) {
    std::vector<std::string> out;
    for (const auto& e : read) out.push_back(e.event.id);
    return out;
  };
  CHECK(ids(store->events_up_to(0, 0, seq(6), 10)) == std::vector<std::string>{"1", "3", "5"});
  CHECK(ids(store->events_up_to(0, seq(1), seq(4), 10)) == std::vector<std::string>{"3"});
  CHECK(ids(store->events_up_to(0, 0, seq(6), 2)) == std::vector<std::string>{"1", "3"});
  CHECK(ids(store->events_up_to(1, 0, seq(6), 10)) == std::vector<std::string>{"2", "6"});
  CHECK(store->events_up_to(2, 0, seq(6), 10).empty());
  CHECK(ids(store->events_up_to(std::nullopt, seq(2), seq(5), 10)) ==
        std::vector<std::string>{"3", "4", "5"});
  CHECK(ids(store->events_up_to(std::nullopt, seq(2), seq(5), 2)) ==
        std::vector<std::string>{"3", "4"});
  // A partition given again replaces the first.
  store->set_event_parts({{seq(2), 0}});
  CHECK(ids(store->events_up_to(0, 0, seq(3), 10)) == std::vector<std::string>{"1", "2", "3"});

  store->set_progress("mirror", 2);
  store->set_progresses({{"each#0", 4}, {"each#1", 5}, {"mirror", 6}});
  store->set_progresses({{"each#2", 1}});
  store->set_progresses({});
  CHECK(store->all_progress() == std::map<std::string, std::int64_t>{
                                     {"each#0", 4}, {"each#1", 5}, {"each#2", 1}, {"mirror", 6}});
  store->forget_progress("each#1");
  store->forget_progress("nobody");
  CHECK(store->all_progress() ==
        std::map<std::string, std::int64_t>{{"each#0", 4}, {"each#2", 1}, {"mirror", 6}});
}

TEST_CASE("progress, reports and notices are kept per consumer", "[store][inbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  CHECK(store->progress("hook:a") == 0);
  store->set_progress("hook:a", 5);
  store->set_progress("hook:a", 7);
  store->set_progress("mirror", 3);
  CHECK(store->progress("hook:a") == 7);
  CHECK(store->all_progress() == std::map<std::string, std::int64_t>{{"hook:a", 7}, {"mirror", 3}});
  CHECK(store->last_report_id() == 0);
  store->record_report("hook:a", 4, ReportKind::error, "first", at("2027-01-04T00:00:00Z"));
  store->record_report("hook:a", 5, ReportKind::error, "second", at("2027-01-05T00:00:00Z"));
  store->record_report("hook:b", 6, ReportKind::notice, "a notice", at("2027-01-05T00:00:00Z"));
  auto reports = store->reports();
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].consumer == "hook:a");
  CHECK(reports[0].count == 2);
  CHECK(reports[0].last_message == "second");
  CHECK(reports[1].kind == "notice");
  auto notices = store->notices_after(0, 10);
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].second == "hook:b");
  CHECK(store->notices_after(notices[0].first, 10).empty());
  CHECK(store->last_report_id() == notices[0].first);
}

TEST_CASE("webhook message ids are remembered once and forgotten by age", "[store][inbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  CHECK(store->remember_message("platform", "m1", at("2027-01-01T00:00:00Z")));
  CHECK_FALSE(store->remember_message("platform", "m1", at("2027-01-02T00:00:00Z")));
  CHECK(store->remember_message("platform", "m2", at("2027-01-03T00:00:00Z")));
  CHECK(store->forget_messages_before(at("2027-01-02T00:00:00Z")) == 1);
  CHECK(store->remember_message("platform", "m1", at("2027-01-04T00:00:00Z")));
  CHECK(store->last_event_seq() == 0);
  store->append_event(event("a", "1"), at("2027-01-04T00:00:00Z"));
  store->append_event(event("a", "2"), at("2027-01-04T00:00:00Z"));
  CHECK(store->last_event_seq() == store->events_after(0, 10).back().seq);
}

TEST_CASE("actions are read by hook, student and id, held, expired", "[store][outbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto a1 = make_action("a1", "S1", "P1", "2027-01-05T00:00:00Z", "intro");
  auto a2 = make_action("a2", "S1", "P2", "2027-01-10T00:00:00Z", "intro");
  auto a3 = make_action("a3", "S2", "P1", "2027-01-06T00:00:00Z", "thanks");
  for (const auto& a : {a1, a2, a3}) REQUIRE(store->add_action(a));
  CHECK(store->count_actions_after(0) == 3);
  auto all = store->actions_after(0, 10);
  CHECK(store->count_actions_after(all[0].seq) == 2);
  CHECK(store->actions_of_hook("intro", at("2027-01-06T00:00:00Z")) == std::vector<Action>{a2});
  CHECK(store->action_with_id("a3") == a3);
  CHECK_FALSE(store->action_with_id("nope"));

  auto held = make_action("h1", "S9", "P9", "2027-01-05T00:00:00Z");
  held.expires = at("2027-01-08T00:00:00Z");
  CHECK(store->hold_action(held, at("2027-01-04T00:00:00Z")));
  CHECK_FALSE(store->hold_action(held, at("2027-01-04T00:00:00Z")));
  CHECK_FALSE(store->hold_action(a1, at("2027-01-04T00:00:00Z")));  // in the outbox already
  CHECK(store->held_count() == 1);
  CHECK(store->held_naming("P9") == std::vector<Action>{held});
  CHECK(store->held_naming("S9").size() == 1);
  // Releasable once its student and contact are both in the mirror.
  CHECK(store->held_releasable(10).empty());
  store->put_person(
      Person{"S9", Role::student, "Sam", std::nullopt, "", std::nullopt, std::nullopt, false});
  CHECK(store->held_releasable(10).empty());
  store->put_person(
      Person{"P9", Role::attending, "Pia", std::nullopt, "", std::nullopt, std::nullopt, false});
  CHECK(store->held_releasable(10) == std::vector<Action>{held});
  CHECK(store->held_releasable(0).empty());
  CHECK(store->held_expired(at("2027-01-07T00:00:00Z")).empty());
  CHECK(store->held_expired(at("2027-01-08T00:00:00Z")).size() == 1);
  store->drop_held("h1");
  CHECK(store->held_count() == 0);
  store->record_expired(held, "held", at("2027-01-08T00:00:00Z"));
  store->record_expired(held, "held", at("2027-01-09T00:00:00Z"));
  store->record_expired(a3, "delivery", at("2027-01-09T00:00:00Z"));
  CHECK(store->expired_counts() ==
        std::map<std::string, std::int64_t>{{"delivery", 1}, {"held", 1}});
}

TEST_CASE("deliveries are due, retried, replayed, counted, and a sink disabled",
          "[store][outbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto a1 = make_action("a1", "S1", "P1", "2027-01-05T00:00:00Z");
  auto a2 = make_action("a2", "S1", "P2", "2027-01-05T00:00:00Z");
  a2.created = at("2027-02-01T00:00:00Z");
  store->add_action(a1);
  store->add_action(a2);
  store->enqueue_delivery("hooks", 1, "a1", at("2027-01-05T00:00:00Z"));
  store->enqueue_delivery("hooks", 2, "a2", at("2027-01-06T00:00:00Z"));
  store->enqueue_delivery("hooks", 2, "a2", at("2027-01-01T00:00:00Z"));  // once per sink
  auto due = store->claim_deliveries("hooks", at("2027-01-05T12:00:00Z"), 10,
                                     std::chrono::seconds(0), "host:1");
  REQUIRE(due.size() == 1);
  auto d = due[0];
  CHECK(d.action_id == "a1");
  d.state = "pending";
  d.attempts = 1;
  d.next_at = at("2027-01-07T00:00:00Z");
  d.last_status = 503;
  d.last_error = "busy";
  CHECK(store->update_delivery(d));
  store->add_attempt({d.id, 1, at("2027-01-05T12:00:00Z"), 40, 503, "retry", "busy"});
  store->add_attempt({d.id, 2, at("2027-01-07T00:00:00Z"), 30, 200, "delivered", "ok"});
  CHECK(store->delivery(d.id)->last_status == 503);
  auto attempts = store->attempts_of(d.id);
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0].result == "retry");
  CHECK(attempts[1].duration_ms == 30);
  CHECK(store->deliveries("", true, 10).size() == 1);  // pending after a failure
  CHECK(store->deliveries("hooks", false, 10).size() == 2);
  CHECK(store->deliveries("other", false, 10).empty());
  d.state = "dead";
  CHECK_FALSE(store->update_delivery(d));  // the same claim records once
  d.claim += 1;
  CHECK(store->update_delivery(d));
  CHECK(store->delivery_counts("hooks") ==
        std::map<std::string, std::int64_t>{{"dead", 1}, {"pending", 1}});
  CHECK(store->replay_deliveries("hooks", "a1", std::nullopt, at("2027-01-08T00:00:00Z")) == 1);
  CHECK(store->delivery(d.id)->state == "pending");
  CHECK(store->delivery(d.id)->attempts == 0);
  // By the time the action was made: a2 only.
  CHECK(store->replay_deliveries("", "", at("2027-01-15T00:00:00Z"), at("2027-01-08T00:00:00Z")) ==
        1);
  CHECK_FALSE(store->sink_disabled("hooks"));
  store->set_sink_disabled("hooks", true, "410 Gone", at("2027-01-08T00:00:00Z"));
  CHECK(store->sink_disabled("hooks") == "410 Gone");
  store->set_sink_disabled("hooks", false, "", at("2027-01-09T00:00:00Z"));
  CHECK_FALSE(store->sink_disabled("hooks"));
}

TEST_CASE("prompts, their actions and the released stream", "[store][budget]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  for (const char* id : {"a1", "a2", "a3"}) {
    store->add_action(make_action(id, "S1", "P1", "2027-01-05T00:00:00Z"));
  }
  Prompt p;
  p.id = "S1/e/introduce";
  p.student_id = "S1";
  p.type = "introduce";
  p.event_id = "e";
  p.priority = 0;
  p.due = at("2027-01-05T00:00:00Z");
  p.state = "pending";
  p.decided_at = at("2027-01-04T00:00:00Z");
  store->put_prompt(p);
  Prompt later = p;
  later.id = "S1/e/thank_you";
  later.priority = 1;
  later.state = "deferred";
  later.until = at("2027-01-11T00:00:00Z");
  later.reason = "week full";
  later.deferrals = 1;
  later.expires = at("2027-02-01T00:00:00Z");
  store->put_prompt(later);
  store->add_to_prompt(p.id, "a2");
  store->add_to_prompt(p.id, "a1");
  store->add_to_prompt(later.id, "a1");  // an action belongs to one prompt
  store->add_to_prompt(later.id, "a3");
  CHECK(store->prompt_action_ids(p.id) == std::vector<std::string>{"a1", "a2"});
  CHECK(store->prompt(p.id)->actions == 2);
  CHECK(store->prompt(later.id)->until == later.until);
  CHECK(store->prompt(later.id)->expires == later.expires);
  CHECK(store->prompts_to_decide(at("2027-01-05T00:00:00Z"), 10).size() == 1);
  CHECK(store->prompts_to_decide(at("2027-01-11T00:00:00Z"), 10).size() == 2);
  p.state = "sent";
  p.week = *parse_date("2027-01-04");
  store->put_prompt(p);  // replaced
  CHECK(store->prompts_sent_in_week("S1", *parse_date("2027-01-04")) == 1);
  CHECK(store->prompts_sent_in_week("S1", *parse_date("2027-01-11")) == 0);
  CHECK(store->prompts_of("S1").size() == 2);
  CHECK(store->prompt_counts() ==
        std::map<std::string, std::int64_t>{{"deferred", 1}, {"sent", 1}});
  CHECK_FALSE(store->prompt("none"));

  CHECK(store->last_release_seq() == 0);
  CHECK(store->release_action("a2", at("2027-01-05T00:00:00Z")));
  CHECK_FALSE(store->release_action("a2", at("2027-01-05T00:00:00Z")));
  CHECK(store->release_action("a1", at("2027-01-05T00:00:00Z")));
  auto released = store->released_after(0, 10);
  REQUIRE(released.size() == 2);
  CHECK(released[0].action.id == "a2");
  CHECK(store->count_released_after(released[0].seq) == 1);
  CHECK(store->last_release_seq() == released[1].seq);
}

TEST_CASE("digests gather items, are stored once, sent, withheld and reopened", "[store][digest]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  store->add_digest_item("mail", "a2", "S1", 2);
  store->add_digest_item("mail", "a1", "S1", 1);
  store->add_digest_item("mail", "a1", "S1", 1);
  store->add_digest_item("mail", "a3", "S2", 3);
  store->add_digest_item("other", "a4", "S3", 4);
  CHECK(store->students_with_open_items("mail", "", 10) == std::vector<std::string>{"S1", "S2"});
  CHECK(store->students_with_open_items("mail", "S1", 10) == std::vector<std::string>{"S2"});
  CHECK(store->open_digest_items("mail", "S1") == std::vector<std::string>{"a1", "a2"});
  DigestRecord d;
  d.id = "mail/S1/2027-01-05";
  d.sink = "mail";
  d.student_id = "S1";
  d.period_end = at("2027-01-05T08:00:00Z");
  d.composed_at = at("2027-01-05T08:00:01Z");
  d.recipient = "s1@example.test";
  d.message = "From: x\r\n\r\nbody";
  d.state = "pending";
  d.next_at = at("2027-01-05T08:00:01Z");
  CHECK(store->put_digest(d, {"a1"}, {"a2"}));
  CHECK_FALSE(store->put_digest(d, {"a1"}, {}));
  CHECK(store->open_digest_items("mail", "S1").empty());
  CHECK(store->digest_action_ids(d.id) == std::vector<std::string>{"a1"});
  auto due = store->due_digests("mail", at("2027-01-05T09:00:00Z"), 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].message == d.message);
  auto row = due[0].row;
  CHECK(store->digest_row(row)->recipient == "s1@example.test");
  auto sent = due[0];
  sent.state = "sent";
  sent.attempts = 1;
  store->update_digest(sent);
  CHECK(store->digest_row(row)->message.empty());  // dropped once sent
  CHECK(store->digest_counts("mail") == std::map<std::string, std::int64_t>{{"sent", 1}});
  DigestRecord again = d;
  again.id = "mail/S2/2027-01-05";
  again.student_id = "S2";
  CHECK(store->put_digest(again, {"a3"}, {}));
  store->reopen_digest(again.id);
  CHECK(store->open_digest_items("mail", "S2") == std::vector<std::string>{"a3"});
  CHECK(store->digest_counts("mail").at("withheld") == 1);
  DigestRecord nowhere = d;
  nowhere.id = "other/S3/2027-01-05";
  nowhere.sink = "other";
  nowhere.student_id = "S3";
  nowhere.state = "no_address";
  CHECK(store->put_digest(nowhere, {}, {"a4"}));
  CHECK(store->students_without_address("other") == std::vector<std::string>{"S3"});
}

TEST_CASE("timers are replaced, deleted one by one and found by subject", "[store][timers]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  auto e = event("s", "x");
  e.subject = "S7";
  store->put_timer({"t1", at("2027-01-10T00:00:00Z"), e});
  store->put_timer({"t1", at("2027-01-08T00:00:00Z"), e});  // replaced
  store->put_timer({"t2", at("2027-01-09T00:00:00Z"), event("s", "y")});
  auto about = store->timers_about("S7");
  REQUIRE(about.size() == 1);
  CHECK(about[0].due == at("2027-01-08T00:00:00Z"));
  CHECK(about[0].event == e);
  store->delete_timer("t1");
  CHECK(store->timers_about("S7").empty());
  CHECK(store->due_timers(at("2027-12-31T00:00:00Z"), 10).size() == 1);
}

TEST_CASE("sources keep cursors, row hashes, what a full scan saw, and their state",
          "[store][source]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  CHECK_FALSE(store->cursor("sis", "people"));
  store->set_cursor("sis", "people", "2027-01-01");
  store->set_cursor("sis", "people", "2027-01-02");
  store->set_cursor("sis", "rotations", "42");
  CHECK(store->cursor("sis", "people") == "2027-01-02");
  CHECK(store->cursors("sis") == std::vector<std::pair<std::string, std::string>>{
                                     {"people", "2027-01-02"}, {"rotations", "42"}});
  store->delete_cursor("sis", "people");
  CHECK_FALSE(store->cursor("sis", "people"));

  store->set_row_hash("sis", "team", "R1\x1fP1\x1f", "h1");
  store->set_row_hash("sis", "team", "R1\x1fP2\x1f", "h2");
  store->set_row_hash("sis", "team", "R2\x1fP1\x1f", "h3");
  store->set_row_hash("sis", "team", "R2\x1fP1\x1f", "h4");
  CHECK(store->row_hash("sis", "team", "R2\x1fP1\x1f") == "h4");
  store->mark_rows_seen("sis", "team", {"R2\x1fP1\x1f", "R3\x1fP9\x1f"}, 1);
  store->mark_rows_seen("sis", "team", {}, 1);
  store->mark_rows_seen_with_prefix("sis", "team", "R1\x1fP1", 1);
  CHECK(store->rows_not_seen("sis", "team", 1) == std::vector<std::string>{"R1\x1fP2\x1f"});
  store->forget_row("sis", "team", "R1\x1fP2\x1f");
  CHECK(store->rows_not_seen("sis", "team", 1).empty());
  CHECK_FALSE(store->row_hash("sis", "team", "R1\x1fP2\x1f"));

  store->set_source_state("sis", false, "connection refused", at("2027-01-04T00:00:00Z"));
  store->set_source_state("csv", true, "", at("2027-01-04T00:00:00Z"));
  auto states = store->source_states();
  REQUIRE(states.size() == 2);
  CHECK(states[0].source == "csv");
  CHECK_FALSE(states[1].up);
  CHECK(states[1].message == "connection refused");
}

TEST_CASE(
    "row hashes written at once leave what writing them one by one leaves: runs, keys given "
    "twice within a run and across runs, a key stored before",
    "[store][source]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  test::TempDir dir;
  auto store = test::open_test_store(dir, backend);
  Store::RowHashes rows;
  for (int i = 0; i < 101; ++i) {
    // Keys repeat: 7 and 20 in one run of 32, 5 and 45 across runs, 12 and 99 in the rest.
    const int k = i == 20 ? 7 : i == 45 ? 5 : i == 99 ? 12 : i;
    rows.emplace_back(i % 3 ? "team" : "people", "K" + std::to_string(k) + "\x1f",
                      "h" + std::to_string(i));
  }
  for (const char* source : {"at once", "one by one"}) {
    store->set_row_hash(source, "team", "K1\x1f", "before");
    store->set_row_hash(source, "team", "K0\x1f", "untouched");
  }
  store->set_row_hashes("at once", rows);
  store->set_row_hashes("at once", {});
  for (const auto& [entity, key, hash] : rows) store->set_row_hash("one by one", entity, key, hash);
  std::vector<std::string> keys;
  for (int k = 0; k < 101; ++k) keys.push_back("K" + std::to_string(k) + "\x1f");
  for (const char* entity : {"team", "people"}) {
    INFO(entity);
    const auto at_once = store->row_hashes("at once", entity, keys);
    CHECK(at_once == store->row_hashes("one by one", entity, keys));
    CHECK(at_once.size() > 30);
  }
  CHECK(store->row_hash("at once", "team", "K7\x1f") == "h20");
  CHECK(store->row_hash("at once", "team", "K1\x1f") == "h1");
  CHECK(store->row_hash("at once", "team", "K0\x1f") == "untouched");
}

TEST_CASE("the mirror keeps interests, sites, roster rows, touches and evaluations",
          "[store][mirror]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  Person p{"P1",         Role::attending, "Synthetic",  "p1@example.test",
           "Cardiology", std::nullopt,    std::nullopt, false};
  p.program_role = ProgramRole::director;
  p.email_opted_out = true;
  store->put_person(p);
  store->put_person({"P0", Role::student, "Synthetic", std::nullopt, std::nullopt, std::nullopt,
                     std::nullopt, true});
  store->add_interest("P1", "Surgery", 2);
  store->add_interest("P1", "cardiology ", 1);
  store->add_interest("P1", "Surgery", 1);
  auto back = store->person("P1");
  REQUIRE(back);
  CHECK(back->program_role == ProgramRole::director);
  CHECK(back->email_opted_out);
  CHECK(back->interests == std::vector<std::string>{"Surgery", "cardiology "});
  store->remove_interest("P1", "Surgery", 1);
  CHECK(store->person("P1")->interests == std::vector<std::string>{"cardiology ", "Surgery"});
  store->remove_interest("P1", "Surgery", std::nullopt);
  CHECK(store->person("P1")->interests == std::vector<std::string>{"cardiology "});
  store->clear_interests("P1");
  CHECK(store->person("P1")->interests.empty());
  std::vector<std::string> people;
  store->for_each_person([&](const Person& each) { people.push_back(each.id); });
  CHECK(people == std::vector<std::string>{"P0", "P1"});

  store->put_site_timezone("North", "America/Chicago");
  store->put_site_timezone("North", "America/New_York");
  CHECK(store->site_timezone("North") == "America/New_York");
  CHECK_FALSE(store->site_timezone("South"));

  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {});
  store->put_rotation(r);
  // A roster split around a weekend, a duplicate row, a row with the platform's own id.
  store->add_team_row(
      "R1", {"P1", Role::attending, *parse_date("2027-01-04"), *parse_date("2027-01-08")});
  store->add_team_row("R1", {"P1", Role::attending, *parse_date("2027-01-11"), std::nullopt});
  store->add_team_row("R1", {"P1", Role::attending, *parse_date("2027-01-11"), std::nullopt});
  TeamRow with_id{"P2", Role::nurse, std::nullopt, std::nullopt, false, "row-9"};
  store->add_team_row("R1", with_id);
  auto rot = store->rotation("R1");
  REQUIRE(rot);
  REQUIRE(rot->team.size() == 2);
  CHECK(rot->team[0].spans.size() == 2);
  CHECK(rot->team[0].end == *parse_date("2027-01-31"));
  CHECK(rot->team[1].role == Role::nurse);
  with_id.person_id = "P3";  // the row of that id moved to another person
  store->add_team_row("R1", with_id);
  CHECK(store->rotation("R1")->team.at(1).person_id == "P3");
  store->remove_team_row("R1", {"P3", std::nullopt, std::nullopt, std::nullopt, false, "row-9"});
  store->remove_team_row(
      "R1", {"P1", std::nullopt, *parse_date("2027-01-04"), *parse_date("2027-01-08")});
  rot = store->rotation("R1");
  REQUIRE(rot->team.size() == 1);
  CHECK(rot->team[0].start == *parse_date("2027-01-11"));
  CHECK(store->rotations_starting(*parse_date("2027-01-04")).size() == 1);
  CHECK(store->rotations_starting(*parse_date("2027-01-05")).empty());
  store->put_rotation(test::make_rotation("R0", "S2", "2027-02-01", "2027-02-28", {}));
  std::vector<std::string> rotations;
  store->for_each_rotation([&](const Rotation& each) {
    rotations.push_back(each.id + ":" + std::to_string(each.team.size()));
  });
  CHECK(rotations == std::vector<std::string>{"R0:0", "R1:1"});

  store->put_touch("S1", "P1", at("2027-01-10T00:00:00Z"));
  store->put_touch("S1", "P1", at("2027-01-09T00:00:00Z"));  // the latest stays
  store->put_touch("S2", "P1", at("2027-01-12T00:00:00Z"));
  auto touches = store->touches_of("S1");
  REQUIRE(touches.size() == 1);
  CHECK(touches[0].second == at("2027-01-10T00:00:00Z"));
  int all_touches = 0;
  store->for_each_touch([&](const std::string&, const std::string&, TimePoint) { ++all_touches; });
  CHECK(all_touches == 2);

  Evaluation e{"E1", "R1", "P1", "S1", at("2027-01-30T00:00:00Z"), 4.25, 1, 5, std::nullopt, true};
  store->put_evaluation(e);
  Evaluation f{"E2", "R1", "P1", "S1", at("2027-01-31T00:00:00Z"), 0.1 + 0.2, 0, 1, false, false};
  store->put_evaluation(f);
  CHECK(store->evaluations_of("S1") == std::vector<Evaluation>{e, f});
  e.would_recommend = true;
  store->put_evaluation(e);
  CHECK(store->evaluations_of("S1").at(0).would_recommend == true);
  CHECK(store->evaluation_student("E1") == "S1");
  CHECK_FALSE(store->evaluation_student("E9"));

  auto counts = store->counts();
  CHECK(counts.people == 2);
  CHECK(counts.rotations == 2);
  CHECK(counts.evaluations == 2);
}

TEST_CASE("an erasure removes a person everywhere, keeps ids in the logs, and suppresses them",
          "[store][privacy]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  store->put_person({"S1", Role::student, "Synthetic", "s1@example.test", std::nullopt,
                     std::nullopt, std::nullopt, false});
  store->put_person({"P1", Role::attending, "Synthetic", std::nullopt, std::nullopt, std::nullopt,
                     std::nullopt, false});
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::attending}});
  store->put_rotation(r);
  for (const auto& m : r.team) store->put_team_member(r.id, m);
  store->put_evaluation({"E1", "R1", "P1", "S1", at("2027-01-30T00:00:00Z"), 4, 1, 5, true, false});
  store->put_evaluation({"E2", "R9", "S1", "S9", at("2027-01-30T00:00:00Z"), 4, 1, 5, true, false});
  auto a = make_action("a1", "S1", "P1", "2027-01-05T00:00:00Z");
  store->add_action(a);
  store->enqueue_delivery("hooks", 1, "a1", at("2027-01-05T00:00:00Z"));
  store->add_disclosure({"a1", "S1", "P1", "name,email", "hooks", "https://x.test", "consent",
                         at("2027-01-05T00:00:00Z")});
  store->put_timer({"t", at("2027-02-01T00:00:00Z"), event("s", "x")});  // subject S1
  store->append_event(event("s", "x"), at("2027-01-04T00:00:00Z"));
  store->set_row_hash("sis", "people", "S1", "h");
  store->put_touch("S1", "P1", at("2027-01-06T00:00:00Z"));
  std::map<std::string, std::int64_t> removed;
  {
    Transaction tx(*store);
    removed =
        store->erase_person("S1", at("2027-03-01T00:00:00Z"), "student", "registrar", "request 7");
    tx.commit();
  }
  store->scrub();
  CHECK(removed.at("people") == 1);
  CHECK(removed.at("rotations") == 1);
  CHECK(removed.at("actions") == 1);
  CHECK(removed.at("evaluations pseudonymised") == 1);
  CHECK(removed.at("inbox events") == 1);
  CHECK(removed.at("source rows") == 1);
  CHECK_FALSE(store->person("S1"));
  CHECK(store->person("P1"));
  CHECK(store->actions_of("S1").empty());
  CHECK(store->evaluations_of("S1").empty());
  auto kept = store->evaluations_of("S9");
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].evaluator_id.rfind("erased-", 0) == 0);
  CHECK(store->touches_of("S1").empty());
  CHECK(store->disclosures_of("S1").size() == 1);  // ids only, kept
  CHECK(store->suppressed_ids() == std::set<std::string>{"S1"});
  auto erasures = store->erasures();
  REQUIRE(erasures.size() == 1);
  CHECK(erasures[0].requested_by == "registrar");
  CHECK_THAT(erasures[0].removed, Contains("people 1"));
  CHECK(store->lift_suppression("S1", at("2027-04-01T00:00:00Z")));
  CHECK_FALSE(store->lift_suppression("S1", at("2027-04-01T00:00:00Z")));
  CHECK(store->suppressed_ids().empty());
  CHECK(store->erasures()[0].lifted_at == "2027-04-01T00:00:00Z");
}

TEST_CASE("a new store is at its backend's schema version and says which backend it is",
          "[store]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto store = test::open_test_store(dir, backend);
  CHECK(store->backend() == backend);
  CHECK(store->schema_version() > 0);
  CHECK(test::open_test_store(dir, backend)->schema_version() == store->schema_version());
}

TEST_CASE(
    "a consumer never skips an event, action or release that commits after a later one: "
    "order is the order they became visible",
    "[store][inbox][order]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto first = test::open_test_store(dir, backend);
  auto second = test::open_test_store(dir, backend);
  auto consumer = test::open_test_store(dir, backend);
  const auto now = at("2027-01-04T00:00:00Z");
  if (backend == "sqlite") {
    // One writer at a time: the second waits for the first to commit, so sequence order is
    // commit order by construction.
    first->begin();
    first->append_event(event("a", "early"), now);
    std::thread later([&] {
      Transaction tx(*second);
      second->append_event(event("a", "late"), now);
      tx.commit();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(consumer->events_after(0, 10).empty());
    first->commit();
    later.join();
    auto seen = consumer->events_after(0, 10);
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].event.id == "early");
    CHECK(seen[1].event.id == "late");
    return;
  }
  // PostgreSQL: the first transaction takes its sequence value first and commits last.
  for (int round = 0; round < 2; ++round) {
    const std::string n = std::to_string(round);
    Transaction slow(*first);
    first->append_event(event("a", "slow" + n), now);
    first->add_action(make_action("slow" + n, "S1", "P1", "2027-01-05T00:00:00Z"));
    first->release_action("r-slow" + n, now);
    {
      Transaction fast(*second);
      second->append_event(event("a", "fast" + n), now);
      second->add_action(make_action("fast" + n, "S1", "P1", "2027-01-05T00:00:00Z"));
      second->release_action("r-fast" + n, now);
      fast.commit();
    }
    // The consumer reads what is visible and moves its progress past it...
    auto from = consumer->progress("hook:x");
    auto events = consumer->events_after(from, 10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].event.id == "fast" + n);
    consumer->set_progress("hook:x", events.back().seq);
    auto actions = consumer->actions_after(consumer->progress("sink:x"), 10);
    REQUIRE(actions.size() == 1);
    consumer->set_progress("sink:x", actions.back().seq);
    auto released = consumer->count_released_after(consumer->progress("sink:student"));
    CHECK(released == 1);
    consumer->set_progress("sink:student", consumer->last_release_seq());
    // ...and still finds the earlier one once it commits.
    slow.commit();
    events = consumer->events_after(consumer->progress("hook:x"), 10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].event.id == "slow" + n);
    actions = consumer->actions_after(consumer->progress("sink:x"), 10);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].action.id == "slow" + n);
    CHECK(consumer->count_released_after(consumer->progress("sink:student")) == 1);
    consumer->set_progress("hook:x", events.back().seq);
    consumer->set_progress("sink:x", actions.back().seq);
    consumer->set_progress("sink:student", consumer->last_release_seq());
  }
  CHECK(consumer->events_after(0, 10).size() == 4);
  CHECK(consumer->last_event_seq() == 4);
}

TEST_CASE("processes opening one store at once migrate it once, and none fails",
          "[store][migrations]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  for (int round = 0; round < 3; ++round) {
    test::TempDir dir;
    if (backend == "postgresql") test::postgresql_url(dir);  // the database, before the race
    std::atomic<int> failures{0};
    std::vector<std::thread> openers;
    std::atomic<int> version{0};
    for (int i = 0; i < 4; ++i) {
      openers.emplace_back([&] {
        try {
          version = test::open_test_store(dir, backend)->schema_version();
        } catch (const std::exception& e) {
          UNSCOPED_INFO(e.what());
          ++failures;
        }
      });
    }
    for (auto& t : openers) t.join();
    CHECK(failures == 0);
    CHECK(version > 0);
  }
}

namespace {
// Every table of a store, as text, for comparing two stores.
std::map<std::string, std::vector<Store::Row>> contents(Store& store) {
  std::map<std::string, std::vector<Store::Row>> out;
  for (const auto& table : store_plans::tables()) {
    auto& rows = out[table.name];
    store.read_table(table, [&](const Store::Row& row) { rows.push_back(row); });
  }
  return out;
}

// A little of everything, with what retention leaves: the newest event's row purged.
void fill(Store& store) {
  const auto now = at("2027-01-04T00:00:00Z");
  store.put_person({"S1", Role::student, "Synthetic Ö", "s1@example.test", std::nullopt,
                    std::nullopt, std::nullopt, false});
  store.put_person({"P1", Role::attending, "Synthetic", std::nullopt, "Cardiology", std::nullopt,
                    std::nullopt, true});
  store.add_interest("P1", "Cardiology", 1);
  store.put_site_timezone("North", "America/Chicago");
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"P1", Role::attending}});
  store.put_rotation(r);
  for (const auto& m : r.team) store.put_team_member(r.id, m);
  store.put_evaluation({"E1", "R1", "P1", "S1", now, 0.1 + 0.2, 0, 1, std::nullopt, true});
  store.put_touch("S1", "P1", now);
  for (int i = 0; i < 30; ++i) store.append_event(event("a", std::to_string(i)), now);
  store.set_progress("mirror", 30);
  store.record_report("mirror", 3, ReportKind::slow, "slow", now);
  store.add_action(make_action("a1", "S1", "P1", "2027-01-05T00:00:00Z"));
  store.add_action(make_action("a2", "S1", "P1", "2027-01-06T00:00:00Z"));
  store.release_action("a1", now);
  store.enqueue_delivery("hooks", 1, "a1", now);
  store.add_attempt({1, 1, now, 12, 500, "retry", "oops"});
  store.add_disclosure({"a1", "S1", "P1", "name", "hooks", "https://x.test", "consent", now});
  store.put_timer({"t1", at("2027-02-01T00:00:00Z"), event("s", "t")});
  store.set_cursor("sis", "people", "2027-01-01");
  store.set_row_hash("sis", "team", "R1\x1fP1\x1f", "h");
  store.add_digest_item("mail", "a1", "S1", 1);
  store.put_digest(
      {0, "mail/S1/x", "mail", "S1", now, now, "s1@example.test", "msg", "pending", 0, now, 0, ""},
      {"a1"}, {});
  Prompt p;
  p.id = "S1/e/introduce";
  p.student_id = "S1";
  p.type = "introduce";
  p.event_id = "e";
  p.due = now;
  p.state = "sent";
  p.week = *parse_date("2027-01-04");
  p.decided_at = now;
  store.put_prompt(p);
  store.add_to_prompt(p.id, "a1");
  store.record_expired(make_action("x1", "S1", "P1", "2027-01-05T00:00:00Z"), "made", now);
  store.remember_message("platform", "m1", now);
  store.set_source_state("sis", true, "", now);
  store.set_sink_disabled("chat", true, "410", now);
}
}  // namespace

TEST_CASE(
    "a delivery is taken by one process at a time, until its claim runs out, and an answer "
    "under an older claim is refused",
    "[store][outbox]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto a = test::open_test_store(dir, backend);
  auto b = test::open_test_store(dir, backend);
  const auto now = at("2027-01-05T12:00:00Z");
  const auto minute = std::chrono::seconds(60), none = std::chrono::seconds(0);
  for (const char* id : {"a1", "a2", "a3", "a4"}) {
    a->add_action(make_action(id, "S1", "P1", "2027-01-05T00:00:00Z"));
    a->enqueue_delivery("hooks", 1, id, at("2027-01-05T00:00:00Z"));
  }
  a->enqueue_delivery("hooks", 1, "later", at("2027-01-06T00:00:00Z"));  // not due yet
  auto ids = [](const std::vector<DeliveryRecord>& taken) {
    std::vector<std::string> out;
    for (const auto& d : taken) out.push_back(d.action_id + "#" + std::to_string(d.claim));
    return out;
  };
  // A claim that runs out at once (a process alone on its store) is taken again.
  auto quick = a->claim_deliveries("hooks", now, 1, none, "A");
  CHECK(ids(quick) == std::vector<std::string>{"a1#1"});
  auto taken = b->claim_deliveries("hooks", now, 1, minute, "B");
  REQUIRE(ids(taken) == std::vector<std::string>{"a1#2"});
  CHECK(taken[0].claimed_by == "B");
  // A's answer comes late: refused, and nothing of it written.
  quick[0].state = "delivered";
  quick[0].attempts = 1;
  CHECK_FALSE(a->update_delivery(quick[0]));
  CHECK(a->delivery(quick[0].id)->state == "pending");
  CHECK(a->delivery(quick[0].id)->attempts == 0);
  // Held for a minute: the others only.
  CHECK(ids(a->claim_deliveries("hooks", now, 10, minute, "A")) ==
        std::vector<std::string>{"a2#1", "a3#1", "a4#1"});
  CHECK(b->claim_deliveries("hooks", now, 10, minute, "B").empty());
  taken[0].state = "delivered";
  CHECK(b->update_delivery(taken[0]));
  CHECK_FALSE(b->update_delivery(taken[0]));  // once
  CHECK(a->delivery(taken[0].id)->state == "delivered");
  CHECK(a->delivery(taken[0].id)->claim == 3);
  // Given back (recorded, still pending): anyone takes it at once.
  auto a2 = *a->delivery(taken[0].id + 1);
  REQUIRE(a2.action_id == "a2");
  CHECK(a->update_delivery(a2));
  CHECK(ids(b->claim_deliveries("hooks", now, 10, minute, "B")) ==
        std::vector<std::string>{"a2#3"});
  if (backend == "postgresql") {
    // Rows another process is taking at this very moment are passed over, not waited for.
    auto c = test::open_test_store(dir, backend);
    for (const char* id : {"b1", "b2"}) {
      a->add_action(make_action(id, "S1", "P1", "2027-01-05T00:00:00Z"));
      a->enqueue_delivery("other", 1, id, at("2027-01-05T00:00:00Z"));
    }
    Transaction open(*c);
    CHECK(ids(c->claim_deliveries("other", now, 1, minute, "C")) ==
          std::vector<std::string>{"b1#1"});
    CHECK(ids(a->claim_deliveries("other", now, 10, minute, "A")) ==
          std::vector<std::string>{"b2#1"});
  }
}

TEST_CASE(
    "a whole store copied from SQLite to PostgreSQL and back holds the same, its numbering "
    "goes on where it was, and a target that is not empty is refused",
    "[store][copy]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir from_dir, pg_dir, back_dir;
  auto sqlite = test::open_test_store(from_dir, "sqlite");
  fill(*sqlite);
  // Retention took the newest event's row: the next event must not reuse its number.
  test::execute_in_store(from_dir, "sqlite", "DELETE FROM inbox WHERE seq = 30");
  auto pg = test::open_test_store(pg_dir, "postgresql");
  std::vector<std::string> heard;
  auto copied = copy_store(*sqlite, *pg,
                           [&](const std::string& table, std::int64_t) { heard.push_back(table); });
  CHECK(copied.at("inbox") == 29);
  CHECK(copied.at("people") == 2);
  CHECK(heard.size() == store_plans::tables().size());
  const auto original = contents(*sqlite);
  CHECK(contents(*pg) == original);
  CHECK(pg->last_event_seq() == 30);
  CHECK(pg->person("S1") == sqlite->person("S1"));
  CHECK(pg->evaluations_of("S1") == sqlite->evaluations_of("S1"));
  CHECK(pg->rotation("R1") == sqlite->rotation("R1"));
  CHECK_THROWS_WITH(copy_store(*sqlite, *pg), Contains("not empty"));

  auto back = test::open_test_store(back_dir, "sqlite");
  copy_store(*pg, *back);
  CHECK(contents(*back) == original);
  for (Store* store : {pg.get(), back.get()}) {
    INFO(store->backend());
    CHECK(store->append_event(event("a", "new"), at("2027-01-05T00:00:00Z")));
    CHECK(store->events_after(29, 10).at(0).seq == 31);
    CHECK(store->add_action(make_action("a3", "S1", "P1", "2027-01-07T00:00:00Z")));
    CHECK(store->actions_after(2, 10).at(0).seq == 3);
    store->add_attempt({1, 2, at("2027-01-05T00:00:00Z"), 1, 200, "delivered", "ok"});
    CHECK(store->attempts_of(1).size() == 2);
  }
}

TEST_CASE(
    "a lease on the database's clock passes to another holder only when it expires, with a "
    "new epoch, and a fenced commit of the old holder is refused and rolled back",
    "[store][cluster]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto a = test::open_test_store(dir, backend);
  auto b = test::open_test_store(dir, backend);
  auto first = a->hold_lease("engine", "a", std::chrono::seconds(1));
  REQUIRE(first);
  CHECK(a->hold_lease("engine", "a", std::chrono::seconds(1)) == first);  // renewed, same epoch
  CHECK_FALSE(b->hold_lease("engine", "b", std::chrono::seconds(1)));
  a->set_fence(Fence{"engine", "a", *first});
  {
    Transaction tx(*a);
    a->set_progress("hook:x", 1);
    tx.commit();  // still the holder
  }
  // The holder stops renewing (paused, or dead): after the lease ends, another takes it.
  std::optional<std::int64_t> second;
  for (int i = 0; i < 40 && !second; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    second = b->hold_lease("engine", "b", std::chrono::seconds(30));
  }
  REQUIRE(second);
  CHECK(*second == *first + 1);
  // The old holder resumes: its work is refused, not half done.
  {
    Transaction tx(*a);
    a->set_progress("hook:x", 2);
    a->append_event(event("a", "from-the-past"), at("2027-01-04T00:00:00Z"));
    CHECK_THROWS_AS(tx.commit(), LeaseLost);
  }
  CHECK(b->progress("hook:x") == 1);
  CHECK(b->events_after(0, 10).empty());
  auto leases = b->leases();
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].holder == "b");
  CHECK(leases[0].epoch == *second);
  a->set_fence(std::nullopt);

  a->heartbeat({"a:1:1", "host-a", 1, "2027-01-04T00:00:00Z", "", ""});
  b->heartbeat({"b:2:2", "host-b", 2, "2027-01-04T00:00:00Z", "", "engine"});
  b->heartbeat({"b:2:2", "host-b", 2, "2027-01-04T00:00:00Z", "", "engine"});
  auto live = a->live_processes(std::chrono::seconds(60));
  REQUIRE(live.size() == 2);
  CHECK(live[1].leases == "engine");
  CHECK_FALSE(live[0].heartbeat.empty());
  a->forget_process("a:1:1");
  CHECK(a->live_processes(std::chrono::seconds(60)).size() == 1);
}

TEST_CASE(
    "numbering waits for an erasure that deletes a row not numbered yet, and leaves no gap "
    "that a later number collides with",
    "[store][order][privacy]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  if (backend == "sqlite") return;  // one writer at a time: the erasure and the read take turns
  auto writer = test::open_test_store(dir, backend);
  auto eraser = test::open_test_store(dir, backend);
  auto reader = test::open_test_store(dir, backend);
  const auto now = at("2027-01-04T00:00:00Z");
  for (const auto& [id, subject] :
       std::vector<std::pair<std::string, std::string>>{{"e1", "S1"}, {"e2", "S2"}, {"e3", "S1"}}) {
    auto e = event("a", id);
    e.subject = subject;
    writer->append_event(e, now);  // not numbered yet: nobody has read since
  }
  eraser->begin();
  eraser->erase_person("S2", now, "student", "registrar", "test");  // deletes e2, not committed
  std::vector<InboxEvent> seen;
  std::thread read([&] { seen = reader->events_after(0, 10); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  eraser->commit();
  read.join();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].event.id == "e1");
  CHECK(seen[1].event.id == "e3");
  CHECK(seen[1].seq == seen[0].seq + 1);
  writer->append_event(event("a", "e4"), now);
  auto next = reader->events_after(seen[1].seq, 10);
  REQUIRE(next.size() == 1);
  CHECK(next[0].seq == seen[1].seq + 1);
  CHECK(reader->last_event_seq() == next[0].seq);
}

TEST_CASE(
    "events appended at once are added as one by one, in the order given: ids given twice, "
    "ids stored before, awkward payloads",
    "[store][inbox]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto with = [](Event e, std::string subject, std::string payload) {
    e.subject = std::move(subject);
    e.payload = std::move(payload);
    return e;
  };
  const std::vector<Event> events = {
      with(event("a", "e2"), "S2", R"({"note":"a \"quote\", {braces}, \\ and Zoë"})"),
      event("a", "e1"),  // stored before: not added
      event("b", "e1"),  // the same id from another source
      with(event("a", "e3"), "", "NULL"),
      with(event("a", "e2"), "S9", "{}"),  // given twice: the first counts
      event("a", "e0"),
  };
  std::vector<std::vector<bool>> added;
  std::vector<std::vector<InboxEvent>> read;
  for (bool at_once : {true, false}) {
    test::TempDir dir;
    auto store = test::open_test_store(dir, backend);
    const auto now = at("2027-01-05T00:00:00Z");
    store->append_event(event("a", "e1"), now);
    if (at_once) {
      added.push_back(store->append_events(events, now));
      CHECK(store->append_events({}, now).empty());
    } else {
      std::vector<bool> one_by_one;
      for (const auto& e : events) one_by_one.push_back(store->append_event(e, now));
      added.push_back(one_by_one);
    }
    read.push_back(store->events_after(0, 100));
  }
  CHECK(added[0] == added[1]);
  CHECK(added[0] == std::vector<bool>{true, false, true, true, false, true});
  REQUIRE(read[0].size() == 5);
  REQUIRE(read[1].size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(read[0][i].seq == read[1][i].seq);
    CHECK(read[0][i].event.source == read[1][i].event.source);
    CHECK(read[0][i].event.id == read[1][i].event.id);
    CHECK(read[0][i].event.subject == read[1][i].event.subject);
    CHECK(read[0][i].event.payload == read[1][i].event.payload);
  }
  CHECK(read[0][1].event.payload == events[0].payload);
  CHECK(read[0][4].event.id == "e0");  // the order given, not the ids'
}

TEST_CASE("every row waiting for its number gets it at the next read, however many",
          "[store][order]") {
  test::TempDir dir;
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto writer = test::open_test_store(dir, backend);
  auto reader = test::open_test_store(dir, backend);
  {
    Transaction tx(*writer);
    for (int i = 0; i < 10'005; ++i) {
      writer->append_event(event("a", std::to_string(i)), at("2027-01-04T00:00:00Z"));
    }
    tx.commit();
  }
  CHECK(reader->last_event_seq() == 10'005);  // more than one numbering chunk
  CHECK(reader->events_after(10'000, 10).size() == 5);
}

TEST_CASE(
    "a roster's rows written at once end as they would one after another: duplicates, rows "
    "taken over by their ids, in the batch and before it",
    "[store][mirror]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  const auto d = [](const char* text) { return *parse_date(text); };
  const auto none = std::nullopt;
  // Each id once (written in one statement on PostgreSQL), then ids given twice.
  const std::vector<std::vector<TeamRow>> batches = {
      {
          {"P1", Role::attending, none, none, false, none},
          {"P1", Role::attending, none, none, false, none},
          {"P2", Role::resident, none, none, false, "X"},  // P0's row on R2, taken over
          {"P3", Role::nurse, d("2027-01-04"), d("2027-01-15"), false, "Y"},
          {"P3", Role::nurse, d("2027-01-04"), d("2027-01-15"), false, "Z"},  // Y becomes Z
          {"P9", Role::nurse, none, none, false, none},  // Q's row, now without an id
          {"P5", Role::resident, d("2027-01-04"), d("2027-01-08"), false, none},
          {"P5", Role::resident, d("2027-01-11"), d("2027-01-15"), false, ""},
      },
      {
          {"P9", Role::nurse, none, none, false, "V"},  // Q's row, now V ...
          {"P8", Role::nurse, none, none, false, "V"},  // ... which P8's row takes away
          {"P6", Role::other, none, none, false, "W"},
          {"P7", Role::other, none, none, false, "W"},
          {"P6", Role::other, none, none, false, none},
      },
  };
  const std::vector<std::vector<std::string>> expected = {{"P1", "P2", "P3", "P5", "P9"},
                                                          {"P6", "P7", "P8"}};
  for (std::size_t b = 0; b < batches.size(); ++b) {
    std::vector<std::vector<TeamMember>> teams;
    for (bool at_once : {true, false}) {
      test::TempDir dir;
      auto store = test::open_test_store(dir, backend);
      store->put_rotation(test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {}));
      store->put_rotation(test::make_rotation("R2", "S2", "2027-01-04", "2027-01-31", {}));
      store->add_team_row("R2", {"P0", Role::attending, none, none, false, "X"});
      store->add_team_row("R1", {"P9", Role::nurse, none, none, false, "Q"});
      if (at_once) {
        store->add_team_rows("R1", batches[b]);
        store->add_team_rows("R1", {});
      } else {
        for (const auto& row : batches[b]) store->add_team_row("R1", row);
      }
      CHECK(store->rotation("R2")->team.size() == (b == 0 ? 0 : 1));  // X moved to R1
      teams.push_back(store->rotation("R1")->team);
    }
    CHECK(teams[0] == teams[1]);
    std::vector<std::string> people;
    for (const auto& m : teams[0]) people.push_back(m.person_id);
    CHECK(people == expected[b]);
  }
}

TEST_CASE(
    "random pages of roster rows written at once end as one row after another: runs longer "
    "than a statement's, rows given twice, row ids in between",
    "[store][mirror]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  std::mt19937 random(20261205);
  const auto none = std::nullopt;
  const std::vector<Role> roles{Role::attending, Role::nurse};
  for (int round = 0; round < 8; ++round) {
    std::vector<RotationRows> page;
    for (const char* rotation : {"R1", "R2", "R3"}) {
      RotationRows team{rotation, {}};
      const int rows = 5 + int(random() % 60);
      for (int i = 0; i < rows; ++i) {
        TeamRow row{"P" + std::to_string(random() % 4),
                    roles[random() % roles.size()],
                    none,
                    none,
                    false,
                    none};
        if (random() % 3 == 0)
          row.start = *parse_date("2027-01-0" + std::to_string(4 + random() % 2));
        if (random() % 3 == 0) row.end = *parse_date("2027-01-2" + std::to_string(random() % 2));
        // Odd rounds: rows with ids first, then runs without (which take rows over from
        // them); even rounds: ids here and there.
        if (round % 2 ? team.rotation_id == "R1" && i < 4 : random() % 15 == 0) {
          row.row_id = "id" + std::to_string(round % 2 ? i : int(random() % 4));
        }
        team.rows.push_back(row);
      }
      page.push_back(team);
    }
    std::vector<std::vector<Rotation>> read;
    for (bool at_once : {true, false}) {
      test::TempDir dir;
      auto store = test::open_test_store(dir, backend);
      for (const char* id : {"R1", "R2", "R3", "R4"}) {
        store->put_rotation(test::make_rotation(id, "S1", "2027-01-04", "2027-01-31", {}));
      }
      store->add_team_row("R1", {"P0", Role::nurse, none, none, false, none});  // stored before
      if (at_once) {
        store->add_roster_rows(page);
      } else {
        for (const auto& team : page) {
          for (const auto& row : team.rows) store->add_team_row(team.rotation_id, row);
        }
      }
      // Which row kept each id shows when R4 takes it over.
      for (int id = 0; id < 4; ++id) {
        store->add_team_row("R4", {"Q" + std::to_string(id), Role::nurse, none, none, false,
                                   "id" + std::to_string(id)});
      }
      std::vector<Rotation> all;
      store->for_each_rotation([&](const Rotation& r) { all.push_back(r); });
      read.push_back(all);
    }
    INFO("round " << round);
    CHECK(read[0] == read[1]);
    REQUIRE(read[0].size() == 4);
    CHECK_FALSE(read[0][0].team.empty());
  }
}

TEST_CASE(
    "rotations and several rotations' roster rows written at once end as one after another: "
    "ids given twice, rows taken over from another rotation, a row id given twice",
    "[store][mirror]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  const auto none = std::nullopt;
  std::vector<Rotation> rotations = {
      test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {}),
      test::make_rotation("R2", "S2", "2027-01-04", "2027-01-31", {}),
      test::make_rotation("R1", "S1", "2027-01-04", "2027-02-07", {}),  // the last counts
  };
  rotations[1].subspecialty = "Cardiology";
  rotations[1].status = RotationStatus::cancelled;
  rotations[1].kind = RotationKind::elective;
  // The second batch gives row id "T" twice, in two rotations: one after another there.
  const std::vector<std::vector<RotationRows>> batches = {
      {
          {"R1", {{"P1", Role::attending, none, none, false, "A"}}},
          {"R2",
           {{"P2", Role::nurse, none, none, false, "Q"},  // R1's Q moves to R2
            {"P3", Role::resident, none, none, false, none}}},
          {"R1",
           {{"P1", Role::attending, none, none, false, "B"},  // A becomes B
            {"P4", Role::other, none, none, false, ""}}},
      },
      {
          {"R1", {{"P5", Role::nurse, none, none, false, "T"}}},
          {"R2", {{"P6", Role::nurse, none, none, false, "T"}}},
      },
  };
  for (const auto& batch : batches) {
    std::vector<std::vector<Rotation>> read;
    for (bool at_once : {true, false}) {
      test::TempDir dir;
      auto store = test::open_test_store(dir, backend);
      if (at_once) {
        store->put_rotations(rotations);
        store->put_rotations({});
      } else {
        for (const auto& r : rotations) store->put_rotation(r);
      }
      store->add_team_row("R1", {"P9", Role::nurse, none, none, false, "Q"});
      CHECK(store->known_rotations({"R2", "R7", "R1"}) == std::set<std::string>{"R1", "R2"});
      CHECK(store->known_rotations({}).empty());
      CHECK(store->has_rotation("R2"));
      CHECK_FALSE(store->has_rotation("R7"));
      // Whom each is about, a cancelled one too, without its team.
      CHECK(store->rotation_students({"R2", "R7", "R1"}) ==
            std::map<std::string, std::string>{{"R1", "S1"}, {"R2", "S2"}});
      CHECK(store->rotation_students({}).empty());
      if (at_once) {
        store->add_roster_rows(batch);
        store->add_roster_rows({});
      } else {
        for (const auto& team : batch) {
          for (const auto& row : team.rows) store->add_team_row(team.rotation_id, row);
        }
      }
      // Which id each row kept shows when another row takes it over.
      store->add_team_row("R2", {"P8", Role::nurse, none, none, false, "B"});
      std::vector<Rotation> all;
      store->for_each_rotation([&](const Rotation& r) { all.push_back(r); });
      read.push_back(all);
    }
    CHECK(read[0] == read[1]);
    REQUIRE(read[0].size() == 2);
    CHECK(read[0][0].end == *parse_date("2027-02-07"));
    CHECK(read[0][1].subspecialty == std::optional<std::string>("Cardiology"));
    CHECK(read[0][1].status == RotationStatus::cancelled);
    CHECK(read[0][1].kind == RotationKind::elective);
  }
}

TEST_CASE(
    "people written at once read back as written one by one: NULLs, empty and awkward text, "
    "opt-outs, the last of an id given twice",
    "[store][mirror][privacy]") {
  const auto backend = GENERATE(from_range(test::store_backends()));
  auto person = [](std::string id, std::string name) {
    Person p;
    p.id = std::move(id);
    p.name = std::move(name);
    return p;
  };
  std::vector<Person> people;
  people.push_back(person("P1", "A \"quoted\" name, with {braces} and \\ backslash"));
  people.back().opted_out = true;  // must stay out, however it is written
  people.back().email = "p1@example.test";
  people.push_back(person("P2", "NULL"));
  people.back().email = "";
  people.back().specialty = "NULL";
  people.back().email_opted_out = true;
  people.back().program_role = ProgramRole::coordinator;
  people.push_back(person("P3", ""));
  people.back().role = Role::attending;
  people.back().program = "Internal Medicine";
  people.back().subspecialty = "Cardiology";
  people.push_back(person("P4", "Zoë Ångström"));
  people.push_back(person("P1", "A \"quoted\" name, with {braces} and \\ backslash"));
  people.back().opted_out = true;  // given twice: the last counts (the same here)
  people.back().role = Role::resident;
  std::vector<std::vector<Person>> read;
  for (bool at_once : {true, false}) {
    test::TempDir dir;
    auto store = test::open_test_store(dir, backend);
    Person before = person("P3", "Before");
    before.opted_out = true;  // changed by the feed: the new word stands
    store->put_person(before);
    if (at_once) {
      store->put_people(people);
      store->put_people({});
    } else {
      for (const auto& p : people) store->put_person(p);
    }
    std::vector<Person> all;
    store->for_each_person([&](const Person& p) { all.push_back(p); });
    read.push_back(all);
  }
  CHECK(read[0] == read[1]);
  REQUIRE(read[0].size() == 4);
  CHECK(read[0][0].opted_out);
  CHECK(read[0][0].role == Role::resident);
  CHECK(read[0][0].name == people[0].name);
  CHECK_FALSE(read[0][1].email);  // an empty address reads as none, either way
  CHECK(read[0][1].specialty == std::optional<std::string>("NULL"));
  CHECK(read[0][1].email_opted_out);
  CHECK(read[0][1].program_role == ProgramRole::coordinator);
  CHECK_FALSE(read[0][2].opted_out);
  CHECK_FALSE(read[0][2].email);
  CHECK(read[0][3].name == "Zoë Ångström");
}
