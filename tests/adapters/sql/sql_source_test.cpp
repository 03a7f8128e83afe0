#include <catch2/catch.hpp>

#include <soci/soci.h>

#include <boost/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "config/config.hpp"
#include "engine/mirror.hpp"
#include "engine/registry.hpp"
#include "engine/source.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

// The demo's own config, pointed at the small institution on each backend in turn: SQLite
// in a temporary file, and the PostgreSQL and MariaDB servers the test command started
// (RAPPORT_TEST_PG, RAPPORT_TEST_MYSQL; ODBC through the PostgreSQL driver).
std::string backend_connection(const std::string& backend) {
  const char* name = backend == "postgresql" ? "RAPPORT_TEST_PG"
                     : backend == "mysql"    ? "RAPPORT_TEST_MYSQL"
                     : backend == "odbc"     ? "RAPPORT_TEST_PG_ODBC"
                                             : nullptr;
  const char* value = name ? std::getenv(name) : nullptr;
  return value ? value : "";
}

struct Fixture {
  test::TempDir dir;
  std::string backend;
  Registry registry;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<Store> store;
  std::unique_ptr<Source> source;
  std::string institution = dir.file("institution.db");
  std::unique_ptr<soci::session> db;
  std::string database, admin_connection;

  explicit Fixture(std::string backend_name, const std::string& replace_from = "",
                   const std::string& replace_to = "", const std::string& also_from = "",
                   const std::string& also_to = "")
      : backend(std::move(backend_name)) {
    register_builtins(registry);
    auto text = test::read_text(test::demo_config_path());
    ::setenv("RAPPORT_DEMO_DIR", dir.path().c_str(), 1);
    if (backend == "sqlite") {
      test::write_small_institution(institution);
    } else {
      // A database of its own, so that cases running in parallel do not meet.
      static int counter = 0;
      database = "rt_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
      std::string server = backend_connection(backend);
      admin_connection = server;
      {
        soci::session admin(backend, server);
        admin << "CREATE DATABASE " + database;
      }
      std::string connection = server;
      replace(connection, "rapport_test", database);
      db = std::make_unique<soci::session>(backend, connection);
      test::execute_sql(
          *db, test::read_text(test::source_dir() + "/tests/support/small_institution.sql"));
      replace(text, "backend: sqlite", "backend: " + backend);
      replace(text, "connection: ${RAPPORT_DEMO_DIR:-rapport-demo}/institution.db",
              "connection: \"" + connection + "\"");
    }
    if (!replace_from.empty()) replace(text, replace_from, replace_to);
    if (!also_from.empty()) replace(text, also_from, also_to);
    config = config::load_config_text(text, "demo.yaml", registry);
    store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
    auto [name, section] = config->section().sections("sources").at(0);
    source = registry.source("sql")->create(name, section);
  }

  ~Fixture() {
    source.reset();
    db.reset();
    if (database.empty()) return;
    try {
      soci::session admin(backend, admin_connection);
      admin << "DROP DATABASE " + database;
    } catch (const std::exception&) {
      // Best effort: the server is thrown away at the end of the run anyway.
    }
  }

  static void replace(std::string& text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
  }

  // Rapport's own store on another backend than the default SQLite file (before a poll).
  void use_store(const std::string& store_backend) {
    store = test::open_test_store(dir, store_backend);
  }

  std::map<std::string, int> poll(const char* now) {
    auto before = store->last_event_seq();
    source->poll(*store, *parse_time(now));
    std::map<std::string, int> by_type;
    for (const auto& e : store->events_after(before, 1000)) {
      ++by_type[std::string(to_string(e.event.type))];
    }
    return by_type;
  }
  // Polls with warnings and above logged to a file of the test's; what they were.
  std::string poll_logging(const char* now) {
    log::configure("warn", dir.file("rapport.log"));
    try {
      poll(now);
    } catch (...) {
      log::configure("info", "");
      throw;
    }
    log::configure("info", "");
    return test::read_text(dir.file("rapport.log"));
  }
  // People forgotten on request (`rapport forget`), before the source is read.
  void forget(std::initializer_list<const char*> ids, const char* kind) {
    Transaction tx(*store);
    for (const char* id : ids) {
      store->erase_person(id, *parse_time("2026-12-15T00:00:00Z"), kind, "test", "test");
    }
    tx.commit();
  }
  std::vector<Event> events_of_type(EventType type) {
    std::vector<Event> out;
    for (const auto& e : store->events_after(0, 1000)) {
      if (e.event.type == type) out.push_back(e.event);
    }
    return out;
  }
  void sql(const std::string& statements) {
    if (db) {
      test::execute_sql(*db, statements);
    } else {
      test::execute_sqlite(institution, statements);
    }
  }
};

// Every case runs against every backend whose server the test command started.
std::string backend_under_test() {
  return GENERATE(as<std::string>{}, "sqlite", "postgresql", "mysql", "odbc");
}

bool available(const std::string& backend) {
  if (backend == "sqlite" || !backend_connection(backend).empty()) return true;
  WARN("no " << backend << " server for this run (the README's test command starts one)");
  return false;
}

}  // namespace

TEST_CASE("the first poll turns every mapped row into an event", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["person.updated"] == 10);
  CHECK(events["rotation.scheduled"] == 3);
  CHECK(events["rotation.cancelled"] == 1);
  CHECK(events["team.changed"] == 4);                // each rotation's team, after the rotations
  CHECK(events.count("evaluation.submitted") == 0);  // submitted in February

  auto rotations = f.events_of_type(EventType::rotation_scheduled);
  auto b1 = rotation_from_json(rotations.at(0).payload);
  CHECK(b1.id == "B0001");
  CHECK(b1.site == "Test General");
  CHECK(format_date(b1.start) == "2027-01-04");  // from 01/04/2027
  CHECK(b1.kind == RotationKind::core);
  auto team = boost::json::parse(f.events_of_type(EventType::team_changed).at(0).payload);
  CHECK(team.at("rotation") == "B0001");
  const auto& added = team.at("added").as_array();
  REQUIRE(added.size() == 5);
  CHECK(added[1].at("role") == "resident");
  CHECK(added[1].at("start") == "2027-01-18");  // joined for the second half

  auto people = f.events_of_type(EventType::person_updated);
  auto opted = person_from_json(people.back().payload);
  CHECK(opted.id == "L0003");
  CHECK(opted.opted_out);
}

