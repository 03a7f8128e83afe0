#pragma once
// Follow-up: when a rotation ends, set stay-in-touch reminders with each supervisor on a
// cadence (default 30, 90 and 180 days after the end), each a durable timer. When one
// falls due it becomes a follow_up action, unless the relationship got a newer touch in
// the meantime (a later rotation together, or the host reporting with action.completed
// that the student acted). The thank-you right after the end is the thank_you hook.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct FollowUpOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  std::vector<int> cadence_days;
  std::set<Role> roles;
  int min_days_together;
  std::chrono::seconds due_within;
};

class FollowUp final : public Hook {
 public:
  FollowUp(std::string name, FollowUpOptions options)
      : name_(std::move(name)), options_(std::move(options)) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_ended, EventType::followup_due};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  FollowUpOptions options_;
};

HookKind follow_up_kind();

}  // namespace rapport::hooks
