// The mentor assignment keeps each student's stretches of days from one run to the next and
// reads again only those the memory says changed: on random histories it must give what a
// hook that starts from nothing gives, and what the rule in mentor_suggest.hpp gives when
// read straight from the memory's contacts, at every step.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "hooks/common/interest.hpp"
#include "hooks/mentor_suggest/mentor_suggest.hpp"
#include "support/fake_context.hpp"

using namespace rapport;

namespace {

// The memory kept change by change; whose rotations were read.
class KeptContext final : public test::KeptGraphContext {
 public:
  mutable std::set<std::string> rotation_reads;

  std::vector<Rotation> rotations_of(const std::string& student) const override {
    rotation_reads.insert(student);
    return FakeContext::rotations_of(student);
  }
};

// The rule of mentor_suggest.hpp, read from the memory's contacts (days together so far).
std::map<std::string, std::vector<hooks::Candidate>> by_the_rule(const KeptContext& ctx,
                                                                 const hooks::MentorOptions& o) {
  std::map<std::string, std::vector<hooks::Candidate>> all;
  const Date today = std::chrono::floor<std::chrono::days>(ctx.now());
  // Their role when they are a physician of `specialty`.
  auto physician_of = [&](const std::string& id, const std::string& specialty) {
    auto p = ctx.person(id);
    bool yes =
        p && p->specialty == specialty && (p->role == Role::attending || p->role == Role::resident);
    return yes ? std::optional<Role>(p->role) : std::nullopt;
  };
  auto bonus = [](Role role) { return role == Role::attending ? 0.2 : 0.14; };
  for (const auto& student : ctx.graph.students()) {
    if (!ctx.reachable(student)) continue;
    const auto contacts = ctx.graph.contacts_of(student, ctx.now());
    std::optional<std::string> target;
    for (const auto& interest : hooks::interests_of(student, ctx)) {
      bool established = false;
      for (const auto& c : contacts) {
        established = established || (physician_of(c.person_id, interest.specialty) &&
                                      c.days_together >= o.established_days);
      }
      if (!established) {
        target = interest.specialty;
        break;
      }
    }
    if (!target) continue;
    std::map<std::string, double> scores;
    bool has_one = false;
    for (const auto& c : contacts) {
      auto role = physician_of(c.person_id, *target);
      if (!role || !ctx.reachable(c.person_id)) continue;
      has_one = has_one || c.days_together >= o.established_days;
      scores[c.person_id] = 0.5 * std::min(1.0, c.days_together / 28.0) + bonus(*role);
    }
    if (has_one) continue;
    for (const auto& r : ctx.rotations_of(student)) {
      if (r.status == RotationStatus::cancelled || r.start > today || r.end < today) continue;
      for (const auto& id : ctx.graph.staff_at(r.site)) {
        auto role = physician_of(id, *target);
        if (id == student || !role || !ctx.reachable(id)) continue;
        if (!scores.count(id)) scores[id] = bonus(*role);
        scores[id] += 0.3;
      }
    }
    for (const auto& [id, score] : scores) all[student].push_back({id, score});
  }
  return hooks::assign(all, 1, o.capacity);
}

}  // namespace

