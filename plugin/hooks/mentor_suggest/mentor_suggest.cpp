#include "hooks/mentor_suggest/mentor_suggest.hpp"

#include <algorithm>
#include <unordered_map>

#include "hooks/common/interest.hpp"
#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

namespace {

bool physician(Role role) {
  return role == Role::attending || role == Role::resident;
}

double role_bonus(Role role) {
  return role == Role::attending ? 0.2 : 0.14;
}

// The days of a stretch that have happened by `today` (it has begun), counted as the
// memory counts them for Span::so_far (RelationshipGraph::contacts_of).
int days_by(const DateRange& stretch, Date today) {
  return std::min(std::max(1, stretch.days()),
                  int((std::min(stretch.end, today) - stretch.start).count()) + 1);
}

}  // namespace

// Kept between assignments. Per student: whether they can be reached, their interests,
// their stretches of days with the physicians of those interests (a team member's spans,
// which is what the memory's days together are made of) and their rotations' dates and
// sites; people and specialties numbered. Whatever the memory says changed since `version`
// is read again. A physician's entry whose specialty (or being a physician) changed
// decides which stretches every student keeps, so it, or a memory that cannot say what
// changed, makes everything read again. Whether someone can be reached and who works at a
// site are read once per run.
struct MentorSuggest::Memo {
  struct Entry {
    bool known = false;
    Role role = Role::other;
    std::optional<int> specialty;
    // The specialty whose stretches are kept: a physician's, none for anyone else.
    std::optional<int> kept_as() const {
      return known && physician(role) ? specialty : std::nullopt;
    }
  };
  struct Stretch {
    int person = 0;
    DateRange days;
  };
  struct Placement {  // a rotation not cancelled
    Date start, end;
    int site = 0;
  };
  struct Physician {  // who works at a site
    int person = 0;
    int specialty = 0;
  };
  struct Student {
    bool reachable = false;
    std::vector<int> interests;        // strongest first
    bool inferred = false;             // from the electives chosen (interests_of)
    std::vector<Stretch> stretches;    // grouped by person
    std::vector<Placement> rotations;  // in rotations_of order
  };

  const Relationships* memory = nullptr;  // whose version `version` is
  std::uint64_t version = 0;
  std::unordered_map<std::string, Student> students;
  std::unordered_map<std::string, int> numbers, specialties, sites;
  std::vector<std::string> names, specialty_names, site_names;
  std::vector<std::optional<Entry>> entries;  // by number; read at first use
  // This run's reads.
  std::vector<std::int8_t> reachable_now;  // -1: not read yet
  std::vector<std::optional<std::vector<Physician>>> physicians_now;

  int number(const std::string& id) {
    auto [it, added] = numbers.try_emplace(id, int(names.size()));
    if (added) {
      names.push_back(id);
      entries.emplace_back();
    }
    return it->second;
  }
  int specialty(const std::string& name) {
    auto [it, added] = specialties.try_emplace(name, int(specialty_names.size()));
    if (added) specialty_names.push_back(name);
    return it->second;
  }
  int site(const std::string& name) {
    auto [it, added] = sites.try_emplace(name, int(site_names.size()));
    if (added) site_names.push_back(name);
    return it->second;
  }
  const Entry& entry(int n, const HookContext& context) {
    auto& e = entries[std::size_t(n)];
    if (!e) {
      Entry read;  // kept only once read: a read that throws leaves it to the next run
      if (auto p = context.person(names[std::size_t(n)])) {
        read.known = true;
        read.role = p->role;
        if (p->specialty) read.specialty = specialty(*p->specialty);
      }
      e = read;
    }
    return *e;
  }
  bool reachable(int n, const HookContext& context) {
    if (reachable_now.size() <= std::size_t(n)) reachable_now.resize(names.size(), -1);
    auto& r = reachable_now[std::size_t(n)];
    if (r < 0) r = context.reachable(names[std::size_t(n)]) ? 1 : 0;
    return r == 1;
  }
  const std::vector<Physician>& physicians_at(int site, const HookContext& context) {
    if (physicians_now.size() <= std::size_t(site)) physicians_now.resize(site_names.size());
    auto& staff = physicians_now[std::size_t(site)];
    if (!staff) {
      staff.emplace();
      for (const auto& id : context.relationships().staff_at(site_names[std::size_t(site)])) {
        const int n = number(id);
        if (auto specialty = entry(n, context).kept_as()) staff->push_back({n, *specialty});
      }
    }
    return *staff;
  }

