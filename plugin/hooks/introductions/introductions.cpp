#include "hooks/introductions/introductions.hpp"

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {
namespace {

std::string reason_for(Role role, const Rotation& r) {
  std::string team = r.specialty + " team at " + r.site;
  switch (role) {
    case Role::attending:
      return "Your supervising attending on the " + team + ": introduce yourself on your first day.";
    case Role::resident:
      return "A resident on your " + team + ", who will teach you day to day.";
    case Role::fellow:
      return "A fellow on your " + team + ", a window into the subspecialty.";
    case Role::nurse:
      return "A nurse on your " + team + ", who knows how the unit really runs.";
    case Role::pharmacist:
      return "The pharmacist on your " + team + ", the person to ask about medications.";
    case Role::social_worker:
      return "The social worker on your " + team +
             ", who arranges your patients' support and discharge.";
    case Role::student:
      return "A fellow student on your " + team + ".";
    case Role::other:
      break;
  }
  return "A member of your " + team + ".";
}

}  // namespace

std::vector<Action> Introductions::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation) return actions;
  for (const auto& member : rotation->team) {
    if (member.person_id == rotation->student_id || options_.excluded_roles.count(member.role)) {
      continue;
    }
    actions.push_back(make_action(
        name_, event_key(event), event, ActionType::introduce, rotation->student_id,
        member.person_id, event.occurred + options_.due_after_start,
        reason_for(member.role, *rotation),
        {{"role", std::string(to_string(member.role))},
         {"rotation", rotation->id},
         {"site", rotation->site},
         {"specialty", rotation->specialty},
         {"days_together", std::to_string(days_together(member))}}));
  }
  return actions;
}

}  // namespace rapport::hooks
