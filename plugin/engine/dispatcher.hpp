#pragma once
// Takes inbox events in order, applies each to the mirror, runs every subscribed hook,
// and writes the actions to the outbox in the same transaction that records each
// consumer's progress. Killed at any point and restarted, it neither loses nor
// duplicates an action (action ids are deterministic; the outbox is unique on them).
//
// Nothing escapes a hook: an exception fails that hook for that event (recorded, the
// hook moves on); RetryLater holds that hook at that event and retries it with backoff
// while the other hooks go on; a hook slower than its budget is reported.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/mirror.hpp"
#include "engine/timers.hpp"
#include "graph/relationship_graph.hpp"
#include "rapport/hook.hpp"
#include "store/store.hpp"

namespace rapport {

struct DispatchStats {
  std::size_t events = 0, actions = 0, failures = 0, suppressed = 0, retries = 0, slow = 0;
  std::size_t expired = 0, held = 0, released = 0, withdrawn = 0;
  DispatchStats& operator+=(const DispatchStats& o) {
    events += o.events;
    actions += o.actions;
    failures += o.failures;
    suppressed += o.suppressed;
    retries += o.retries;
    slow += o.slow;
    expired += o.expired;
    held += o.held;
    released += o.released;
    withdrawn += o.withdrawn;
    return *this;
  }
};

struct HookPolicy {
  std::chrono::milliseconds budget{250};
  int max_retries = 8;  // then the event counts as an error for that hook
};

class StoreContext;

inline constexpr const char* kMirrorConsumer = "mirror";
// Where the number of partitions the progress was kept for is stored (a source cursor).
inline constexpr const char* kPartitionsState = "engine";
inline constexpr const char* kPartitionsKey = "partitions";

class Dispatcher {
 public:
  Dispatcher(Store& store, const std::vector<std::unique_ptr<Hook>>& hooks, std::size_t batch,
             std::map<std::string, HookPolicy> policies = {}, TimeZones zones = {});

  // Privacy fails closed: an action whose student or contact the people feed does not
  // know yet is held (not sent), and released when both are known, unless it expired
  // meanwhile. Off by default here; the engine turns it on (engine.unknown_people).
  void hold_unknown_people(bool hold) { hold_unknown_ = hold; }
  // A batch's transaction ends after the event that takes it past `limit`, before `batch`
  // events if need be: the listener's commits wait for it on SQLite, and behind PgBouncer
  // it holds a server connection (engine.batch_time). Not for run_mirror (a backfill).
  void limit_batch_time(std::chrono::milliseconds limit) { batch_time_ = limit; }

  // Dispatches until the inbox is drained for every hook that is not waiting to retry.
  // An action whose `expires` is at or before `now` is not made (recorded as expired).
  DispatchStats run(TimePoint now);
  // Applies the inbox to the mirror only (hooks keep their place, for the daemon), after
  // each batch telling how many events so far.
  DispatchStats run_mirror(TimePoint now, const std::function<void(std::size_t)>& progress);

  // A backfill's bulk path: history events applied to the mirror at once, in the
  // caller's transaction, as run_mirror would apply them from the inbox (a rotation's
  // timers for what is still to come, held actions released, an event that does not fit
  // reported), without being written to the inbox and read back. False, and nothing
  // done, while the inbox has events the mirror has not had: they go first, so these
  // must follow them through the inbox.
  bool apply_history(const std::vector<Event>& events, TimePoint now);

  // The relationship memory as of the last event dispatched (built from the store at the
  // first run).
  const RelationshipGraph& graph();

  // Dispatch spread over processes (engine.partitions, docs/postgresql.md). Each event
  // the mirror applies gets a partition, from the student it is about (a hash of the id),
  // so that one student's events are all in one. The hooks named in `per_student` then run
  // per partition (run_partition), by whichever process holds that partition's lease;
  // run() applies the mirror and runs the other hooks (the letter and mentor assignments,
  // which span all students; plugins). 0 or 1 partitions: run() does everything, as before.
  void partition(int partitions, std::set<std::string> per_student);
  int partitions() const { return partitions_; }
  // The partition of `partitions` an event belongs to (the mirror applied it already: a
  // team change's rotation, a moment's, tells whose it is).
  int part_of(const Event& event, const HookContext& context, int partitions) const;
  // The number of partitions the store keeps progress for (1 when never set).
  int stored_partitions();
  // Runs partition `part`'s hooks over its events up to where the mirror is, batch by
  // batch (each commit fenced by the caller's set_fence), following the mirror's other
  // changes into the memory first. Throws what the store throws (LeaseLost included).
  DispatchStats run_partition(TimePoint now, int part);
  // The stored number of partitions made the configured one: every per-student hook's
  // progress moved to its slowest place under the old number, and the events after it
  // given their partitions again (a hook may see some of them twice: action ids keep it
  // from making anything twice). In the caller's transaction; true when it changed.
  bool align_partitions();
  // Held actions whose people are all known now, released (or expired, or withdrawn): with
  // partitions, a hook may hold an action in one process while the mirror learns the
  // person in another, after it looked for held actions.
  DispatchStats release_known(TimePoint now);