TEST_CASE("the mentor assignment kept from run to run equals one made from nothing",
          "[hook][mentors][assignment]") {
  const unsigned seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return int(rng() % unsigned(n)); };
  const std::vector<std::string> specialties{"Surgery", "Pediatrics", "Psychiatry"};
  const std::vector<Role> staff_roles{Role::attending, Role::attending, Role::resident,
                                      Role::nurse};
  KeptContext ctx;
  ctx.now_ = *parse_time("2027-01-01T00:00:00Z");
  // Twelve staff in the directory, two (X0, X1) who are not.
  for (int i = 0; i < 12; ++i) {
    Person p;
    p.id = "A" + std::to_string(i);
    p.role = staff_roles[std::size_t(pick(4))];
    if (pick(5) != 0) p.specialty = specialties[std::size_t(pick(3))];
    ctx.put_person(p);
  }
  for (int i = 0; i < 25; ++i) {
    Person p;
    p.id = "S" + std::to_string(i);
    p.role = Role::student;
    if (pick(3) == 0) p.interests = {specialties[std::size_t(pick(3))]};
    if (pick(3) == 0) p.specialty = specialties[std::size_t(pick(3))];
    ctx.put_person(p);
  }
  auto staff = [&] {
    return pick(8) == 0 ? "X" + std::to_string(pick(2)) : "A" + std::to_string(pick(12));
  };
  auto student = [&] { return "S" + std::to_string(pick(25)); };
  auto today = [&] { return std::chrono::floor<std::chrono::days>(ctx.now_); };
  int rotations = 0;
  // A team member with the rotation's dates, or split in two spans around a gap, or
  // listed twice (a duplicated roster row); now and then a peer student on the team.
  auto add_member = [&](Rotation& r) {
    TeamMember m{pick(10) == 0 ? student() : staff(),
                 pick(5) ? Role::attending : Role::resident,
                 r.start,
                 r.end,
                 {}};
    const auto days = (r.end - r.start).count();
    if (pick(4) == 0 && days >= 4) {
      auto cut = r.start + std::chrono::days(1 + pick(int(days) - 2));
      m.spans = {{r.start, cut - std::chrono::days(1)}, {cut + std::chrono::days(1), r.end}};
    }
    r.team.push_back(m);
    if (pick(10) == 0) r.team.push_back(m);
  };
  auto add_rotation = [&] {
    Rotation r = test::make_rotation("R" + std::to_string(++rotations), student(), "2027-01-01",
                                     "2027-01-01", {});
    r.start = today() + std::chrono::days(pick(60) - 40);
    r.end = r.start + std::chrono::days(3 + pick(40));
    r.site = "Site " + std::to_string(pick(4));
    r.specialty = specialties[std::size_t(pick(3))];
    r.kind = pick(2) ? RotationKind::core : RotationKind::elective;
    for (int m = 0, n = 1 + pick(3); m < n; ++m) add_member(r);
    ctx.put_rotation(r);
  };
  for (int i = 0; i < 40; ++i) add_rotation();

  hooks::MentorOptions o;
  o.capacity = 1 + pick(2);
  o.established_days = 10 + pick(20);
  o.due_after = std::chrono::days(7);
  o.rematch_interval = std::chrono::seconds(0);
  hooks::MentorSuggest kept("mentors", o);
  for (int step = 0; step < 80; ++step) {
    for (int changes = 1 + pick(3); changes > 0; --changes) {
      switch (pick(9)) {
        case 0:
          add_rotation();
          break;
        case 1: {  // a rotation edited: moved to another student, cancelled, dates, team
          if (ctx.rotations.empty()) break;
          auto it = std::next(ctx.rotations.begin(), pick(int(ctx.rotations.size())));
          Rotation r = it->second;
          switch (pick(7)) {
            case 0:
              r.student_id = student();
              break;
            case 1:
              r.status = RotationStatus::cancelled;
              break;
            case 2:
              r.end = r.end + std::chrono::days(pick(10));
              break;
            case 3:  // moved in time, the team's dates with it (as a school's export would)
            {
              const auto by = std::chrono::days(pick(21) - 10);
              r.start += by;
              r.end += by;
              for (auto& m : r.team) {
                m.start += by;
                m.end += by;
                for (auto& span : m.spans) span = {span.start + by, span.end + by};
              }
              break;
            }
            case 4:
              r.site = "Site " + std::to_string(pick(4));
              break;
            case 5:
              if (!r.team.empty()) r.team.erase(r.team.begin() + pick(int(r.team.size())));
              break;
            default:
              add_member(r);
              break;
          }
          ctx.put_rotation(r);
          break;
        }
        case 2: {  // a staff entry: role, specialty, opt-out
          Person p = ctx.people.at("A" + std::to_string(pick(12)));
          switch (pick(3)) {
            case 0:
              p.opted_out = !p.opted_out;
              break;
            case 1:
              p.role = staff_roles[std::size_t(pick(4))];
              break;
            default:
              p.specialty = specialties[std::size_t(pick(3))];
              break;
          }
          ctx.put_person(p);
          break;
        }
        case 3:  // a student's entry: interests, opt-out
          ctx.change_student_entry(student(), specialties, pick);
          break;
        case 4: {  // someone missing from the directory arrives in it
          Person p;
          p.id = "X" + std::to_string(pick(2));
          p.role = pick(2) ? Role::attending : Role::resident;
          p.specialty = specialties[std::size_t(pick(3))];
          ctx.put_person(p);
          break;
        }
        case 5:
          ctx.now_ += std::chrono::days(pick(40));
          break;
        case 6:  // the memory built again (a restart, an erasure): it cannot say what changed
          ctx.graph.clear();
          for (const auto& [id, p] : ctx.people) ctx.graph.put_person(p);
          for (const auto& [id, r] : ctx.rotations) ctx.graph.put_rotation(r);
          break;
        default:  // most steps: a day passes
          ctx.now_ += std::chrono::days(1);
          break;
      }
    }
    const auto& incremental = kept.matching(ctx, false);
    hooks::MentorSuggest fresh("mentors", o);
    const auto& from_nothing = fresh.matching(ctx, false);
    INFO("seed " << seed << ", step " << step);
    REQUIRE(incremental == by_the_rule(ctx, o));
    REQUIRE(incremental == from_nothing);
  }

  // It reads again only whom the memory says changed: one student touched, one read.
  std::string touched;
  for (const auto& id : ctx.graph.students()) {
    if (!ctx.people.at(id).opted_out) touched = id;
  }
  REQUIRE_FALSE(touched.empty());
  ctx.graph.touched(touched);
  ctx.rotation_reads.clear();
  kept.matching(ctx, false);
  CHECK(ctx.rotation_reads == std::set<std::string>{touched});
}

