#include "hooks/program_contacts/program_contacts.hpp"

#include <algorithm>
#include <set>

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> ProgramContacts::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation ||
      (rotation->kind != RotationKind::sub_internship && rotation->kind != RotationKind::away)) {
    return actions;
  }
  // By their part in the program where the source says it (director, associate director,
  // coordinator, faculty); then, where it does not, attendings, coordinators (role
  // other), fellows, residents. Others are not program contacts.
  auto rank = [](const Person& p) {
    if (p.program_role) return int(*p.program_role);
    switch (p.role) {
      case Role::attending:
        return 4;
      case Role::other:
        return 5;
      case Role::fellow:
        return 6;
      case Role::resident:
        return 7;
      default:
        return 99;
    }
  };
  // The host programs: those of the people who work at the site in this specialty.
  std::set<std::string> programs;
  std::vector<std::string> at_site = context.relationships().staff_at(rotation->site);
  for (const auto& m : rotation->team) at_site.push_back(m.person_id);
  for (const auto& id : at_site) {
    auto p = context.person(id);
    if (p && p->program && !p->program->empty() &&
        (!p->specialty || *p->specialty == rotation->specialty)) {
      programs.insert(*p->program);
    }
  }
  std::vector<Person> people;
  for (const auto& program : programs) {
    for (const auto& id : context.relationships().program_members(program)) {
      auto p = context.person(id);
      if (!p || rank(*p) == 99 || id == rotation->student_id || !context.reachable(id)) continue;
      people.push_back(*p);
    }
  }
  std::sort(people.begin(), people.end(), [&](const Person& a, const Person& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a.id < b.id;
  });
  if (int(people.size()) > options_.max_contacts) people.resize(std::size_t(options_.max_contacts));
  std::string kind = rotation->kind == RotationKind::away ? "away rotation" : "sub-internship";
  for (const auto& p : people) {
    std::string who = p.program_role == ProgramRole::director ? "The program director of"
                      : p.program_role == ProgramRole::associate_director
                          ? "An associate program director of"
                      : p.program_role == ProgramRole::coordinator ? "The program coordinator of"
                      : p.program_role == ProgramRole::faculty || p.role == Role::attending
                          ? "A faculty member of"
                      : p.role == Role::other ? "A coordinator of"
                                              : "A " + readable(p.role) + " in";
    actions.push_back(make_action(
        name_, event_key(event), event, ActionType::program_contact, rotation->student_id, p.id,
        event.occurred + options_.due_after, expiry(event.occurred, options_.max_lateness),
        who + " the " + *p.program + " program: on this " + kind +
            ", a warm connection to a program you may apply to.",
        {{"program", *p.program},
         {"role", std::string(to_string(p.role))},
         {"program_role", p.program_role ? std::string(to_string(*p.program_role)) : std::string()},
         {"site", rotation->site},
         {"rotation", rotation->id}}));
  }
  return actions;
}

}  // namespace rapport::hooks
