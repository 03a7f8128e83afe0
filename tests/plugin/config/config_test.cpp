#include <catch2/catch.hpp>

#include <cstring>
#include <map>

#include "config/config.hpp"
#include "engine/registry.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

std::map<std::string, std::string>& fake_env() {
  static std::map<std::string, std::string> env;
  return env;
}

const char* lookup(const char* name) {
  auto it = fake_env().find(name);
  return it == fake_env().end() ? nullptr : it->second.c_str();
}

const Registry& registry() {
  static Registry r;
  static bool once = (register_builtins(r), true);
  (void)once;
  return r;
}

std::vector<config::Diagnostic> errors_of(const std::string& yaml) {
  try {
    config::load_config_text(yaml, "test.yaml", registry(), lookup);
  } catch (const config::ConfigError& e) {
    return e.diagnostics();
  }
  return {};
}

std::shared_ptr<const config::Config> load(const std::string& yaml) {
  return config::load_config_text(yaml, "test.yaml", registry(), lookup);
}

const char* kMinimalSource = R"(
sources:
  registrar:
    type: sql
    connection: institution.db
    queries:
      rotations:
        sql: SELECT * FROM rotations
)";

}  // namespace

TEST_CASE("an empty file is a valid config with every default filled in", "[config]") {
  auto config = load("");
  auto root = config->section();
  CHECK(root.section("store").str("path") == "rapport.db");
  CHECK(root.section("store").str("synchronous") == "full");
  CHECK(root.section("engine").duration("tick") == std::chrono::seconds(1));
  CHECK(root.section("log").str("level") == "info");
  CHECK(root.section("listener").str("listen") == "127.0.0.1:8080");
}

TEST_CASE("legacy IANA aliases are time zones too", "[config]") {
  CHECK(load("engine:\n  timezone: US/Eastern\n  site_timezones: {North: America/Chicago}\n"));
}

TEST_CASE("defaults of a component come from its schema", "[config]") {
  auto config = load(std::string(kMinimalSource) + "hooks:\n  thank_you: {}\n");
  auto source = config->section().sections("sources").at(0).second;
  CHECK(source.duration("poll_interval") == std::chrono::minutes(1));
  CHECK(source.section("queries").section("rotations").str("date_format") == "%Y-%m-%d");
  auto hook = config->section().sections("hooks").at(0).second;
  CHECK(hook.duration("due_within") == std::chrono::hours(72));
  CHECK(hook.strings("roles") == std::vector<std::string>{"attending", "resident", "fellow"});
  CHECK(hook.boolean("enabled"));
}

TEST_CASE("config errors name file, line, column, path, what was expected and what was found",
          "[config]") {
  struct Row {
    const char* yaml;
    int line, column;
    const char* path;
    const char* message;
  };
  auto row = GENERATE(
      Row{"store:\n  path: a.db\n  synchronus: full\n", 3, 3, "store.synchronus",
          "did you mean \"synchronous\""},
      Row{"engine:\n  tick: 5 mins\n", 2, 9, "engine.tick", "\"5 mins\" is not a duration"},
      Row{"engine:\n  batch: lots\n", 2, 10, "engine.batch", "\"lots\" is not an integer"},
      Row{"engine:\n  timezone: America/NewYork\n", 2, 13, "engine.timezone",
          "\"America/NewYork\" is not a time zone; did you mean \"America/New_York\""},
      Row{"sources:\n  registrar:\n    type: sql\n    connection: institution.db\n    queries:\n"
          "      rotations:\n        sql: SELECT * FROM rotations\n      team:\n"
          "        sql: SELECT * FROM team\n        values: {role: {MSW: socialworker}}\n",
          10, 30, "sources.registrar.queries.team.values.role.MSW",
          "\"socialworker\" is not a role; did you mean \"social_worker\""},
      Row{"engine:\n  timezone: Mars/Olympus\n", 2, 13, "engine.timezone",
          "\"Mars/Olympus\" is not a time zone"},
      Row{"engine:\n  site_timezones: {North: Europe/Pariss}\n", 2, 27,
          "engine.site_timezones.North", "did you mean \"Europe/Paris\""},
      Row{"engine:\n  batch: 0\n", 2, 10, "engine.batch", "out of range (at least 1"},
      Row{"log:\n  level: verbose\n", 2, 10, "log.level",
          "\"verbose\" is not one of debug, info, warn, error"},
      Row{"listener:\n  enabled: maybe\n", 2, 12, "listener.enabled", "is not a boolean"},
      Row{"store: [1, 2]\n", 1, 8, "store", "expected a mapping, found a list"},
      Row{"sinks:\n  out:\n    type: jsonp\n", 3, 5, "sinks.out",
          "unknown sink type \"jsonp\"; did you mean \"jsonl\""},
      Row{"sinks:\n  out:\n    path: x\n", 3, 5, "sinks.out", "missing required key \"type\""},
      Row{"sinks:\n  out:\n    type: jsonl\n", 3, 5, "sinks.out", "missing required key \"path\""},
      Row{"hooks:\n  introductionz: {}\n", 2, 18, "hooks.introductionz",
          "did you mean \"introductions\""},
      Row{"hooks:\n  thank_you:\n    roles: [attending, janitor]\n", 3, 24,
          "hooks.thank_you.roles[1]", "\"janitor\" is not one of"},
      Row{"sources:\n  r:\n    type: sql\n    connection: x\n    queries:\n      rotations:\n"
          "        sql: SELECT 1\n        columns: {studnet: learner_id}\n",
          8, 19, "sources.r.queries.rotations.columns.studnet", "did you mean \"student\""},
      Row{"hooks:\n  letter_candidates:\n    season_date: 02-30\n", 3, 18,
          "hooks.letter_candidates.season_date", "\"02-30\" is not a month and day MM-DD"},
      Row{"hooks:\n  letter_candidates:\n    season_date: June 1\n", 3, 18,
          "hooks.letter_candidates.season_date", "is not a month and day"},
      Row{"hooks:\n  follow_up:\n    cadence: [30d, 12h]\n", 3, 20, "hooks.follow_up.cadence[1]",
          "\"12h\" is not a duration of at least 1d"},
      Row{"store:\n  path: [\n", 3, 1, "", "YAML syntax"});
  auto errors = errors_of(row.yaml);
  INFO(row.yaml);
  REQUIRE(errors.size() >= 1);
  const auto& e = errors.front();
  INFO(e.str());
  CHECK(e.file == "test.yaml");
  CHECK(e.mark.line == row.line);
  CHECK(e.mark.column == row.column);
  CHECK(e.path == row.path);
  CHECK_THAT(e.message, Contains(row.message));
  CHECK_THAT(e.str(), Contains("test.yaml:" + std::to_string(row.line) + ":" +
                               std::to_string(row.column) + ": error: "));
}

