#include "hooks/specialty_contacts/specialty_contacts.hpp"

#include <set>

#include "hooks/common/interest.hpp"
#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> SpecialtyContacts::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation) return actions;
  const std::string& student = rotation->student_id;
  // Every interest, strongest first, sharing max_contacts (the first gets its contacts
  // first); openings for each.
  int count = 0;
  std::set<std::string> suggested;
  std::set<std::string> on_team;
  for (const auto& m : rotation->team) on_team.insert(m.person_id);
  for (const auto& interest_value : interests_of(student, context)) {
    const Interest* interest = &interest_value;
    // Stable per student and interest: the same suggestion at a later rotation is the same
    // action, so it is not made twice.
    std::string key = "specialty/" + student + "/" + interest->specialty;
    std::string why = interest->inferred ? "your interest in " + interest->specialty +
                                               " (inferred from the electives you chose)"
                                         : "your interest in " + interest->specialty;
    auto specialist = [&](const std::string& id) -> std::optional<Person> {
      auto p = context.person(id);
      if (!p || !is_physician(p->role) || on_team.count(id) || !context.reachable(id)) return {};
      bool match = (p->specialty && *p->specialty == interest->specialty) ||
                   (p->subspecialty && *p->subspecialty == interest->specialty);
      return match ? p : std::nullopt;
    };
    std::map<std::string, std::string> interest_evidence{
        {"specialty", interest->specialty},
        {"interest", interest->inferred ? "inferred" : "declared"}};
    for (const auto& c : context.relationships().contacts_of(student, context.now())) {
      if (count >= options_.max_contacts) break;
      auto p = specialist(c.person_id);
      if (!p || suggested.count(p->id)) continue;
      auto evidence = interest_evidence;
      evidence["days_together"] = std::to_string(c.days_together);
      evidence["met_on"] = c.rotation_ids.back();
      actions.push_back(make_action(
          name_, key, event, ActionType::specialty_contact, student, p->id,
          event.occurred + options_.due_after, expiry(event.occurred, options_.max_lateness),
          capitalized(with_article(readable(p->role))) + " in " + interest->specialty +
              " you worked with for " + plural(c.days_together, "day") + ": given " + why +
              ", ask about their path.",
          std::move(evidence)));
      suggested.insert(p->id);
      ++count;
    }
    for (const auto& id : context.relationships().staff_at(rotation->site)) {
      if (count >= options_.max_contacts) break;
      auto p = specialist(id);
      if (!p || suggested.count(id) || id == student) continue;
      suggested.insert(id);
      auto evidence = interest_evidence;
      evidence["site"] = rotation->site;
      actions.push_back(make_action(
          name_, key, event, ActionType::specialty_contact, student, p->id,
          event.occurred + options_.due_after, expiry(event.occurred, options_.max_lateness),
          capitalized(with_article(readable(p->role))) + " in " + interest->specialty +
              " works at " + rotation->site + " where you rotate now: given " + why +
              ", ask to meet them.",
          std::move(evidence)));
      ++count;
    }
    for (const auto& o : options_.openings) {
      if (o.specialty != interest->specialty || !context.reachable(o.contact)) continue;
      auto evidence = interest_evidence;
      evidence["opening"] = o.id;
      evidence["kind"] = o.kind;
      actions.push_back(make_action(
          name_, key + "/" + o.id, event, ActionType::opportunity, student, o.contact,
          event.occurred + options_.due_after, expiry(event.occurred, options_.max_lateness),
          capitalized(with_article(o.kind)) + " opening, \"" + o.title + "\", matches " + why +
              ": ask whether there is room for you.",
          std::move(evidence)));
    }
  }
  return actions;
}

}  // namespace rapport::hooks
