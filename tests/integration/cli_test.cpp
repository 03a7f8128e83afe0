// The real `rapport` binary: exit codes and messages of validate and config.
#include <catch2/catch.hpp>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "rapport/json.hpp"
#include "rapport/types.hpp"
#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

// `rapport run` of the demo config (over the institution in env's RAPPORT_DEMO_DIR) for a
// period, which must succeed.
static void run_period(const std::map<std::string, std::string>& env, const char* from,
                       const char* to) {
  auto r = run_command(
      {rapport_binary(), "run", "-c", demo_config_path(), "--from", from, "--to", to}, env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

namespace {

// One number (a COUNT(*), say) read from a SQLite file: the store, an institution.
int number_in(const std::string& file, const std::string& sql) {
  soci::session db(soci::sqlite3, "db=\"" + file + "\"");
  int n = -1;
  db << sql, soci::into(n);
  return n;
}

}  // namespace

TEST_CASE("rapport validate exits 0 for a valid file, 1 with every error, 2 on misuse",
          "[integration][cli]") {
  TempDir dir;
  auto ok = run_command({rapport_binary(), "validate", "-c", demo_config_path()});
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Contains("valid"));

  auto bad_file = dir.write("bad.yaml", "store:\n  pth: x\nengine:\n  tick: often\n");
  auto bad = run_command({rapport_binary(), "validate", "-c", bad_file});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Contains(bad_file + ":2:3: error: store.pth: unknown key \"pth\"; did you "
                                          "mean \"path\"?"));
  CHECK_THAT(bad.err, Contains(bad_file + ":4:9: error: engine.tick: \"often\" is not a duration"));
  CHECK_THAT(bad.err, Contains("2 errors"));

  // What only building the hooks tells: a plugin that is not there, an opening without a
  // contact.
  auto hooks_file = dir.write(
      "hooks.yaml",
      "store: {path: " + dir.file("r.db") +
          "}\nhooks:\n  research:\n    plugin: " + dir.file("missing.so") +
          "\n  specialty_contacts:\n    openings:\n      - {id: O1, specialty: Surgery}\n");
  auto hooks = run_command({rapport_binary(), "validate", "-c", hooks_file});
  CHECK(hooks.exit_code == 1);
  CHECK_THAT(hooks.err, Contains(hooks_file + ":4:5: error: hooks.research: "));
  CHECK_THAT(hooks.err, Contains("missing.so"));
  CHECK_THAT(hooks.err,
             Contains(hooks_file + ":6:5: error: hooks.specialty_contacts: openings[0]"));
  CHECK_THAT(hooks.err, Contains("2 errors"));

  auto missing = run_command({rapport_binary(), "validate", "-c", dir.file("nope.yaml")});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Contains("cannot open the configuration file"));

  // Every command answers --help with its own usage, on standard output; --version.
  for (const char* command :
       {"validate", "config", "serve", "run", "status", "explain", "simulate", "backfill",
        "deliveries", "audit", "forget", "export", "purge", "hash-password", "demo"}) {
    auto help = run_command({rapport_binary(), command, "--help"});
    INFO(command);
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, StartsWith(std::string("usage: rapport ") + command));
  }
  auto version = run_command({rapport_binary(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.out, StartsWith("rapport 0."));
  // An unknown option names the closest one, and the command's usage.
  auto typo = run_command({rapport_binary(), "run", "-c", "x.yaml", "--form", "2027-01-01"});
  CHECK(typo.exit_code == 2);
  CHECK_THAT(typo.err, Contains("rapport run: unknown option --form; did you mean \"--from\"?"));
  CHECK_THAT(typo.err, Contains("usage: rapport run -c FILE --from DATE --to DATE"));
  CHECK(run_command({rapport_binary(), "validate"}).exit_code == 2);
  CHECK(run_command({rapport_binary(), "validate", "-c"}).exit_code == 2);
  CHECK(run_command({rapport_binary(), "frobnicate"}).exit_code == 2);
  CHECK(run_command({rapport_binary()}).exit_code == 2);
}

TEST_CASE("rapport config prints the effective config with secrets masked", "[integration][cli]") {
  TempDir dir;
  auto file = dir.write("c.yaml",
                        "sources:\n  registrar:\n    type: sql\n    connection: ${CONN}\n"
                        "    queries:\n      rotations:\n        sql: SELECT 1\n");
  auto r = run_command({rapport_binary(), "config", "-c", file}, {{"CONN", "hunter2.db"}});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("poll_interval: 1m"));
  CHECK_THAT(r.out, Contains("connection: \"********\""));
  CHECK(r.out.find("hunter2") == std::string::npos);
}

TEST_CASE("rapport status shows each consumer's progress and a plugin's retries",
          "[integration][cli][plugin]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  auto config = read_text(demo_config_path());
  config.replace(config.find("hooks:\n"), 7, "hooks:\n  flaky:\n    plugin: " FLAKY_PLUGIN "\n");
  auto file = dir.write("with-plugin.yaml", config);
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  auto run = run_command(
      {rapport_binary(), "run", "-c", file, "--from", "2027-01-01", "--to", "2027-01-10"}, env);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  auto status = run_command({rapport_binary(), "status", "-c", file}, env);
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.out, Contains("hook flaky"));
  CHECK_THAT(status.out, Contains("hook introductions"));
  CHECK_THAT(status.out, Contains("sink actions"));
  CHECK_THAT(status.out, Contains("flaky                retry       2  last at"));
  CHECK_THAT(status.out, Contains("registry busy"));
}

