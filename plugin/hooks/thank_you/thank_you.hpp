#pragma once
// At rotation end, prompt the student to thank each supervisor, due within a
// configurable number of days.

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct ThankYouOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  std::set<Role> roles{Role::attending, Role::resident, Role::fellow};
  std::chrono::seconds due_within{std::chrono::hours(72)};
  int min_days_together = 1;
};

class ThankYou final : public Hook {
 public:
  ThankYou(std::string name, ThankYouOptions options)
      : name_(std::move(name)), options_(std::move(options)) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_ended}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  ThankYouOptions options_;
};

HookKind thank_you_kind();

}  // namespace rapport::hooks
