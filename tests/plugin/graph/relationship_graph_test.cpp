#include <catch2/catch.hpp>

#include <random>

#include "engine/dispatcher.hpp"
#include "graph/relationship_graph.hpp"
#include "rapport/json.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;

TEST_CASE("strength adds days by role and halves every 365 days", "[graph]") {
  RelationshipGraph g;
  g.put_rotation(test::make_rotation("R1", "S1", "2026-01-05", "2026-01-14",
                                     {{"A1", Role::attending}, {"N1", Role::nurse}}));
  g.put_rotation(
      test::make_rotation("R2", "S1", "2027-01-04", "2027-01-13", {{"A1", Role::attending}}));
  auto now = TimePoint{*parse_date("2027-01-13")};
  auto contacts = g.contacts_of("S1", now);
  REQUIRE(contacts.size() == 2);
  CHECK(contacts[0].person_id == "A1");
  CHECK(contacts[0].days_together == 20);
  // 10 days now (weight 1) + 10 days a year ago (364 days since its last day).
  CHECK(contacts[0].strength == Approx(10.0 + 10.0 * std::pow(0.5, 364.0 / 365.0)));
  CHECK(contacts[0].rotation_ids == std::vector<std::string>{"R1", "R2"});
  CHECK(contacts[1].person_id == "N1");
  CHECK(contacts[1].strength == Approx(10 * 0.6 * std::pow(0.5, 364.0 / 365.0)));
}

TEST_CASE("days still to come count only in the planned span", "[graph]") {
  RelationshipGraph g;
  g.put_rotation(
      test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"A1", Role::attending}}));
  auto day = [](const char* d) { return TimePoint{*parse_date(d)}; };
  CHECK(g.contacts_of("S1", day("2027-01-03")).empty());
  CHECK(g.contacts_of("S1", day("2027-01-10")).at(0).days_together == 7);
  CHECK(g.contacts_of("S1", day("2027-01-10"), Span::planned).at(0).days_together == 28);
  CHECK(g.contacts_of("S1", day("2027-03-01")).at(0).days_together == 28);
}

TEST_CASE("peers, staff and programs come from the rosters and the directory", "[graph]") {
  RelationshipGraph g;
  g.put_rotation(
      test::make_rotation("R1", "S1", "2026-01-05", "2026-01-31", {{"A1", Role::attending}}));
  g.put_rotation(
      test::make_rotation("R2", "S2", "2026-03-02", "2026-03-29", {{"N1", Role::nurse}}));
  auto cancelled =
      test::make_rotation("R3", "S3", "2026-03-02", "2026-03-29", {{"X1", Role::nurse}});
  cancelled.status = RotationStatus::cancelled;
  g.put_rotation(cancelled);
  auto visits = g.visits_at("Test General", "Internal Medicine", *parse_date("2026-12-31"), 10);
  REQUIRE(visits.size() == 2);
  CHECK(visits[0].student_id == "S2");  // most recent first
  CHECK(g.visits_at("Test General", "Internal Medicine", *parse_date("2026-03-29"), 10).size() ==
        1);
  CHECK(g.visits_at("Test General", "Internal Medicine", *parse_date("2026-12-31"), 1).size() == 1);
  CHECK(g.staff_at("Test General") == std::vector<std::string>{"A1", "N1"});
  Person p{"A1",         Role::attending, "A",  std::nullopt, std::nullopt,
           std::nullopt, "IM Residency",  false};
  g.put_person(p);
  CHECK(g.program_members("IM Residency") == std::vector<std::string>{"A1"});
  p.program = "Other";
  g.put_person(p);
  CHECK(g.program_members("IM Residency").empty());
}

TEST_CASE("visits: each student's latest, the latest first, ties by rotation id, moved and removed",
          "[graph]") {
  RelationshipGraph g;
  auto put = [&](const std::string& id, const std::string& student, const std::string& start,
                 const std::string& end) {
    g.put_rotation(test::make_rotation(id, student, start, end, {}));
  };
  put("R9", "S1", "2026-02-02", "2026-02-27");
  put("R3", "S2", "2026-02-02", "2026-02-27");
  put("R5", "S3", "2026-02-02", "2026-02-27");
  put("R1", "S1", "2026-01-05", "2026-01-30");  // S1's earlier visit
  put("R7", "S4", "2026-01-05", "2026-01-30");
  put("R8", "S5", "2026-03-02", "2026-03-27");  // not over by the cutoff
  auto ids = [&](std::size_t limit) {
    std::vector<std::string> out;
    for (const auto& v :
         g.visits_at("Test General", "Internal Medicine", *parse_date("2026-03-27"), limit)) {
      out.push_back(v.rotation_id + "/" + v.student_id);
    }
    return out;
  };
  CHECK(ids(10) == std::vector<std::string>{"R3/S2", "R5/S3", "R9/S1", "R7/S4"});
  CHECK(ids(2) == std::vector<std::string>{"R3/S2", "R5/S3"});
  // R3 moved to another site, R5 to an earlier month: the lists follow.
  auto moved = test::make_rotation("R3", "S2", "2026-02-02", "2026-02-27", {});
  moved.site = "Elsewhere";
  g.put_rotation(moved);
  put("R5", "S3", "2025-12-01", "2025-12-26");
  CHECK(ids(10) == std::vector<std::string>{"R9/S1", "R7/S4", "R5/S3"});
}

