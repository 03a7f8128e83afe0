#pragma once
// The C++ hook interface. Built-in hooks and C++ plugins implement exactly this.

#include <optional>
#include <stdexcept>
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

// Everything a hook may read about one student, as plain data: what plugins receive
// across the C ABI, and what `rapport explain` and embedding hosts see.
struct ContextSnapshot {
  TimePoint now;
  std::vector<Person> people;  // the student and everyone on their teams
  std::vector<Rotation> rotations;
  std::vector<Evaluation> evaluations;
};

ContextSnapshot snapshot_of(const HookContext& context, const std::string& student_id);

// A HookContext over a snapshot (what a plugin's hook reads).
class SnapshotContext final : public HookContext {
 public:
  explicit SnapshotContext(ContextSnapshot snapshot) : snapshot_(std::move(snapshot)) {}
  TimePoint now() const override { return snapshot_.now; }
  std::optional<Person> person(const std::string& id) const override;
  std::optional<Rotation> rotation(const std::string& id) const override;
  std::vector<Rotation> rotations_of(const std::string& student_id) const override;
  std::vector<Evaluation> evaluations_of(const std::string& student_id) const override;

 private:
  ContextSnapshot snapshot_;
};

// Thrown by a hook whose failure is transient: the dispatcher hands it the same event
// again later, with backoff. Any other exception fails the hook for that event only.
class RetryLater : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
