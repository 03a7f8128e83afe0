#pragma once
// The engine: one store, its sources, hooks and sinks. One step at a given time polls
// the sources that are due, fires due timers, dispatches the inbox and delivers the
// outbox. `serve` steps on the real clock; `run` and the demo step a simulated one.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/dispatcher.hpp"
#include "engine/prompt_budget.hpp"
#include "engine/registry.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"
#include "engine/telemetry.hpp"
#include "store/store.hpp"

namespace rapport {

// What may leave through a sink and why (config keys `fields` and `basis`).
// Who reads it (`audience`): a student sink reads the prompts the budget released.
struct SinkPolicy {
  std::vector<std::string> fields;  // empty: all
  std::string basis = "consent";
  std::string audience = "host";
  bool student() const { return audience == "student"; }
};

// The lease of the one process that runs the engine on a shared store, and this process's
// name in the process table (host:pid:start, the holder of its leases).
inline constexpr const char* kEngineLease = "engine";
// A dispatch partition's lease: "dispatch:" and its number.
std::string partition_lease(int part);
const ProcessRecord& this_process();

// Where the engine keeps its own state among the sources' cursors.
inline constexpr const char* kEngineState = "engine";
inline constexpr const char* kLastStep = "last_step";  // the clock of the last step

struct StepStats {
  bool standby = false;  // another process holds the engine lease: only timers and claims ran
  std::size_t polled = 0, fired = 0, delivered = 0, source_failures = 0;
  DispatchStats dispatch;
  BudgetStats budget;
};

// The letter hook's section when the config runs one (what `explain` scores with).
std::optional<config::Section> letter_hook_of(const config::Config& config);

class Engine {
 public:
  Engine(std::unique_ptr<Store> store, std::vector<std::unique_ptr<Source>> sources,
         std::vector<std::unique_ptr<Hook>> hooks, std::vector<std::unique_ptr<Sink>> sinks,
         std::size_t batch, std::map<std::string, HookPolicy> policies = {}, TimeZones zones = {});
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Builds every component from a validated config; throws on what only shows at build
  // time (a store that cannot be opened, ...).
  struct BuildOptions {
    std::optional<std::string> store_path;  // instead of the config's
    bool sinks = true;                      // false: nothing is delivered
    // false: the store's connection never checkpoints a SQLite WAL (a WalCheckpointer
    // does, as under `rapport serve`)
    bool checkpoints = true;
  };
  static std::unique_ptr<Engine> build(const config::Config& config, const Registry& registry,
                                       const BuildOptions& options);
  static std::unique_ptr<Engine> build(const config::Config& config, const Registry& registry) {
    return build(config, registry, BuildOptions{});
  }

  StepStats step(TimePoint now);