TEST_CASE("polling again without changes yields nothing", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.poll("2027-01-01T00:00:00Z");
  CHECK(f.poll("2027-01-02T00:00:00Z").empty());
}

TEST_CASE("changes become rotation.updated, rotation.cancelled and team.changed",
          "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.poll("2027-01-01T00:00:00Z");
  SECTION("new dates") {
    f.sql(
        "UPDATE block_schedule SET ends = '02/07/2027', last_modified = '2027-01-02 08:00:00'"
        " WHERE block_id = 'B0001'");
    auto events = f.poll("2027-01-03T00:00:00Z");
    CHECK(events == std::map<std::string, int>{{"rotation.updated", 1}});
    auto updated = rotation_from_json(f.events_of_type(EventType::rotation_updated).at(0).payload);
    CHECK(format_date(updated.end) == "2027-02-07");
  }
  SECTION("cancelled") {
    f.sql(
        "UPDATE block_schedule SET state = 'CANC', last_modified = '2027-01-02 08:00:00'"
        " WHERE block_id = 'B0002'");
    CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"rotation.cancelled", 1}});
  }
  SECTION("a team member added") {
    f.sql(
        "INSERT INTO block_team VALUES ('B0002', 'E0003', 'RN', NULL, NULL,"
        " '2027-01-02 08:00:00')");
    CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
    auto change = f.events_of_type(EventType::team_changed).back();
    CHECK_THAT(change.payload, Contains("\"rotation\":\"B0002\"") && Contains("E0003"));
  }
}

TEST_CASE("rows appear when their cursor passes the poll's upper bound", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.poll("2027-01-01T00:00:00Z");
  CHECK(f.poll("2027-02-03T09:59:59Z").empty());
  CHECK(f.poll("2027-02-03T10:00:00Z").empty());  // strictly older than the bound
  auto events = f.poll("2027-02-03T10:00:01Z");
  CHECK(events == std::map<std::string, int>{{"evaluation.submitted", 1}});
  auto evaluation =
      evaluation_from_json(f.events_of_type(EventType::evaluation_submitted).at(0).payload);
  CHECK(evaluation.scale_min == 1);
  CHECK(evaluation.scale_max == 9);
  CHECK(evaluation.normalized_score() == Approx(0.875));
  CHECK(evaluation.would_recommend == true);
}

TEST_CASE("a row committed late with the last cursor value is still read", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.poll("2027-01-01T00:00:00Z");
  // Same last_modified as the newest row already read (B0004's).
  f.sql(
      "INSERT INTO block_schedule VALUES ('B0005', 'L0001', 'S0002', 'Pediatrics', 'ELEC',"
      " '02/01/2027', '02/14/2027', 'CONF', '2026-12-01 09:00:04')");
  CHECK(f.poll("2027-01-02T00:00:00Z") == std::map<std::string, int>{{"rotation.scheduled", 1}});
}

TEST_CASE("a row that does not map is skipped and the others go on", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.sql("UPDATE staff_directory SET role_code = 'WIZ' WHERE staff_no = 'E0007'");
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["person.updated"] == 9);
}

TEST_CASE(
    "a forgotten person's rows are passed over before they are mapped (one that does not "
    "map is not reported), and an evaluation a forgotten staff member wrote comes in under "
    "a pseudonym",
    "[adapter][sql][privacy]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.forget({"E0001", "E0007"}, "staff");
  // E0007 forgotten and no longer mapping; E0002 not mapping, not forgotten.
  f.sql("UPDATE staff_directory SET role_code = 'WIZ' WHERE staff_no IN ('E0007', 'E0002')");
  auto events = f.poll("2027-03-01T00:00:00Z");  // after the evaluation's time
  CHECK(events["person.updated"] == 7);          // 7 staff and 3 learners, less E0001, E0007, E0002
  CHECK(f.store->row_hash("registrar", "people#skipped", "E0002"));
  CHECK_FALSE(f.store->row_hash("registrar", "people#skipped", "E0007"));
  for (const auto& e : f.store->events_after(0, 1000)) {
    INFO(e.event.payload);
    CHECK(e.event.payload.find("E0001") == std::string::npos);
    CHECK(e.event.payload.find("E0007") == std::string::npos);
  }
  auto evaluations = f.events_of_type(EventType::evaluation_submitted);
  REQUIRE(evaluations.size() == 1);
  CHECK(evaluation_from_json(evaluations[0].payload).evaluator_id == "erased");
}

TEST_CASE(
    "what a row's mapping says (a yes/no flag that is neither) is logged for a row that is "
    "read, not for a forgotten person's",
    "[adapter][sql][privacy]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.forget({"L0003"}, "student");
  f.sql("UPDATE learners SET ferpa_optout = 'maybe' WHERE learner_id IN ('L0002', 'L0003')");
  const auto logged = f.poll_logging("2027-01-01T00:00:00Z");
  INFO(logged);
  CHECK_THAT(logged, Contains("is not a yes/no value") && Contains("\"L0002\""));
  CHECK_THAT(logged, !Contains("L0003"));
}

TEST_CASE("a roster row of a rotation not read yet is held, even when its ids cannot make a key",
          "[adapter][sql]") {
  Fixture f("sqlite");  // the same on every backend; a control character is easiest here
  f.sql(
      "INSERT INTO block_team VALUES ('B0099', 'E' || char(31) || '1', 'ATT', NULL, NULL,"
      " '2026-12-01 10:00:11')");
  const auto logged = f.poll_logging("2027-01-01T00:00:00Z");
  INFO(logged);
  CHECK_THAT(logged, !Contains("row skipped"));
  CHECK_FALSE(f.store->row_hash("registrar", "team#skipped",
                                "B0099/E\x1f"
                                "1"));
}

TEST_CASE(
    "a mapped column missing from a query fails the poll, and that query commits "
    "nothing",
    "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  Fixture f(backend, "site: site_name", "site: site_title");
  CHECK_THROWS_WITH(f.source->poll(*f.store, *parse_time("2027-01-01T00:00:00Z")),
                    Contains("column \"site_title\"") && Contains("queries.rotations"));
  // Pages commit one by one: the people read before are kept; no rotation is.
  CHECK(f.events_of_type(EventType::rotation_scheduled).empty());
  CHECK_FALSE(f.store->cursor("registrar", "rotations"));
}

