#include "hooks/introductions/introductions.hpp"

#include <boost/json.hpp>

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {
namespace {

std::string reason_for(Role role, const Rotation& r) {
  std::string team = r.specialty + " team at " + r.site;
  switch (role) {
    case Role::attending:
      return "Your supervising attending on the " + team +
             ": introduce yourself on your first day.";
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
  std::optional<Rotation> rotation;
  std::set<std::string> added;  // team.changed: only those who joined
  if (event.type == EventType::team_changed) {
    auto data = boost::json::parse(event.payload).as_object();
    rotation = context.rotation(std::string(data["rotation"].as_string()));
    Date today = std::chrono::floor<std::chrono::days>(event.occurred);
    // Before the start, the introductions at the start will include them.
    if (!rotation || rotation->status == RotationStatus::cancelled || today < rotation->start ||
        today > rotation->end || !data.contains("added")) {
      return actions;
    }
    for (const auto& m : data["added"].as_array()) {
      added.insert(std::string(m.at("person").as_string()));
    }
  } else {
    rotation = live_rotation(event, context);
  }
  if (!rotation) return actions;
  for (const auto& member : rotation->team) {
    if (member.person_id == rotation->student_id || options_.excluded_roles.count(member.role) ||
        (event.type == EventType::team_changed && !added.count(member.person_id))) {
      continue;
    }
    actions.push_back(make_action(
        // One introduction per person and rotation: keyed by the rotation and its start,
        // not the event, so a roster row read again (or a member re-added) is the same
        // action, and a rotation moved to another start is introduced anew.
        name_, "intro/" + rotation->id + "/" + format_date(rotation->start), event,
        ActionType::introduce, rotation->student_id, member.person_id,
        event.occurred + options_.due_after_start, expiry(event.occurred, options_.max_lateness),
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
