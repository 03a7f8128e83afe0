#include "hooks/thank_you/thank_you.hpp"

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> ThankYou::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation) return actions;
  auto within_days = std::chrono::duration_cast<std::chrono::days>(options_.due_within).count();
  for (const auto& member : rotation->team) {
    int days = days_together(member);
    if (!options_.roles.count(member.role) || days < options_.min_days_together) continue;
    actions.push_back(make_action(
        name_, event_key(event), event, ActionType::thank_you, rotation->student_id,
        member.person_id, event.occurred + options_.due_within,
        expiry(event.occurred, options_.max_lateness),
        "You worked with this " + readable(member.role) + " for " + plural(days, "day") + " on " +
            rotation->specialty + " at " + rotation->site + ": send a thank-you note within " +
            plural(int(within_days), "day") + ", while it is fresh.",
        {{"role", std::string(to_string(member.role))},
         {"rotation", rotation->id},
         {"site", rotation->site},
         {"specialty", rotation->specialty},
         {"days_together", std::to_string(days)}}));
  }
  return actions;
}

}  // namespace rapport::hooks
