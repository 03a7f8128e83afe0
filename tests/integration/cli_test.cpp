// The real `rapport` binary: exit codes and messages of validate and config.
#include <catch2/catch.hpp>

#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace rapport::test;
using Catch::Matchers::Contains;

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

  auto missing = run_command({rapport_binary(), "validate", "-c", dir.file("nope.yaml")});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Contains("cannot open the configuration file"));

  CHECK(run_command({rapport_binary(), "validate"}).exit_code == 2);
  CHECK(run_command({rapport_binary(), "validate", "-c"}).exit_code == 2);
  CHECK(run_command({rapport_binary(), "frobnicate"}).exit_code == 2);
  CHECK(run_command({rapport_binary()}).exit_code == 2);
}

TEST_CASE("rapport config prints the effective config with secrets masked",
          "[integration][cli]") {
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
  config.replace(config.find("hooks:\n"), 7,
                 "hooks:\n  flaky:\n    plugin: " FLAKY_PLUGIN "\n");
  auto file = dir.write("with-plugin.yaml", config);
  std::map<std::string, std::string> env{{"RAPPORT_DEMO_DIR", dir.path()}};
  auto run = run_command({rapport_binary(), "run", "-c", file, "--from", "2027-01-01", "--to",
                          "2027-01-10"},
                         env);
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
