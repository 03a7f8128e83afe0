#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "adapters/csv/csv_reader.hpp"
#include "adapters/csv/csv_source.hpp"
#include "config/config.hpp"
#include "engine/mirror.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

TEST_CASE("CSV records: quotes, delimiters and newlines inside quotes, BOM, CRLF",
          "[adapter][csv]") {
  auto records = adapters::read_csv(
      "\xEF\xBB\xBFid,note\r\n1,\"a, b\"\r\n2,\"line one\nline \"\"two\"\"\"\n3,plain\n");
  REQUIRE(records.size() == 4);
  CHECK(records[0].fields == std::vector<std::string>{"id", "note"});
  CHECK(records[1].fields[1] == "a, b");
  CHECK(records[2].fields[1] == "line one\nline \"two\"");
  CHECK(records[2].line == 3);
  CHECK(records[3].line == 5);
  CHECK(records[3].fields == std::vector<std::string>{"3", "plain"});

  SECTION("a truncated last record is reported") {
    auto cut = adapters::read_csv("id,note\n1,ok\n2,\"never closed");
    REQUIRE(cut.size() == 3);
    CHECK(cut[2].line == 3);
    CHECK_THAT(cut[2].problem, Contains("not closed"));
  }
  SECTION("another delimiter") {
    auto semi = adapters::read_csv("a;b\n\"x;y\";z\n", ';');
    CHECK(semi[1].fields == std::vector<std::string>{"x;y", "z"});
  }
}

TEST_CASE("file names match their patterns", "[adapter][csv]") {
  CHECK(adapters::matches("rotations*.csv", "rotations_2027-01-02.csv"));
  CHECK(adapters::matches("team?.csv", "team1.csv"));
  CHECK_FALSE(adapters::matches("rotations*.csv", "rotations.csv.done"));
  CHECK_FALSE(adapters::matches("team?.csv", "team12.csv"));
}

namespace {

// deploy/examples/csv.yaml itself, reading a temporary export folder.
struct Exports {
  test::TempDir dir;
  Registry registry;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<Store> store;
  std::unique_ptr<Source> source;

  explicit Exports(const std::string& from = "", const std::string& to = "") {
    register_builtins(registry);
    ::setenv("RAPPORT_CSV_DIR", dir.path().c_str(), 1);
    auto text = test::read_text(test::source_dir() + "/deploy/examples/csv.yaml");
    if (!from.empty()) text.replace(text.find(from), from.size(), to);
    config = config::load_config_text(text, "csv.yaml", registry);
    store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
    auto [name, section] = config->section().sections("sources").at(0);
    source = registry.source("csv")->create(name, section);
  }
  void drop(const std::string& name, const std::string& content, bool done = true) {
    dir.write(name, content);
    if (done) dir.write(name + ".done", "");
  }
  std::map<std::string, int> poll(const char* now = "2027-01-01T00:00:00Z") {
    auto before = store->last_event_seq();
    source->poll(*store, *parse_time(now));
    std::map<std::string, int> by_type;
    for (const auto& e : store->events_after(before, 1000))
      ++by_type[std::string(to_string(e.event.type))];
    return by_type;
  }
};

const char* kPeople =
    "PersonID,Role,FullName,Email,Dept,OptOut\n"
    "S1,STU,\"Student, Sam\",s1@example.edu,Surgery,N\n"
    "A1,ATT,\"Dr. Ann \"\"The Hand\"\" Example\",a1@example.edu,Surgery,N\n"
    "N1,RN,\"Ned\nNurse\",,Nursing,N\n";
const char* kRotations =
    "RotationID,LearnerID,SiteName,Service,Type,StartDate,EndDate,Status\n"
    "R1,S1,\"Test General, North\",Surgery,CORE,04.01.2027,31.01.2027,CONF\n"
    "R2,S1,Test General,Surgery,ELEC,01.02.2027,14.02.2027,CONF\n";

}  // namespace

TEST_CASE(
    "a CSV roster with split, duplicated and padded rows is one member per person with "
    "spans; the next day's export of the same rows yields nothing",
    "[adapter][csv][spans]") {
  Exports x;
  x.drop("people.csv", kPeople);
  x.drop("rotations.csv", kRotations);
  const char* roster =
      "RotationID,StaffID,TeamRole,From,To\n"
      "R1,A1,ATT,04.01.2027,08.01.2027\n"
      "R1,A1 , att ,11.01.2027,15.01.2027\n"
      "R1,A1,ATT,11.01.2027,15.01.2027\n"
      "R1,N1,RN,,\n";
  x.drop("team.csv", roster);
  CHECK(x.poll()["team.changed"] == 1);
  for (const auto& e : x.store->events_after(0, 100)) apply_to_mirror(*x.store, e.event);
  auto rotation = x.store->rotation("R1");
  REQUIRE(rotation);
  REQUIRE(rotation->team.size() == 2);
  CHECK(rotation->team.at(0).person_id == "A1");
  CHECK(rotation->team.at(0).spans.size() == 2);
  CHECK(rotation->team.at(0).days() == 10);
  CHECK(rotation->team.at(1).days() == 28);
  // A new export with the same rows (the platform's nightly file): nothing changed.
  x.drop("team_2.csv", std::string(roster) + "R1,N1,RN,,\n");
  CHECK(x.poll("2027-01-02T00:00:00Z").empty());
}