TEST_CASE(
    "rapport status --json gives the same data for scripts; --check follows the monitoring "
    "convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) with one line",
    "[integration][cli][status]") {
  TempDir dir;
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  // No institution database yet: the source is down, a warning.
  run_period(env, "2027-01-01", "2027-01-02");
  auto down = run_command({rapport_binary(), "status", "-c", demo_config_path(), "--check"}, env);
  CHECK(down.exit_code == 1);
  CHECK_THAT(down.out, StartsWith("RAPPORT WARNING - source registrar down"));
  CHECK(std::count(down.out.begin(), down.out.end(), '\n') == 1);
  CHECK(run_command({rapport_binary(), "status", "-c", demo_config_path()}, env).exit_code == 0);

  write_small_institution(dir.file("institution.db"));
  run_period(env, "2027-01-02", "2027-02-10");
  auto ok = run_command({rapport_binary(), "status", "-c", demo_config_path(), "--check"}, env);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, StartsWith("RAPPORT OK - 1 source up, 0 behind | behind=0"));
  auto data = run_command({rapport_binary(), "status", "-c", demo_config_path(), "--json"}, env);
  REQUIRE(data.exit_code == 0);
  auto st = boost::json::parse(data.out).as_object();
  CHECK(st.at("inbox_events") == number_in(dir.file("rapport.db"), "SELECT COUNT(*) FROM inbox"));
  CHECK(st.at("sources").at(0).at("up") == true);
  CHECK(st.at("consumers").at(0).at("name") == "mirror");
  CHECK(st.at("consumers").at(0).at("behind") == 0);

  auto unknown =
      run_command({rapport_binary(), "status", "-c", dir.file("missing.yaml"), "--check"}, env);
  CHECK(unknown.exit_code == 3);
  CHECK_THAT(unknown.out, StartsWith("RAPPORT UNKNOWN"));
  // Without --check, today's exit codes.
  CHECK(run_command({rapport_binary(), "status", "-c", dir.file("missing.yaml")}, env).exit_code ==
        1);
}

TEST_CASE(
    "rapport explain shows a student's contacts, letter candidates with their score "
    "parts and open follow-ups; anonymous evaluations never show",
    "[integration][cli][explain]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  execute_sqlite(dir.file("institution.db"),
                 "INSERT INTO assessments VALUES ('A0002', 'B0001', 'E0002', 'L0001',"
                 " '2027-02-02 10:00:00', 9, 1, 'Y')");
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-02-10");
  auto r = run_command({rapport_binary(), "explain", "-c", demo_config_path(), "--student", "L0001",
                        "--at", "2027-02-10", "--json"},
                       env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto network = boost::json::parse(r.out).as_object();
  const auto& contacts = network.at("contacts").as_array();
  REQUIRE(contacts.size() == 5);
  CHECK(contacts.at(0).at("id") == "E0001");  // the attending: 28 days, the strongest
  CHECK(contacts.at(0).at("days_together") == 28);
  CHECK(contacts.at(0).at("evaluations").as_array().size() == 1);
  for (const auto& c : contacts) {
    if (c.at("id") == "E0002") CHECK(c.at("evaluations").as_array().empty());  // anonymous
  }
  const auto& letters = network.at("letter_candidates").as_array();
  REQUIRE(letters.size() == 1);
  CHECK(letters.at(0).at("attending") == "E0001");
  CHECK(letters.at(0).at("time").to_number<double>() == Approx(1.0));
  CHECK(letters.at(0).at("evaluation").to_number<double>() == Approx(0.875));
  CHECK(letters.at(0).at("specialty_match").to_number<double>() == Approx(1.0));
  CHECK(network.at("open_follow_ups").as_array().size() == 6);  // 2 supervisors x 3, L0001

  auto table = run_command({rapport_binary(), "explain", "-c", demo_config_path(), "--student",
                            "L0001", "--at", "2027-02-10"},
                           env);
  CHECK_THAT(table.out, Contains("Letter candidates (score = 0.35 time"));
  CHECK_THAT(table.out, Contains("Dr. Ada Example (E0001)"));
  CHECK_THAT(table.out, Contains("as of 2027-02-10T00:00:00Z (--at)"));
  // Without --at: the simulated run's last step, not the machine's date.
  auto defaulted = run_command(
      {rapport_binary(), "explain", "-c", demo_config_path(), "--student", "L0001"}, env);
  CHECK_THAT(defaulted.out, Contains("as of 2027-02-10T00:00:00Z (the engine's last step)"));

  SECTION("with rank_with_anonymous, no total is shown: the anonymous score cannot be derived") {
    // The attending also gave a weak anonymous evaluation, which now counts in the ranking.
    execute_sqlite(dir.file("institution.db"),
                   "INSERT INTO assessments VALUES ('A0003', 'B0001', 'E0001', 'L0001',"
                   " '2027-02-05 10:00:00', 2, 1, 'N')");
    auto text = read_text(demo_config_path());
    auto at = text.find("    season_date: \"06-01\"");
    REQUIRE(at != std::string::npos);
    text.insert(at, "    rank_with_anonymous: true\n");
    dir.write("anonymous.yaml", text);
    REQUIRE(run_command({rapport_binary(), "run", "-c", dir.file("anonymous.yaml"), "--from",
                         "2027-02-10", "--to", "2027-02-11"},
                        env)
                .exit_code == 0);
    auto ranked = run_command({rapport_binary(), "explain", "-c", dir.file("anonymous.yaml"),
                               "--student", "L0001", "--at", "2027-02-10", "--json"},
                              env);
    INFO(ranked.err);
    REQUIRE(ranked.exit_code == 0);
    auto candidates = boost::json::parse(ranked.out).at("letter_candidates").as_array();
    REQUIRE(candidates.size() == 1);
    const auto& c = candidates.at(0).as_object();
    CHECK(c.at("rank") == 1);
    CHECK_FALSE(c.contains("score"));  // score - visible parts would be the anonymous part
    CHECK_FALSE(c.contains("evaluation_used"));                      // nor what the score used
    CHECK(c.at("evaluation").to_number<double>() == Approx(0.875));  // the signed one only
    auto shown = run_command({rapport_binary(), "explain", "-c", dir.file("anonymous.yaml"),
                              "--student", "L0001", "--at", "2027-02-10"},
                             env);
    CHECK_THAT(shown.out, Contains("only the rank"));
  }
  CHECK(run_command({rapport_binary(), "explain", "-c", demo_config_path(), "--student", "NOBODY"},
                    env)
            .exit_code == 1);
}

