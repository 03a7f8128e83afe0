#pragma once
// Letters of recommendation: rank the attendings a student could ask, and assign them
// across all students at once so that popular attendings are not swamped.
//
// Score (0..1) of an attending for a student, from four parts:
//   time       0.35 x min(days together / 28, 1)
//   evaluation 0.35 x mean normalized score of their evaluations of the student
//                     (+0.1 if one says "would recommend", at most 1); 0.5 while there
//                     is none yet; anonymous evaluations count only with
//                     rank_with_anonymous, and never appear in evidence
//   recency    0.15 x 0.5 ^ (days since the last day together / 365)
//   match      0.15 x 1 when the attending's specialty is the student's strongest interest,
//                     1/2 for the second, 1/3 for the third...
// When anonymous evaluations count, totals are hidden everywhere for that student and only
// ranks are shown (see LetterScore::total_hidden).
// Candidates below min_days or min_score are never suggested. Assignment: student-
// proposing deferred acceptance (hooks/common/assignment.hpp), `per_student` candidates
// per student, `capacity` students per attending per season. The assignment plans with
// every scheduled day (so a student who finishes first does not take the attending that
// students still on the rotation suit better); a suggestion is made only once the days
// together have actually reached min_days.
//
// Fires at rotation end, at a strong evaluation, and every year at `season_date` for
// every student. A student is offered each attending once per season, and the caps hold
// for the season: what was already suggested in it (read from the outbox, so a restart
// forgets nothing) keeps its places, per student and per attending.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/registry.hpp"
#include "hooks/common/assignment.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

// Filled from the config (letter_options_of); the defaults live in the schema.
struct LetterOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  int min_days = 0;
  double min_score = 0;
  bool rank_with_anonymous = false;
  int per_student = 0;
  int capacity = 0;
  unsigned season_month = 1, season_day = 1;
  std::chrono::seconds due_within{0};
  double strong_evaluation = 1;
  std::chrono::seconds rematch_interval{0};
};

struct LetterScore {
  std::string attending;
  int days = 0;
  Date last_day;
  double time = 0, evaluation = 0, recency = 0, match = 0, total = 0;
  std::optional<double> shown_evaluation;  // non-anonymous evaluations only
  bool neutral_evaluation = false;         // no evaluation counted: `evaluation` is 0.5
  bool specialty_match = false;
  int rank = 0;  // 1 for the best candidate of the student
  // An anonymous evaluation counted (rank_with_anonymous) for one of the student's
  // candidates: no total is shown for any of them (the total minus the visible parts
  // would give the anonymous score, and hiding one row would name its evaluator). The
  // rank is shown instead.
  bool total_hidden = false;
};

// Eligible candidates of one student, best first.
std::vector<LetterScore> score_letter_candidates(const HookContext& context,
                                                 const std::string& student_id,
                                                 const LetterOptions& options,
                                                 Span span = Span::so_far);

class LetterCandidates final : public Hook {
 public:
  LetterCandidates(std::string name, LetterOptions options);
  ~LetterCandidates() override;
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_ended, EventType::evaluation_submitted, EventType::followup_due};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

  // The season's assignment as of the context's moment, made again when the memory or the
  // day changed (or `force`); public for tests and benchmarks, which compare it with one
  // made from nothing.
  const std::map<std::string, std::vector<Candidate>>& matching(const HookContext& context,
                                                                bool force);

 private:
  std::vector<Action> offer(const Event& event, const HookContext& context,
                            const std::string& student, int season);
  int season_of(TimePoint t) const;  // the year of the next season date at or after t
  TimePoint season_date(int year) const;

  std::string name_;
  LetterOptions options_;
  std::map<std::string, std::vector<Candidate>> matching_;
  std::uint64_t matching_version_ = 0;
  // What the assignment keeps between runs, so that a day's run reads again only the
  // students and staff the memory says changed (Relationships::changed_since).
  struct Memo;
  std::unique_ptr<Memo> memo_;
  std::optional<TimePoint> matching_at_;
};

HookKind letter_candidates_kind();
// The options a config gives (defaults included), for `rapport explain`.
LetterOptions letter_options_of(const config::Section& section);

}  // namespace rapport::hooks