TEST_CASE("a missing database file is a clear error, not an empty database", "[adapter][sql]") {
  Fixture f("sqlite");
  std::remove(f.institution.c_str());
  CHECK_THROWS_WITH(f.source->poll(*f.store, *parse_time("2027-01-01T00:00:00Z")),
                    Contains("unreachable"));
  // The reason is kept for `rapport status` and /readyz; the source is retried.
  auto states = f.store->source_states();
  REQUIRE(states.size() == 1);
  CHECK_FALSE(states[0].up);
  CHECK_THAT(states[0].message, Contains("database file not found"));
}

TEST_CASE(
    "the database stopped and started again: one line each way, state in the store, "
    "polling resumes where it stopped",
    "[adapter][sql][restart]") {
  const char* ctl = std::getenv("RAPPORT_TEST_PG_CTL");
  if (!available("postgresql") || !ctl) return;
  Fixture f("postgresql");
  CHECK(f.poll("2027-01-01T00:00:00Z")["rotation.scheduled"] == 3);

  REQUIRE(std::system((std::string(ctl) + " -m fast stop >/dev/null").c_str()) == 0);
  CHECK_THROWS_WITH(f.source->poll(*f.store, *parse_time("2027-01-02T00:00:00Z")),
                    Contains("database unreachable"));
  auto states = f.store->source_states();
  REQUIRE(states.size() == 1);
  CHECK_FALSE(states[0].up);
  // Within the backoff the source does not even try.
  CHECK(f.source->poll(*f.store, *parse_time("2027-01-02T00:00:00Z")) == 0);

  REQUIRE(std::system((std::string(ctl) + " start >/dev/null").c_str()) == 0);
  std::string connection = f.admin_connection;
  Fixture::replace(connection, "rapport_test", f.database);
  f.db = std::make_unique<soci::session>("postgresql", connection);
  f.sql(
      "INSERT INTO block_schedule VALUES ('B0009', 'L0002', 'S0002', 'Pediatrics', 'ELEC',"
      " '03/01/2027', '03/14/2027', 'CONF', '2027-01-02 08:00:00')");
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // past the first backoff
  CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"rotation.scheduled", 1}});
  CHECK(f.store->source_states().at(0).up);
}

TEST_CASE("a team member deleted from a fully read team table leaves the team", "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend, "            FROM block_team\n        cursor: last_modified\n",
            "            FROM block_team\n");
  f.poll("2027-01-01T00:00:00Z");
  f.sql("DELETE FROM block_team WHERE block_id = 'B0001' AND staff_no = 'E0004'");
  CHECK(f.poll("2027-01-02T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
  auto change = boost::json::parse(f.events_of_type(EventType::team_changed).back().payload);
  CHECK(change.at("rotation") == "B0001");
  CHECK(change.at("removed") ==
        boost::json::array{boost::json::object{{"person", "E0004"}, {"role", "pharmacist"}}});
  CHECK(f.poll("2027-01-03T00:00:00Z").empty());  // gone once, reported once
}

TEST_CASE(
    "with the store on PostgreSQL, where a page's stored hashes are read at once: nothing "
    "again when nothing changed, each change and removal once",
    "[adapter][sql][postgresql]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  Fixture f("sqlite", "            FROM block_team\n        cursor: last_modified\n",
            "            FROM block_team\n");
  f.use_store("postgresql");
  auto first = f.poll("2027-01-01T00:00:00Z");
  CHECK(first["person.updated"] == 10);
  CHECK(first["rotation.scheduled"] == 3);
  CHECK(first["team.changed"] == 4);
  CHECK(f.poll("2027-01-02T00:00:00Z").empty());
  f.sql("DELETE FROM block_team WHERE block_id = 'B0001' AND staff_no = 'E0004'");
  f.sql(
      "UPDATE block_schedule SET ends = '02/07/2027', last_modified = '2027-01-02 08:00:00'"
      " WHERE block_id = 'B0002'");
  CHECK(f.poll("2027-01-03T00:00:00Z") ==
        std::map<std::string, int>{{"rotation.updated", 1}, {"team.changed", 1}});
  CHECK(f.poll("2027-01-04T00:00:00Z").empty());
}

