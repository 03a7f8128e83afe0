#include "hooks/mentor_suggest/mentor_suggest.hpp"

#include <algorithm>
#include <unordered_map>

#include "hooks/common/interest.hpp"
#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

namespace {

// What the assignment reads of each person it meets, read once per run: a student's
// contacts and the staff at their sites meet the same few thousand people again and again.
class People {
 public:
  struct Entry {
    bool known = false;
    Role role = Role::other;
    std::optional<std::string> specialty;
    std::optional<bool> reachable;  // read when first asked
  };
  explicit People(const HookContext& context) : context_(context) {}
  Entry& operator()(const std::string& id) {
    auto [it, added] = read_.try_emplace(id);
    if (added) {
      if (auto p = context_.person(id)) {
        it->second.known = true;
        it->second.role = p->role;
        it->second.specialty = std::move(p->specialty);
      }
    }
    return it->second;
  }
  bool reachable(const std::string& id) {
    auto& entry = (*this)(id);
    if (!entry.reachable) entry.reachable = context_.reachable(id);
    return *entry.reachable;
  }

 private:
  const HookContext& context_;
  std::unordered_map<std::string, Entry> read_;
};

bool physician(Role role) {
  return role == Role::attending || role == Role::resident;
}

// The strongest interest the student has no mentor in yet (nobody of it they worked with
// for established_days).
std::optional<Interest> mentor_target(const HookContext& context, const std::string& student,
                                      const std::vector<ContactSummary>& contacts,
                                      int established_days, People& people) {
  for (const auto& interest : interests_of(student, context)) {
    bool established = false;
    for (const auto& c : contacts) {
      const auto& p = people(c.person_id);
      established = established || (p.known && p.specialty == interest.specialty &&
                                    physician(p.role) && c.days_together >= established_days);
    }
    if (!established) return interest;
  }
  return std::nullopt;
}

std::vector<Candidate> candidates(const HookContext& context, const std::string& student,
                                  const MentorOptions& options, People& people) {
  std::vector<Candidate> out;
  const auto contacts = context.relationships().contacts_of(student, context.now());
  auto target = mentor_target(context, student, contacts, options.established_days, people);
  if (!target) return out;
  auto of_target = [&](const std::string& id, Role& role) {
    const auto& p = people(id);
    if (!p.known || !p.specialty || *p.specialty != target->specialty) return false;
    role = p.role;
    return physician(role) && people.reachable(id);
  };
  std::map<std::string, double> scores;
  for (const auto& c : contacts) {
    Role role;
    if (!of_target(c.person_id, role)) continue;
    if (c.days_together >= options.established_days) return {};  // has a mentor already
    scores[c.person_id] =
        0.5 * std::min(1.0, c.days_together / 28.0) + (role == Role::attending ? 0.2 : 0.14);
  }
  auto rotations = context.rotations_of(student);
  Date today = std::chrono::floor<std::chrono::days>(context.now());
  for (const auto& r : rotations) {
    if (r.status == RotationStatus::cancelled || r.start > today || r.end < today) continue;
    for (const auto& id : context.relationships().staff_at(r.site)) {
      Role role;
      if (id == student || !of_target(id, role)) continue;
      if (!scores.count(id)) scores[id] = role == Role::attending ? 0.2 : 0.14;
      scores[id] += 0.3;
    }
  }
  for (const auto& [id, score] : scores) out.push_back({id, score});
  return out;
}

}  // namespace

std::vector<Action> MentorSuggest::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation) return actions;
  const auto& graph = context.relationships();
  bool stale = !matching_at_ || ((graph.version() != matching_version_ ||
                                  std::chrono::floor<std::chrono::days>(context.now()) !=
                                      std::chrono::floor<std::chrono::days>(*matching_at_)) &&
                                 context.now() - *matching_at_ >= options_.rematch_interval);
  if (stale) {
    People people(context);
    std::map<std::string, std::vector<Candidate>> all;
    for (const auto& student : graph.students()) {
      if (!context.reachable(student)) continue;
      if (auto list = candidates(context, student, options_, people); !list.empty()) {
        all[student] = std::move(list);
      }
    }
    matching_ = assign(all, 1, options_.capacity);
    matching_version_ = graph.version();
    matching_at_ = context.now();
  }
  auto assigned = matching_.find(rotation->student_id);
  People people(context);
  auto target = mentor_target(context, rotation->student_id,
                              graph.contacts_of(rotation->student_id, context.now()),
                              options_.established_days, people);
  if (assigned == matching_.end() || !target) return actions;
  for (const auto& mentor : assigned->second) {
    auto p = context.person(mentor.person);
    bool met = false;
    for (const auto& c : graph.contacts_of(rotation->student_id, context.now())) {
      met = met || c.person_id == mentor.person;
    }
    std::string reason = capitalized(with_article(p ? readable(p->role) : "physician")) + " in " +
                         target->specialty +
                         (met ? " you have worked with" : " at " + rotation->site) +
                         " who could mentor you" +
                         (target->inferred ? " (your interest in " + target->specialty +
                                                 " is inferred from the electives you chose)"
                                           : "") +
                         ": ask for a conversation about your path.";
    actions.push_back(
        make_action(name_, "mentor/" + rotation->student_id + "/" + target->specialty, event,
                    ActionType::mentor_suggest, rotation->student_id, mentor.person,
                    event.occurred + options_.due_after,
                    expiry(TimePoint{rotation->end + std::chrono::days(1)}, options_.max_lateness),
                    std::move(reason),
                    {{"specialty", target->specialty},
                     {"interest", target->inferred ? "inferred" : "declared"},
                     {"worked_together", met ? "yes" : "no"}}));
  }
  return actions;
}

}  // namespace rapport::hooks
