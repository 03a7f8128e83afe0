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
    Action a;
    a.type = ActionType::thank_you;
    a.hook = name_;
    a.event_id = event_key(event);
    a.id = make_action_id(a.hook, a.event_id, a.type, member.person_id);
    a.student_id = rotation->student_id;
    a.contact_id = member.person_id;
    a.created = event.occurred;
    a.due = event.occurred + options_.due_within;
    a.reason = "You worked with this " + readable(member.role) + " for " + std::to_string(days) +
               (days == 1 ? " day" : " days") + " on " + rotation->specialty + " at " +
               rotation->site + ": send a thank-you note within " + std::to_string(within_days) +
               (within_days == 1 ? " day" : " days") + ", while it is fresh.";
    a.evidence = {{"role", std::string(to_string(member.role))},
                  {"rotation", rotation->id},
                  {"site", rotation->site},
                  {"specialty", rotation->specialty},
                  {"days_together", std::to_string(days)}};
    actions.push_back(std::move(a));
  }
  return actions;
}

}  // namespace rapport::hooks