TEST_CASE(
    "a person's split, overlapping and duplicated roster rows are one member with spans, "
    "read by cursor or whole, and polling again yields nothing",
    "[adapter][sql][spans]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  const bool whole = GENERATE(false, true);
  INFO("backend " << backend << (whole ? ", read whole" : ", read by cursor"));
  // Pages of two rows, so that a person's rows meet page boundaries.
  Fixture f(backend, "            FROM block_team\n        cursor: last_modified\n",
            whole ? "            FROM roster\n"
                  : "            FROM roster\n        cursor: last_modified\n",
            "    poll_interval: 1h", "    poll_interval: 1h\n    batch: 2");
  f.sql(
      "CREATE TABLE roster (block_id VARCHAR(64), staff_no VARCHAR(64), team_role TEXT,"
      " from_date TEXT, to_date TEXT, last_modified TEXT);\n"
      // Two weeks around a weekend, the second exported twice, all in one import.
      "INSERT INTO roster VALUES ('B0001', 'E0001', 'ATT', '01/04/2027', '01/08/2027',"
      " '2026-12-01 10:00:00'), ('B0001', 'E0001', 'ATT', '01/11/2027', '01/15/2027',"
      " '2026-12-01 10:00:00'), ('B0001', 'E0001', 'ATT', '01/11/2027', '01/15/2027',"
      " '2026-12-01 10:00:00'),"
      // Overlapping stretches, and one that starts before the rotation (01/04 to 01/31).
      " ('B0001', 'E0003', 'RN', '01/04/2027', '01/20/2027', '2026-12-01 10:00:01'),"
      " ('B0001', 'E0003', 'RN', '01/15/2027', '01/31/2027', '2026-12-01 10:00:01'),"
      " ('B0001', 'E0002', 'RES', '12/20/2026', '01/10/2027', '2026-12-01 10:00:02');");
  auto mirror = [&](std::int64_t after) {
    for (const auto& e : f.store->events_after(after, 1000)) apply_to_mirror(*f.store, e.event);
    return f.store->last_event_seq();
  };
  auto member = [&](const std::string& person) {
    auto rotation = f.store->rotation("B0001");
    REQUIRE(rotation);
    for (const auto& m : rotation->team) {
      if (m.person_id == person) return m;
    }
    FAIL("no member " << person);
    return TeamMember{};
  };
  auto date = [](const char* text) { return *parse_date(text); };

  f.poll("2027-01-01T00:00:00Z");
  auto seen = mirror(0);
  auto ada = member("E0001");
  CHECK(ada.spans == std::vector<DateRange>{{date("2027-01-04"), date("2027-01-08")},
                                            {date("2027-01-11"), date("2027-01-15")}});
  CHECK(ada.days() == 10);
  CHECK(ada.start == date("2027-01-04"));
  CHECK(ada.end == date("2027-01-15"));
  CHECK(member("E0003").spans == std::vector<DateRange>{{date("2027-01-04"), date("2027-01-31")}});
  CHECK(member("E0003").days() == 28);
  CHECK(member("E0002").days() == 7);  // only the days inside the rotation
  for (const char* now : {"2027-01-02T00:00:00Z", "2027-01-03T00:00:00Z", "2027-01-04T00:00:00Z"}) {
    CHECK(f.poll(now).empty());
  }

  if (whole) {
    // The second week goes (both copies): only that span leaves.
    f.sql("DELETE FROM roster WHERE staff_no = 'E0001' AND from_date = '01/11/2027'");
    CHECK(f.poll("2027-01-05T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
    auto change = boost::json::parse(f.events_of_type(EventType::team_changed).back().payload);
    CHECK(change.at("removed") == boost::json::array{boost::json::object{{"person", "E0001"},
                                                                         {"role", "attending"},
                                                                         {"start", "2027-01-11"},
                                                                         {"end", "2027-01-15"}}});
    seen = mirror(seen);
    CHECK(member("E0001").days() == 5);
    // A row that no longer reads (a date the format does not take) is skipped, not taken
    // for deleted; a row that ends before it starts is skipped, and the others go on.
    f.sql(
        "UPDATE roster SET from_date = '45/99/2027' WHERE staff_no = 'E0002';\n"
        "INSERT INTO roster VALUES ('B0001', 'E0005', 'SW', '01/20/2027', '01/10/2027',"
        " '2026-12-03 10:00:00')");
    CHECK(f.poll("2027-01-05T12:00:00Z").empty());
    seen = mirror(seen);
    CHECK(member("E0002").days() == 7);
  } else {
    // A third stretch, edited in later.
    f.sql(
        "INSERT INTO roster VALUES ('B0001', 'E0001', 'ATT', '01/25/2027', '01/29/2027',"
        " '2026-12-03 10:00:00')");
    CHECK(f.poll("2027-01-05T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
    seen = mirror(seen);
    CHECK(member("E0001").days() == 15);
    CHECK(member("E0001").spans.size() == 3);
  }
  CHECK(f.poll("2027-01-06T00:00:00Z").empty());
}

TEST_CASE(
    "read by cursor in pages that end inside a place (a person's several roster rows, one "
    "change time), each row is read once, a duplicate once",
    "[adapter][sql][spans][backfill]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  const int batch = GENERATE(1, 2, 3);
  INFO("backend " << backend << ", pages of " << batch);
  Fixture f(backend, "            FROM block_team\n        cursor: last_modified\n",
            "            FROM roster\n        cursor: last_modified\n", "    poll_interval: 1h",
            "    poll_interval: 1h\n    batch: " + std::to_string(batch));
  // One place (block, person, change time) holding four rows, one of them twice, then two
  // more places.
  f.sql(
      "CREATE TABLE roster (block_id VARCHAR(64), staff_no VARCHAR(64), team_role TEXT,"
      " from_date TEXT, to_date TEXT, last_modified TEXT);\n"
      "INSERT INTO roster VALUES"
      " ('B0001', 'E0001', 'ATT', '01/04/2027', '01/05/2027', '2026-12-01 10:00:00'),"
      " ('B0001', 'E0001', 'ATT', '01/11/2027', '01/12/2027', '2026-12-01 10:00:00'),"
      " ('B0001', 'E0001', 'ATT', '01/11/2027', '01/12/2027', '2026-12-01 10:00:00'),"
      " ('B0001', 'E0001', 'ATT', '01/18/2027', '01/19/2027', '2026-12-01 10:00:00'),"
      " ('B0001', 'E0001', 'ATT', '01/25/2027', '01/26/2027', '2026-12-01 10:00:00'),"
      " ('B0001', 'E0003', 'RN', '01/04/2027', '01/20/2027', '2026-12-01 10:00:01'),"
      " ('B0001', 'E0002', 'RES', '01/04/2027', '01/10/2027', '2026-12-01 10:00:02');");
  std::size_t rows = 0;
  // (A reading that went round in circles would never end: stopped, and counted.)
  f.source->backfill(*f.store, *parse_time("2027-01-01T00:00:00Z"), std::nullopt, std::nullopt,
                     [&](const Source::Progress& p) {
                       if (p.entity == "team") rows = p.rows;
                       return rows < 100;
                     });
  std::map<std::string, int> added;  // person start -> times read
  for (const auto& e : f.events_of_type(EventType::team_changed)) {
    const auto change = boost::json::parse(e.payload);
    for (const auto& row : change.at("added").as_array()) {
      ++added[std::string(row.at("person").as_string()) + " " +
              std::string(row.at("start").as_string())];
    }
  }
  std::string read;
  for (const auto& [k, n] : added) read += k + " x" + std::to_string(n) + "; ";
  INFO(read);
  CHECK(rows < 100);
  CHECK(added == std::map<std::string, int>{{"E0001 2027-01-04", 1},
                                            {"E0001 2027-01-11", 1},
                                            {"E0001 2027-01-18", 1},
                                            {"E0001 2027-01-25", 1},
                                            {"E0002 2027-01-04", 1},
                                            {"E0003 2027-01-04", 1}});
}

TEST_CASE(
    "a roster row with the platform's own id, edited (dates, role, person), replaces what it "
    "was even when read by cursor",
    "[adapter][sql][spans]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend,
            "          SELECT block_id, staff_no, team_role, from_date, to_date, last_modified\n"
            "            FROM block_team\n"
            "        cursor: last_modified\n"
            "        columns: {rotation: block_id, person: staff_no, role: team_role, start: "
            "from_date,\n                  end: to_date}\n",
            "          SELECT row_no, block_id, staff_no, team_role, from_date, to_date,"
            " last_modified\n            FROM roster\n"
            "        cursor: last_modified\n"
            "        columns: {id: row_no, rotation: block_id, person: staff_no, role: team_role,"
            " start: from_date,\n                  end: to_date}\n");
  f.sql(
      "CREATE TABLE roster (row_no VARCHAR(16), block_id VARCHAR(64), staff_no VARCHAR(64),"
      " team_role TEXT, from_date TEXT, to_date TEXT, last_modified TEXT);\n"
      "INSERT INTO roster VALUES ('r1', 'B0001', 'E0001', 'ATT', '01/04/2027', '01/15/2027',"
      " '2026-12-01 10:00:00'), ('r2', 'B0001', 'E0003', 'RN', NULL, NULL,"
      " '2026-12-01 10:00:01')");
  auto mirror = [&] {
    for (const auto& e : f.store->events_after(0, 1000)) apply_to_mirror(*f.store, e.event);
  };
  auto days_of = [&](const std::string& person) {
    auto rotation = f.store->rotation("B0001");
    for (const auto& m : rotation->team) {
      if (m.person_id == person) return m.days();
    }
    return 0;
  };
  f.poll("2027-01-01T00:00:00Z");
  mirror();
  CHECK(days_of("E0001") == 12);
  // The row's dates edited: the new stretch replaces the old one, not beside it.
  f.sql(
      "UPDATE roster SET from_date = '01/18/2027', to_date = '01/22/2027',"
      " last_modified = '2026-12-02 10:00:00' WHERE row_no = 'r1'");
  CHECK(f.poll("2027-01-02T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
  mirror();
  CHECK(days_of("E0001") == 5);
  // Given to another person: the first leaves the team.
  f.sql(
      "UPDATE roster SET staff_no = 'E0002', last_modified = '2026-12-03 10:00:00'"
      " WHERE row_no = 'r1'");
  CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
  mirror();
  CHECK(days_of("E0001") == 0);
  CHECK(days_of("E0002") == 5);
  CHECK(days_of("E0003") == 28);
  CHECK(f.poll("2027-01-04T00:00:00Z").empty());
}

TEST_CASE(
    "interests and sites: ranked interests with stray spaces, case differences and duplicates "
    "are one list; a site's zone from the data times its rotations, the YAML's word wins",
    "[adapter][sql][interests]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  const std::string queries =
      "      interests:\n"
      "        sql: SELECT learner_id, pref_specialty, pref_rank FROM learner_prefs\n"
      "        columns: {person: learner_id, specialty: pref_specialty, rank: pref_rank}\n"
      "      sites:\n"
      "        sql: SELECT site_code, tz FROM site_zones\n"
      "        columns: {site: site_code, timezone: tz}\n"
      "      team:\n";
  Fixture f(backend, "      team:\n", queries);
  f.sql(
      "CREATE TABLE learner_prefs (learner_id VARCHAR(64), pref_specialty VARCHAR(64),"
      " pref_rank INTEGER);\n"
      "INSERT INTO learner_prefs VALUES ('L0001', 'Surgery ', 1), ('L0001', 'surgery', 2),"
      " ('L0001', 'Cardiology', 2), ('L0001', 'Cardiology', 2), ('L0002', 'Pediatrics', NULL);\n"
      "CREATE TABLE site_zones (site_code VARCHAR(64), tz VARCHAR(64));\n"
      "INSERT INTO site_zones VALUES ('Test General', 'US/Eastern'),"
      " ('Test Children''s', 'Mars/Olympus')");
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["interests.changed"] == 2);  // one per person
  CHECK(events["site.updated"] == 2);
  TimeZones yaml{"UTC", {{"Test Children's", "Europe/Berlin"}}};
  for (const auto& e : f.store->events_after(0, 1000)) apply_to_mirror(*f.store, e.event, yaml);
  CHECK(f.store->person("L0001")->interests == std::vector<std::string>{"Surgery", "Cardiology"});
  CHECK(f.store->person("L0002")->interests == std::vector<std::string>{"Pediatrics"});
  CHECK(f.store->site_timezone("Test General") == "US/Eastern");  // a legacy alias
  CHECK_FALSE(f.store->site_timezone("Test Children's"));         // not a zone: not taken
  // B0001 at Test General starts on January 4 at midnight in New York; B0002 at Test
  // Children's in Berlin (the YAML's word).
  auto started = [&](const std::string& student) {
    for (const auto& t : f.store->timers_about(student)) {
      if (t.event.type == EventType::rotation_started) return format_time(t.due);
    }
    return std::string();
  };
  CHECK(started("L0001") == "2027-01-04T05:00:00Z");
  CHECK(started("L0002") == "2027-01-03T23:00:00Z");
  CHECK(f.poll("2027-01-02T00:00:00Z").empty());
  // Read whole: a removed interest row leaves, the others stay.
  f.sql("DELETE FROM learner_prefs WHERE learner_id = 'L0001' AND pref_rank = 1");
  CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"interests.changed", 1}});
  for (const auto& e : f.store->events_after(0, 1000)) apply_to_mirror(*f.store, e.event, yaml);
  // Both now rank 2: in name order.
  CHECK(f.store->person("L0001")->interests == std::vector<std::string>{"Cardiology", "surgery"});
}

TEST_CASE("a fully read team table reads past a member whose rotation is not known yet",
          "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend, "            FROM block_team\n        cursor: last_modified\n",
            "            FROM block_team\n", "    poll_interval: 1h",
            "    poll_interval: 1h\n    batch: 2");
  f.poll("2027-01-01T00:00:00Z");
  // First in key order, for a rotation not scheduled yet; and a member who joins B0003.
  f.sql(
      "INSERT INTO block_team VALUES ('B0000', 'E0001', 'ATT', NULL, NULL,"
      " '2026-12-02 10:00:00'), ('B0003', 'E0005', 'SW', NULL, NULL, '2026-12-02 10:00:01')");
  CHECK(f.poll("2027-01-02T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
  auto change = boost::json::parse(f.events_of_type(EventType::team_changed).back().payload);
  CHECK(change.at("rotation") == "B0003");
  CHECK_FALSE(change.as_object().contains("removed"));  // nobody taken for deleted
  f.sql(
      "INSERT INTO block_schedule VALUES ('B0000', 'L0001', 'S0001', 'Internal Medicine',"
      " 'ELEC', '03/01/2027', '03/14/2027', 'CONF', '2026-12-02 09:00:00')");
  auto events = f.poll("2027-01-03T00:00:00Z");
  CHECK(events == std::map<std::string, int>{{"rotation.scheduled", 1}, {"team.changed", 1}});
}

TEST_CASE(
    "read by cursor, a member whose rotation is not known yet holds the reading there: read "
    "with the rows after it once the rotation is",
    "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  const int batch = GENERATE(1, 2, 3);
  INFO("backend " << backend << ", pages of " << batch);
  Fixture f(backend, "    poll_interval: 1h",
            "    poll_interval: 1h\n    batch: " + std::to_string(batch));
  f.poll("2027-01-01T00:00:00Z");
  f.sql(
      "INSERT INTO block_team VALUES ('B0000', 'E0001', 'ATT', NULL, NULL,"
      " '2026-12-02 10:00:00'), ('B0003', 'E0005', 'SW', NULL, NULL, '2026-12-02 10:00:01'),"
      " ('B0002', 'E0004', 'PHARM', NULL, NULL, '2026-12-02 10:00:02')");
  CHECK(f.poll("2027-01-02T00:00:00Z").count("rotation.scheduled") == 0);
  f.sql(
      "INSERT INTO block_schedule VALUES ('B0000', 'L0001', 'S0001', 'Internal Medicine',"
      " 'ELEC', '03/01/2027', '03/14/2027', 'CONF', '2026-12-02 09:00:00')");
  CHECK(f.poll("2027-01-03T00:00:00Z").count("rotation.scheduled") == 1);
  CHECK(f.poll("2027-01-04T00:00:00Z").empty());
  for (const auto& e : f.store->events_after(0, 1000)) apply_to_mirror(*f.store, e.event);
  auto team_of = [&](const std::string& rotation) {
    std::set<std::string> people;
    const auto read = f.store->rotation(rotation);
    REQUIRE(read);
    for (const auto& m : read->team) people.insert(m.person_id);
    return people;
  };
  CHECK(team_of("B0000") == std::set<std::string>{"E0001"});
  CHECK(team_of("B0003").count("E0005") == 1);
  CHECK(team_of("B0002").count("E0004") == 1);
}

TEST_CASE(
    "a row updated twice between polls is one change; a row that returns to an "
    "earlier state is a change again",
    "[adapter][sql]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend);
  f.poll("2027-01-01T00:00:00Z");
  f.sql(
      "UPDATE learners SET ferpa_optout = 'Y', last_modified = '2027-01-02 08:00:00'"
      " WHERE learner_id = 'L0001';\n"
      "UPDATE learners SET email = 'new@example.edu', last_modified = '2027-01-02 09:00:00'"
      " WHERE learner_id = 'L0001'");
  CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"person.updated", 1}});
  auto both = person_from_json(f.events_of_type(EventType::person_updated).back().payload);
  CHECK(both.opted_out);
  CHECK(both.email == "new@example.edu");
  f.sql(
      "UPDATE learners SET ferpa_optout = 'N', last_modified = '2027-01-04 08:00:00'"
      " WHERE learner_id = 'L0001'");
  CHECK(f.poll("2027-01-05T00:00:00Z") == std::map<std::string, int>{{"person.updated", 1}});
  f.sql(
      "UPDATE learners SET ferpa_optout = 'Y', last_modified = '2027-01-06 08:00:00'"
      " WHERE learner_id = 'L0001'");
  CHECK(f.poll("2027-01-07T00:00:00Z") == std::map<std::string, int>{{"person.updated", 1}});
  auto last = person_from_json(f.events_of_type(EventType::person_updated).back().payload);
  CHECK(last.opted_out);
}