TEST_CASE(
    "rapport explain keeps its columns with accented, wide and long names, shows names beside "
    "ids, and the neutral evaluation a score used",
    "[integration][cli][explain]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  execute_sqlite(dir.file("institution.db"),
                 "UPDATE staff_directory SET display_name = 'Zoë Ñúñez-Ålvarez de la Peña y "
                 "Montenegro' WHERE staff_no = 'E0003';\n"
                 "UPDATE staff_directory SET display_name = '李小龍' WHERE staff_no = 'E0004'");
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-02-10");
  auto table = run_command({rapport_binary(), "explain", "-c", demo_config_path(), "--student",
                            "L0001", "--at", "2027-02-10"},
                           env);
  REQUIRE(table.exit_code == 0);
  // Columns on screen: a code point is one column, these CJK characters two.
  auto columns = [](const std::string& text) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if ((c & 0xC0) == 0x80) continue;
      n += c >= 0xE4 && c <= 0xE9 ? 2 : 1;  // U+4E00..U+9FFF
    }
    return n;
  };
  std::istringstream lines(table.out);
  std::string line;
  bool in_contacts = false;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("Contacts")) {
      in_contacts = true;
      continue;
    }
    if (line.empty()) in_contacts = false;
    if (!in_contacts || line.find("strength") != std::string::npos) continue;
    auto role = line.find(" attending ");
    for (const char* r : {" resident ", " nurse ", " pharmacist ", " social_worker "}) {
      role = std::min(role, line.find(r));
    }
    REQUIRE(role != std::string::npos);
    INFO(line);
    CHECK(columns(line.substr(0, role)) == 48);  // the role column starts at the same place
    ++rows;
  }
  CHECK(rows == 5);
  CHECK_THAT(table.out, Contains("Zoë Ñúñez-Ålvarez de la Peña…"));
  CHECK_THAT(table.out, Contains("李小龍 (E0004)"));
  // Names beside ids in the letters, follow-ups and actions too.
  CHECK_THAT(table.out, Contains("1    Dr. Ada Example (E0001)"));
  CHECK_THAT(table.out, Contains("follow_up      Dr. Ada Example (E0001)"));
  CHECK_THAT(table.out, Contains("thank_you         Dr. Ada Example (E0001)"));

  // L0002's attending never evaluated them: the score used the neutral 0.5, and says so.
  auto neutral = run_command({rapport_binary(), "explain", "-c", demo_config_path(), "--student",
                              "L0002", "--at", "2027-02-10", "--json"},
                             env);
  auto letters = boost::json::parse(neutral.out).at("letter_candidates").as_array();
  REQUIRE(letters.size() == 1);
  CHECK(letters.at(0).at("evaluation_used").to_number<double>() == Approx(0.5));
  CHECK(letters.at(0).at("evaluation_neutral") == true);
  CHECK_FALSE(letters.at(0).as_object().contains("evaluation"));
  auto neutral_table = run_command({rapport_binary(), "explain", "-c", demo_config_path(),
                                    "--student", "L0002", "--at", "2027-02-10"},
                                   env);
  CHECK_THAT(neutral_table.out, Contains(" 0.50* "));
}

TEST_CASE("rapport run shows where its clock is on a terminal, and nothing of it in a pipe",
          "[integration][cli][run]") {
  if (::access("/usr/bin/script", X_OK) != 0) {
    WARN("no /usr/bin/script (bsdutils) to give the run a terminal");
    return;
  }
  // A root without /dev/pts (a bare chroot) has no terminal to give.
  if (run_command({"/usr/bin/script", "-qec", "true", "/dev/null"}).exit_code != 0) {
    WARN("script cannot open a pseudo-terminal here (is /dev/pts mounted?)");
    return;
  }
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  std::string command = rapport_binary() + " run -c " + demo_config_path() +
                        " --from 2027-01-01 --to 2027-03-01 --pace 10ms";
  auto on_terminal = run_command({"/usr/bin/script", "-qec", command, "/dev/null"}, env);
  CHECK(on_terminal.exit_code == 0);
  CHECK_THAT(on_terminal.out, Contains("%"));  // "2027-01-21T00:00:00Z   34%"
  CHECK_THAT(on_terminal.out, Contains("rapport run: 2027-01-01T00:00:00Z to"));
  TempDir piped_dir;
  write_small_institution(piped_dir.file("institution.db"));
  auto piped = run_command({rapport_binary(), "run", "-c", demo_config_path(), "--from",
                            "2027-01-01", "--to", "2027-03-01", "--pace", "10ms"},
                           {{"RAPPORT_DEMO_DIR", piped_dir.path()}});
  CHECK(piped.exit_code == 0);
  CHECK_THAT(piped.err, !Contains("%"));
}