TEST_CASE("CSV exports become events, each file once, with the example config", "[adapter][csv]") {
  Exports x;
  x.drop("people.csv", kPeople);
  x.drop("rotations.csv", kRotations);
  x.drop("team.csv", "RotationID,StaffID,TeamRole,From,To\nR1,A1,ATT,,\nR1,N1,RN,,\n");
  auto events = x.poll();
  CHECK(events["person.updated"] == 3);
  CHECK(events["rotation.scheduled"] == 2);
  CHECK(events["team.changed"] == 1);
  auto ann = x.store->events_after(0, 10).at(1).event;
  CHECK(person_from_json(ann.payload).name == "Dr. Ann \"The Hand\" Example");

  SECTION("the same content dropped again, under another name, is not read twice") {
    x.drop("rotations_again.csv", kRotations);
    CHECK(x.poll().empty());
  }
  SECTION("a new export with one changed row yields just that change") {
    std::string next = kRotations;
    next.replace(next.find("31.01.2027"), 10, "07.02.2027");
    x.drop("rotations_2.csv", next);
    CHECK(x.poll() == std::map<std::string, int>{{"rotation.updated", 1}});
  }
}

TEST_CASE("an opt-out the mapping cannot read counts as opted out; the row is kept",
          "[adapter][csv][privacy]") {
  Exports x;
  x.drop("people.csv",
         "PersonID,Role,FullName,Email,Dept,OptOut\n"
         "S1,STU,Sam Student,s1@example.edu,Surgery,maybe\n"
         "S2,STU,Sue Student,s2@example.edu,Surgery,\n"
         "S3,STU,Sid Student,s3@example.edu,Surgery,Y\n");
  CHECK(x.poll() == std::map<std::string, int>{{"person.updated", 3}});
  std::map<std::string, bool> opted_out;
  for (const auto& e : x.store->events_after(0, 10)) {
    auto p = person_from_json(e.event.payload);
    opted_out[p.id] = p.opted_out;
  }
  CHECK(opted_out == std::map<std::string, bool>{{"S1", true}, {"S2", false}, {"S3", true}});
}

TEST_CASE("a malformed record is quarantined with its line and reason, the rest goes on",
          "[adapter][csv]") {
  Exports x;
  x.drop("rotations.csv",
         "RotationID,LearnerID,SiteName,Service,Type,StartDate,EndDate,Status\n"
         "R1,S1,Test General,Surgery,CORE,04.01.2027,31.01.2027,CONF\n"
         "R2,S1,Test General,Surgery,CORE,2027-02-01,28.02.2027,CONF\n"
         "R3,S1,Test General,Surgery\n"
         "R4,S1,Test General,Surgery,CORE,01.03.2027,28.03.2027,CONF\n"
         "R5,S1,\"Test General,Surgery,CORE,01.04.2027,28.04.2027,CONF\n");
  CHECK(x.poll() == std::map<std::string, int>{{"rotation.scheduled", 2}});
  auto rejects = test::read_lines(x.dir.file("rejects/rotations.csv.rejects"));
  REQUIRE(rejects.size() == 3);
  CHECK_THAT(rejects[0], Contains("line 3: field 'start': does not match the format"));
  CHECK_THAT(rejects[1], Contains("line 4: expected 8 fields, found 4"));
  CHECK_THAT(rejects[2], Contains("line 6: a quoted field is not closed"));
}

TEST_CASE("a file still being written is not read until it is complete", "[adapter][csv]") {
  SECTION("done marker") {
    Exports x;
    x.drop("rotations.csv", kRotations, false);
    CHECK(x.poll().empty());
    x.dir.write("rotations.csv.done", "");
    CHECK(x.poll()["rotation.scheduled"] == 2);
  }
  SECTION("stable size") {
    Exports x("    ready: done_marker\n", "    ready: stable\n    settle: 0s\n");
    std::string half = kRotations;
    half.resize(half.size() / 2);
    x.drop("rotations.csv", half, false);
    CHECK(x.poll().empty());  // first look
    x.drop("rotations.csv", kRotations, false);
    CHECK(x.poll().empty());                     // it grew
    CHECK(x.poll()["rotation.scheduled"] == 2);  // the same size twice
  }
}

