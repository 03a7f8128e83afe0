// The real daemon on the small institution, with the demo's config: the exact actions it
// writes, and the same set after kill -9 at a random moment and a restart. On the store
// RAPPORT_TEST_STORE names (CTest runs these cases once more on PostgreSQL).
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport::test;
using Catch::Matchers::Contains;

namespace {

// How soon a restarted `rapport run` may take the engine over from one killed on a
// PostgreSQL store (its lease, which the config below shortens).
constexpr auto kLease = std::chrono::seconds(2);

// The demo's config, unchanged on SQLite; on PostgreSQL with its store section replaced;
// with RAPPORT_TEST_PARTITIONS set, dispatching in that many partitions (engine.partitions:
// CTest runs these cases so once more on PostgreSQL).
std::string demo_config(const TempDir& dir) {
  const char* partitions = std::getenv("RAPPORT_TEST_PARTITIONS");
  const bool spread = partitions && *partitions;
  if (default_backend() == "sqlite" && !spread) return demo_config_path();
  auto text = read_text(demo_config_path());
  if (default_backend() == "postgresql") {
    const std::string store =
        "store:\n  path: ${RAPPORT_DEMO_DIR:-rapport-demo}/rapport.db\n  synchronous: normal";
    auto at = text.find(store);
    REQUIRE(at != std::string::npos);
    text.replace(at, store.size(),
                 "store: {type: postgresql, url: \"" + postgresql_url(dir) +
                     "\", lease: " + std::to_string(kLease.count()) + "s}\n");
  }
  if (spread) {
    REQUIRE(text.find("\nengine:") == std::string::npos);
    text += std::string("\nengine:\n  partitions: ") + partitions + "\n";
  }
  return dir.write("demo.yaml", text);
}

std::vector<std::string> run_args(const std::string& config, const std::string& pace) {
  return {rapport_binary(), "run",  "-c",         config,   "--from",
          "2027-01-01",     "--to", "2027-02-20", "--pace", pace};
}

std::set<std::string> ids_of(const std::string& path, std::size_t& lines) {
  std::set<std::string> ids;
  auto all = read_lines(path);
  lines = all.size();
  for (const auto& line : all) {
    ids.insert(std::string(boost::json::parse(line).at("id").as_string()));
  }
  return ids;
}

}  // namespace

TEST_CASE("the daemon turns the institution's database into exactly the expected actions",
          "[integration][e2e]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  const auto config = demo_config(dir);
  INFO("store " << default_backend());
  auto r = run_command(run_args(config, "0ms"), {{"RAPPORT_DEMO_DIR", dir.path()}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto actions = dir.file("actions.jsonl");
  CHECK(action_keys_of_file(actions) == expected_small_institution_actions());
  // What the run did, said at its end.
  CHECK_THAT(
      r.err,
      Catch::Matchers::Contains(
          "\n  actions  16 (follow_up 1, introduce 7, letter_candidate 2, "
          "mentor_suggest 2, opportunity 1, thank_you 3)\n  expired  1 (held 1); withdrawn 0; "
          "held now 0\n"));
  auto status =
      run_command({rapport_binary(), "status", "-c", config}, {{"RAPPORT_DEMO_DIR", dir.path()}});
  CHECK_THAT(status.out,
             Catch::Matchers::Contains("held     0 actions") &&
                 Catch::Matchers::Contains("expired  0 before they were made, 1 while held"));

  // Each line is a CloudEvent with the contact's details read from the store. (The first
  // introduction: with engine.partitions, the assignments' actions of a step come first.)
  auto lines = read_lines(actions);
  auto introduction = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("\"rapport.action.introduce\"") != std::string::npos;
  });
  REQUIRE(introduction != lines.end());
  auto first = boost::json::parse(*introduction);
  CHECK(first.at("specversion") == "1.0");
  CHECK(first.at("type") == "rapport.action.introduce");
  CHECK(first.at("data").at("contact_details").at("name") == "Dr. Ada Example");
  CHECK(first.at("data").at("reason") ==
        "Your supervising attending on the Internal Medicine team at Test General: introduce "
        "yourself on your first day.");

  // Logs carry ids, never names or emails.
  CHECK(r.err.find("Example") == std::string::npos);
  CHECK(r.err.find("@example.edu") == std::string::npos);

  SECTION("running the same period again adds nothing") {
    auto again = run_command(run_args(config, "0ms"), {{"RAPPORT_DEMO_DIR", dir.path()}});
    REQUIRE(again.exit_code == 0);
    CHECK(read_lines(actions).size() == expected_small_institution_actions().size());
  }
}