 private:
  struct Held {
    TimePoint until;
    int attempts = 0;
  };
  HookPolicy policy(const std::string& hook) const;
  bool expired(const Action& action, TimePoint now, const std::string& stage, DispatchStats& stats);
  // A held action made, if its people are known now (unless it expired or was withdrawn).
  void release(const Action& action, const HookContext& context, TimePoint now,
               DispatchStats& stats);
  void release_held(const std::string& person_id, const HookContext& context, TimePoint now,
                    DispatchStats& stats);
  void expire_held(TimePoint now, DispatchStats& stats);
  // One event into the mirror (and the memory, when built), as the mirror's consumer.
  void apply(std::int64_t seq, const Event& event, StoreContext& context, TimePoint now,
             DispatchStats& stats);
  enum class Batch { done, more, needs_memory };
  // One batch in one transaction: `done` when there was nothing to do; `needs_memory`
  // (rolled back) when a hook is about to run and the memory must be built first, which
  // run() does outside the transaction, so that the write lock is not held meanwhile.
  Batch run_batch(TimePoint now, DispatchStats& stats, bool mirror_only);
  Batch run_part_batch(TimePoint now, int part, DispatchStats& stats);
  // The hooks whose consumer (hook name + `suffix`) is in `reached` on one event, as
  // run_batch and run_part_batch run them; false when the memory must be built first.
  bool run_hooks(std::int64_t seq, const Event& event, StoreContext& context, TimePoint now,
                 DispatchStats& stats, std::map<std::string, std::int64_t>& reached,
                 std::set<std::string>& blocked, const std::string& suffix);
  // Whether this run() runs `hook` (not a partition's).
  bool global(const Hook& hook) const {
    return partitions_ <= 1 || per_student_.count(hook.name()) == 0;
  }
  // The memory brought up to the mirror's progress `mirror` (others' events), or marked
  // for a rebuild; in the caller's transaction.
  void follow(std::int64_t mirror, TimePoint now);
  DispatchStats drain(TimePoint now, bool mirror_only,
                      const std::function<void(std::size_t)>& progress);

  Store& store_;
  bool hold_unknown_ = false;
  const std::vector<std::unique_ptr<Hook>>& hooks_;
  std::size_t batch_;
  std::chrono::steady_clock::duration batch_time_ = std::chrono::steady_clock::duration::max();
  std::map<std::string, HookPolicy> policies_;
  std::map<std::string, Held> held_;
  TimeZones zones_;
  SiteZoneMemo site_zones_;       // for one batch
  std::optional<bool> any_held_;  // whether any action is held, for one batch
  RelationshipGraph graph_;
  bool graph_ready_ = false;
  bool rebuild_graph_ = false;  // at the next batch: this one's memory may miss a partial write
  // The mirror's progress as this dispatcher left it: found further on, another process
  // (a backfill) applied events the memory has not seen, and it is built again.
  std::int64_t mirror_at_ = -1;
  std::int64_t mirror_changed_at_ = 0;  // kMirrorChanged, as this dispatcher left it
  int partitions_ = 0;
  std::set<std::string> per_student_;
};

// The one place the opt-out rule is enforced: no action about a student who opted out,
// and nobody who opted out is suggested as a contact (HookContext::reachable says who).
bool permitted(const HookContext& context, const Action& action);

// Unsent actions follow the data: why an action made for a rotation no longer fits it
// (the rotation was cancelled or moved since, or, for an introduction or a thank-you, its
// contact left the team), or nullopt. An action names its rotation in its evidence
// ("rotation"), and the rotation's dates when it was made ("rotation_dates", added by the
// dispatcher); follow-ups, about a rotation long over, do not follow a change of dates.
std::optional<std::string> withdrawal(const HookContext& context, const Action& action);
// Adds "rotation_dates" to an action whose evidence names a known rotation.
void stamp_rotation(const HookContext& context, Action& action);

}  // namespace rapport
