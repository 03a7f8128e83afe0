#include "hooks/common/team_text.hpp"

#include "rapport/json.hpp"

namespace rapport::hooks {

std::string readable(Role role) {
  std::string s(to_string(role));
  for (char& c : s) {
    if (c == '_') c = ' ';
  }
  return s;
}

std::string event_key(const Event& event) { return event.source + "/" + event.id; }

int days_together(const TeamMember& member) { return int((member.end - member.start).count()) + 1; }

std::optional<Rotation> live_rotation(const Event& event, const HookContext& context) {
  auto rotation = context.rotation(rotation_from_json(event.payload).id);
  if (!rotation || rotation->status == RotationStatus::cancelled) return std::nullopt;
  return rotation;
}

}  // namespace rapport::hooks