TEST_CASE(
    "killed with SIGKILL at a random moment and restarted, the daemon loses and "
    "duplicates nothing",
    "[integration][e2e][crash]") {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 3; ++attempt) {
    TempDir dir;
    write_small_institution(dir.file("institution.db"));
    const auto config = demo_config(dir);
    INFO("store " << default_backend());
    std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
    {
      // 51 simulated days at 40 ms each: about two seconds of work to interrupt.
      Process daemon(run_args(config, "40ms"), env, dir.path());
      auto wait_ms = 100 + rng() % 1900;
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      INFO("killed after " << wait_ms << " ms");
      daemon.kill(SIGKILL);
      daemon.wait();
    }
    auto restarted = run_command(run_args(config, "0ms"), env);
    if (default_backend() == "postgresql" && restarted.exit_code != 0) {
      // The dead run held the engine lease: it lasts its term, and a restart sooner is
      // refused with that reason (not left waiting, not run beside it).
      CHECK_THAT(restarted.err, Contains("another process runs the engine on this store"));
      // (Kept to the second on the database's clock: it ends within a second after.)
      std::this_thread::sleep_for(kLease + std::chrono::milliseconds(1500));
      restarted = run_command(run_args(config, "0ms"), env);
    }
    INFO(restarted.err);
    REQUIRE(restarted.exit_code == 0);
    std::size_t lines = 0;
    auto ids = ids_of(dir.file("actions.jsonl"), lines);
    CHECK(lines == ids.size());  // no action delivered twice
    CHECK(action_keys_of_file(dir.file("actions.jsonl")) == expected_small_institution_actions());
  }
}

TEST_CASE("serve runs on the real clock and stops cleanly on SIGTERM", "[integration][serve]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  Process daemon({rapport_binary(), "serve", "-c", demo_config_path()},
                 {{"RAPPORT_DEMO_DIR", dir.path()}}, dir.path());
  // Wait (bounded) until the first step has mirrored the directory into the store.
  for (int i = 0; i < 100 && read_text(dir.file("rapport.db")).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(daemon.running());
  daemon.kill(SIGTERM);
  auto finished = daemon.wait();
  CHECK(finished.exit_code == 0);
}