TEST_CASE("rapport simulate prints what would happen and delivers and stores nothing",
          "[integration][cli][simulate]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-01-10");
  auto lines_before = read_lines(dir.file("actions.jsonl")).size();
  auto store_before = read_text(dir.file("rapport.db"));
  auto r = run_command({rapport_binary(), "simulate", "-c", demo_config_path(), "--from",
                        "2027-01-10", "--to", "2027-02-20"},
                       env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("thank_you         L0001    -> E0001"));
  CHECK_THAT(r.out, Contains("letter_candidate  L0002    -> E0006"));
  CHECK_THAT(r.out, Contains("6 actions:"));
  CHECK_THAT(r.out, !Contains("Nothing new"));
  // What it did, on standard error, as run says it.
  CHECK_THAT(r.err, Contains("rapport simulate: "));
  CHECK_THAT(r.err, Contains("\n  actions  6 ("));
  CHECK_THAT(r.err, Contains("\n  events   "));
  CHECK(read_lines(dir.file("actions.jsonl")).size() == lines_before);
  CHECK(read_text(dir.file("rapport.db")) == store_before);

  // A period the store went through already: nothing, and it says why.
  auto again = run_command({rapport_binary(), "simulate", "-c", demo_config_path(), "--from",
                            "2027-01-01", "--to", "2027-01-05"},
                           env);
  CHECK_THAT(again.out,
             Contains("0 actions:") && Contains("Nothing new: the store has already been run to "
                                                "2027-01-10T00:00:00Z"));
}

TEST_CASE("rapport validate checks deploy/examples/postgresql.yaml against a real database",
          "[integration][cli][sql]") {
  const char* pg = std::getenv("RAPPORT_TEST_PG");
  if (!pg) {
    WARN("no PostgreSQL server for this run (the README's test command starts one)");
    return;
  }
  // The small institution in a database of its own.
  std::string database = "rt_validate_" + std::to_string(::getpid());
  {
    soci::session admin("postgresql", pg);
    admin << "DROP DATABASE IF EXISTS " + database;
    admin << "CREATE DATABASE " + database;
  }
  std::string connection = pg;
  connection.replace(connection.find("rapport_test"), 12, database);
  {
    soci::session db("postgresql", connection);
    execute_sql(db, read_text(source_dir() + "/tests/support/small_institution.sql"));
  }
  auto example = source_dir() + "/deploy/examples/postgresql.yaml";
  auto ok = run_command({rapport_binary(), "validate", "-c", example},
                        {{"RAPPORT_SQL_CONNECTION", connection}});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.err, Contains("a cursor sees only rows that still exist"));

  {
    soci::session db("postgresql", connection);
    db << "ALTER TABLE block_schedule RENAME COLUMN service TO service_line";
  }
  auto bad = run_command({rapport_binary(), "validate", "-c", example},
                         {{"RAPPORT_SQL_CONNECTION", connection}});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Contains("queries.rotations.sql: the database rejects this query"));
  auto file_only = run_command({rapport_binary(), "validate", "--no-connect", "-c", example},
                               {{"RAPPORT_SQL_CONNECTION", connection}});
  CHECK(file_only.exit_code == 0);
  CHECK(bad.err.find("password") == std::string::npos);
  soci::session admin("postgresql", pg);
  admin << "DROP DATABASE " + database;
}

