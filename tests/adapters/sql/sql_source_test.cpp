#include <catch2/catch.hpp>

#include <cstdlib>

#include "config/config.hpp"
#include "engine/registry.hpp"
#include "engine/source.hpp"
#include "rapport/json.hpp"
#include "store/store.hpp"
#include "support/fixture.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

// The demo's own config, pointed at a temporary copy of the small institution.
struct Fixture {
  test::TempDir dir;
  Registry registry;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<Store> store;
  std::unique_ptr<Source> source;
  std::string institution = dir.file("institution.db");

  explicit Fixture(const std::string& replace_from = "", const std::string& replace_to = "") {
    register_builtins(registry);
    test::write_small_institution(institution);
    ::setenv("RAPPORT_DEMO_DIR", dir.path().c_str(), 1);
    auto text = test::read_text(test::demo_config_path());
    if (!replace_from.empty()) text.replace(text.find(replace_from), replace_from.size(), replace_to);
    config = config::load_config_text(text, "demo.yaml", registry);
    store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
    auto [name, section] = config->section().sections("sources").at(0);
    source = registry.source("sql")->create(name, section);
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
  std::vector<Event> events_of_type(EventType type) {
    std::vector<Event> out;
    for (const auto& e : store->events_after(0, 1000)) {
      if (e.event.type == type) out.push_back(e.event);
    }
    return out;
  }
  void sql(const std::string& statements) { test::execute_sqlite(institution, statements); }
};

}  // namespace

TEST_CASE("the first poll turns every mapped row into an event", "[adapter][sql]") {
  Fixture f;
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["person.updated"] == 10);
  CHECK(events["rotation.scheduled"] == 3);
  CHECK(events["rotation.cancelled"] == 1);
  CHECK(events.count("evaluation.submitted") == 0);  // submitted in February

  auto rotations = f.events_of_type(EventType::rotation_scheduled);
  auto b1 = rotation_from_json(rotations.at(0).payload);
  CHECK(b1.id == "B0001");
  CHECK(b1.site == "Test General");
  CHECK(format_date(b1.start) == "2027-01-04");  // from 01/04/2027
  CHECK(b1.kind == RotationKind::core);
  REQUIRE(b1.team.size() == 5);
  CHECK(b1.team[1].role == Role::resident);
  CHECK(format_date(b1.team[1].start) == "2027-01-18");  // joined for the second half

  auto people = f.events_of_type(EventType::person_updated);
  auto opted = person_from_json(people.back().payload);
  CHECK(opted.id == "L0003");
  CHECK(opted.opted_out);
}

TEST_CASE("polling again without changes yields nothing", "[adapter][sql]") {
  Fixture f;
  f.poll("2027-01-01T00:00:00Z");
  CHECK(f.poll("2027-01-02T00:00:00Z").empty());
}

TEST_CASE("changes become rotation.updated, rotation.cancelled and team.changed",
          "[adapter][sql]") {
  Fixture f;
  f.poll("2027-01-01T00:00:00Z");
  SECTION("new dates") {
    f.sql("UPDATE block_schedule SET ends = '02/07/2027', last_modified = '2027-01-02 08:00:00'"
          " WHERE block_id = 'B0001'");
    auto events = f.poll("2027-01-03T00:00:00Z");
    CHECK(events == std::map<std::string, int>{{"rotation.updated", 1}});
    auto updated = rotation_from_json(f.events_of_type(EventType::rotation_updated).at(0).payload);
    CHECK(format_date(updated.end) == "2027-02-07");
  }
  SECTION("cancelled") {
    f.sql("UPDATE block_schedule SET state = 'CANC', last_modified = '2027-01-02 08:00:00'"
          " WHERE block_id = 'B0002'");
    CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"rotation.cancelled", 1}});
  }
  SECTION("a team member added") {
    f.sql("INSERT INTO block_team VALUES ('B0002', 'E0003', 'RN', NULL, NULL,"
          " '2027-01-02 08:00:00')");
    CHECK(f.poll("2027-01-03T00:00:00Z") == std::map<std::string, int>{{"team.changed", 1}});
    auto change = f.events_of_type(EventType::team_changed).at(0);
    CHECK_THAT(change.payload, Contains("\"rotation\":\"B0002\"") && Contains("E0003"));
  }
}

TEST_CASE("rows appear when their cursor passes the poll's upper bound", "[adapter][sql]") {
  Fixture f;
  f.poll("2027-01-01T00:00:00Z");
  CHECK(f.poll("2027-02-03T09:59:59Z").empty());
  auto events = f.poll("2027-02-03T10:00:00Z");
  CHECK(events == std::map<std::string, int>{{"evaluation.submitted", 1}});
  auto evaluation =
      evaluation_from_json(f.events_of_type(EventType::evaluation_submitted).at(0).payload);
  CHECK(evaluation.scale_min == 1);
  CHECK(evaluation.scale_max == 9);
  CHECK(evaluation.normalized_score() == Approx(0.875));
  CHECK(evaluation.would_recommend == true);
}

TEST_CASE("a row committed late with the last cursor value is still read", "[adapter][sql]") {
  Fixture f;
  f.poll("2027-01-01T00:00:00Z");
  // Same last_modified as the newest row already read (B0004's).
  f.sql("INSERT INTO block_schedule VALUES ('B0005', 'L0001', 'S0002', 'Pediatrics', 'ELEC',"
        " '02/01/2027', '02/14/2027', 'CONF', '2026-12-01 09:00:04')");
  CHECK(f.poll("2027-01-02T00:00:00Z") ==
        std::map<std::string, int>{{"rotation.scheduled", 1}});
}

TEST_CASE("a row that does not map is skipped and the others go on", "[adapter][sql]") {
  Fixture f;
  f.sql("UPDATE staff_directory SET role_code = 'WIZ' WHERE staff_no = 'E0007'");
  auto events = f.poll("2027-01-01T00:00:00Z");
  CHECK(events["person.updated"] == 9);
}

TEST_CASE("a mapped column missing from the query fails the poll and commits nothing",
          "[adapter][sql]") {
  Fixture f("site: site_name", "site: site_title");
  CHECK_THROWS_WITH(f.source->poll(*f.store, *parse_time("2027-01-01T00:00:00Z")),
                    Contains("column \"site_title\"") && Contains("queries.rotations"));
  CHECK(f.store->last_event_seq() == 0);
}

TEST_CASE("a missing database file is a clear error, not an empty database", "[adapter][sql]") {
  Fixture f;
  std::remove(f.institution.c_str());
  CHECK_THROWS_WITH(f.source->poll(*f.store, *parse_time("2027-01-01T00:00:00Z")),
                    Contains("database file not found"));
}