  // Forgets what changed since the memory was at `version`, and this run's reads.
  void refresh(const HookContext& context, bool everything) {
    const auto& graph = context.relationships();
    // Versions count within one memory: another memory's say nothing about this one.
    everything = everything || &graph != memory;
    memory = &graph;
    auto changed = everything ? std::nullopt : graph.changed_since(version);
    bool all = !changed;
    for (const auto& id : changed ? *changed : std::vector<std::string>{}) {
      students.erase(id);
      auto it = numbers.find(id);
      if (it == numbers.end() || !entries[std::size_t(it->second)]) continue;
      const auto before = entries[std::size_t(it->second)]->kept_as();
      entries[std::size_t(it->second)].reset();
      all = all || entry(it->second, context).kept_as() != before;
    }
    if (all) *this = Memo{.memory = &graph};
    reachable_now.clear();
    physicians_now.clear();
    version = graph.version();
  }

  const Student& student(const std::string& id, const HookContext& context) {
    auto it = students.find(id);
    if (it != students.end()) return it->second;
    Student s;
    s.reachable = context.reachable(id);
    if (s.reachable) {
      for (const auto& i : interests_of(id, context)) {
        s.interests.push_back(specialty(i.specialty));
        s.inferred = i.inferred;
      }
      for (const auto& r : context.rotations_of(id)) {
        if (r.status == RotationStatus::cancelled) continue;
        s.rotations.push_back({r.start, r.end, site(r.site)});
        for (const auto& m : r.team) {
          if (m.person_id == id) continue;
          const int n = number(m.person_id);
          const auto kept = entry(n, context).kept_as();
          if (!kept ||
              std::find(s.interests.begin(), s.interests.end(), *kept) == s.interests.end()) {
            continue;
          }
          for (const auto& span : m.spans_or_dates()) s.stretches.push_back({n, span});
        }
      }
      std::stable_sort(s.stretches.begin(), s.stretches.end(),
                       [](const Stretch& a, const Stretch& b) { return a.person < b.person; });
    }
    return students.emplace(id, std::move(s)).first->second;
  }

  // The student's candidates today as the header scores them, best first (ties: the
  // person's id); none when they have no target or a mentor in it already. `target`: the
  // interest they are for.
  std::vector<Choice> candidates(const Student& s, const std::string& id, Date today,
                                 const MentorOptions& o, const HookContext& context,
                                 std::optional<int>& target) {
    struct Met {
      int person = 0;
      int days = 0;
    };
    std::vector<Met> met;  // the physicians met by today, with the days together so far
    for (const auto& stretch : s.stretches) {
      if (stretch.days.start > today) continue;
      if (met.empty() || met.back().person != stretch.person) met.push_back({stretch.person, 0});
      met.back().days += days_by(stretch.days, today);
    }
    // The strongest interest nobody met has been a physician of for established_days.
    target.reset();
    for (int interest : s.interests) {
      bool established = std::any_of(met.begin(), met.end(), [&](const Met& m) {
        return entry(m.person, context).kept_as() == interest && m.days >= o.established_days;
      });
      if (!established) {
        target = interest;
        break;
      }
    }
    std::vector<Choice> out;
    if (!target) return out;
    auto of_target = [&](int n) {
      return entry(n, context).kept_as() == target && reachable(n, context);
    };
    for (const auto& m : met) {
      if (!of_target(m.person)) continue;
      if (m.days >= o.established_days) return {};
      out.push_back(
          {0.5 * std::min(1.0, m.days / 28.0) + role_bonus(entries[std::size_t(m.person)]->role),
           m.person});
    }
    for (const auto& r : s.rotations) {
      if (r.start > today || r.end < today) continue;
      for (const Physician& at : physicians_at(r.site, context)) {
        const int n = at.person;  // (not a structured binding: clang 15 cannot capture one)
        if (at.specialty != *target || !reachable(n, context) || names[std::size_t(n)] == id) {
          continue;
        }
        auto it =
            std::find_if(out.begin(), out.end(), [&](const Choice& c) { return c.person == n; });
        if (it == out.end()) {
          out.push_back({role_bonus(entries[std::size_t(n)]->role), n});
          it = std::prev(out.end());
        }
        it->score += 0.3;
      }
    }
    std::sort(out.begin(), out.end(), [&](const Choice& a, const Choice& b) {
      return a.score != b.score ? a.score > b.score
                                : names[std::size_t(a.person)] < names[std::size_t(b.person)];
    });
    return out;
  }
};