TEST_CASE("a team export that comes before its rotations waits for them", "[adapter][csv]") {
  const char* team = "RotationID,StaffID,TeamRole,From,To\nR1,A1,ATT,,\nR1,N1,RN,,\n";
  SECTION("read again at each poll until the rotations come") {
    Exports x;
    x.drop("team.csv", team);
    CHECK(x.poll().empty());
    CHECK(x.poll().empty());
    CHECK_FALSE(std::filesystem::exists(x.dir.file("rejects/team.csv.rejects")));
    x.drop("rotations.csv", kRotations);
    auto events = x.poll();
    CHECK(events["rotation.scheduled"] == 2);
    CHECK(events["team.changed"] == 1);
    CHECK(x.poll().empty());  // read whole now: not again
    CHECK_FALSE(std::filesystem::exists(x.dir.file("rejects/team.csv.rejects")));
  }
  SECTION("the wait counts from the first time the file was seen, across a restart") {
    Exports x("    ready: done_marker\n", "    ready: done_marker\n    team_wait: 1h\n");
    x.drop("team.csv", team);
    CHECK(x.poll("2027-01-01T00:00:00Z").empty());
    CHECK(x.poll("2027-01-01T00:59:00Z").empty());
    CHECK_FALSE(std::filesystem::exists(x.dir.file("rejects/team.csv.rejects")));
    auto [name, section] = x.config->section().sections("sources").at(0);
    x.source = x.registry.source("csv")->create(name, section);  // a new process
    CHECK(x.poll("2027-01-01T01:00:00Z").empty());
    auto rejects = test::read_lines(x.dir.file("rejects/team.csv.rejects"));
    REQUIRE(rejects.size() == 2);
    CHECK_THAT(rejects[1], Contains("line 3: its rotation is not known to this source"));
  }
  SECTION("quarantined once team_wait has passed") {
    Exports x("    ready: done_marker\n", "    ready: done_marker\n    team_wait: 0s\n");
    x.drop("team.csv", team);
    CHECK(x.poll().empty());
    auto rejects = test::read_lines(x.dir.file("rejects/team.csv.rejects"));
    REQUIRE(rejects.size() == 2);
    CHECK_THAT(rejects[0], Contains("line 2: its rotation is not known to this source"));
  }
}

TEST_CASE("the drop folder follows no link: none is read, a planted rejects link is replaced",
          "[adapter][csv][security]") {
  test::TempDir outside;
  auto secret =
      outside.write("secret.csv",
                    "RotationID,LearnerID,SiteName,Service,Type,StartDate,EndDate,Status\n"
                    "R9,S9,Secret Site,Surgery,CORE,01.03.2027,28.03.2027,CONF\n"
                    "not,a,row\n");
  auto victim = outside.write("victim.txt", "keep me\n");
  Exports x;
  // A link named like an export, pointing at a file the daemon can read.
  std::filesystem::create_symlink(secret, x.dir.file("rotations_linked.csv"));
  x.dir.write("rotations_linked.csv.done", "");
  CHECK(x.poll().empty());
  // A rejects file planted as a link to a file someone wants overwritten.
  std::filesystem::create_directories(x.dir.file("rejects"));
  std::filesystem::create_symlink(victim, x.dir.file("rejects/rotations.csv.rejects"));
  auto previous = ::umask(022);
  x.drop("rotations.csv",
         "RotationID,LearnerID,SiteName,Service,Type,StartDate,EndDate,Status\n"
         "R1,S1,Test General,Surgery,CORE,04.01.2027,31.01.2027,CONF\n"
         "R3,S1,Test General,Surgery\n");
  CHECK(x.poll() == std::map<std::string, int>{{"rotation.scheduled", 1}});
  CHECK(test::read_text(victim) == "keep me\n");
  auto rejects = x.dir.file("rejects/rotations.csv.rejects");
  CHECK_FALSE(std::filesystem::is_symlink(rejects));
  CHECK_THAT(test::read_text(rejects), Contains("line 3: expected 8 fields"));
  struct stat st {};
  REQUIRE(::stat(rejects.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  ::umask(previous);
}

TEST_CASE("an export over max_file_size is refused, not read", "[adapter][csv][security]") {
  Exports small("ready: done_marker", "ready: done_marker\n    max_file_size: 64");
  small.drop("rotations.csv", kRotations);  // about 200 bytes
  CHECK(small.poll().empty());
  Exports large("ready: done_marker", "ready: done_marker\n    max_file_size: 4096");
  large.drop("rotations.csv", kRotations);
  CHECK(large.poll() == std::map<std::string, int>{{"rotation.scheduled", 2}});
}
