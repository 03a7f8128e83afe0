#include <catch2/catch.hpp>

#include "hooks/thank_you/thank_you.hpp"
#include "support/fake_context.hpp"

using namespace rapport;

namespace {

std::vector<Action> run(test::FakeContext& context, const Rotation& r,
                        hooks::ThankYouOptions options) {
  context.rotations[r.id] = r;
  hooks::ThankYou hook("thank_you", std::move(options));
  return hook.handle(test::event_for(r, EventType::rotation_ended, "2027-02-01T00:00:00Z"),
                     context);
}

}  // namespace

TEST_CASE("thank-you prompts go to each supervisor, due within the configured days",
          "[hook][thank_you]") {
  test::FakeContext context;
  auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                               {{"A1", Role::attending},
                                {"F1", Role::fellow},
                                {"N1", Role::nurse},
                                {"RX", Role::resident}});
  r.team[3].start = *parse_date("2027-01-25");  // the resident joined for the last week
  hooks::ThankYouOptions options;
  auto actions = run(context, r, options);
  REQUIRE(actions.size() == 3);
  CHECK(actions[0].contact_id == "A1");
  CHECK(actions[1].contact_id == "F1");
  CHECK(actions[2].contact_id == "RX");
  CHECK(format_time(actions[0].due) == "2027-02-04T00:00:00Z");
  CHECK(actions[2].evidence.at("days_together") == "7");
  CHECK(actions[2].reason ==
        "You worked with this resident for 7 days on Internal Medicine at Test General: send a "
        "thank-you note within 3 days, while it is fresh.");

  SECTION("min_days_together leaves out short overlaps") {
    options.min_days_together = 10;
    CHECK(run(context, r, options).size() == 2);
  }
  SECTION("roles decides who is thanked") {
    options.roles = {Role::nurse};
    auto nurse_only = run(context, r, options);
    REQUIRE(nurse_only.size() == 1);
    CHECK(nurse_only[0].contact_id == "N1");
  }
  SECTION("due_within moves the due date") {
    options.due_within = std::chrono::hours(24 * 7);
    CHECK(format_time(run(context, r, options)[0].due) == "2027-02-08T00:00:00Z");
  }
  SECTION("a cancelled rotation prompts nothing") {
    r.status = RotationStatus::cancelled;
    CHECK(run(context, r, options).empty());
  }
}
