#pragma once
// Specialties: for a student's declared specialty interest (or one inferred from their
// electives, and said to be inferred), at the start of each rotation suggest specialists
// and subspecialists they have met before, those working where they rotate now, and the
// shadowing or research openings listed in the config. Each person and opening is
// suggested once per student and interest.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct Opening {
  std::string id, contact, specialty, kind, title;
};

struct SpecialtyContactsOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  int max_contacts;
  std::chrono::seconds due_after;
  std::vector<Opening> openings;
};

class SpecialtyContacts final : public Hook {
 public:
  SpecialtyContacts(std::string name, SpecialtyContactsOptions options)
      : name_(std::move(name)), options_(std::move(options)) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  SpecialtyContactsOptions options_;
};

HookKind specialty_contacts_kind();

}  // namespace rapport::hooks
