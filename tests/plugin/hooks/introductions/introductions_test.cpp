#include <catch2/catch.hpp>

#include "hooks/introductions/introductions.hpp"
#include "support/fake_context.hpp"

using namespace rapport;

namespace {

struct Scenario {
  test::FakeContext context;
  Rotation rotation = test::make_rotation(
      "R1", "S1", "2027-01-04", "2027-01-31",
      {{"A1", Role::attending}, {"R1x", Role::resident}, {"N1", Role::nurse},
       {"PH1", Role::pharmacist}, {"SW1", Role::social_worker}, {"S1", Role::student}});
  Scenario() { context.rotations[rotation.id] = rotation; }
  std::vector<Action> run(hooks::IntroductionsOptions options = {}) {
    hooks::Introductions hook("introductions", std::move(options));
    return hook.handle(test::event_for(rotation, EventType::rotation_started,
                                       "2027-01-04T00:00:00Z"),
                       context);
  }
};

}  // namespace

TEST_CASE("introductions cover every profession on the team, not the student",
          "[hook][introductions]") {
  Scenario s;
  auto actions = s.run();
  REQUIRE(actions.size() == 5);
  std::vector<std::string> contacts;
  for (const auto& a : actions) {
    contacts.push_back(a.contact_id);
    CHECK(a.type == ActionType::introduce);
    CHECK(a.student_id == "S1");
    CHECK(format_time(a.due) == "2027-01-04T00:00:00Z");
    CHECK(a.hook == "introductions");
    CHECK(a.evidence.at("days_together") == "28");
  }
  CHECK(contacts == std::vector<std::string>{"A1", "R1x", "N1", "PH1", "SW1"});
  CHECK(actions[0].reason ==
        "Your supervising attending on the Internal Medicine team at Test General: introduce "
        "yourself on your first day.");
  CHECK(actions[2].reason ==
        "A nurse on your Internal Medicine team at Test General, who knows how the unit "
        "really runs.");
  CHECK(actions[4].reason ==
        "The social worker on your Internal Medicine team at Test General, who arranges your "
        "patients' support and discharge.");
}

TEST_CASE("introductions honour exclude_roles and due_after_start", "[hook][introductions]") {
  Scenario s;
  hooks::IntroductionsOptions options;
  options.excluded_roles = {Role::pharmacist, Role::social_worker};
  options.due_after_start = std::chrono::hours(48);
  auto actions = s.run(options);
  REQUIRE(actions.size() == 3);
  CHECK(format_time(actions[0].due) == "2027-01-06T00:00:00Z");
}

TEST_CASE("a rotation cancelled before it started introduces no one", "[hook][introductions]") {
  Scenario s;
  s.context.rotations["R1"].status = RotationStatus::cancelled;
  CHECK(s.run().empty());
}

TEST_CASE("the team as it stands at the start is introduced, members added later included",
          "[hook][introductions]") {
  Scenario s;
  s.context.rotations["R1"].team.push_back(
      {"N2", Role::nurse, *parse_date("2027-01-04"), *parse_date("2027-01-31")});
  CHECK(s.run().size() == 6);
}

TEST_CASE("introduction ids are stable across runs", "[hook][introductions]") {
  Scenario s;
  auto first = s.run(), second = s.run();
  REQUIRE(first.size() == second.size());
  for (std::size_t i = 0; i < first.size(); ++i) CHECK(first[i].id == second[i].id);
}