TEST_CASE(
    "rapport backfill imports history without firing live hooks, builds the memory, "
    "and a second run adds nothing",
    "[integration][cli][backfill]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  // The same institution two years earlier: every rotation long over.
  execute_sqlite(
      dir.file("institution.db"),
      "UPDATE block_schedule SET begins = replace(begins, '2027', '2025'),"
      " ends = replace(ends, '2027', '2025'),"
      " last_modified = replace(last_modified, '2026-12', '2024-12');\n"
      "UPDATE staff_directory SET last_modified = replace(last_modified, '2026', '2024');\n"
      "UPDATE learners SET last_modified = replace(last_modified, '2026', '2024');\n"
      "UPDATE block_team SET from_date = replace(from_date, '2027', '2025'),"
      " to_date = replace(to_date, '2027', '2025'),"
      " last_modified = replace(last_modified, '2026-12', '2024-12');\n"
      "UPDATE assessments SET submitted_on = replace(submitted_on, '2027', '2025')");
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  // The demo's source reads by the engine's clock, which has not run: no date to guess.
  auto unbounded = run_command(
      {rapport_binary(), "backfill", "-c", demo_config_path(), "--source", "registrar"}, env);
  CHECK(unbounded.exit_code == 2);
  CHECK_THAT(unbounded.err, Contains("give --until DATE"));
  auto r = run_command({rapport_binary(), "backfill", "-c", demo_config_path(), "--source",
                        "registrar", "--until", "2026-01-01"},
                       env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("backfill: rotations 4/4 rows"));
  CHECK_THAT(r.err, Contains("events imported as history"));
  // No introduction, thank-you or letter for rotations that ended in 2025.
  CHECK(read_lines(dir.file("actions.jsonl")).empty());
  auto explain = run_command(
      {rapport_binary(), "explain", "-c", demo_config_path(), "--student", "L0001", "--json"}, env);
  auto network = boost::json::parse(explain.out).as_object();
  CHECK(network.at("contacts").as_array().size() == 5);
  CHECK(network.at("contacts").as_array().at(0).at("days_together") == 28);

  // Each page's events went straight into the mirror, none through the inbox.
  CHECK_THAT(r.err, Contains("19 events imported as history in"));
  CHECK_THAT(r.err, Contains("(19 of them straight into the mirror)"));
  CHECK_THAT(r.err, Contains("backfill: mirror 0/0 events"));
  // A live event waiting in the inbox (the daemon is not running): a backfill builds the
  // mirror and leaves live work, hooks and deliveries, to the daemon.
  rapport::Rotation live{.id = "B0001",
                         .student_id = "L0001",
                         .site = "S0001",
                         .specialty = "Internal Medicine",
                         .start = *rapport::parse_date("2025-01-06"),
                         .end = *rapport::parse_date("2025-02-02")};
  execute_sqlite(dir.file("rapport.db"),
                 "INSERT INTO inbox (source, event_id, type, subject, occurred_at, received_at,"
                 " payload) VALUES ('rapport/scheduler', 'B0001/rotation.started/live',"
                 " 'rotation.started', 'L0001', '2025-01-06T00:00:00Z', '2025-01-06T00:00:00Z', '" +
                     rapport::to_json(live) + "')");
  auto again = run_command({rapport_binary(), "backfill", "-c", demo_config_path(), "--source",
                            "registrar", "--until", "2026-01-01"},
                           env);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.err, Contains("backfill: 0 events imported"));
  CHECK_THAT(again.err, Contains("backfill: mirror 1/1 events"));
  CHECK(read_lines(dir.file("actions.jsonl")).empty());
  soci::session store(soci::sqlite3, "db=\"" + dir.file("rapport.db") + "\"");
  int actions = 0;
  store << "SELECT COUNT(*) FROM outbox", soci::into(actions);
  CHECK(actions == 0);  // the hooks have not seen it yet: the daemon's next step will
  CHECK(
      run_command({rapport_binary(), "backfill", "-c", demo_config_path(), "--source", "nope"}, env)
          .exit_code == 1);
  auto no_file =
      run_command({rapport_binary(), "backfill", "-c", dir.file("nope.yaml"), "--source", "x"});
  CHECK(no_file.exit_code == 1);
  CHECK_THAT(no_file.err, Contains("cannot open the configuration file"));
}

TEST_CASE(
    "rapport backfill --until starts a simulation as of a date: rotations over by then get "
    "nothing, one under way is thanked at its end, later moments run",
    "[integration][cli][backfill]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  // As of January 20: B0002 (January 4 to 17) is over; B0001 and B0003 (to the 31st) are
  // under way.
  auto r = run_command({rapport_binary(), "backfill", "-c", demo_config_path(), "--source",
                        "registrar", "--until", "2027-01-20"},
                       env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("history is what the source holds before 2027-01-20T00:00:00Z"));
  auto run = run_command({rapport_binary(), "run", "-c", demo_config_path(), "--from", "2027-01-20",
                          "--to", "2027-02-10", "--step", "1d", "--pace", "0ms"},
                         env);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  std::map<std::string, std::set<std::string>> rotations_by_type;
  for (const auto& line : read_lines(dir.file("actions.jsonl"))) {
    auto data = boost::json::parse(line).at("data").as_object();
    const auto* evidence = data.at("evidence").as_object().if_contains("rotation");
    rotations_by_type[std::string(data.at("type").as_string())].insert(
        evidence ? std::string(evidence->as_string()) : "");
  }
  CHECK(rotations_by_type.count("thank_you"));
  // B0003's student opted out.
  CHECK(rotations_by_type["thank_you"] == std::set<std::string>{"B0001"});
  CHECK_FALSE(rotations_by_type.count("introduce"));  // their starts were history
  // Without --until, a source on the engine's clock now uses the engine's last step.
  auto again = run_command(
      {rapport_binary(), "backfill", "-c", demo_config_path(), "--source", "registrar"}, env);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.err, Contains("history is what the source holds before 2027-02-10"));
}