  // Several processes on one store (PostgreSQL): only the holder of the `engine` lease
  // steps (polls, fires timers, dispatches, assigns, delivers); the others stand by (their
  // listeners still take events in, and they send per-action deliveries, which every
  // process takes by claims: see deliver_each) and one of them takes over within `ttl` of
  // the holder's last step. Every commit of the engine's connection is fenced by the lease's
  // epoch, so a process that was paused past `ttl` and resumes cannot complete work
  // another has taken over. Each step also writes this process's row of the process table.
  // `holder`: this process's instance (this_process()) unless told (tests).
  void run_exclusively(std::chrono::seconds ttl, const std::string& holder = "");
  bool standing_by() const { return exclusive_ && !epoch_; }
  // Dispatch spread over processes (engine.partitions; build() sets it from the config):
  // the hooks named in `per_student` run per partition (Dispatcher::partition).
  void spread_dispatch(int partitions, std::set<std::string> per_student) {
    dispatcher_.partition(partitions, std::move(per_student));
  }
  // Whether a step while another process holds the lease fires the timers that are due and
  // sends the deliveries it can claim (yes by default: `serve`, on the wall clock). A
  // simulated run's clock is not the others': standing by, it does nothing.
  void work_standing_by(bool work) { work_standing_by_ = work; }
  // The daemon's engine writes this process's row of the process table at every step
  // (an exclusive one does anyway), and takes it out (and gives its lease back) on a
  // clean stop, so that offline commands know the store is in use.
  void announce_process() { announce_ = true; }
  void leave();
  // A commit was refused (LeaseLost): stand by until the lease is this process's again.
  void lost_lease();
  // The inbox applied to the mirror, nothing else: no source polled, no hook run, no
  // timer fired, nothing delivered (what a backfill ends with). `progress` hears the
  // number of events applied after each batch.
  DispatchStats build_mirror(TimePoint now, const std::function<void(std::size_t)>& progress) {
    return dispatcher_.run_mirror(now, progress);
  }
  // A backfill's page of history events into the mirror without the inbox, or false (see
  // Dispatcher::apply_history).
  bool apply_history(const std::vector<Event>& events, TimePoint now) {
    return dispatcher_.apply_history(events, now);
  }
  Store& store() { return *store_; }
  // What hooks see at `now`: for read-only views (explain, embedding hosts).
  std::unique_ptr<HookContext> context(TimePoint now);
  // The letter hook's options when the config runs one (for explain), else nullptr.
  const config::Section* letters() const { return letters_ ? &*letters_ : nullptr; }
  const std::vector<std::unique_ptr<Sink>>& sinks() const { return sinks_; }
  // Deliveries sent whose answer is not recorded yet.
  std::size_t deliveries_in_flight() const { return in_flight_.size() + digests_in_flight_.size(); }
  // Answers that came back after another process had taken their delivery over (its
  // claim had run out): not recorded, since that process sends and records it.
  std::size_t results_refused() const { return results_refused_; }
  // The digest `sink` would send `student_id` next, from what is waiting for it now,
  // composed at `at` and not stored or sent (`rapport preview`); nullopt when nothing
  // waits for them. Throws when no digest sink has that name.
  std::optional<ComposedDigest> preview_digest(const std::string& sink,
                                               const std::string& student_id, TimePoint at);
  // Waits (at most `at_most`) for the deliveries under way and records their answers,
  // starting nothing new: what an engine being replaced does last. Returns how many are
  // still under way (sent again, with the same id, by whoever delivers next).
  std::size_t drain(std::chrono::milliseconds at_most);
  // A sink built by the caller rather than from the config (tests, hosts).
  void add_sink(std::unique_ptr<Sink> sink, SinkPolicy policy = {}) {
    sink_policies_[sink->name()] = std::move(policy);
    sinks_.push_back(std::move(sink));
  }
  Source* source(const std::string& name) const;
  // Each step then publishes queue depths and the sources' health here.
  void set_telemetry(std::shared_ptr<Telemetry> telemetry) { telemetry_ = std::move(telemetry); }

