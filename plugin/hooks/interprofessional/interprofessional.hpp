#pragma once
// Interprofessional coverage: introductions already include every profession on the
// team; this hook tells the school (a notice in the log and in `rapport status`) when a
// rotation's roster has no non-physician member, so the data can be fixed.

#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

class Interprofessional final : public Hook {
 public:
  explicit Interprofessional(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  // At the start, when the roster is as complete as it will be (sources may send a
  // rotation before its team).
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
};

HookKind interprofessional_kind();

}  // namespace rapport::hooks
