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
  // Program director first, then coordinators (role other), fellows, residents.
  auto rank = [](Role r) {
    switch (r) {
      case Role::attending:
        return 0;
      case Role::other:
        return 1;
      case Role::fellow:
        return 2;
      case Role::resident:
        return 3;
      default:
        return 9;
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
      if (!p || rank(p->role) == 9 || id == rotation->student_id || !context.reachable(id))
        continue;
      people.push_back(*p);
    }
  }
  std::sort(people.begin(), people.end(), [&](const Person& a, const Person& b) {
    return rank(a.role) != rank(b.role) ? rank(a.role) < rank(b.role) : a.id < b.id;
  });
  if (int(people.size()) > options_.max_contacts) people.resize(std::size_t(options_.max_contacts));
  std::string kind = rotation->kind == RotationKind::away ? "away rotation" : "sub-internship";
  for (const auto& p : people) {
    std::string who = p.role == Role::attending ? "A faculty member of"
                      : p.role == Role::other   ? "A coordinator of"
                                                : "A " + readable(p.role) + " in";
    actions.push_back(make_action(name_, event_key(event), event, ActionType::program_contact,
                                  rotation->student_id, p.id, event.occurred + options_.due_after,
                                  expiry(event.occurred, options_.max_lateness),
                                  who + " the " + *p.program + " program: on this " + kind +
                                      ", a warm connection to a program you may apply to.",
                                  {{"program", *p.program},
                                   {"role", std::string(to_string(p.role))},
                                   {"site", rotation->site},
                                   {"rotation", rotation->id}}));
  }
  return actions;
}

}  // namespace rapport::hooks