TEST_CASE("a transaction that commits after a later one is caught within the lag",
          "[adapter][sql]") {
  auto backend = backend_under_test();
  if (backend == "sqlite" || backend == "odbc" || !available(backend)) return;  // one writer
  INFO("backend " << backend);
  Fixture f(backend, "    clock: engine", "    clock: engine\n    lag: 1h");
  f.poll("2027-01-01T00:00:00Z");
  std::string connection = f.admin_connection;
  Fixture::replace(connection, "rapport_test", f.database);
  soci::session slow(backend, connection);
  soci::transaction late(slow);  // starts first, commits last
  slow << "INSERT INTO block_schedule VALUES ('B0010', 'L0001', 'S0002', 'Pediatrics', 'ELEC',"
          " '03/01/2027', '03/14/2027', 'CONF', '2027-01-02 10:00:00')";
  f.sql(
      "INSERT INTO block_schedule VALUES ('B0011', 'L0002', 'S0002', 'Pediatrics', 'ELEC',"
      " '03/15/2027', '03/28/2027', 'CONF', '2027-01-02 10:05:00')");
  // 10:30: both rows are younger than the lag; the poll leaves them for later.
  CHECK(f.poll("2027-01-02T10:30:00Z").empty());
  late.commit();
  CHECK(f.poll("2027-01-02T11:30:00Z") == std::map<std::string, int>{{"rotation.scheduled", 2}});
}