MentorSuggest::MentorSuggest(std::string name, MentorOptions options)
    : name_(std::move(name)), options_(options), memo_(std::make_unique<Memo>()) {}

MentorSuggest::~MentorSuggest() = default;

const std::map<std::string, std::vector<Candidate>>& MentorSuggest::matching(
    const HookContext& context, bool force) {
  const auto& graph = context.relationships();
  bool stale = !matching_at_ || ((graph.version() != matching_version_ ||
                                  std::chrono::floor<std::chrono::days>(context.now()) !=
                                      std::chrono::floor<std::chrono::days>(*matching_at_)) &&
                                 context.now() - *matching_at_ >= options_.rematch_interval);
  if (force || stale) {
    Memo& memo = *memo_;
    memo.refresh(context, force);
    const Date today = std::chrono::floor<std::chrono::days>(context.now());
    // Students numbered in id order (graph.students() is sorted), one mentor each.
    std::vector<const std::string*> students;
    std::vector<std::vector<Choice>> lists;
    std::vector<Target> targets;
    const auto all = graph.students();
    for (const auto& id : all) {
      const auto& student = memo.student(id, context);
      if (!student.reachable) continue;
      std::optional<int> target;
      auto choices = memo.candidates(student, id, today, options_, context, target);
      if (choices.empty()) continue;
      students.push_back(&id);
      lists.push_back(std::move(choices));
      targets.push_back({memo.specialty_names[std::size_t(*target)], student.inferred});
    }
    const std::vector<int> quota(lists.size(), 1);
    const std::vector<int> room(memo.names.size(), options_.capacity);
    const auto assigned = assign_numbered(lists, quota, room);
    matching_ = by_id(assigned, students, memo.names);
    targets_.clear();
    for (std::size_t s = 0; s < assigned.size(); ++s) {
      if (!assigned[s].empty()) targets_.emplace(*students[s], std::move(targets[s]));
    }
    matching_version_ = graph.version();
    matching_at_ = context.now();
  }
  return matching_;
}

std::vector<Action> MentorSuggest::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  auto rotation = live_rotation(event, context);
  if (!rotation) return actions;
  const auto& graph = context.relationships();
  matching(context, false);
  auto assigned = matching_.find(rotation->student_id);
  if (assigned == matching_.end()) return actions;
  const Target& target = targets_.at(rotation->student_id);
  const auto contacts = graph.contacts_of(rotation->student_id, context.now());
  for (const auto& mentor : assigned->second) {
    auto worked = std::find_if(contacts.begin(), contacts.end(), [&](const ContactSummary& c) {
      return c.person_id == mentor.person;
    });
    const bool met = worked != contacts.end();
    // An assignment older than today (rematch_interval) may name someone who has become
    // the student's mentor since.
    if (met && worked->days_together >= options_.established_days) continue;
    auto p = context.person(mentor.person);
    std::string reason =
        capitalized(with_article(p ? readable(p->role) : "physician")) + " in " + target.specialty +
        (met ? " you have worked with" : " at " + rotation->site) + " who could mentor you" +
        (target.inferred ? " (your interest in " + target.specialty +
                               " is inferred from the electives you chose)"
                         : "") +
        ": ask for a conversation about your path.";
    actions.push_back(
        make_action(name_, "mentor/" + rotation->student_id + "/" + target.specialty, event,
                    ActionType::mentor_suggest, rotation->student_id, mentor.person,
                    event.occurred + options_.due_after,
                    expiry(TimePoint{rotation->end + std::chrono::days(1)}, options_.max_lateness),
                    std::move(reason),
                    {{"specialty", target.specialty},
                     {"interest", target.inferred ? "inferred" : "declared"},
                     {"worked_together", met ? "yes" : "no"}}));
  }
  return actions;
}

}  // namespace rapport::hooks