TEST_CASE("rapport validate checks webhook secrets and schedules, even with --no-connect",
          "[integration][cli][webhook]") {
  TempDir dir;
  auto file = dir.write("webhooks.yaml",
                        "sources:\n"
                        "  platform:\n"
                        "    type: webhook\n"
                        "    secret: whsec_c2hvcnQ=\n"
                        "  open:\n"
                        "    type: webhook\n"
                        "    verify: none\n"
                        "sinks:\n"
                        "  out:\n"
                        "    type: webhook\n"
                        "    url: https://platform.example.test/actions\n"
                        "    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                        "    retry_schedule: [0s, 5x]\n");
  auto r = run_command({rapport_binary(), "validate", "-c", file, "--no-connect"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains(file + ":3:5: error: sources.platform: secret: the secret is a key "
                                    "of 5 bytes; Standard Webhooks keys are 24 to 64 bytes"));
  CHECK_THAT(r.err, Contains("sources.open: verify: none needs `insecure: true`"));
  CHECK_THAT(r.err, Contains(file + ":10:5: error: sinks.out.retry_schedule: \"5x\" is not a "
                                    "duration"));
  CHECK_THAT(r.err, Contains("3 errors"));
}

TEST_CASE("with log.file set, a fatal error of run and serve still reaches the terminal",
          "[integration][cli]") {
  TempDir dir;
  dir.write("rapport.yaml", "store: {path: " + dir.file("no/such/folder/r.db") + "}\nlog: {file: " +
                                dir.file("rapport.log") + "}\nhooks: {introductions: {}}\n");
  for (const char* command : {"run", "serve"}) {
    std::vector<std::string> args{rapport_binary(), command, "-c", dir.file("rapport.yaml")};
    if (std::string(command) == "run") {
      args.insert(args.end(), {"--from", "2027-01-01", "--to", "2027-01-02"});
    }
    auto r = run_command(args);
    INFO(command << ": " << r.err);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err,
               Contains(std::string("rapport ") + command + ": ") && Contains("cannot open store"));
  }
}

TEST_CASE(
    "rapport forget erases a student from the store, down to the file's bytes, keeps them out "
    "while the source still holds them, and lets them back when lifted; export gives a "
    "student's record",
    "[integration][cli][privacy]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-02-10");
  auto count = [&](const std::string& sql) { return number_in(dir.file("rapport.db"), sql); };
  REQUIRE(count("SELECT COUNT(*) FROM outbox WHERE student_id = 'L0001'") > 0);

  auto usage = run_command(
      {rapport_binary(), "forget", "-c", demo_config_path(), "--student", "L0001"}, env);
  CHECK(usage.exit_code == 2);  // who asked, and why, are part of the record
  auto forgot =
      run_command({rapport_binary(), "forget", "-c", demo_config_path(), "--student", "L0001",
                   "--requested-by", "registrar office", "--reason", "records request 2027-17"},
                  env);
  INFO(forgot.err);
  REQUIRE(forgot.exit_code == 0);
  CHECK_THAT(forgot.out, Contains("forgot L0001 (student), on the request of registrar office"));
  CHECK_THAT(forgot.out, Contains("actions"));
  CHECK_THAT(forgot.out, Contains("actions.jsonl: "));  // outside the store: said, not hidden
  CHECK(count("SELECT COUNT(*) FROM people WHERE id = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM rotations WHERE student_id = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM evaluations WHERE student_id = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM outbox WHERE student_id = 'L0001' OR contact_id = 'L0001'") ==
        0);
  CHECK(count("SELECT COUNT(*) FROM inbox WHERE subject = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM erasures WHERE person_id = 'L0001'"
              " AND requested_by = 'registrar office'") == 1);
  // Nothing of them left in the file or its log: deleted pages are zeroed.
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(dir.file("rapport.db") + suffix, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(bytes.find("Hana Student") == std::string::npos);
    CHECK(bytes.find("l0001@example.edu") == std::string::npos);
  }

  // The source still holds them: the next run brings nothing about them back.
  run_period(env, "2027-02-10", "2027-03-10");
  CHECK(count("SELECT COUNT(*) FROM people WHERE id = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM inbox WHERE subject = 'L0001'") == 0);
  CHECK(count("SELECT COUNT(*) FROM outbox WHERE student_id = 'L0001' OR contact_id = 'L0001'") ==
        0);

  auto record = run_command(
      {rapport_binary(), "export", "-c", demo_config_path(), "--student", "L0001"}, env);
  REQUIRE(record.exit_code == 0);
  auto forgotten = boost::json::parse(record.out).as_object();
  CHECK(forgotten.at("person").is_null());
  CHECK(forgotten.at("kept_out") == true);
  CHECK(forgotten.at("erasures").as_array().size() == 1);

  auto other = run_command(
      {rapport_binary(), "export", "-c", demo_config_path(), "--student", "L0002"}, env);
  REQUIRE(other.exit_code == 0);
  auto l0002 = boost::json::parse(other.out).as_object();
  CHECK(l0002.at("person").at("id") == "L0002");
  CHECK(l0002.at("rotations").as_array().size() >= 1);
  CHECK(l0002.at("actions").as_array().size() >= 1);
  CHECK(l0002.at("kept_out") == false);

  // Lifted: the sources read them again.
  auto lifted =
      run_command({rapport_binary(), "forget", "-c", demo_config_path(), "--lift", "L0001"}, env);
  CHECK(lifted.exit_code == 0);
  run_period(env, "2027-03-10", "2027-03-11");
  CHECK(count("SELECT COUNT(*) FROM people WHERE id = 'L0001'") == 1);
  CHECK(count("SELECT COUNT(*) FROM rotations WHERE student_id = 'L0001'") == 1);
  CHECK(run_command({rapport_binary(), "forget", "-c", demo_config_path(), "--lift", "L0001"}, env)
            .exit_code == 1);  // nothing to lift now
}