TEST_CASE(
    "an untidy export (its own names, padded and mixed-case codes, text dates, NULL ends, "
    "duplicated and split roster rows) read whole at every poll gives exactly the expected "
    "actions, and no event after the first poll",
    "[integration][e2e][untidy]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  const char* pg = std::getenv("RAPPORT_TEST_PG");
  if (backend == "postgresql" && !pg) {
    WARN("no PostgreSQL server for this run (the README's test command starts one)");
    return;
  }
  INFO("backend " << backend);
  TempDir dir;
  const auto sql = read_text(source_dir() + "/tests/untidy/institution.sql");
  auto config = read_text(source_dir() + "/tests/untidy/untidy.yaml");
  std::string database;
  if (backend == "sqlite") {
    execute_sqlite(dir.file("institution.db"), sql);
  } else {
    database = "rt_untidy_" + std::to_string(::getpid());
    {
      soci::session admin("postgresql", pg);
      admin << "DROP DATABASE IF EXISTS " + database;
      admin << "CREATE DATABASE " + database;
    }
    std::string connection = pg;
    connection.replace(connection.find("rapport_test"), 12, database);
    soci::session db("postgresql", connection);
    execute_sql(db, sql);
    auto at =
        config.find("    backend: sqlite\n    connection: ${RAPPORT_UNTIDY_DIR}/institution.db");
    REQUIRE(at != std::string::npos);
    config.replace(
        at,
        std::string("    backend: sqlite\n    connection: ${RAPPORT_UNTIDY_DIR}/institution.db")
            .size(),
        "    backend: postgresql\n    connection: \"" + connection + "\"");
  }
  auto file = dir.write("untidy.yaml", config);
  std::map<std::string, std::string> env{{"RAPPORT_UNTIDY_DIR", dir.path()}};
  auto r = run_command(
      {rapport_binary(), "run", "-c", file, "--from", "2027-01-01", "--to", "2027-02-20"}, env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  // type, student, contact, due, reason: the split attending counts 10 days (not the 5 of
  // one row), the nurse who started before the rotation is introduced, the block without
  // an end date makes nothing, each person is introduced once.
  std::set<std::string> expected{
      "introduce S-100 F-1 2027-01-04T00:00:00Z Your supervising attending on the Internal "
      "Medicine team at Northwind General: introduce yourself on your first day.",
      "introduce S-100 F-2 2027-01-04T00:00:00Z A resident on your Internal Medicine team at "
      "Northwind General, who will teach you day to day.",
      "introduce S-100 N-7 2027-01-04T00:00:00Z A nurse on your Internal Medicine team at "
      "Northwind General, who knows how the unit really runs.",
      "thank_you S-100 F-1 2027-02-04T00:00:00Z You worked with this attending for 10 days on "
      "Internal Medicine at Northwind General: send a thank-you note within 3 days, while it "
      "is fresh.",
      "thank_you S-100 F-2 2027-02-04T00:00:00Z You worked with this resident for 28 days on "
      "Internal Medicine at Northwind General: send a thank-you note within 3 days, while it "
      "is fresh.",
      "letter_candidate S-100 F-1 2027-02-15T00:00:00Z You worked 10 days with this attending, "
      "who evaluated you strongly, in the specialty you are aiming for: ask early whether they "
      "would write you a letter of recommendation for the 2027 season."};
  std::set<std::string> actual;
  for (const auto& line : read_lines(dir.file("actions.jsonl"))) {
    auto data = boost::json::parse(line).at("data").as_object();
    auto text = [&](const char* key) { return std::string(data.at(key).as_string()); };
    actual.insert(text("type") + " " + text("student") + " " + text("contact") + " " + text("due") +
                  " " + text("reason"));
  }
  CHECK(actual == expected);
  CHECK(read_lines(dir.file("actions.jsonl")).size() == expected.size());

  // Read whole every simulated hour for seven weeks: every event the source made came from
  // the first poll; split and duplicated rows flipped nothing.
  soci::session store(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
  int later = -1, team = -1;
  store << "SELECT COUNT(*) FROM inbox WHERE source LIKE 'rapport/sources/%'"
           " AND occurred_at <> '2027-01-01T00:00:00Z'",
      soci::into(later);
  store << "SELECT COUNT(*) FROM inbox WHERE type = 'team.changed'", soci::into(team);
  CHECK(later == 0);
  CHECK(team == 1);
  // The block without an end is said once, not at every poll.
  CHECK(std::count_if(r.err.begin(), r.err.end(), [](char c) { return c == '\n'; }) < 20);
  std::size_t skipped = 0;
  for (std::size_t at = r.err.find("row skipped"); at != std::string::npos;
       at = r.err.find("row skipped", at + 1)) {
    ++skipped;
  }
  CHECK(skipped == 1);
  if (!database.empty()) {
    try {
      soci::session admin("postgresql", pg);
      admin << "DROP DATABASE " + database;
    } catch (const std::exception&) {
    }
  }
}