TEST_CASE("the memory rebuilt from the store equals the one kept up to date event by event",
          "[graph][rebuild]") {
  test::TempDir dir;
  auto store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
  std::vector<std::unique_ptr<Hook>> no_hooks;
  Dispatcher dispatcher(*store, no_hooks, 50);
  std::mt19937 rng(GENERATE(1u, 2u, 3u, 4u, 5u));
  auto now = *parse_time("2027-01-01T00:00:00Z");
  const std::vector<Role> roles{Role::attending, Role::resident, Role::nurse, Role::pharmacist,
                                Role::social_worker};
  const std::vector<std::string> sites{"North", "South", "East"};
  int n = 0;
  auto append = [&](EventType type, const std::string& subject, const std::string& payload) {
    store->append_event(Event{"e" + std::to_string(++n), type, "test", now, subject, payload}, now);
  };
  std::vector<Rotation> rotations;
  for (int step = 0; step < 300; ++step) {
    int choice = int(rng() % 10);
    if (choice < 4 || rotations.empty()) {  // a new rotation
      auto start = *parse_date("2026-01-05") + std::chrono::days(rng() % 600);
      Rotation r = test::make_rotation("R" + std::to_string(step), "S" + std::to_string(rng() % 12),
                                       format_date(start),
                                       format_date(start + std::chrono::days(13 + rng() % 15)), {});
      r.site = sites[rng() % sites.size()];
      for (int m = 0; m < 2 + int(rng() % 5); ++m) {
        r.team.push_back(
            {"P" + std::to_string(rng() % 30), roles[rng() % roles.size()], r.start, r.end});
      }
      std::sort(r.team.begin(), r.team.end(),
                [](auto& a, auto& b) { return a.person_id < b.person_id; });
      r.team.erase(std::unique(r.team.begin(), r.team.end(),
                               [](auto& a, auto& b) { return a.person_id == b.person_id; }),
                   r.team.end());
      rotations.push_back(r);
      append(EventType::rotation_scheduled, r.student_id, to_json(r));
    } else if (choice < 6) {  // new dates or a new site
      auto& r = rotations[rng() % rotations.size()];
      r.end = r.end + std::chrono::days(7);
      r.site = sites[rng() % sites.size()];
      for (auto& m : r.team) m.end = r.end;
      append(EventType::rotation_updated, r.student_id, to_json(r));
    } else if (choice < 7) {  // cancelled
      auto& r = rotations[rng() % rotations.size()];
      r.status = RotationStatus::cancelled;
      append(EventType::rotation_cancelled, r.student_id, to_json(r));
    } else if (choice < 8) {  // someone joins, someone leaves
      auto& r = rotations[rng() % rotations.size()];
      std::string joiner = "P" + std::to_string(rng() % 30);
      std::string leaver = r.team.empty() ? "nobody" : r.team.front().person_id;
      append(EventType::team_changed, r.student_id,
             "{\"rotation\":\"" + r.id + "\",\"added\":[{\"person\":\"" + joiner +
                 "\",\"role\":\"nurse\"}],\"removed\":[\"" + leaver + "\"]}");
    } else if (choice < 9) {
      append(EventType::action_completed, "S1",
             "{\"action\":\"a\",\"student\":\"S" + std::to_string(rng() % 12) +
                 "\",\"contact\":\"P" + std::to_string(rng() % 30) + "\"}");
      now += std::chrono::hours(24 * (1 + rng() % 20));
    } else {
      Person p{"P" + std::to_string(rng() % 30),
               Role::attending,
               "Someone",
               std::nullopt,
               std::nullopt,
               std::nullopt,
               "Program " + std::to_string(rng() % 3),
               false};
      append(EventType::person_updated, p.id, to_json(p));
    }
    if (rng() % 7 == 0) dispatcher.run(now);
  }
  dispatcher.run(now);
  RelationshipGraph rebuilt;
  rebuilt.rebuild(*store);
  CHECK(dispatcher.graph().edge_count() > 100);
  CHECK(rebuilt.canonical() == dispatcher.graph().canonical());
}

TEST_CASE("the memory names whose part changed since a version, until it is cleared", "[graph]") {
  RelationshipGraph g;
  CHECK_FALSE(g.changed_since(0));  // it cannot tell what it held before it began
  g.put_rotation(
      test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31", {{"A1", Role::attending}}));
  const auto v1 = g.version();
  REQUIRE(g.changed_since(v1));
  CHECK(g.changed_since(v1)->empty());

  // The rotation moves to another student: both students' parts changed.
  auto moved =
      test::make_rotation("R1", "S2", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
  g.put_rotation(moved);
  auto changed = *g.changed_since(v1);
  std::sort(changed.begin(), changed.end());
  CHECK(changed == std::vector<std::string>{"S1", "S2"});

  const auto v2 = g.version();
  g.touched("S3");  // an evaluation of S3
  g.put_touch("S4", "A1", *parse_date("2027-02-01"));
  Person a;
  a.id = "A1";
  a.specialty = "Surgery";
  a.program = "Surgery residency";
  g.put_person(a);
  changed = *g.changed_since(v2);
  std::sort(changed.begin(), changed.end());
  CHECK(changed == std::vector<std::string>{"A1", "S3", "S4"});
  // The same program again: the memory's own part did not change, but hooks rank by the
  // rest of the entry, so it is a new version all the same.
  const auto v3 = g.version();
  a.specialty = "Pediatrics";
  g.put_person(a);
  CHECK(g.version() > v3);
  CHECK(*g.changed_since(v3) == std::vector<std::string>{"A1"});

  g.clear();
  CHECK_FALSE(g.changed_since(v3));
  CHECK(g.changed_since(g.version()));
}