TEST_CASE(
    "rapport purge empties the data of handled inbox events past retention, keeps their ids "
    "(a re-run makes nothing again), and --dry-run only counts",
    "[integration][cli][privacy][retention]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-02-10");
  auto query = [&](const std::string& sql) { return number_in(dir.file("rapport.db"), sql); };
  const int events = query("SELECT COUNT(*) FROM inbox");
  const int actions = query("SELECT COUNT(*) FROM outbox");
  REQUIRE(events > 10);
  // Received 200 days ago (the run's clock was simulated): past inbox_payloads (180d), not
  // past ids (1825d).
  execute_sqlite(dir.file("rapport.db"),
                 "UPDATE inbox SET received_at = '" +
                     rapport::format_time(rapport::wall_clock() - std::chrono::days(200)) + "'");
  auto dry = run_command({rapport_binary(), "purge", "-c", demo_config_path(), "--dry-run"}, env);
  REQUIRE(dry.exit_code == 0);
  CHECK_THAT(dry.out, Contains("would purge"));
  CHECK_THAT(dry.out, Contains("inbox payloads       " + std::to_string(events)));
  CHECK(query("SELECT COUNT(*) FROM inbox WHERE payload = '{}'") == 0);
  auto purged = run_command({rapport_binary(), "purge", "-c", demo_config_path()}, env);
  REQUIRE(purged.exit_code == 0);
  CHECK_THAT(purged.out, Contains("inbox payloads       " + std::to_string(events)));
  CHECK(query("SELECT COUNT(*) FROM inbox WHERE payload = '{}'") == events);
  CHECK(query("SELECT COUNT(*) FROM inbox") == events);  // the ids stay
  CHECK_THAT(run_command({rapport_binary(), "purge", "-c", demo_config_path()}, env).out,
             Contains("inbox payloads       0"));
  // The period again: the same events are duplicates, nothing is made twice.
  run_period(env, "2027-01-01", "2027-02-10");
  CHECK(query("SELECT COUNT(*) FROM outbox") == actions);
}

TEST_CASE(
    "rapport purge takes ended rotations, finished actions and people nothing names out of "
    "the store, a replayed period makes no purged action again, and another process's purge "
    "lease is respected",
    "[integration][cli][privacy][retention]") {
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-09-30");
  auto query = [&](const std::string& sql) { return number_in(dir.file("rapport.db"), sql); };
  const int actions = query("SELECT COUNT(*) FROM outbox");
  REQUIRE(query("SELECT COUNT(*) FROM rotations") > 0);
  // Every action was handed to the sink by the end of the run (the last follow-ups too).
  REQUIRE(query("SELECT seq FROM progress WHERE consumer = 'sink:actions'") ==
          query("SELECT MAX(seq) FROM outbox"));
  // Another process holds the lease: nothing is done, and it says so.
  execute_sqlite(dir.file("rapport.db"),
                 "INSERT INTO leases (name, holder, until) VALUES ('purge', 'elsewhere:1',"
                 " '2999-01-01T00:00:00Z')");
  auto refused = run_command({rapport_binary(), "purge", "-c", demo_config_path()}, env);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Contains("purge lease"));
  execute_sqlite(dir.file("rapport.db"), "DELETE FROM leases");
  // Six years on: every rotation ended, every action was due, long ago.
  execute_sqlite(dir.file("rapport.db"), "UPDATE rotations SET end_date = '2020-01-31'");
  execute_sqlite(dir.file("rapport.db"), "UPDATE outbox SET due_at = '2020-02-01T00:00:00Z'");
  execute_sqlite(dir.file("rapport.db"), "UPDATE people SET seen_at = '2020-01-01T00:00:00Z'");
  auto purged = run_command({rapport_binary(), "purge", "-c", demo_config_path()}, env);
  INFO(purged.err);
  REQUIRE(purged.exit_code == 0);
  CHECK(query("SELECT COUNT(*) FROM rotations") == 0);
  CHECK(query("SELECT COUNT(*) FROM team_rows") == 0);
  CHECK(query("SELECT COUNT(*) FROM evaluations") == 0);
  CHECK(query("SELECT COUNT(*) FROM outbox") == 0);
  CHECK(query("SELECT COUNT(*) FROM purged_actions") == actions);
  // People nothing names any more went; those with a part in a program stay.
  CHECK(query("SELECT COUNT(*) FROM people") ==
        query("SELECT COUNT(*) FROM people WHERE program_role IS NOT NULL"));
  CHECK(query("SELECT COUNT(*) FROM leases WHERE until <> ''") == 0);  // given back
  // The same period again, its events replayed through the mirror and every hook (the
  // inbox still holds their data): every action is made again, with the same id, and
  // none comes back.
  execute_sqlite(dir.file("rapport.db"),
                 "UPDATE progress SET seq = 0 WHERE consumer NOT LIKE 'sink:%'"
                 " AND consumer NOT LIKE 'engine:%'");
  run_period(env, "2027-01-01", "2027-09-30");
  CHECK(query("SELECT COUNT(*) FROM outbox") == 0);
}