TEST_CASE("every error in a file is reported, not only the first", "[config]") {
  auto errors = errors_of("store:\n  pth: a\nengine:\n  tick: soon\nlog:\n  level: loud\n");
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].path == "store.pth");
  CHECK(errors[1].path == "engine.tick");
  CHECK(errors[2].path == "log.level");
}

TEST_CASE("environment variables are interpolated into values", "[config][env]") {
  fake_env() = {{"DB_DIR", "/srv/rapport"}, {"EMPTY", ""}, {"LEVEL", "debug"}};
  SECTION("${VAR}, ${VAR:-default} and $$") {
    auto config = load(
        "store:\n  path: ${DB_DIR}/state.db\nlog:\n  level: ${LEVEL:-info}\n"
        "  file: /tmp/x$$-${MISSING:-y}.log\n");
    CHECK(config->section("store").str("path") == "/srv/rapport/state.db");
    CHECK(config->section("log").str("level") == "debug");
    CHECK(config->section("log").str("file") == "/tmp/x$-y.log");
  }
  SECTION("an empty variable takes the default") {
    auto config = load("store:\n  path: ${EMPTY:-fallback.db}\n");
    CHECK(config->section("store").str("path") == "fallback.db");
  }
  SECTION("an unset variable without default is an error at its line") {
    auto errors = errors_of("store:\n  path: ${NOPE}/x.db\n");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].mark.line == 2);
    CHECK_THAT(errors[0].message, Contains("NOPE is not set"));
  }
  SECTION("${VAR:?message} says why it is needed") {
    auto errors = errors_of("store:\n  path: ${STATE:?set STATE to the store file}\n");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("set STATE to the store file"));
  }
  SECTION("a value with a newline is rejected") {
    fake_env()["MULTI"] = "line1\nline2";
    auto errors = errors_of("store:\n  path: ${MULTI}\n");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("newline"));
  }
  SECTION("a malformed interpolation is an error") {
    auto errors = errors_of("store:\n  path: ${BAD NAME}\n");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("not an interpolation"));
  }
}

TEST_CASE("a secret can be read from a file with the _file variant, and is masked",
          "[config][secrets]") {
  test::TempDir dir;
  std::string secret = dir.write("conn", "db=/very/secret.db\n");
  fake_env() = {{"SECRET_PATH", secret}};
  std::string yaml =
      "sources:\n  registrar:\n    type: sql\n    connection_file: ${SECRET_PATH}\n"
      "    queries:\n      rotations:\n        sql: SELECT 1\n";
  auto config = load(yaml);
  auto source = config->section().sections("sources").at(0).second;
  CHECK(source.str("connection") == "db=/very/secret.db");
  auto printed = config::render_effective(config->root, registry().root());
  CHECK_THAT(printed, Contains("connection: \"********\"") || Contains("connection: ********"));
  CHECK(printed.find("very/secret") == std::string::npos);

  SECTION("both forms at once is an error") {
    auto errors = errors_of(
        "sources:\n  registrar:\n    type: sql\n    connection: a\n    connection_file: b\n"
        "    queries:\n      rotations:\n        sql: SELECT 1\n");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("either connection or connection_file"));
  }
  SECTION("an unreadable file is an error") {
    auto errors = errors_of(
        "sources:\n  registrar:\n    type: sql\n    connection_file: /nonexistent/secret\n"
        "    queries:\n      rotations:\n        sql: SELECT 1\n");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("cannot read secret file"));
  }
}

TEST_CASE("the reference is generated from the same schemas", "[config][reference]") {
  auto reference = config::render_reference(registry().root(), registry().component_schemas());
  CHECK_THAT(reference, Contains("| `poll_interval` | duration (≥ 100ms, ≤ 1d) | `1m` |"));
  CHECK_THAT(reference, Contains("#### `hooks (thank_you)`"));
  CHECK_THAT(reference, Contains("| `due_within` | duration"));
}

TEST_CASE("registering the same kind twice is an error", "[config][registry]") {
  Registry r;
  register_builtins(r);
  CHECK_THROWS_WITH(register_builtins(r), Contains("duplicate"));
}
