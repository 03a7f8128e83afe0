// The letter assignment keeps each student's basis from one run to the next and reads again
// only those the memory says changed: on random histories it must give what a hook that
// starts from nothing gives, at every step.
#include <catch2/catch.hpp>

#include <random>

#include "hooks/letter_candidates/letter_candidates.hpp"
#include "support/fake_context.hpp"

using namespace rapport;

namespace {

// The memory kept change by change; the outbox's letters as a list.
class KeptContext final : public test::KeptGraphContext {
 public:
  std::vector<Action> made;
  mutable int evaluation_reads = 0;

  std::vector<Evaluation> evaluations_of(const std::string& student) const override {
    ++evaluation_reads;
    return FakeContext::evaluations_of(student);
  }
  std::vector<Action> made_since(TimePoint since) const override {
    std::vector<Action> out;
    for (const auto& a : made) {
      if (a.created >= since) out.push_back(a);
    }
    return out;
  }
};

hooks::LetterOptions options(bool rank_with_anonymous) {
  hooks::LetterOptions o;
  o.min_days = 5;
  o.min_score = 0.45;
  o.rank_with_anonymous = rank_with_anonymous;
  o.per_student = 2;
  o.capacity = 3;
  o.season_month = 6;
  o.season_day = 1;
  o.due_within = std::chrono::days(14);
  o.strong_evaluation = 0.8;
  return o;
}

}  // namespace

TEST_CASE("the letter assignment kept from run to run equals one made from nothing",
          "[hook][letters][assignment]") {
  const unsigned seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return int(rng() % unsigned(n)); };
  const std::vector<std::string> specialties{"Surgery", "Pediatrics", "Psychiatry"};
  KeptContext ctx;
  ctx.now_ = *parse_time("2027-01-01T00:00:00Z");
  for (int i = 0; i < 12; ++i) {
    Person p;
    p.id = "A" + std::to_string(i);
    p.role = Role::attending;
    if (pick(4) != 0) p.specialty = specialties[std::size_t(pick(3))];
    ctx.put_person(p);
  }
  for (int i = 0; i < 30; ++i) {
    Person p;
    p.id = "S" + std::to_string(i);
    p.role = Role::student;
    if (pick(2) == 0) p.interests = {specialties[std::size_t(pick(3))]};
    ctx.put_person(p);
  }
  auto staff = [&] { return "A" + std::to_string(pick(12)); };
  auto student = [&] { return "S" + std::to_string(pick(30)); };
  int rotations = 0, evaluations = 0;
  auto add_rotation = [&] {
    auto start = std::chrono::floor<std::chrono::days>(ctx.now_) + std::chrono::days(pick(60) - 30);
    Rotation r = test::make_rotation("R" + std::to_string(++rotations), student(), "2027-01-01",
                                     "2027-01-01", {});
    r.start = start;
    r.end = start + std::chrono::days(3 + pick(25));
    r.specialty = specialties[std::size_t(pick(3))];
    r.kind = pick(2) ? RotationKind::core : RotationKind::elective;
    for (int m = 0, n = 1 + pick(3); m < n; ++m) {
      r.team.push_back({staff(), pick(5) ? Role::attending : Role::resident, r.start, r.end});
    }
    ctx.put_rotation(r);
  };
  for (int i = 0; i < 40; ++i) add_rotation();

  const auto o = options(seed % 2 == 0);
  hooks::LetterCandidates kept("letters", o);
  for (int step = 0; step < 80; ++step) {
    for (int changes = 1 + pick(3); changes > 0; --changes) {
      switch (pick(8)) {
        case 0:
          add_rotation();
          break;
        case 1: {  // a rotation edited: moved to another student, cancelled, or dates
          if (ctx.rotations.empty()) break;
          auto it = std::next(ctx.rotations.begin(), pick(int(ctx.rotations.size())));
          Rotation r = it->second;
          switch (pick(3)) {
            case 0:
              r.student_id = student();
              break;
            case 1:
              r.status = RotationStatus::cancelled;
              break;
            default:
              r.end = r.end + std::chrono::days(pick(10));
              break;
          }
          ctx.put_rotation(r);
          break;
        }
        case 2:
        case 3: {  // an evaluation (a late edit of one is another event alike)
          if (ctx.rotations.empty()) break;
          auto it = std::next(ctx.rotations.begin(), pick(int(ctx.rotations.size())));
          if (it->second.team.empty()) break;
          Evaluation e;
          e.id = "V" + std::to_string(++evaluations);
          e.rotation_id = it->first;
          e.evaluator_id = it->second.team.front().person_id;
          e.student_id = it->second.student_id;
          e.submitted = ctx.now_;
          e.score = 1 + pick(9);
          e.scale_min = 1;
          e.scale_max = 9;
          if (pick(2)) e.would_recommend = pick(2) == 0;
          e.anonymous = pick(4) == 0;
          ctx.evaluations.push_back(e);
          ctx.graph.touched(e.student_id);
          break;
        }
        case 4: {  // an attending's entry: specialty, opt-out
          Person p = ctx.people.at(staff());
          if (pick(2)) {
            p.opted_out = !p.opted_out;
          } else {
            p.specialty = specialties[std::size_t(pick(3))];
          }
          ctx.put_person(p);
          break;
        }
        case 5:  // a student's entry: interests, opt-out
          ctx.change_student_entry(student(), specialties, pick);
          break;
        case 6: {  // a letter suggested earlier this season takes its places
          Action a;
          a.type = ActionType::letter_candidate;
          a.student_id = student();
          a.contact_id = staff();
          a.created = ctx.now_;
          int year = int(
              std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(ctx.now_)}.year());
          auto season_start = std::chrono::year(year) / std::chrono::June / 1;
          if (std::chrono::floor<std::chrono::days>(ctx.now_) >
              std::chrono::sys_days(season_start)) {
            ++year;
          }
          a.evidence["season"] = std::to_string(year);
          ctx.made.push_back(a);
          break;
        }
        default:
          ctx.now_ += std::chrono::days(pick(40));
          break;
      }
    }
    // The kept hook runs again at every step: a step that only added earlier suggestions
    // (the outbox) does not move the memory, and the hook would keep its assignment.
    ctx.graph.touched("clock");
    const auto& incremental = kept.matching(ctx, false);
    hooks::LetterCandidates fresh("letters", o);
    const auto& from_nothing = fresh.matching(ctx, false);
    INFO("seed " << seed << ", step " << step);
    REQUIRE(incremental == from_nothing);
  }

  // It reads again only whom the memory says changed: one evaluation, one student read.
  std::string evaluated;
  for (const auto& id : ctx.graph.students()) {
    if (!ctx.people.at(id).opted_out) evaluated = id;
  }
  REQUIRE_FALSE(evaluated.empty());
  Evaluation e;
  e.id = "V-last";
  e.rotation_id = "R1";
  e.evaluator_id = "A0";
  e.student_id = evaluated;
  e.submitted = ctx.now_;
  e.score = 9;
  e.scale_max = 9;
  ctx.evaluations.push_back(e);
  ctx.graph.touched(e.student_id);
  ctx.evaluation_reads = 0;
  kept.matching(ctx, false);
  CHECK(ctx.evaluation_reads == 1);
}