TEST_CASE("rapport purge deletes CSV rejects files past their period and keeps newer ones",
          "[integration][cli][privacy][retention]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("in/rejects"));
  dir.write("rapport.yaml", "store: {path: " + dir.file("rapport.db") +
                                "}\nsources:\n  exports:\n    type: csv\n"
                                "    directory: " +
                                dir.file("in") +
                                "\n    files: {rotations: {pattern: \"r*.csv\"}}\n");
  dir.write("in/rejects/old.csv.rejects", "line 2: synthetic\n");
  dir.write("in/rejects/new.csv.rejects", "line 3: synthetic\n");
  std::filesystem::last_write_time(
      dir.file("in/rejects/old.csv.rejects"),
      std::filesystem::file_time_type::clock::now() - std::chrono::days(91));
  auto dry = run_command({rapport_binary(), "purge", "-c", dir.file("rapport.yaml"), "--dry-run"});
  CHECK_THAT(dry.out, Contains("rejects files        1"));
  CHECK(std::filesystem::exists(dir.file("in/rejects/old.csv.rejects")));
  auto purged = run_command({rapport_binary(), "purge", "-c", dir.file("rapport.yaml")});
  INFO(purged.err);
  CHECK(purged.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir.file("in/rejects/old.csv.rejects")));
  CHECK(std::filesystem::exists(dir.file("in/rejects/new.csv.rejects")));
}

TEST_CASE(
    "rapport store copy moves a school's state from SQLite to PostgreSQL and back, refuses a "
    "target that is not empty or a store in use, and simulate runs on either",
    "[integration][cli][postgresql]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  TempDir dir;
  write_small_institution(dir.file("institution.db"));
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  run_period(env, "2027-01-01", "2027-01-10");
  // The demo's configuration with its store on PostgreSQL, and configurations that name
  // nothing but a store.
  auto demo = read_text(demo_config_path());
  auto store_at = demo.find("store:\n");
  auto store_end = demo.find("\n\n", store_at);
  REQUIRE(store_end != std::string::npos);
  const std::string pg_store = "store:\n  type: postgresql\n  url: \"" + postgresql_url(dir) + "\"";
  auto pg_demo =
      dir.write("pg-demo.yaml", demo.substr(0, store_at) + pg_store + demo.substr(store_end));
  auto pg = dir.write("pg.yaml", pg_store + "\n");
  auto back = dir.write("back.yaml", "store: {path: " + dir.file("back.db") + "}\n");

  auto copy =
      run_command({rapport_binary(), "store", "copy", "-c", demo_config_path(), "--to", pg}, env);
  INFO(copy.err);
  REQUIRE(copy.exit_code == 0);
  CHECK_THAT(copy.out, Contains("copied "));
  CHECK_THAT(copy.err, Contains("copying the sqlite store") && Contains("inbox"));
  auto status_of = [&](const std::string& config) {
    auto r = run_command({rapport_binary(), "status", "-c", config, "--json"}, env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return boost::json::parse(r.out).as_object();
  };
  auto before = status_of(demo_config_path());
  auto copied = status_of(pg);
  CHECK(copied.at("store").at("type") == "postgresql");
  CHECK(copied.at("inbox_events") == before.at("inbox_events"));
  CHECK(copied.at("outbox_actions") == before.at("outbox_actions"));
  CHECK(copied.at("timers_pending") == before.at("timers_pending"));
  // The connection string (which may hold a password) is never shown.
  CHECK_THAT(boost::json::serialize(copied), !Contains(postgresql_url(dir)));
  CHECK_THAT(copy.err + copy.out, !Contains(postgresql_url(dir)));

  auto again =
      run_command({rapport_binary(), "store", "copy", "-c", demo_config_path(), "--to", pg}, env);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Contains("not empty") && Contains("nothing was copied"));

  // A process using the store (its row in the process table is fresh): refused.
  execute_in_store(dir, "postgresql",
                   "INSERT INTO processes (instance, host, pid, started, heartbeat) VALUES"
                   " ('other:1:1', 'other', 1, '2027-01-01T00:00:00Z', to_char(now() AT TIME"
                   " ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))");
  auto in_use = run_command({rapport_binary(), "store", "copy", "-c", pg, "--to", back}, env);
  CHECK(in_use.exit_code == 1);
  CHECK_THAT(in_use.err, Contains("in use by 1 running process") && Contains("other:1:1"));
  CHECK_FALSE((std::filesystem::exists(dir.file("back.db")) &&
               number_in(dir.file("back.db"), "SELECT COUNT(*) FROM inbox") > 0));
  execute_in_store(dir, "postgresql", "DELETE FROM processes");

  auto returned = run_command({rapport_binary(), "store", "copy", "-c", pg, "--to", back}, env);
  INFO(returned.err);
  REQUIRE(returned.exit_code == 0);
  for (const char* table : {"inbox", "outbox", "timers", "people", "rotations", "team_rows",
                            "evaluations", "source_rows", "progress", "deliveries"}) {
    INFO(table);
    CHECK(number_in(dir.file("back.db"), std::string("SELECT COUNT(*) FROM ") + table) ==
          number_in(dir.file("rapport.db"), std::string("SELECT COUNT(*) FROM ") + table));
  }

  // simulate on the PostgreSQL store: a scratch SQLite copy, said so; the same actions as
  // on the SQLite store it came from, and nothing written to the real one.
  auto sim = run_command(
      {rapport_binary(), "simulate", "-c", pg_demo, "--from", "2027-01-10", "--to", "2027-02-20"},
      env);
  INFO(sim.err);
  REQUIRE(sim.exit_code == 0);
  CHECK_THAT(sim.out, Contains("Simulating on a copy of the postgresql store"));
  CHECK_THAT(sim.out, Contains("6 actions:"));
  CHECK(status_of(pg).at("outbox_actions") == before.at("outbox_actions"));
}