TEST_CASE("rows inserted while a poll pages through the table are read once, none missed",
          "[adapter][sql]") {
  auto backend = backend_under_test();
  if (backend == "sqlite" || backend == "odbc" || !available(backend)) return;  // one writer
  INFO("backend " << backend);
  Fixture f(backend, "    poll_interval: 1h", "    poll_interval: 1h\n    batch: 1");
  f.poll("2027-01-01T00:00:00Z");
  std::string connection = f.admin_connection;
  Fixture::replace(connection, "rapport_test", f.database);
  // Rows keep arriving, each a little later, while the next polls read one row per page.
  std::thread writer([&] {
    soci::session db(backend, connection);
    for (int i = 0; i < 60; ++i) {
      char id[16], stamp[32];
      std::snprintf(id, sizeof id, "N%03d", i);
      std::snprintf(stamp, sizeof stamp, "2027-01-02 %02d:%02d:00", 8 + i / 60, i % 60);
      db << "INSERT INTO block_schedule VALUES ('" + std::string(id) +
                "', 'L0001', 'S0001', 'Internal Medicine', 'ELEC', '03/01/2027', '03/14/2027',"
                " 'CONF', '" +
                stamp + "')";
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  int scheduled = 0;
  for (int poll = 0; poll < 3; ++poll)
    scheduled += f.poll("2027-01-03T00:00:00Z")["rotation.scheduled"];
  writer.join();
  scheduled += f.poll("2027-01-03T00:00:00Z")["rotation.scheduled"];
  CHECK(scheduled == 60);
  std::set<std::string> ids;
  for (const auto& e : f.events_of_type(EventType::rotation_scheduled)) {
    ids.insert(rotation_from_json(e.payload).id);
  }
  CHECK(ids.size() == 63);  // the fixture's three and the sixty, each once
}

TEST_CASE(
    "the database stopped in the middle of a poll: the poll fails, the next ones "
    "resume at the last page, every row once",
    "[adapter][sql][restart]") {
  const char* ctl = std::getenv("RAPPORT_TEST_PG_CTL");
  if (!available("postgresql") || !ctl) return;
  Fixture f("postgresql", "    poll_interval: 1h", "    poll_interval: 1h\n    batch: 1");
  for (int i = 0; i < 200; ++i) {
    char id[16], stamp[32];
    std::snprintf(id, sizeof id, "M%03d", i);
    std::snprintf(stamp, sizeof stamp, "2026-12-02 %02d:%02d:00", i / 60, i % 60);
    f.sql("INSERT INTO block_schedule VALUES ('" + std::string(id) +
          "', 'L0001', 'S0001', 'Internal Medicine', 'ELEC', '03/01/2027', '03/14/2027', 'CONF',"
          " '" +
          stamp + "')");
  }
  f.db.reset();
  std::thread operator_([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    std::system((std::string(ctl) + " -m immediate stop >/dev/null 2>&1").c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::system((std::string(ctl) + " start >/dev/null 2>&1").c_str());
  });
  int failures = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::size_t total_before = 0;
  for (;;) {
    try {
      f.source->poll(*f.store, *parse_time("2027-01-01T00:00:00Z"));
    } catch (const std::exception&) {
      ++failures;
    }
    auto total = f.events_of_type(EventType::rotation_scheduled).size() +
                 f.events_of_type(EventType::rotation_cancelled).size();
    if ((total == 204 && total_before == total) || std::chrono::steady_clock::now() > deadline)
      break;
    total_before = total;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  operator_.join();
  CHECK(failures >= 1);
  std::set<std::string> ids;
  std::size_t events = 0;
  for (auto type : {EventType::rotation_scheduled, EventType::rotation_cancelled}) {
    for (const auto& e : f.events_of_type(type)) {
      ids.insert(rotation_from_json(e.payload).id);
      ++events;
    }
  }
  CHECK(ids.size() == 204);  // the fixture's four and the two hundred
  CHECK(events == 204);      // each once
}

TEST_CASE(
    "an interrupted backfill is finished as history by the next backfill or poll, "
    "up to its own bound, and what comes after is live",
    "[adapter][sql][backfill]") {
  auto backend = backend_under_test();
  if (!available(backend)) return;
  for (bool by_poll : {false, true}) {
    INFO("backend " << backend << (by_poll ? ", finished by a poll" : ", finished by a backfill"));
    Fixture f(backend, "    poll_interval: 1h", "    poll_interval: 1h\n    batch: 1");
    const auto now = *parse_time("2027-01-01T00:00:00Z");
    // Stopped after two rotations (one row per page), as Ctrl-C would.
    auto stop = [](const Source::Progress& p) { return !(p.entity == "rotations" && p.rows >= 2); };
    CHECK(f.source->backfill(*f.store, now, std::nullopt, std::nullopt, stop) == 0);
    CHECK(f.events_of_type(EventType::rotation_scheduled).size() == 2);
    // Scheduled after the backfill's bound: live, whoever reads it.
    f.sql(
        "INSERT INTO block_schedule VALUES ('B0005', 'L0001', 'S0001', 'Internal Medicine',"
        " 'ELEC', '03/01/2027', '03/14/2027', 'CONF', '2027-01-01 12:00:00')");
    if (by_poll) {
      f.source->poll(*f.store, *parse_time("2027-01-02T00:00:00Z"));
    } else {
      f.source->backfill(*f.store, now, std::nullopt, std::nullopt,
                         [](const Source::Progress&) { return true; });
    }
    std::map<std::string, int> rotations;
    for (const auto& e : f.store->events_after(0, 1000)) {
      INFO(e.event.id);
      CHECK(e.event.source == "rapport/sources/registrar/history");
      if (e.event.type == EventType::rotation_scheduled ||
          e.event.type == EventType::rotation_cancelled) {
        ++rotations[rotation_from_json(e.event.payload).id];
      }
    }
    CHECK(rotations ==
          std::map<std::string, int>{{"B0001", 1}, {"B0002", 1}, {"B0003", 1}, {"B0004", 1}});
    f.source->poll(*f.store, *parse_time("2027-01-02T00:00:00Z"));
    auto scheduled = f.events_of_type(EventType::rotation_scheduled);
    REQUIRE(scheduled.size() == 4);
    CHECK(rotation_from_json(scheduled.back().payload).id == "B0005");
    CHECK(scheduled.back().source == "rapport/sources/registrar");
  }
}

TEST_CASE(
    "a backfill's writer takes each page of history in place of the inbox; a page it refuses "
    "goes to the inbox as before",
    "[adapter][sql][backfill]") {
  Fixture f("sqlite");
  const auto now = *parse_time("2027-01-01T00:00:00Z");
  std::vector<Event> written;
  std::set<std::string> ids;
  std::size_t calls = 0;
  // Takes the rotations' pages, refuses the others (as the mirror does while the inbox
  // holds events it has not had).
  auto write = [&](const std::vector<Event>& page) {
    ++calls;
    REQUIRE_FALSE(page.empty());
    auto rotation = [](const Event& e) {
      return e.type == EventType::rotation_scheduled || e.type == EventType::rotation_cancelled;
    };
    if (!rotation(page.front())) return false;
    for (const auto& e : page) {
      CHECK(ids.insert(e.id).second);
      written.push_back(e);
    }
    return true;
  };
  auto added = f.source->backfill(
      *f.store, now, std::nullopt, std::nullopt, [](const Source::Progress&) { return true; },
      write);
  CHECK(calls >= 2);
  std::set<std::string> rotations;
  for (const auto& e : written) {
    CHECK((e.type == EventType::rotation_scheduled || e.type == EventType::rotation_cancelled));
    CHECK(e.source == "rapport/sources/registrar/history");
    rotations.insert(rotation_from_json(e.payload).id);
  }
  CHECK(rotations == std::set<std::string>{"B0001", "B0002", "B0003", "B0004"});
  CHECK(f.events_of_type(EventType::rotation_scheduled).empty());
  CHECK(f.events_of_type(EventType::rotation_cancelled).empty());
  CHECK(f.events_of_type(EventType::person_updated).size() == 10);
  CHECK(f.events_of_type(EventType::team_changed).size() > 0);
  // Counted either way.
  CHECK(added == written.size() + std::size_t(f.store->last_event_seq()));
}

TEST_CASE("a backfill does not repeat the rows of a query without a cursor",
          "[adapter][sql][backfill]") {
  // People read whole at every poll, compared with what was stored.
  Fixture f("sqlite",
            "        cursor: last_modified\n        columns: {role: role_code, name: display_name",
            "        columns: {role: role_code, name: display_name");
  const auto now = *parse_time("2027-01-01T00:00:00Z");
  auto all = [](const Source::Progress&) { return true; };
  f.source->backfill(*f.store, now, std::nullopt, std::nullopt, all);
  CHECK(f.events_of_type(EventType::person_updated).size() == 10);
  f.source->backfill(*f.store, now + std::chrono::hours(1), std::nullopt, std::nullopt, all);
  CHECK(f.events_of_type(EventType::person_updated).size() == 10);
}

TEST_CASE(
    "paging: standard (OFFSET ... FETCH NEXT, the comparison written out) reads every "
    "row once, ties on the cursor included",
    "[adapter][sql]") {
  auto backend = GENERATE(as<std::string>{}, "postgresql", "mysql", "odbc");
  if (!available(backend)) return;
  INFO("backend " << backend);
  Fixture f(backend, "    poll_interval: 1h",
            "    poll_interval: 1h\n    batch: 1\n    paging: standard");
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["person.updated"] == 10);
  CHECK(events["rotation.scheduled"] == 3);
  CHECK(events["rotation.cancelled"] == 1);
  CHECK(events["team.changed"] == 10);  // one row per page
  // Two more members with the cursor of the last row read (B0004/E0001), after it in key
  // order (the comparison of the key decides), and one later.
  f.sql(
      "INSERT INTO block_team VALUES ('B0004', 'E0003', 'RN', NULL, NULL,"
      " '2026-12-01 10:00:10'), ('B0004', 'E0002', 'RES', NULL, NULL, '2026-12-01 10:00:10'),"
      " ('B0001', 'E0008', 'RN', NULL, NULL, '2026-12-01 10:00:11')");
  events = f.poll("2027-01-02T00:00:00Z");
  CHECK(events == std::map<std::string, int>{{"team.changed", 3}});
  std::vector<std::string> order;
  for (const auto& e : f.events_of_type(EventType::team_changed)) {
    auto added = boost::json::parse(e.payload).at("added").as_array();
    order.push_back(std::string(boost::json::parse(e.payload).at("rotation").as_string()) + "/" +
                    std::string(added.at(0).at("person").as_string()));
  }
  REQUIRE(order.size() == 13);
  CHECK(order[10] == "B0004/E0002");
  CHECK(order[11] == "B0004/E0003");
  CHECK(order[12] == "B0001/E0008");
  CHECK(f.poll("2027-01-03T00:00:00Z").empty());
}

TEST_CASE("paging: standard is what the database is asked (SQLite, which lacks it, refuses)",
          "[adapter][sql]") {
  Fixture f("sqlite", "    poll_interval: 1h", "    poll_interval: 1h\n    paging: standard");
  CHECK_THROWS_WITH(f.poll("2027-01-01T00:00:00Z"), Contains("syntax error"));
}

TEST_CASE(
    "a query read whole runs once per poll, however many batches its rows fill, and its "
    "rows are all read (PostgreSQL, where a view-like query cannot be paged by key)",
    "[adapter][sql]") {
  if (!available("postgresql")) return;
  // The roster comes from a function that counts its calls: paged by key, a full read ran
  // the admin's query once per page (here, a page of 2 rows).
  Fixture f("postgresql", "    poll_interval: 1h\n", "    poll_interval: 1h\n    batch: 2\n",
            "            FROM block_team\n        cursor: last_modified\n",
            "            FROM rapport_roster()\n");
  *f.db << "CREATE TABLE roster_calls (n INTEGER NOT NULL)";
  *f.db << "INSERT INTO roster_calls VALUES (0)";
  *f.db << "CREATE FUNCTION rapport_roster() RETURNS SETOF block_team AS $$ BEGIN"
           " UPDATE roster_calls SET n = n + 1; RETURN QUERY SELECT * FROM block_team; END $$"
           " LANGUAGE plpgsql VOLATILE";
  int rows = 0, calls = 0;
  *f.db << "SELECT COUNT(*) FROM block_team", soci::into(rows);
  REQUIRE(rows > 6);  // more than three pages of 2
  auto first = f.poll("2027-01-01T00:00:00Z");
  CHECK(first.at("rotation.scheduled") > 0);
  *f.db << "SELECT n FROM roster_calls", soci::into(calls);
  CHECK(calls <= 2);  // the run itself, and perhaps the column probe
  // Every roster row arrived, once.
  std::size_t added = 0;
  for (const auto& e : f.events_of_type(EventType::team_changed)) {
    added += boost::json::parse(e.payload).at("added").as_array().size();
  }
  CHECK(added == std::size_t(rows));
  // Polling again: nothing new, and again one run of the query.
  CHECK(f.poll("2027-01-02T00:00:00Z").empty());
  int again = 0;
  *f.db << "SELECT n FROM roster_calls", soci::into(again);
  CHECK(again - calls <= 2);
  // Another read of the source's session after the scan: its read transaction ended.
  f.sql("DELETE FROM block_team WHERE block_id = 'B0001' AND staff_no = 'E0004'");
  CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
}
