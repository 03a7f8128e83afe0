#include "hooks/interprofessional/interprofessional.hpp"

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> Interprofessional::handle(const Event& event, const HookContext& context) {
  auto rotation = live_rotation(event, context);
  if (!rotation) return {};
  bool physicians = false, others = false;
  for (const auto& m : rotation->team) {
    if (m.person_id == rotation->student_id) continue;
    (is_physician(m.role) ? physicians : others) = true;
  }
  if (!others) {
    context.notice(
        "rotation " + rotation->id + " at " + rotation->site +
        (physicians ? " lists only physicians on its team" : " lists nobody on its team") +
        ": introductions will miss nurses, pharmacists and social workers");
  }
  return {};
}

HookKind interprofessional_kind() {
  HookKind kind;
  kind.type = "interprofessional";
  kind.per_student = true;
  kind.schema = {"hooks (interprofessional)",
                 "Notice rotations whose roster has no non-physician member.",
                 {}};
  kind.create = [](const std::string& name, const config::Section&) -> std::unique_ptr<Hook> {
    return std::make_unique<Interprofessional>(name);
  };
  return kind;
}

}  // namespace rapport::hooks
