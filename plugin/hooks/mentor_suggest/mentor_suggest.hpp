#pragma once
// For a student with no mentor yet in their target specialty, suggest one among the
// attendings and residents of that specialty they have worked with or can meet at the
// site where they rotate now. Mentors' capacity holds across all students: the same
// assignment as letters (hooks/common/assignment.hpp), one mentor per student.
//
// "Has a mentor": an attending or resident of the target specialty the student has
// worked with for at least `established_days`. Candidate score: 0.5 x min(days together
// / 28, 1) + 0.3 if they work at the student's current site + 0.2 for an attending
// (0.14 for a resident).
//
// The assignment keeps, from one run to the next, what each student's scores are made of
// apart from the day (their interests, their stretches of days with physicians of those
// interests, their rotations' dates and sites) and reads again only the students the
// memory says changed (Relationships::changed_since); the day's days together are counted
// from the kept stretches. See MentorSuggest::Memo in mentor_suggest.cpp. A suggestion names
// the interest its assignment was made for, and is not made for someone who has become the
// student's mentor since that assignment (rematch_interval keeps one for a while).

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/registry.hpp"
#include "hooks/common/assignment.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct MentorOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  int capacity;
  int established_days;
  std::chrono::seconds due_after;
  std::chrono::seconds rematch_interval;
};

class MentorSuggest final : public Hook {
 public:
  MentorSuggest(std::string name, MentorOptions options);
  ~MentorSuggest() override;
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

  // The assignment as of the context's moment, made again when the memory or the day
  // changed (and rematch_interval has passed) or when `force`d; public for tests and
  // benchmarks, which compare it with one made from nothing.
  const std::map<std::string, std::vector<Candidate>>& matching(const HookContext& context,
                                                                bool force);

 private:
  std::string name_;
  MentorOptions options_;
  std::map<std::string, std::vector<Candidate>> matching_;
  // The interest each assigned student's mentor is for (what the suggestion names).
  struct Target {
    std::string specialty;
    bool inferred = false;
  };
  std::map<std::string, Target> targets_;
  std::uint64_t matching_version_ = 0;
  std::optional<TimePoint> matching_at_;
  struct Memo;
  std::unique_ptr<Memo> memo_;
};

HookKind mentor_suggest_kind();

}  // namespace rapport::hooks
