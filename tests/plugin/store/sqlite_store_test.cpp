#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "store/postgresql/postgresql_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

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

TEST_CASE("a rotation sent again unchanged writes nothing to the file", "[store]") {
  test::TempDir dir;
  auto store = open(dir);
  auto d = [](const char* text) { return *parse_date(text); };
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                               {{"P1", Role::nurse}, {"P2", Role::attending}});
  // A member whose span is given twice (a split roster's rows that repeat) makes one row.
  r.team.push_back({"P3",
                    Role::resident,
                    d("2027-01-04"),
                    d("2027-01-10"),
                    {{d("2027-01-04"), d("2027-01-10")}, {d("2027-01-04"), d("2027-01-10")}}});
  const Timer timer{"rotation/R1/start", *parse_time("2027-01-04T08:00:00Z"), event("s", "t")};
  auto write = [&] {
    Transaction tx(*store);
    store->put_rotation(r);
    store->put_team(r.id, r.team);
    store->put_timer(timer);
    tx.commit();
  };
  write();
  // Another connection sees PRAGMA data_version move only when a commit changed the file.
  soci::session other(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
  auto version = [&] {
    long long v = 0;
    other << "PRAGMA data_version", soci::into(v);
    return v;
  };
  const auto before = version();
  write();
  CHECK(version() == before);
  r.team[1].role = Role::resident;
  write();
  CHECK(version() != before);
}

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
    sql << "DROP INDEX inbox_by_part";  // migration 16's
    sql << "ALTER TABLE inbox DROP COLUMN part";
    for (const char* column : {"claim", "claimed_until", "claimed_by"}) {  // migration 15's
      sql << std::string("ALTER TABLE deliveries DROP COLUMN ") + column;
    }
    sql << "DROP TABLE processes";  // migration 13's (the leases' epoch goes with leases)
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

