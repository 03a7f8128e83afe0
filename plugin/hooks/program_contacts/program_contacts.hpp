#pragma once
// Doors to programs: on sub-internships and away rotations, point out the host program's
// people (program director, coordinators, residents: everyone at the site whose directory
// entry names a program in the rotation's specialty) as warm connections.

#include <chrono>
#include <optional>
#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct ProgramContactsOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  int max_contacts;
  std::chrono::seconds due_after;
};

class ProgramContacts final : public Hook {
 public:
  ProgramContacts(std::string name, ProgramContactsOptions options)
      : name_(std::move(name)), options_(options) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  ProgramContactsOptions options_;
};

HookKind program_contacts_kind();

}  // namespace rapport::hooks
