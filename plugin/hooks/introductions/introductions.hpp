#pragma once
// At rotation start, introduce the student to every member of the team, every
// profession: nurses, pharmacists and social workers as much as physicians. Someone who
// joins the team once the rotation is under way (team.changed) is introduced then.

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct IntroductionsOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  std::set<Role> excluded_roles;
  std::chrono::seconds due_after_start{0};
};

class Introductions final : public Hook {
 public:
  Introductions(std::string name, IntroductionsOptions options)
      : name_(std::move(name)), options_(std::move(options)) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_started, EventType::team_changed};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  IntroductionsOptions options_;
};

HookKind introductions_kind();

}  // namespace rapport::hooks
