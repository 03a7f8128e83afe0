#include "engine/engine.hpp"

#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <thread>

#include "engine/store_context.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/open_store.hpp"
#include "store/soci_util.hpp"

namespace rapport {

Engine::Engine(std::unique_ptr<Store> store, std::vector<std::unique_ptr<Source>> sources,
               std::vector<std::unique_ptr<Hook>> hooks, std::vector<std::unique_ptr<Sink>> sinks,
               std::size_t batch, std::map<std::string, HookPolicy> policies, TimeZones zones)
    : store_(std::move(store)),
      sources_(std::move(sources)),
      hooks_(std::move(hooks)),
      sinks_(std::move(sinks)),
      batch_(batch),
      dispatcher_(*store_, hooks_, batch, std::move(policies), std::move(zones)) {}

std::unique_ptr<Engine> Engine::build(const config::Config& config, const Registry& registry,
                                      const BuildOptions& options) {
  auto root = config.section();
  auto store = open_store(config, {.path = options.store_path, .checkpoints = options.checkpoints});
  std::vector<std::unique_ptr<Source>> sources;
  for (const auto& [name, section] : root.sections("sources")) {
    sources.push_back(registry.source(section.str("type"))->create(name, section));
  }
  std::vector<std::unique_ptr<Hook>> hooks;
  std::map<std::string, HookPolicy> policies;
  std::set<std::string> per_student;
  for (const auto& [name, section] : root.sections("hooks")) {
    if (!section.boolean("enabled")) continue;
    std::string type = section.has("type")     ? section.str("type")
                       : section.has("plugin") ? std::string("plugin")
                                               : name;
    hooks.push_back(registry.hook(type)->create(name, section));
    if (registry.hook(type)->per_student) per_student.insert(name);
    HookPolicy& policy = policies[name];
    policy.budget = section.duration("budget");
    if (section.has("max_retries")) policy.max_retries = int(section.integer("max_retries"));
  }
  std::vector<std::unique_ptr<Sink>> sinks;
  std::map<std::string, SinkPolicy> sink_policies;
  std::optional<PromptBudgetOptions> budget;
  for (const auto& [name, section] : root.sections("sinks")) {
    if (options.sinks) sinks.push_back(registry.sink(section.str("type"))->create(name, section));
    sink_policies[name] = {section.strings("fields"), section.str("basis"),
                           section.str("audience")};
    if (sink_policies[name].student()) {
      // One budget for all of them: validation made sure they agree.
      std::string zone = section.str("timezone");
      budget = PromptBudgetOptions{int(section.integer("prompt_budget")),
                                   zone.empty() ? root.section("engine").str("timezone") : zone};
    }
  }
  auto letters = letter_hook_of(config);
  auto engine_section = root.section("engine");
  TimeZones zones{engine_section.str("timezone"), engine_section.string_map("site_timezones")};
  for (const auto& zone : [&] {
         auto all = std::vector<std::string>{zones.fallback};
         for (const auto& [site, z] : zones.by_site) all.push_back(z);
         return all;
       }()) {
    if (!zone_exists(zone)) {
      throw std::runtime_error("engine: unknown time zone \"" + zone +
                               "\" (expected an IANA name such as America/Chicago)");
    }
  }
  auto engine = std::make_unique<Engine>(
      std::move(store), std::move(sources), std::move(hooks), std::move(sinks),
      std::size_t(engine_section.integer("batch")), std::move(policies), std::move(zones));
  // Privacy fails closed where there is a people feed to wait for.
  bool hold = engine_section.str("unknown_people") == "hold";
  if (engine_section.str("unknown_people") == "auto") {
    for (const auto& [name, section] : root.sections("sources")) {
      auto type = section.str("type");
      const auto* node = section.node();
      const auto* entities = node ? node->get(type == "sql" ? "queries" : "files") : nullptr;
      if ((type == "sql" || type == "csv") && entities && entities->get("people")) hold = true;
    }
  }
  engine->dispatcher_.hold_unknown_people(hold);
  // 1 too: the per-student hooks' places are moved back from partitions to one, if a run
  // before had more (align_partitions).
  engine->spread_dispatch(int(engine_section.integer("partitions")), std::move(per_student));
  engine->dispatcher_.limit_batch_time(
      engine_section.has("batch_time")            ? engine_section.duration("batch_time")
      : engine->store_->backend() == "postgresql" ? std::chrono::milliseconds(1000)
                                                  : std::chrono::milliseconds(10));
  engine->letters_ = letters;
  engine->sink_policies_ = std::move(sink_policies);
  if (budget) engine->budget_.emplace(*engine->store_, std::move(*budget), engine->batch_);
  if (engine->store_->backend() == "postgresql") {
    engine->run_exclusively(std::chrono::duration_cast<std::chrono::seconds>(
        config.section("store").duration("lease")));
  }
  return engine;
}

std::optional<config::Section> letter_hook_of(const config::Config& config) {
  std::optional<config::Section> letters;
  for (const auto& [name, section] : config.section().sections("hooks")) {
    std::string type = section.has("type") ? section.str("type") : name;
    if (type == "letter_candidates" && section.boolean("enabled")) letters = section;
  }
  return letters;
}

const ProcessRecord& this_process() {
  static const ProcessRecord process = [] {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
    ProcessRecord p;
    p.host = host;
    p.pid = ::getpid();
    p.started = format_time(
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    p.instance = p.host + ":" + std::to_string(p.pid) + ":" + std::to_string(ms);
    return p;
  }();
  return process;
}

void Engine::run_exclusively(std::chrono::seconds ttl, const std::string& holder) {
  exclusive_ = ttl;
  holder_ = holder.empty() ? this_process().instance : holder;
}

void Engine::lost_lease() {
  if (!exclusive_) return;
  epoch_.reset();
  store_->set_fence(std::nullopt);
}

bool Engine::claim_lease(bool heartbeat) {
  auto epoch = store_->hold_lease(kEngineLease, holder_, *exclusive_);
  if (heartbeat || !epoch) {
    ProcessRecord beat = this_process();
    beat.instance = holder_;
    beat.leases = epoch ? kEngineLease : "";
    const auto parts = parts_held();
    if (!parts.empty()) beat.leases += (beat.leases.empty() ? "" : " ") + parts;
    store_->heartbeat(beat);
  }
  if (!epoch) {
    if (epoch_) {
      log::warn("engine", "another process took the engine lease over; standing by",
                {{"epoch", *epoch_}});
    } else if (!announced_standby_) {
      log::info("engine",
                "another process runs the engine on this store; standing by (the listener "
                "still takes events in)");
    }
    announced_standby_ = true;
    epoch_.reset();
    store_->set_fence(std::nullopt);
    return false;
  }
  if (epoch != epoch_) {
    log::info("engine", "holding the engine lease", {{"epoch", *epoch}});
    // Digests this process had under way under an earlier epoch are the digests table's
    // to retry now, not this memory's to record. Per-action deliveries are not: each
    // answer is recorded under its delivery's claim, and refused if the claim moved on.
    digests_in_flight_.clear();
    epoch_ = epoch;
    announced_standby_ = false;
    store_->set_fence(Fence{kEngineLease, holder_, *epoch});
  }
  return true;
}

std::string partition_lease(int part) {
  return "dispatch:" + std::to_string(part);
}

std::string Engine::parts_held() const {
  // "dispatch:" alone: this process takes part, and holds none yet.
  if (!exclusive_ || dispatcher_.partitions() <= 1 || !parts_match_) return "";
  std::string out = "dispatch:";
  for (const auto& [part, epoch] : parts_) {
    out += (out.back() == ':' ? "" : ",") + std::to_string(part);
  }
  return out;
}

void Engine::claim_parts(bool holder) {
  const int n = dispatcher_.partitions();
  if (!exclusive_) {
    // Alone on the store: every partition, no lease.
    for (int p = 0; p < n; ++p) parts_.emplace(p, 0);
    parts_match_ = true;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!parts_claimed_ || now - *parts_claimed_ >= *exclusive_ / 3) {
    parts_claimed_ = now;
    if (!holder) {
      // The number the store keeps progress for: the engine's holder sets it from its config.
      auto stored = store_->cursor(kPartitionsState, kPartitionsKey);
      parts_match_ = stored && std::atoi(stored->c_str()) == n;
      if (!parts_match_) {
        if (!parts_warned_) {
          log::warn("engine",
                    "the store's dispatch partitions are not this config's engine.partitions "
                    "(yet); not dispatching any until the engine's holder runs with this number",
                    {{"partitions", std::int64_t(n)}});
        }
        parts_warned_ = true;
        for (const auto& [part, epoch] : parts_) {
          store_->release_lease(partition_lease(part), holder_);
        }
        parts_.clear();
        return;
      }
      parts_warned_ = false;
    }
    // Renewed; lost (taken over after this process was paused past the lease) goes.
    for (auto it = parts_.begin(); it != parts_.end();) {
      auto epoch = store_->hold_lease(partition_lease(it->first), holder_, *exclusive_);
      if (epoch && *epoch == it->second) {
        ++it;
        continue;
      }
      log::warn("engine", "another process took a dispatch partition over",
                {{"partition", it->first}});
      if (epoch) store_->release_lease(partition_lease(it->first), holder_);
      it = parts_.erase(it);
    }
  }
  if (!parts_match_) return;
  // The processes seen within a lease that take part (their heartbeat names "dispatch:";
  // not one whose engine.partitions differs, nor an older build) share the partitions. Each
  // steps, and so beats, far more often; one that died stops counting when its leases have
  // run out. Asked at every step, so that a newcomer gets its share at once.
  std::size_t live = 1;  // this one
  for (const auto& p : store_->live_processes(*exclusive_)) {
    if (p.instance != holder_ && p.leases.find("dispatch:") != std::string::npos) ++live;
  }
  const std::size_t share = (std::size_t(n) + live - 1) / live;
  while (parts_.size() > share) {  // the last ones go back, for a newcomer to take
    auto last = std::prev(parts_.end());
    store_->release_lease(partition_lease(last->first), holder_);
    log::info("engine", "gave a dispatch partition back", {{"partition", last->first}});
    parts_.erase(last);
  }
  if (parts_.size() >= share) return;
  // Free ones, at every step until this process has its share (a dead holder's run out
  // when they run out), from a place of this process's own so that processes try
  // different ones first.
  const auto start = std::hash<std::string>{}(holder_) % std::size_t(n);
  for (std::size_t i = 0; i < std::size_t(n) && parts_.size() < share; ++i) {
    const int p = int((start + i) % std::size_t(n));
    if (parts_.count(p)) continue;
    if (auto epoch = store_->hold_lease(partition_lease(p), holder_, *exclusive_)) {
      parts_[p] = *epoch;
      log::info("engine", "holding a dispatch partition", {{"partition", p}, {"epoch", *epoch}});
    }
  }
}

DispatchStats Engine::run_parts(TimePoint now, bool holder) {
  DispatchStats total;
  claim_parts(holder);
  if (!parts_match_) return total;
  // Each partition's commits are fenced by its own lease; the engine's fence (this
  // process's, if it holds the engine) is put back after.
  std::optional<Fence> engine_fence;
  if (exclusive_ && epoch_) engine_fence = Fence{kEngineLease, holder_, *epoch_};
  struct Restore {
    Store& store;
    std::optional<Fence> fence;
    ~Restore() { store.set_fence(fence); }
  } restore{*store_, engine_fence};
  const auto parts = parts_;
  for (const auto& [part, epoch] : parts) {
    if (exclusive_) store_->set_fence(Fence{partition_lease(part), holder_, epoch});
    try {
      total += dispatcher_.run_partition(now, part);
    } catch (const LeaseLost&) {
      log::warn("engine",
                "another process took a dispatch partition over; its batch was rolled back",
                {{"partition", part}});
      parts_.erase(part);
    }
  }
  return total;
}

void Engine::leave() {
  try {
    const std::string me = holder_.empty() ? this_process().instance : holder_;
    if (exclusive_) {
      store_->set_fence(std::nullopt);
      if (epoch_) store_->release_lease(kEngineLease, me);
      epoch_.reset();
      for (const auto& [part, epoch] : parts_) store_->release_lease(partition_lease(part), me);
      parts_.clear();
    }
    store_->forget_process(me);
  } catch (const std::exception& e) {
    log::warn("engine", "could not take this process out of the process table",
              {{"error", soci_util::message_of(e)}});
  }
}

StepStats Engine::step(TimePoint now) {
  StepStats stats;
  if (exclusive_ && !claim_lease()) return stand_by(now);
  if (announce_ && !exclusive_) {
    // In a transaction: SQLite's writers take turns through the store's own lock.
    Transaction tx(*store_);
    store_->heartbeat(this_process());
    tx.commit();
  }
  // Before anything this step makes: where the budget and each sink's stream begin.
  align_streams();
  for (const auto& source : sources_) {
    auto last = last_poll_.find(source->name());
    if (last != last_poll_.end() && now - last->second < source->poll_interval()) continue;
    try {
      stats.polled += source->poll(*store_, now);
      last_poll_[source->name()] = now;
    } catch (const std::exception& e) {
      ++stats.source_failures;
      log::warn("engine", "source poll failed; retrying at the next interval",
                {{"source", source->name()}, {"error", soci_util::message_of(e)}});
      last_poll_[source->name()] = now;
    }
  }
  // The progress kept per partition, for the number configured (engine.partitions; 1 too,
  // after a run with more): once per change of hands of the lease, whose holder alone
  // changes it.
  if (const std::int64_t at = epoch_.value_or(0); aligned_at_ != at) {
    Transaction tx(*store_);
    dispatcher_.align_partitions();
    tx.commit();
    aligned_at_ = at;
    parts_match_ = true;
  }
  // Dispatching may schedule timers that are already due (a rotation that started
  // before it was read), so alternate until both are quiet.
  for (;;) {
    std::size_t fired = fire_due_timers(*store_, now, batch_);
    stats.fired += fired;
    auto d = dispatcher_.run(now);
    if (dispatcher_.partitions() > 1) {
      auto p = run_parts(now, true);
      d += p;
      if (p.events == 0) d += dispatcher_.release_known(now);
    }
    stats.dispatch += d;
    if (fired == 0 && d.events == 0) break;
  }
  if (budget_) {
    StoreContext context(*store_, memory(), TimePoint{});
    stats.budget = budget_->run(now, [&](const Action& action) {
      return permitted(context, action) && !(action.expires && *action.expires <= now) &&
             !withdrawal(context, action);
    });
    if (telemetry_) {
      for (auto [decision, n] :
           {std::pair{"sent", stats.budget.sent}, std::pair{"deferred", stats.budget.deferred},
            std::pair{"dropped", stats.budget.dropped}}) {
        if (n > 0) {
          telemetry_->count("rapport_prompts_total", std::string("decision=\"") + decision + "\"",
                            double(n));
        }
      }
    }
  }
  // Nothing leaves unless the lease is still this process's: a step that ran longer than
  // the lease (or was paused) stops here, before it sends what another process now sends.
  if (exclusive_ && !claim_lease(false)) {
    auto standing = stand_by(now);
    stats.fired += standing.fired;
    stats.delivered = standing.delivered;
    stats.standby = true;
    return stats;
  }
  stats.delivered = deliver(now);
  // The engine's clock as of its last step (a simulated run's too): what `explain` and
  // others default to. Written at most once a minute of that clock.
  if (!last_step_written_ || now - *last_step_written_ >= std::chrono::minutes(1) ||
      now < *last_step_written_) {
    store_->set_cursor(kEngineState, kLastStep, format_time(now));
    last_step_written_ = now;
  }
  if (telemetry_) publish();
  return stats;
}

void Engine::publish() {
  try {
    auto last_event = store_->last_event_seq();
    auto last_action = store_->last_action_seq();
    std::int64_t slowest = last_event;
    for (const auto& [consumer, seq] : store_->all_progress()) {
      if (!consumer.starts_with("sink:") && !consumer.starts_with("engine:")) {
        slowest = std::min(slowest, seq);
      }
    }
    telemetry_->set("rapport_inbox_depth", "", double(last_event - slowest));
    const auto last_release = budget_ ? store_->last_release_seq() : 0;
    for (const auto& sink : sinks_) {
      if (sink->staff()) continue;
      auto behind = (sink_policies_[sink->name()].student() ? last_release : last_action) -
                    store_->progress("sink:" + sink->name());
      auto counts = store_->delivery_counts(sink->name());
      auto pending = counts.find("pending");
      if (pending != counts.end()) behind += pending->second;
      telemetry_->set("rapport_outbox_depth", "sink=\"" + sink->name() + "\"", double(behind));
    }
    for (const auto& state : store_->source_states()) {
      telemetry_->set_component("source:" + state.source, state.up, state.up ? "" : state.message);
    }
    for (const auto& [source, at] : last_poll_) {
      telemetry_->set(
          "rapport_source_last_poll_timestamp_seconds", "source=\"" + source + "\"",
          double(std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count()));
    }
    telemetry_->set_component("engine", true);
  } catch (const std::exception&) {
    telemetry_->set_component("engine", false, "cannot read the store");
  }
}

Source* Engine::source(const std::string& name) const {
  for (const auto& s : sources_) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

std::unique_ptr<HookContext> Engine::context(TimePoint now) {
  return std::make_unique<StoreContext>(*store_, memory(), now);
}

bool Engine::stale_at_delivery(const HookContext& context, const Action& action, TimePoint now) {
  if (action.expires && *action.expires <= now) {
    store_->record_expired(action, "delivery", now);
    log::info("engine", "action expired before a sink took it; not sent",
              {{"action", action.id}, {"hook", action.hook}});
    return true;
  }
  auto why = withdrawal(context, action);
  if (!why) return false;
  store_->record_expired(action, "withdrawn", now);
  log::info("engine", "action withdrawn before a sink took it; not sent",
            {{"action", action.id}, {"hook", action.hook}, {"why", *why}});
  return true;
}

std::vector<OutboxAction> Engine::next_for(const Sink& sink, std::size_t limit) {
  auto at = store_->progress("sink:" + sink.name());
  return sink_policies_[sink.name()].student() ? store_->released_after(at, limit)
                                               : store_->actions_after(at, limit);
}

void Engine::align_streams() {
  if (streams_aligned_) return;
  Transaction tx(*store_);
  if (budget_) budget_->start();
  for (const auto& sink : sinks_) {
    if (sink->staff()) continue;  // it reads no action
    const std::string key = "stream:" + sink->name();
    const std::string consumer = "sink:" + sink->name();
    const bool student = sink_policies_[sink->name()].student();
    const std::string now_reads = student ? "released" : "outbox";
    auto before = store_->cursor(kEngineState, key);
    const bool started = store_->all_progress().count(consumer) > 0;
    // A sink from before audiences existed read the outbox.
    if (!before && started) before = "outbox";
    if (before != now_reads) {
      // A new student sink, or one whose audience changed, starts at the end of what it
      // reads now (a new host sink reads the outbox from its start, as it always did).
      if (before || student) {
        store_->set_progress(consumer,
                             student ? store_->last_release_seq() : store_->last_action_seq());
      }
      if (before) {
        log::info("engine", "sink audience changed; it starts with what comes next",
                  {{"sink", sink->name()}, {"reads", now_reads}});
      }
      store_->set_cursor(kEngineState, key, now_reads);
    }
  }
  tx.commit();
  streams_aligned_ = true;
}

std::size_t Engine::deliver(TimePoint now) {
  std::size_t delivered = 0;
  for (const auto& sink : sinks_) {
    if (auto* each = sink->per_action()) {
      delivered += deliver_each(*each, now, true);
      continue;
    }
    if (auto* digest = sink->digest()) {
      delivered += deliver_digests(*digest, now);
      continue;
    }
    if (auto* staff = sink->staff()) {
      delivered += deliver_staff(*staff, now);
      continue;
    }
    const SinkPolicy& policy = sink_policies_[sink->name()];
    std::string consumer = "sink:" + sink->name();
    for (;;) {
      auto pending = next_for(*sink, batch_);
      if (pending.empty()) break;
      // Opt-out holds at delivery too: whoever opted out since the action was made is
      // not written to about, nor suggested (their actions are passed over for good).
      StoreContext now_context(*store_, memory(), TimePoint{});
      std::vector<Outgoing> batch;
      std::vector<Disclosure> disclosed;
      auto sent_at = wall_clock();
      for (const auto& [seq, action] : pending) {
        if (!permitted(now_context, action) || stale_at_delivery(now_context, action, now)) {
          continue;
        }
        auto rendered = render_for_delivery(action, *store_, policy.fields);
        batch.push_back({seq, action.id, std::move(rendered.body)});
        disclosed.push_back({action.id, action.student_id, action.contact_id, rendered.fields,
                             sink->name(), sink->destination(), policy.basis, sent_at});
      }
      Delivery result = Delivery::ok;
      try {
        if (!batch.empty()) result = sink->deliver(batch);
      } catch (const std::exception& e) {
        log::warn("engine", "sink threw",
                  {{"sink", sink->name()}, {"error", soci_util::message_of(e)}});
        result = Delivery::retry;
      }
      bool& failing = sink_failing_[sink->name()];
      if (result != Delivery::ok) {
        if (!failing) {
          log::warn("engine", "sink is not accepting actions; retrying next step",
                    {{"sink", sink->name()}, {"pending_from", pending.front().seq}});
        }
        failing = true;
        break;
      }
      if (failing) log::info("engine", "sink recovered", {{"sink", sink->name()}});
      failing = false;
      Transaction tx(*store_);
      store_->set_progress(consumer, pending.back().seq);
      for (const auto& d : disclosed) store_->add_disclosure(d);
      tx.commit();
      delivered += batch.size();
    }
  }
  return delivered;
}

StepStats Engine::stand_by(TimePoint now) {
  StepStats stats;
  stats.standby = true;
  if (!work_standing_by_) return stats;
  // What every process sharing the store does, whoever holds the lease: fire the timers
  // that are due (each taken under a row lock, a subject's in order) and send the
  // deliveries it can claim. A timer that cannot be fired does not keep it from sending.
  try {
    stats.fired = fire_due_timers(*store_, now, batch_);
  } catch (const std::exception& e) {
    log::warn("engine", "could not fire due timers while standing by; trying at the next step",
              {{"error", soci_util::message_of(e)}});
  }
  if (dispatcher_.partitions() > 1) {
    try {
      stats.dispatch = run_parts(now, false);
    } catch (const std::exception& e) {
      log::warn("engine",
                "could not dispatch a partition while standing by; trying at the next step",
                {{"error", soci_util::message_of(e)}});
    }
  }
  stats.delivered = deliver_claimed(now);
  return stats;
}

std::size_t Engine::deliver_claimed(TimePoint now) {
  std::size_t delivered = 0;
  for (const auto& sink : sinks_) {
    if (auto* each = sink->per_action()) delivered += deliver_each(*each, now, false);
  }
  return delivered;
}

void Engine::record_result(PerActionSink& sink, const SendResult& result, TimePoint now) {
  auto found = in_flight_.find(result.delivery);
  if (found == in_flight_.end()) return;
  const InFlight& sent = found->second;
  bool ok = result.status >= 200 && result.status < 300;
  std::string outcome;
  // Another process took the delivery over (this one was stopped or slow past its claim):
  // it sends and records it; this answer is not this process's to record.
  auto refuse = [&] {
    ++results_refused_;
    log::warn("engine",
              "a delivery's answer came after another process had taken it over; not recorded",
              {{"sink", sink.name()}, {"delivery", sent.record.id}, {"claim", sent.record.claim}});
    if (telemetry_) {
      telemetry_->count("rapport_delivery_results_refused_total", "sink=\"" + sink.name() + "\"");
    }
    in_flight_.erase(found);
  };
  Transaction tx(*store_);
  // The row as it is now: an operator may have replayed it while this attempt was out.
  auto current = store_->delivery(sent.record.id);
  if (!current) {
    tx.commit();
    in_flight_.erase(found);
    return;
  }
  if (current->claim != sent.record.claim) return refuse();
  DeliveryRecord d = *current;
  bool replayed = d.attempts != sent.record.attempts || d.state != sent.record.state;
  int attempt = sent.record.attempts + 1;
  if (!replayed) {
    d.attempts = attempt;
    d.last_status = result.status;
    d.last_error = ok ? "" : result.snippet;
  }
  if (ok) {
    d.state = "delivered";
    outcome = "delivered";
    store_->add_disclosure({sent.action_id, sent.student_id, sent.contact_id, sent.fields,
                            sink.name(), sink.destination(), sink_policies_[sink.name()].basis,
                            now});
  } else if (result.status == 410) {
    // The receiver says the endpoint is gone: stop sending there until an operator
    // enables it again; this action waits with the others.
    outcome = "disabled";
    if (!replayed) {
      d.attempts = sent.record.attempts;
      d.next_at = now;
    }
    store_->set_sink_disabled(sink.name(), true, "the receiver answered 410 Gone", now);
    log::error("engine",
               "webhook endpoint answered 410 Gone; sink disabled until "
               "`rapport deliveries enable`",
               {{"sink", sink.name()}});
  } else if (replayed) {
    outcome = "retry";  // the replay schedules the next attempt itself
  } else if (sink.permanent(result.status)) {
    d.state = "dead";
    outcome = "dead";
  } else if (auto delay = sink.retry_delay(d.attempts)) {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(*delay);
    // Times are kept in whole seconds: one more makes sure Retry-After has passed.
    if (result.retry_after) wait = *result.retry_after + std::chrono::seconds(1);
    d.next_at = now + wait;
    outcome = "retry";
  } else {
    d.state = "dead";
    outcome = "dead";
  }
  store_->add_attempt(
      {d.id, attempt, now, result.duration.count(), result.status, outcome, result.snippet});
  // Taken over between the read above and here: nothing of this answer is written.
  if (!store_->update_delivery(d)) return refuse();
  tx.commit();
  in_flight_.erase(found);  // only once recorded: a failed commit is recorded again later
  if (telemetry_) {
    telemetry_->count("rapport_deliveries_total",
                      "sink=\"" + sink.name() + "\",result=\"" + outcome + "\"");
    if (outcome == "retry") {
      telemetry_->count("rapport_delivery_retries_total", "sink=\"" + sink.name() + "\"");
    }
  }
  if (outcome == "dead") {
    log::warn("engine", "action moved to the dead letter list",
              {{"sink", sink.name()}, {"action", d.action_id}, {"status", result.status}});
  }
}

// `clock_now` judges expiry (the simulated clock of `rapport run`); attempts and their
// schedule keep the wall clock.
std::size_t Engine::drain(std::chrono::milliseconds at_most) {
  const auto until = std::chrono::steady_clock::now() + at_most;
  while ((!in_flight_.empty() || !digests_in_flight_.empty()) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (auto& sink : sinks_) {
      if (auto* each = sink->per_action()) record_finished(*each, wall_clock());
      if (auto* digest = sink->digest()) record_sends(*digest, *digest, wall_clock());
      if (auto* staff = sink->staff()) record_sends(*staff, *staff, wall_clock());
    }
  }
  return in_flight_.size() + digests_in_flight_.size();
}

std::size_t Engine::record_finished(PerActionSink& sink, TimePoint now) {
  std::size_t delivered = 0;
  // Results not yet recorded (the store failed last time) come first.
  auto& waiting = unrecorded_[sink.name()];
  for (auto& result : sink.finished()) waiting.push_back(std::move(result));
  std::vector<SendResult> still;
  for (auto& result : waiting) {
    try {
      record_result(sink, result, now);
      delivered += result.status >= 200 && result.status < 300 ? 1 : 0;
    } catch (const std::exception& e) {
      if (still.empty()) {
        log::warn("engine", "cannot record delivery results; trying again next step",
                  {{"sink", sink.name()}, {"error", soci_util::message_of(e)}});
      }
      still.push_back(std::move(result));
    }
  }
  waiting = std::move(still);
  return delivered;
}

std::size_t Engine::deliver_each(PerActionSink& sink, TimePoint clock_now, bool enqueue) {
  auto now = wall_clock();
  std::size_t delivered = record_finished(sink, now);
  // New actions become deliveries (progress and queue in one transaction).
  std::string consumer = "sink:" + sink.name();
  while (enqueue) {
    auto pending = next_for(sink, batch_);
    if (pending.empty()) break;
    Transaction tx(*store_);
    for (const auto& [seq, action] : pending) {
      store_->enqueue_delivery(sink.name(), seq, action.id, now);
    }
    store_->set_progress(consumer, pending.back().seq);
    tx.commit();
  }
  if (store_->sink_disabled(sink.name())) return delivered;
  auto room = sink.room(std::chrono::steady_clock::now());
  if (room == 0) return delivered;
  StoreContext now_context(*store_, memory(), TimePoint{});
  const SinkPolicy& policy = sink_policies_[sink.name()];
  // Taken by claims, so that several processes share the sending and none sends what
  // another has under way. A claim holds for the longest a send takes plus the lease: a
  // process that dies or stops holds its deliveries no longer than that, then another
  // sends them (with the same webhook-id) and the late answer is refused (record_result).
  // One process alone on its store (SQLite) holds nothing past this call: what it has
  // under way is in in_flight_ (taken again at each step, so asked for on top of `room`),
  // and a restart sends it again at once.
  const auto hold = exclusive_
                        ? std::chrono::ceil<std::chrono::seconds>(sink.longest_send()) + *exclusive_
                        : std::chrono::seconds(0);
  std::size_t limit = room;
  if (hold.count() == 0) {
    for (const auto& [id, sent] : in_flight_) limit += sent.record.sink == sink.name() ? 1 : 0;
  }
  const std::string& holder = holder_.empty() ? this_process().instance : holder_;
  auto taken = store_->claim_deliveries(sink.name(), now, limit, hold, holder);
  // First what this process has under way: nothing below may throw before these claims
  // are known, or their answers would be refused.
  std::vector<DeliveryRecord> to_send;
  for (auto& d : taken) {
    auto mine = in_flight_.find(d.id);
    if (mine == in_flight_.end()) {
      to_send.push_back(std::move(d));
    } else if (d.claim == mine->second.record.claim + 1) {
      mine->second.record.claim = d.claim;  // still this process's send, now under this claim
    } else {
      // Another process took it over meanwhile (this one was stopped): the send under way
      // is no longer this process's to record (its answer will be refused: no claim is 0),
      // and the claim just taken is given back for whoever sends it next.
      mine->second.record.claim = 0;
      store_->update_delivery(d);
    }
  }
  std::size_t next = 0;
  try {
    for (; next < to_send.size(); ++next) {
      auto& d = to_send[next];
      if (room == 0) {
        store_->update_delivery(d);  // taken but not sent: given back for whoever comes next
        continue;
      }
      auto action = store_->action_with_id(d.action_id);
      if (!action || !permitted(now_context, *action) ||
          stale_at_delivery(now_context, *action, clock_now)) {
        // Opted out since, gone, expired or withdrawn: never sent, kept visible as withheld.
        d.state = "withheld";
        Transaction tx(*store_);
        store_->update_delivery(d);
        tx.commit();
        continue;
      }
      auto rendered = render_for_delivery(*action, *store_, policy.fields);
      in_flight_[d.id] = {d, action->id, action->student_id, action->contact_id, rendered.fields};
      sink.start({d.id, d.action_id, std::move(rendered.body)});
      --room;
    }
  } catch (...) {
    // What was taken and not sent goes back at once rather than when its claim runs out.
    for (; next < to_send.size(); ++next) {
      try {
        if (!in_flight_.count(to_send[next].id)) store_->update_delivery(to_send[next]);
      } catch (const std::exception&) {
        break;  // the store is failing: the claims run out by themselves
      }
    }
    throw;
  }
  return delivered;
}

Rendered render_for_delivery(const Action& action, Store& store,
                             const std::vector<std::string>& allowed) {
  auto envelope = boost::json::parse(to_json(action));
  auto& data = envelope.as_object()["data"].as_object();
  if (auto contact = store.person(action.contact_id)) {
    boost::json::object details{
        {"id", contact->id}, {"role", to_string(contact->role)}, {"name", contact->name}};
    if (contact->email) details["email"] = *contact->email;
    if (contact->specialty) details["specialty"] = *contact->specialty;
    data["contact_details"] = std::move(details);
  }
  auto allows = [&](const std::string& field) {
    return allowed.empty() || std::find(allowed.begin(), allowed.end(), field) != allowed.end();
  };
  std::string fields;
  auto note = [&](const std::string& field) { fields += (fields.empty() ? "" : ",") + field; };
  boost::json::object kept;
  for (auto& [key, value] : data) {
    std::string k(key);
    if (k == "schema") {
      kept[key] = value;
    } else if (k == "contact_details" && value.is_object() && !allows(k)) {
      boost::json::object some;
      for (auto& [detail, v] : value.as_object()) {
        std::string name = k + "." + std::string(detail);
        if (allows(name)) {
          some[detail] = v;
          note(name);
        }
      }
      if (!some.empty()) kept[key] = std::move(some);
    } else if (allows(k)) {
      kept[key] = value;
      note(k);
    }
  }
  data = std::move(kept);
  // The envelope's subject is the student's id too: it leaves only with `student`.
  if (!allows("student")) envelope.as_object().erase("subject");
  return {boost::json::serialize(envelope), fields};
}

}  // namespace rapport
