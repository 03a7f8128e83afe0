#pragma once
// The prompt budget: how many things a student is asked to do in a week.
//
// A prompt is what a student is asked to do about one event: the actions of one type made
// for it (a team's seven introductions at a rotation's start are one prompt, listed
// together; the budget never drops a nurse from it). At most `per_week` prompts per
// student reach the sinks with `audience: student` in a week that starts on Monday 00:00
// in `zone`. Each step, the prompts made since the last step and the deferred prompts
// whose week came are decided together, in the order of the priority table (see
// prompt_priority), then due time, then id, in the week of the step's clock:
// - sent: the week has room; its actions are released (Store::release_action), and every
//   student sink delivers the same ones;
// - deferred to next Monday: the week is full and the prompt does not expire before then;
// - dropped: it cannot be sent any more (expired, withdrawn, the student opted out: such
//   a prompt spends nothing), or the week is full and it expires before the next one, or
//   it has waited kMaxDeferrals weeks already.
// Each decision is stored once: an action that joins a sent prompt later (a hook that ran
// late) follows it without counting again, and a rerun over the same store decides
// nothing again. The budget starts with the actions made after its first run.
// Sinks with `audience: host` (the default) get every action: the host decides.

#include <functional>
#include <string>

#include "store/store.hpp"

namespace rapport {

inline constexpr int kMaxDeferrals = 4;

struct PromptBudgetOptions {
  int per_week = 5;
  std::string zone = "UTC";
};

// The priority table, lower first: introductions (a rotation's first day), thank-yous
// (days after its end), program contacts, peers, letter candidates, mentors, specialists,
// openings, then follow-ups by how long after the rotation (up to 30 days, up to 90,
// later).
int prompt_priority(const Action& action);
std::string prompt_id_of(const Action& action);
// The Monday that begins the week `at` falls in, in `zone`.
Date week_of(TimePoint at, const std::string& zone);

struct BudgetStats {
  std::size_t sent = 0, deferred = 0, dropped = 0, released = 0;
};

class PromptBudget {
 public:
  PromptBudget(Store& store, PromptBudgetOptions options, std::size_t batch)
      : store_(store), options_(std::move(options)), batch_(batch) {}

  // Where a budget begins: at the end of the outbox, unless it has begun before. Call
  // before the step's dispatch, within its transaction.
  void start();
  // `sendable`: whether an action may still be sent at `now` (not expired, not withdrawn,
  // its student not opted out).
  BudgetStats run(TimePoint now, const std::function<bool(const Action&)>& sendable);

  const PromptBudgetOptions& options() const { return options_; }

 private:
  Store& store_;
  PromptBudgetOptions options_;
  std::size_t batch_;
};

}  // namespace rapport