 private:
  std::optional<TimePoint> last_step_written_;
  // `now` judges whether an action expired (Action::expires) before a sink took it.
  std::size_t deliver(TimePoint now);
  // What a sink reads next: the outbox, or for a student sink the released prompts.
  std::vector<OutboxAction> next_for(const Sink& sink, std::size_t limit);
  // A sink whose audience changed since it last delivered starts at the end of the stream
  // it reads now (it had what the other gave it; nothing is sent twice or in a flood).
  void align_streams();
  bool streams_aligned_ = false;
  // `enqueue`: new actions become deliveries first (the engine's holder does that; any
  // process sends what is due).
  std::size_t deliver_each(PerActionSink& sink, TimePoint now, bool enqueue);
  // A step while another process holds the engine lease (work_standing_by).
  StepStats stand_by(TimePoint now);
  // A standing-by process's share of the sending: per-action deliveries only.
  std::size_t deliver_claimed(TimePoint now);
  std::size_t record_finished(PerActionSink& sink, TimePoint now);
  // Digest sinks (digests.cpp): gather released actions, compose each student's digest
  // when a period ends, send what is due, record what came back.
  std::size_t deliver_digests(DigestSink& sink, TimePoint now);
  void compose_digests(DigestSink& sink, TimePoint period_end);
  // Staff sinks: a daily summary, or each notice, stored then sent as digests are.
  std::size_t deliver_staff(StaffSink& sink, TimePoint now);
  StaffSummary staff_summary(const StaffSink& sink, TimePoint end);
  std::int64_t dead_letters();
  // The stored messages of a digest or staff sink: start what is due, record answers.
  void send_stored(Sink& sink, Sender& sender, TimePoint now);
  std::size_t record_sends(Sink& sink, Sender& sender, TimePoint now);
  DigestRequest digest_request(const std::string& sink, const std::string& student_id,
                               const std::vector<std::string>& action_ids, TimePoint period_end,
                               TimePoint now, std::vector<std::string>* kept);
  // Expired, or withdrawn (see withdrawal()) since it was made: recorded, not sent.
  bool stale_at_delivery(const HookContext& context, const Action& action, TimePoint now);
  void record_result(PerActionSink& sink, const SendResult& result, TimePoint now);
  void publish();
  // The memory for a context, built when first read.
  std::function<const Relationships&()> memory() {
    return [this]() -> const Relationships& { return dispatcher_.graph(); };
  }

  // Takes or renews the engine lease (run_exclusively): false while another holds it.
  bool claim_lease(bool heartbeat = true);
  // engine.partitions: the partitions this process runs the per-student hooks of (every
  // one where it runs alone), each with the epoch of its lease (`dispatch:N`). At each step
  // a process takes its share of them (the number over the live processes, rounded up)
  // and gives back what is over it; it renews what it holds a third of a lease apart.
  void claim_parts(bool holder);
  DispatchStats run_parts(TimePoint now, bool holder);
  std::string parts_held() const;
  std::map<int, std::int64_t> parts_;
  std::optional<std::chrono::steady_clock::time_point> parts_claimed_;
  bool parts_match_ = false;  // the store keeps progress for this number of partitions
  bool parts_warned_ = false;
  std::optional<std::int64_t> aligned_at_;  // the engine lease's epoch at which it aligned
  std::optional<std::chrono::seconds> exclusive_;
  std::string holder_;
  std::optional<std::int64_t> epoch_;  // of the engine lease, while this engine holds it
  bool announced_standby_ = false;
  bool work_standing_by_ = true;
  bool announce_ = false;

  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<std::unique_ptr<Hook>> hooks_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::size_t batch_;
  std::map<std::string, TimePoint> last_poll_;
  std::map<std::string, bool> sink_failing_;
  std::optional<config::Section> letters_;
  Dispatcher dispatcher_;
  std::shared_ptr<Telemetry> telemetry_;
  std::map<std::string, SinkPolicy> sink_policies_;
  std::optional<PromptBudget> budget_;  // when a sink has audience: student
  // Per-action sends under way, with what they disclose (recorded when they succeed).
  struct InFlight {
    DeliveryRecord record;
    std::string action_id, student_id, contact_id, fields;
  };
  std::map<std::int64_t, InFlight> in_flight_;
  std::size_t results_refused_ = 0;
  std::map<std::string, std::vector<SendResult>> unrecorded_;  // by sink
  std::map<std::int64_t, DigestRecord> digests_in_flight_;     // by row
  std::map<std::string, TimePoint> staff_checked_;             // notices sinks: when last looked
};

// The action as a CloudEvent, with the contact's name, role and email read from the
// store now (not from logs, not from the moment the action was made), limited to the
// sink's allow-list. `fields` lists the data fields that are in it (for the disclosure log).
struct Rendered {
  std::string body;
  std::string fields;
};
Rendered render_for_delivery(const Action& action, Store& store,
                             const std::vector<std::string>& allowed = {});

}  // namespace rapport
