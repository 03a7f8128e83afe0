#pragma once
// The C++ hook interface. Built-in hooks and C++ plugins implement exactly this.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rapport/relationships.hpp"
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
  // The relationship memory across all students.
  virtual const Relationships& relationships() const = 0;

  // A durable timer: at `due`, a followup.due event (subject `subject`, data `payload`, a
  // JSON object to which the engine adds "hook" and "key") reaches the hooks. Setting the
  // same key again moves it. Committed with the hook's actions. No-op for plugins.
  virtual void schedule(const std::string& key, TimePoint due, const std::string& subject,
                        const std::string& payload) const = 0;
  // A note for the school's admins (data quality): logged and shown by `rapport status`.
  // Ids only (a rotation's, a site), never a name: it goes to the logs. Staff chat
  // channels hear how many notices a hook recorded, never their text.
  virtual void notice(const std::string& message) const = 0;
  // What this hook made before (in the engine's outbox), due after `since`, oldest first:
  // what it already suggested, across restarts (a cap per season holds for the season).
  // Empty where there is no outbox to read (plugins, snapshots).
  virtual std::vector<Action> made_since(TimePoint since) const {
    (void)since;
    return {};
  }
  // False for anyone who opted out. Hooks skip them when choosing whom to suggest; the
  // engine drops any action that involves them regardless (one rule, in the engine).
  virtual bool reachable(const std::string& person_id) const {
    auto p = person(person_id);
    return !(p && p->opted_out);
  }
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

// Relationships computed from a snapshot: the student's own contacts only.
class SnapshotRelationships final : public Relationships {
 public:
  explicit SnapshotRelationships(const ContextSnapshot& snapshot) : snapshot_(snapshot) {}
  std::vector<ContactSummary> contacts_of(const std::string& student_id, TimePoint now,
                                          Span span = Span::so_far) const override;
  std::vector<Visit> visits_at(const std::string& site, const std::string& specialty,
                               Date ended_before, std::size_t limit) const override;
  std::vector<std::string> staff_at(const std::string& site) const override;
  std::vector<std::string> students() const override;
  std::vector<std::string> program_members(const std::string& program) const override;
  std::optional<Date> last_touch(const std::string& student_id, const std::string& contact_id,
                                 TimePoint now) const override;
  std::uint64_t version() const override { return 0; }

 private:
  const ContextSnapshot& snapshot_;
};

// A HookContext over a snapshot (what a plugin's hook reads).
class SnapshotContext final : public HookContext {
 public:
  explicit SnapshotContext(ContextSnapshot snapshot)
      : snapshot_(std::move(snapshot)), relationships_(snapshot_) {}
  TimePoint now() const override { return snapshot_.now; }
  std::optional<Person> person(const std::string& id) const override;
  std::optional<Rotation> rotation(const std::string& id) const override;
  std::vector<Rotation> rotations_of(const std::string& student_id) const override;
  std::vector<Evaluation> evaluations_of(const std::string& student_id) const override;
  const Relationships& relationships() const override { return relationships_; }
  void schedule(const std::string&, TimePoint, const std::string&,
                const std::string&) const override {}
  void notice(const std::string&) const override {}

 private:
  ContextSnapshot snapshot_;
  SnapshotRelationships relationships_;
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