TEST_CASE(
    "a bulk load leaves the roster's index by person out (a reopen too); its end, an erasure "
    "and a purge each build it first",
    "[store]") {
  test::TempDir dir;
  auto indexed = [&] {
    soci::session sql(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
    int n = 0;
    sql << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
           " AND name = 'team_rows_by_person' AND sql LIKE '%(person_id)'",
        soci::into(n);
    return n == 1;
  };
  auto store = open(dir);
  auto put = [&](const std::string& id, const std::string& person) {
    auto r = test::make_rotation(id, "S1", "2027-01-04", "2027-01-31", {{person, Role::nurse}});
    store->put_rotation(r);
    store->put_team(r.id, r.team);
  };
  put("R1", "P1");
  CHECK(indexed());
  store->begin_bulk_load();
  CHECK_FALSE(indexed());
  put("R2", "P2");  // written without it
  store->end_bulk_load();
  REQUIRE(indexed());
  // Ended twice, or a load that never began: nothing to do.
  store->end_bulk_load();
  CHECK(indexed());

  // A load that never ended (the process died) or still runs: opening the store cannot
  // tell which, and leaves the index out (its readers build it, below).
  store->begin_bulk_load();
  store.reset();
  store = open(dir);
  CHECK_FALSE(indexed());

  // An erasure finds the roster rows naming the person through it.
  store->begin_bulk_load();
  {
    Transaction tx(*store);
    auto gone = store->erase_person("P1", *parse_time("2027-02-01T00:00:00Z"), "staff", "t", "t");
    tx.commit();
    CHECK(gone.at("team rows") == 1);
  }
  CHECK(indexed());
  CHECK(store->rotation("R1")->team.empty());
  CHECK(store->rotation("R2")->team.size() == 1);

  // So does retention's purge of people no roster row names.
  store->begin_bulk_load();
  const auto now = *parse_time("2040-01-01T00:00:00Z");
  Store::PurgeBefore before{.now = now,
                            .inbox_payloads = TimePoint{},
                            .delivery_attempts = TimePoint{},
                            .rotations = TimePoint{},
                            .people = now,
                            .actions = TimePoint{},
                            .ids = TimePoint{},
                            .reports = TimePoint{},
                            .disclosures = std::nullopt,
                            .sinks = {}};
  store->purge(before, 100, false);
  CHECK(indexed());
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

TEST_CASE("a PostgreSQL store whose schema is newer, or a database of something else, is refused",
          "[store][postgresql]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  SECTION("newer") {
    CHECK(test::open_test_store(dir, "postgresql")->schema_version() == kPostgresqlSchemaVersion);
    test::execute_in_store(dir, "postgresql", "UPDATE schema_version SET version = 99");
    CHECK_THROWS_WITH(test::open_test_store(dir, "postgresql"),
                      Contains("version 99, newer than this rapport knows"));
  }
  SECTION("something else") {
    test::execute_in_store(dir, "postgresql", "CREATE TABLE patients (id TEXT)");
    CHECK_THROWS_WITH(test::open_test_store(dir, "postgresql"),
                      Contains("something else") && Contains("nothing was written"));
  }
  SECTION("unreachable") {
    CHECK_THROWS_WITH(open_postgresql_store({"host=127.0.0.1 port=1 dbname=x connect_timeout=2",
                                             std::chrono::milliseconds(0)}),
                      Contains("cannot connect to the store (PostgreSQL)"));
  }
}

TEST_CASE(
    "a PostgreSQL store preparing its statements behind a transaction pooler says to turn "
    "store.prepared_statements off",
    "[store]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  const char* bouncer = std::getenv("RAPPORT_TEST_PGBOUNCER");
  if (!bouncer) {
    WARN("RAPPORT_TEST_PGBOUNCER is not set: no PgBouncer to test with");
    return;
  }
  test::TempDir dir;
  test::postgresql_url(dir);  // makes the database
  PostgresqlOptions options{std::string(bouncer) + " dbname=" + dir.postgresql_database,
                            std::chrono::milliseconds(0)};
  options.prepare = true;
  // Each store in turn holds a server connection in a transaction while the other runs a
  // statement; then the roles swap, and a statement prepared on one server connection is
  // run on the other, where it does not exist.
  std::string error;
  try {
    auto first = open_postgresql_store(options);
    auto second = open_postgresql_store(options);
    for (int i = 0; i < 10 && error.empty(); ++i) {
      for (auto [holder, other] :
           {std::pair{first.get(), second.get()}, std::pair{second.get(), first.get()}}) {
        Transaction tx(*holder);
        holder->last_event_seq();
        other->last_event_seq();
      }
    }
  } catch (const StoreError& e) {
    error = e.what();
  }
  CHECK_THAT(error, Contains("store.prepared_statements") && Contains("PgBouncer"));
}

TEST_CASE(
    "the WAL checkpointer keeps the WAL of connections that never checkpoint near its "
    "limit, while they write, and cuts a grown WAL file back to it",
    "[store][wal]") {
  test::TempDir dir;
  auto path = dir.file("rapport.db");
  const std::int64_t limit = 256 * 1024;
  // As under `rapport serve`: no connection checkpoints inside its commits.
  const SqliteOptions options{path, false, 1000, false, 4 * limit};
  auto writer = open_sqlite_store(options);
  const std::string payload(1500, 'x');
  auto write = [&](int from, int count) {
    for (int i = from; i < from + count; ++i) {
      auto e = event("platform", "e" + std::to_string(i));
      e.payload = "{\"pad\":\"" + payload + "\"}";
      Transaction tx(*writer);
      writer->append_event(e, *parse_time("2027-01-01T00:00:00Z"));
      tx.commit();
      // A listener's groups leave gaps between commits; a loop that never lets go of the
      // write turn would leave the checkpointer's last pass no room at all.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };
  auto wal_size = [&] { return std::int64_t(std::filesystem::file_size(path + "-wal")); };

  // Without it the WAL grows with every commit (the control: this test could not pass
  // with a checkpointer that does nothing).
  write(0, 1500);
  auto grown = wal_size();
  CHECK(grown > 16 * limit);

  // With it, the WAL is copied into the database and written again from its start, and
  // its file is cut back to the limit when it starts again.
  WalCheckpointer checkpointer(options, {.every = std::chrono::milliseconds(2),
                                         .idle_every = std::chrono::milliseconds(50),
                                         .limit_bytes = limit});
  write(1500, 1500);
  INFO("WAL without the checkpointer " << grown << " bytes, with it " << wal_size());
  // Far below the control, with room for a checkpoint's fsync stalled on a busy disk.
  CHECK(wal_size() < grown / 4);
  INFO("completed passes under the turn: " << checkpointer.completed());
  CHECK(checkpointer.completed() > 5);  // again and again while the writes went on
  // Nothing lost: every event is there, through a connection of its own.
  auto reader = open_sqlite_store({path, false, 1000});
  CHECK(reader->events_after(0, 5000).size() == 3000);
}