TEST_CASE("a mentor assigned before is not suggested once they have become the student's mentor",
          "[hook][mentors][assignment]") {
  KeptContext ctx;
  ctx.people["S"] = {.id = "S", .role = Role::student, .interests = {"Neurology"}};
  ctx.people["N"] = {.id = "N", .role = Role::attending, .specialty = "Neurology"};
  ctx.people["M"] = {.id = "M", .role = Role::attending, .specialty = "Neurology"};
  auto long_one =
      test::make_rotation("R1", "S", "2027-01-04", "2027-02-28", {{"N", Role::attending}});
  auto later = test::make_rotation("R2", "S", "2027-01-24", "2027-02-20", {{"M", Role::attending}});
  later.site = "Elsewhere";
  for (const auto& r : {long_one, later}) ctx.put_rotation(r);
  for (const auto& [id, p] : ctx.people) ctx.graph.put_person(p);
  hooks::MentorOptions o;
  o.capacity = 1;
  o.established_days = 10;
  o.due_after = std::chrono::days(7);
  o.rematch_interval = std::chrono::days(30);
  hooks::MentorSuggest hook("mentors", o);
  ctx.now_ = *parse_time("2027-01-05T00:00:00Z");
  auto first = hook.handle(
      test::event_for(long_one, EventType::rotation_started, "2027-01-05T00:00:00Z"), ctx);
  REQUIRE(first.size() == 1);
  CHECK(first.front().contact_id == "N");
  // Twenty days later the assignment is kept (rematch_interval) and still names N, who has
  // worked with the student for more than established_days by now.
  ctx.now_ = *parse_time("2027-01-24T00:00:00Z");
  REQUIRE(hook.matching(ctx, false).at("S").front().person == "N");
  CHECK(
      hook.handle(test::event_for(later, EventType::rotation_started, "2027-01-24T00:00:00Z"), ctx)
          .empty());
}
