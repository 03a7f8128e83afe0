#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "store/store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {
std::unique_ptr<Store> open(const test::TempDir& dir) {
  return open_sqlite_store({dir.file("rapport.db"), true, 1000});
}
Event event(std::string source, std::string id) {
  return Event{std::move(id),
               EventType::rotation_started,
               std::move(source),
               *parse_time("2027-01-04T00:00:00Z"),
               "S1",
               "{}"};
}
}  // namespace

TEST_CASE("migrations bring a new store to the current schema version, once", "[store]") {
  test::TempDir dir;
  CHECK(open(dir)->schema_version() == kStoreSchemaVersion);
  CHECK(open(dir)->schema_version() == kStoreSchemaVersion);  // reopening applies nothing
}

TEST_CASE("migrations 7 and 9 keep every row hash and team member of a version 6 store",
          "[store]") {
  test::TempDir dir;
  {
    auto store = open(dir);
    store->put_rotation(test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {}));
  }
  {
    // Back to the tables as version 6 had them (with rowids), holding the same rows.
    soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
    sql << "DROP TABLE team_rows";  // migration 9's
    sql << "DROP INDEX outbox_by_hook";
    sql << "ALTER TABLE people DROP COLUMN program_role";
    sql << "DROP TABLE person_interests";
    sql << "DROP TABLE sites";
    sql << "DROP TABLE erasures";
    sql << "DROP TABLE suppressions";
    sql << "CREATE TABLE team_members (rotation_id TEXT NOT NULL REFERENCES rotations(id)"
           " ON DELETE CASCADE, person_id TEXT NOT NULL, role TEXT NOT NULL,"
           " start_date TEXT NOT NULL, end_date TEXT NOT NULL,"
           " PRIMARY KEY (rotation_id, person_id))";
    sql << "INSERT INTO team_members VALUES ('R1', 'P1', 'nurse', '2027-01-04', '2027-01-31'),"
           " ('R1', 'P2', 'attending', '2027-01-04', '2027-01-31')";
    sql << "DROP TABLE source_rows";
    sql << "CREATE TABLE source_rows (source TEXT NOT NULL, entity TEXT NOT NULL,"
           " row_key TEXT NOT NULL, hash TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,"
           " PRIMARY KEY (source, entity, row_key))";
    sql << "INSERT INTO source_rows VALUES ('registrar', 'rotations', 'R1', 'h1', 3)";
    sql << "ALTER TABLE people DROP COLUMN email_opted_out";  // migration 12's
    sql << "DROP TABLE digest_items";
    sql << "DROP TABLE digests";
    sql << "DROP TABLE prompts";  // migration 11's
    sql << "DROP TABLE prompt_actions";
    sql << "DROP TABLE releases";
    sql << "ALTER TABLE people DROP COLUMN seen_at";  // migration 10's
    sql << "DROP TABLE purged_actions";
    sql << "DROP TABLE leases";
    sql << "DROP INDEX rotations_by_end";
    sql << "DROP INDEX outbox_by_due";
    for (const char* index :
         {"outbox_by_contact", "deliveries_by_action", "evaluations_by_rotation",
          "evaluations_by_evaluator", "touches_by_contact", "failures_by_time"}) {
      sql << std::string("DROP INDEX ") + index;
    }
    sql << "DROP TABLE held_actions";  // migration 8's
    sql << "DROP TABLE expired_actions";
    sql << "UPDATE schema_version SET version = 6";
  }
  auto store = open(dir);
  CHECK(store->schema_version() == kStoreSchemaVersion);
  CHECK(store->row_hash("registrar", "rotations", "R1") == "h1");
  CHECK(store->rows_not_seen("registrar", "rotations", 4) == std::vector<std::string>{"R1"});
  CHECK(store->rows_not_seen("registrar", "rotations", 3).empty());
  REQUIRE(store->rotation("R1"));
  CHECK(store->rotation("R1")->team.size() == 2);
  CHECK(store->rotation("R1")->team.at(0).days() == 28);
  // Carried over as legacy rows (dates equal to the rotation's left open): P1 read again
  // by a source, P2 no longer; a full read's legacy removal takes only P2's away.
  store->add_team_row("R1", {"P1", Role::nurse, std::nullopt, std::nullopt});
  store->remove_team_row("R1", {"P1", std::nullopt, std::nullopt, std::nullopt, true});
  store->remove_team_row("R1", {"P2", std::nullopt, std::nullopt, std::nullopt, true});
  REQUIRE(store->rotation("R1")->team.size() == 1);
  CHECK(store->rotation("R1")->team.at(0).person_id == "P1");
  soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
  int clustered = 0;
  sql << "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('source_rows', 'team_rows')"
         " AND sql LIKE '%WITHOUT ROWID'",
      soci::into(clustered);
  CHECK(clustered == 2);
}

