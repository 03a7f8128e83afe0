#pragma once
// The C++ hook interface. Built-in hooks and C++ plugins implement exactly this.

#include <optional>
#include <string>
#include <vector>

#include "rapport/types.hpp"

namespace rapport {

// What a hook may read while it handles one event: the mirror of institutional data
// as it stands after the event was applied. Read-only; valid only during handle().
class HookContext {
 public:
  virtual ~HookContext() = default;

  virtual TimePoint now() const = 0;
  virtual std::optional<Person> person(const std::string& id) const = 0;
  virtual std::optional<Rotation> rotation(const std::string& id) const = 0;
  // Every rotation of the student, oldest first.
  virtual std::vector<Rotation> rotations_of(const std::string& student_id) const = 0;
  virtual std::vector<Evaluation> evaluations_of(const std::string& student_id) const = 0;
};

class Hook {
 public:
  virtual ~Hook() = default;

  // The instance name from the config ("introductions", "thank_you_surgery", ...).
  virtual std::string name() const = 0;
  virtual std::vector<EventType> subscribed() const = 0;
  // Turns one event into actions. May throw: the dispatcher records the failure
  // for this hook and event, and goes on.
  virtual std::vector<Action> handle(const Event& event, const HookContext& context) = 0;
};

}  // namespace rapport