TEST_CASE("a store whose schema is newer than this build is refused", "[store]") {
  test::TempDir dir;
  open(dir);
  {
    soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
    sql << "UPDATE schema_version SET version = 99";
  }
  CHECK_THROWS_WITH(open(dir), Contains("version 99, newer than this rapport knows"));
}

TEST_CASE(
    "a file that is not a Rapport store, or is cut short, is refused by name and left "
    "as it is",
    "[store][faults]") {
  test::TempDir dir;
  auto path = dir.file("rapport.db");
  SECTION("not a database") {
    dir.write("rapport.db", std::string(4096, 'x'));
    auto before = test::read_text(path);
    CHECK_THROWS_WITH(open(dir), Contains(path) && Contains("not a SQLite database") &&
                                     Contains("nothing was written"));
    CHECK(test::read_text(path) == before);
  }
  SECTION("another application's database") {
    {
      soci::session other(soci::sqlite3, path);
      other << "CREATE TABLE patients (id TEXT)";
      other << "INSERT INTO patients VALUES ('x')";
    }
    auto before = test::read_text(path);
    CHECK_THROWS_WITH(open(dir), Contains(path) && Contains("something else"));
    CHECK(test::read_text(path) == before);
  }
  SECTION("a Rapport store truncated") {
    {
      auto store = open(dir);
      for (int i = 0; i < 200; ++i) {
        store->append_event(event("platform", "e" + std::to_string(i)),
                            *parse_time("2027-01-01T00:00:00Z"));
      }
    }
    auto text = test::read_text(path);
    REQUIRE(text.size() > 8192);
    dir.write("rapport.db", text.substr(0, text.size() / 2));
    std::filesystem::remove(path + "-wal");
    auto before = test::read_text(path);
    CHECK_THROWS_WITH(open(dir), Contains(path) && Contains("truncated"));
    CHECK(test::read_text(path) == before);
  }
}

TEST_CASE("the inbox keeps one event per source and id, in arrival order", "[store][inbox]") {
  test::TempDir dir;
  auto store = open(dir);
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
  auto store = open(dir);
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
  auto store = open(dir);
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
  auto store = open(dir);
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
}

TEST_CASE("timers come back when due, in due order, and go by prefix", "[store][timers]") {
  test::TempDir dir;
  auto store = open(dir);
  auto at = [](const char* t) { return *parse_time(t); };
  store->put_timer({"rotation/R1/b", at("2027-01-10T00:00:00Z"), event("s", "b")});
  store->put_timer({"rotation/R1/a", at("2027-01-05T00:00:00Z"), event("s", "a")});
  store->put_timer({"rotation/R2/a", at("2027-01-06T00:00:00Z"), event("s", "c")});
  auto due = store->due_timers(at("2027-01-06T00:00:00Z"), 10);
  REQUIRE(due.size() == 2);
  CHECK(due[0].id == "rotation/R1/a");
  CHECK(due[1].id == "rotation/R2/a");
  store->delete_timers_with_prefix("rotation/R1/");
  CHECK(store->due_timers(at("2027-12-31T00:00:00Z"), 10).size() == 1);
}

TEST_CASE(
    "retention purges ended rotations with their rosters and evaluations, finished actions "
    "(their ids stay, so they are not made again) and people nothing names; dry runs only count",
    "[store][retention]") {
  test::TempDir dir;
  auto store = open(dir);
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
  {
    soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
    sql << "UPDATE deliveries SET state = 'delivered' WHERE action_id = 'act_done'";
    sql << "UPDATE people SET seen_at = '2019-01-01T00:00:00Z'";
  }
  store->set_progress("sink:hooks", 3);
  const auto erasures_before = store->progress("engine:erasures");
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
  CHECK_FALSE(store->add_action(done));                         // purged, not made again
  CHECK(store->progress("engine:erasures") > erasures_before);  // the memory is rebuilt

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
  auto a = open(dir);
  auto b = open(dir);
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

TEST_CASE("processes opening one store at once migrate it once, and none fails", "[store]") {
  for (int round = 0; round < 5; ++round) {
    test::TempDir dir;
    std::atomic<int> failures{0};
    std::vector<std::thread> openers;
    for (int i = 0; i < 4; ++i) {
      openers.emplace_back([&] {
        try {
          if (open(dir)->schema_version() != kStoreSchemaVersion) ++failures;
        } catch (const std::exception& e) {
          UNSCOPED_INFO(e.what());
          ++failures;
        }
      });
    }
    for (auto& t : openers) t.join();
    CHECK(failures == 0);
    soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
    int rows = 0;
    sql << "SELECT COUNT(*) FROM schema_version", soci::into(rows);
    CHECK(rows == 1);
  }
}
