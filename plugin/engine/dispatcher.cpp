#include "engine/dispatcher.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>

#include <soci/soci.h>
#include <boost/json.hpp>

#include "engine/mirror.hpp"
#include "engine/source.hpp"
#include "engine/store_context.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport {
namespace {

// Keeps the memory in step with the mirror, after the event was applied to it. Whom an
// evaluation or interests are about is read from the data, never from the envelope's
// subject (optional, and nobody checks it against the data). `evaluated_before`: whom the
// evaluation was about before this event, if it was stored already.
void update_graph(RelationshipGraph& graph, const HookContext& context, const Event& event,
                  const std::optional<std::string>& evaluated_before) {
  switch (event.type) {
    case EventType::person_updated:
      graph.put_person(person_from_json(event.payload));
      return;
    case EventType::evaluation_submitted:
      if (evaluated_before) graph.touched(*evaluated_before);
      graph.touched(evaluation_from_json(event.payload).student_id);
      return;
    case EventType::interests_changed:
      graph.touched(
          std::string(boost::json::parse(event.payload).as_object().at("person").as_string()));
      return;
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
    case EventType::rotation_cancelled:
    case EventType::team_changed: {
      std::string id =
          event.type == EventType::team_changed
              ? std::string(boost::json::parse(event.payload).at("rotation").as_string())
              : rotation_id_from_json(event.payload);
      if (auto r = context.rotation(id)) graph.put_rotation(*r);
      return;
    }
    case EventType::action_completed: {
      auto [student, contact] = completion_of(event);
      graph.put_touch(student, contact, std::chrono::floor<std::chrono::days>(event.occurred));
      return;
    }
    default:
      return;
  }
}

bool subscribes(const Hook& hook, EventType type) {
  auto types = hook.subscribed();
  return std::find(types.begin(), types.end(), type) != types.end();
}

// 1 s, 2 s, 4 s ... capped at 5 min, each within ±20 %.
std::chrono::seconds backoff(int attempts) {
  static std::mt19937 rng{std::random_device{}()};
  double base = std::min(300.0, double(1LL << std::min(attempts - 1, 20)));
  double jitter = 0.8 + 0.4 * (double(rng() % 1000) / 1000.0);
  return std::chrono::seconds(std::max<long long>(1, static_cast<long long>(base * jitter)));
}

}  // namespace

bool permitted(const HookContext& context, const Action& action) {
  return context.reachable(action.student_id) && context.reachable(action.contact_id);
}

namespace {
std::string dates_of(const Rotation& r) {
  return format_date(r.start) + "/" + format_date(r.end);
}
}  // namespace

void stamp_rotation(const HookContext& context, Action& action) {
  auto id = action.evidence.find("rotation");
  if (id == action.evidence.end() || action.evidence.count("rotation_dates")) return;
  if (auto rotation = context.rotation(id->second)) {
    action.evidence["rotation_dates"] = dates_of(*rotation);
  }
}

std::optional<std::string> withdrawal(const HookContext& context, const Action& action) {
  auto id = action.evidence.find("rotation");
  if (id == action.evidence.end()) return std::nullopt;
  // A rotation the mirror does not know (a plugin's own ids) is none of this rule's.
  auto rotation = context.rotation(id->second);
  if (!rotation) return std::nullopt;
  if (rotation->status == RotationStatus::cancelled) return "its rotation was cancelled";
  // Moved: the day the action hangs on changed. Introductions and contacts hang on the
  // start (an end extended later changes nothing for them), a thank-you and a mentor
  // suggestion on the end; follow-ups and letters on neither.
  auto dates = action.evidence.find("rotation_dates");
  if (dates != action.evidence.end()) {
    const std::string now = dates_of(*rotation), then = dates->second;
    const bool start_moved = now.substr(0, 10) != then.substr(0, 10);
    const bool end_moved = now.size() < 11 || then.size() < 11 || now.substr(11) != then.substr(11);
    switch (action.type) {
      case ActionType::introduce:
      case ActionType::peer_connect:
      case ActionType::program_contact:
      case ActionType::specialty_contact:
      case ActionType::opportunity:
        if (start_moved) return "its rotation moved";
        break;
      case ActionType::thank_you:
      case ActionType::mentor_suggest:
        if (end_moved) return "its rotation moved";
        break;
      case ActionType::follow_up:
      case ActionType::letter_candidate:
        break;
    }
  }
  if (action.type == ActionType::introduce || action.type == ActionType::thank_you) {
    bool on_team = false;
    for (const auto& m : rotation->team) on_team = on_team || m.person_id == action.contact_id;
    if (!on_team) return "its contact left the team";
  }
  return std::nullopt;
}

Dispatcher::Dispatcher(Store& store, const std::vector<std::unique_ptr<Hook>>& hooks,
                       std::size_t batch, std::map<std::string, HookPolicy> policies,
                       TimeZones zones)
    : store_(store),
      hooks_(hooks),
      batch_(batch),
      policies_(std::move(policies)),
      zones_(std::move(zones)) {}

HookPolicy Dispatcher::policy(const std::string& hook) const {
  auto it = policies_.find(hook);
  return it == policies_.end() ? HookPolicy{} : it->second;
}

const RelationshipGraph& Dispatcher::graph() {
  if (!graph_ready_) {
    const auto began = std::chrono::steady_clock::now();
    graph_.rebuild(store_);
    graph_ready_ = true;
    log::info("dispatcher", "relationship memory built from the mirror",
              {{"ms", std::int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - began)
                                       .count())}});
  }
  return graph_;
}

bool Dispatcher::expired(const Action& action, TimePoint now, const std::string& stage,
                         DispatchStats& stats) {
  if (!action.expires || *action.expires > now) return false;
  // Made (and maybe sent) before: a hook offering it again is no expiry.
  if (stage == "made" && store_.action_with_id(action.id)) return true;
  ++stats.expired;
  store_.record_expired(action, stage, now);
  log::info("dispatcher", "action expired; not sent",
            {{"action", action.id}, {"hook", action.hook}, {"stage", stage}});
  return true;
}

void Dispatcher::release(const Action& action, const HookContext& context, TimePoint now,
                         DispatchStats& stats) {
  if (!context.person(action.student_id) || !context.person(action.contact_id)) return;
  store_.drop_held(action.id);
  if (expired(action, now, "held", stats)) return;
  if (auto why = withdrawal(context, action)) {
    ++stats.withdrawn;
    store_.record_expired(action, "withdrawn", now);
    log::info("dispatcher", "held action withdrawn; not sent",
              {{"action", action.id}, {"hook", action.hook}, {"why", *why}});
    return;
  }
  if (!permitted(context, action)) {
    ++stats.suppressed;
    return;
  }
  if (store_.add_action(action)) ++stats.released;
}

void Dispatcher::release_held(const std::string& person_id, const HookContext& context,
                              TimePoint now, DispatchStats& stats) {
  // Asked once per transaction: nearly always nothing is held (a backfill's thousands of
  // people would otherwise cost a statement each).
  if (!any_held_) any_held_ = store_.held_count() > 0;
  if (!*any_held_) return;
  for (const auto& action : store_.held_naming(person_id)) {
    release(action, context, now, stats);
  }
}

void Dispatcher::expire_held(TimePoint now, DispatchStats& stats) {
  Transaction tx(store_);
  for (const auto& action : store_.held_expired(now)) {
    store_.drop_held(action.id);
    expired(action, now, "held", stats);
  }
  tx.commit();
}

DispatchStats Dispatcher::run(TimePoint now) {
  return drain(now, false, nullptr);
}

DispatchStats Dispatcher::run_mirror(TimePoint now,
                                     const std::function<void(std::size_t)>& progress) {
  return drain(now, true, progress);
}

DispatchStats Dispatcher::drain(TimePoint now, bool mirror_only,
                                const std::function<void(std::size_t)>& progress) {
  DispatchStats stats;
  if (!mirror_only) expire_held(now, stats);
  try {
    for (;;) {
      DispatchStats before = stats;
      auto batch = run_batch(now, stats, mirror_only);
      if (batch == Batch::done) break;
      if (batch == Batch::needs_memory) {
        stats = before;  // the batch was rolled back: it runs again
        graph();
      } else if (progress) {
        progress(stats.events);
      }
    }
  } catch (...) {
    graph_ready_ = false;  // it may hold what was rolled back: rebuild at the next run
    throw;
  }
  return stats;
}

void Dispatcher::apply(std::int64_t seq, const Event& event, StoreContext& context, TimePoint now,
                       DispatchStats& stats) {
  bool applied = false;
  // What the context remembers goes first: an event that fails part way may have
  // written some of its rows (nothing rolls that part back), and later events of the
  // batch must read them.
  context.mirror_changed();
  std::optional<std::string> evaluated_before;
  try {
    if (graph_ready_ && event.type == EventType::evaluation_submitted) {
      evaluated_before = store_.evaluation_student(evaluation_from_json(event.payload).id);
    }
    apply_to_mirror(store_, event, zones_, &site_zones_);
    applied = true;
    // A memory not built yet is built from the mirror when a hook first needs it;
    // a backfill, whose events only build the mirror, never needs it.
    if (graph_ready_) update_graph(graph_, context, event, evaluated_before);
  } catch (const soci::soci_error&) {
    throw;  // the store failed, not the event: the batch rolls back and runs again
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    // It may have written part of its rows before it failed. The memory is told what
    // it can be now (whom the data names; a rotation as the mirror has it), for the
    // rest of this batch, and is built again after it, which is exact (now would
    // roll the batch back and fail the same way again).
    if (graph_ready_) {
      rebuild_graph_ = true;
      try {
        update_graph(graph_, context, event, evaluated_before);
      } catch (const std::exception&) {
        // Data that cannot be read names nobody; the rebuild covers it.
      }
    }
    ++stats.failures;
    // Applied without the inbox (apply_history), it has no position there: its id says
    // which it was.
    store_.record_report(
        kMirrorConsumer, seq, ReportKind::error,
        seq ? std::string(e.what()) : "event " + event.id + " (" + event.source + "): " + e.what(),
        now);
    log::error("dispatcher", "event does not fit its type; hooks see the mirror without it",
               {{"event", event.id}, {"source", event.source}, {"seq", seq}, {"error", e.what()}});
  }
  // Outside the catch above: a store error here rolls the batch back, never loses a
  // held action.
  if (applied && event.type == EventType::person_updated && hold_unknown_) {
    release_held(person_from_json(event.payload).id, context, now, stats);
  }
}

bool Dispatcher::apply_history(const std::vector<Event>& events, TimePoint now) {
  // After events the mirror has not had yet, these would overtake them.
  if (store_.progress(kMirrorConsumer) != store_.last_event_seq()) return false;
  site_zones_.clear();
  any_held_.reset();
  StoreContext context(
      store_, [this]() -> const Relationships& { return graph_; }, now);
  DispatchStats stats;
  try {
    for (std::size_t i = 0; i < events.size();) {
      // A run of people without interests (a people feed's rows) is written at once, as
      // apply() would write them one by one; one that does not read as a person (reported
      // by apply()) goes alone.
      std::vector<Person> people;
      std::size_t next = i;
      for (; next < events.size() && events[next].type == EventType::person_updated; ++next) {
        try {
          auto person = person_from_json(events[next].payload);
          if (!person.interests.empty()) break;
          people.push_back(std::move(person));
        } catch (const std::exception&) {
          break;
        }
      }
      if (people.empty()) {
        // A run of rotations, or of their rosters' rows, is written in a few statements
        // too; anything else goes alone.
        context.mirror_changed();
        const std::size_t run = apply_run_to_mirror(store_, events, i, zones_, &site_zones_);
        if (run == 0) {
          apply(0, events[i], context, now, stats);
          ++i;
          continue;
        }
        for (std::size_t k = i; k < i + run && graph_ready_; ++k) {
          update_graph(graph_, context, events[k], std::nullopt);
        }
        i += run;
        continue;
      }
      context.mirror_changed();
      store_.put_people(people);
      for (const auto& person : people) {
        if (graph_ready_) graph_.put_person(person);
        if (hold_unknown_) release_held(person.id, context, now, stats);
      }
      i = next;
    }
    // A memory built from the mirror before (this process's, a daemon's) is built again.
    store_.bump_progress(kMirrorChanged);
  } catch (...) {
    graph_ready_ = false;  // it may hold what the caller's rollback takes back
    throw;
  }
  return true;
}

Dispatcher::Batch Dispatcher::run_batch(TimePoint now, DispatchStats& stats, bool mirror_only) {
  const auto began = std::chrono::steady_clock::now();
  site_zones_.clear();  // read again in each transaction (another may have rolled back)
  any_held_.reset();
  {
    Transaction tx(store_);
    // Progress of every consumer that may run now; a hook waiting to retry sits out.
    std::map<std::string, std::int64_t> reached;
    // Everyone's progress in one read (a round trip each on PostgreSQL).
    const auto progress = store_.all_progress();
    auto progress_of = [&](const std::string& consumer) {
      auto it = progress.find(consumer);
      return it == progress.end() ? std::int64_t{0} : it->second;
    };
    reached[kMirrorConsumer] = progress_of(kMirrorConsumer);
    if (reached[kMirrorConsumer] != mirror_at_) graph_ready_ = false;
    mirror_at_ = reached[kMirrorConsumer];
    if (rebuild_graph_) {  // an event failed part way through the mirror (see below)
      graph_ready_ = false;
      rebuild_graph_ = false;
    }
    // The mirror changed other than by the inbox (an erasure, a purge, a backfill's
    // history written straight into it; this process or another): the memory built from
    // it goes too.
    if (auto changed = progress_of(kMirrorChanged); changed != mirror_changed_at_) {
      graph_ready_ = false;
      mirror_changed_at_ = changed;
    }
    for (const auto& hook : hooks_) {
      if (mirror_only) break;
      if (!global(*hook)) continue;  // its partitions' (run_partition)
      auto held = held_.find(hook->name());
      if (held != held_.end() && held->second.until > now) continue;
      reached[hook->name()] = progress_of(hook->name());
    }
    const auto started = reached;
    std::int64_t from = reached[kMirrorConsumer];
    for (const auto& [consumer, seq] : reached) from = std::min(from, seq);

    auto events = store_.events_after(from, batch_);
    if (events.empty()) return Batch::done;
    StoreContext context(
        store_, [this]() -> const Relationships& { return graph_; }, now);
    std::set<std::string> blocked;  // asked to retry in this batch
    // Given as the mirror applies events, by the number the store keeps progress for: the
    // configured one in an engine's step (its holder aligned the store to it first); read
    // from the store for a backfill's build of the mirror, whose config may not say it.
    std::vector<std::pair<std::int64_t, int>> parts;
    const int partitions = mirror_only ? stored_partitions() : std::max(partitions_, 1);
    for (const auto& [seq, event] : events) {
      ++stats.events;
      if (reached[kMirrorConsumer] < seq) {
        apply(seq, event, context, now, stats);
        reached[kMirrorConsumer] = seq;
        if (partitions > 1) parts.emplace_back(seq, part_of(event, context, partitions));
      }
      if (!run_hooks(seq, event, context, now, stats, reached, blocked, "")) {
        return Batch::needs_memory;  // rolled back: built, then again
      }
      // Every consumer is done with this event (or sits it out): the batch may end here,
      // the next one starts after it. A backfill's (mirror only, offline) keeps its size:
      // nobody waits for it, and each commit is an fsync.
      if (!mirror_only && std::chrono::steady_clock::now() - began >= batch_time_) break;
    }
    store_.set_event_parts(parts);
    for (const auto& [consumer, seq] : reached) {
      if (seq > started.at(consumer)) store_.set_progress(consumer, seq);
    }
    tx.commit();
    mirror_at_ = reached[kMirrorConsumer];
  }
  return Batch::more;
}

bool Dispatcher::run_hooks(std::int64_t seq, const Event& event, StoreContext& context,
                           TimePoint now, DispatchStats& stats,
                           std::map<std::string, std::int64_t>& reached,
                           std::set<std::string>& blocked, const std::string& suffix) {
  // Hooks judge an event as of the moment it happened, not the moment the dispatcher
  // reached it: a backlog, or a restart whose simulated clock starts over, gives the
  // same actions.
  context.set_now(event.occurred);
  // History (a backfill) builds the mirror and the memory only: no introduction for
  // a rotation that ended years ago.
  const bool history = event.source.ends_with(kHistorySuffix);
  for (const auto& hook : hooks_) {
    const std::string& name = hook->name();
    std::string with_suffix;  // a partition's consumer: the hook's name and "#n"
    if (!suffix.empty()) with_suffix = name + suffix;
    const std::string& consumer = suffix.empty() ? name : with_suffix;
    auto at = reached.find(consumer);
    if (at == reached.end() || blocked.count(consumer) || at->second >= seq) continue;
    if (history || !subscribes(*hook, event.type)) {
      at->second = seq;
      continue;
    }
    if (!graph_ready_) return false;
    auto begin = std::chrono::steady_clock::now();
    context.set_current(name, seq);
    try {
      for (auto& action : hook->handle(event, context)) {
        stamp_rotation(context, action);
        if (!permitted(context, action)) {
          ++stats.suppressed;
          continue;
        }
        if (expired(action, now, "made", stats)) continue;
        if (hold_unknown_ &&
            (!context.person(action.student_id) || !context.person(action.contact_id))) {
          if (store_.hold_action(action, now)) {
            ++stats.held;
            any_held_ = true;
          }
          continue;
        }
        if (store_.add_action(action)) ++stats.actions;
      }
      held_.erase(consumer);
    } catch (const RetryLater& e) {
      int attempts = held_[consumer].attempts + 1;
      if (attempts <= policy(name).max_retries) {
        ++stats.retries;
        held_[consumer] = {now + backoff(attempts), attempts};
        store_.record_report(name, seq, ReportKind::retry, e.what(), now);
        log::warn("dispatcher", "hook asked to retry; holding it at this event",
                  {{"hook", name}, {"event", event.id}, {"attempt", attempts}});
        blocked.insert(consumer);
        continue;  // its progress stays before this event
      }
      held_.erase(consumer);
      ++stats.failures;
      store_.record_report(
          name, seq, ReportKind::error,
          "gave up after " + std::to_string(attempts - 1) + " retries: " + e.what(), now);
      log::error("dispatcher", "hook kept asking to retry; giving up on this event",
                 {{"hook", name}, {"event", event.id}, {"seq", seq}});
    } catch (const StoreError&) {
      // The store failed, not the hook (on PostgreSQL the transaction is over): the batch
      // is rolled back and tried again, like any store failure.
      throw;
    } catch (const soci::soci_error&) {
      throw;
    } catch (const std::exception& e) {
      ++stats.failures;
      store_.record_report(name, seq, ReportKind::error, e.what(), now);
      // The message may come from a plugin: it goes to the store (rapport status), not
      // to the log, which carries ids only.
      log::error("dispatcher", "hook failed on an event; moving on (see rapport status)",
                 {{"hook", name}, {"event", event.id}, {"seq", seq}});
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - begin);
    if (elapsed > policy(name).budget) {
      ++stats.slow;
      store_.record_report(name, seq, ReportKind::slow,
                           "took " + std::to_string(elapsed.count()) + " ms, budget " +
                               std::to_string(policy(name).budget.count()) + " ms",
                           now);
      log::warn("dispatcher", "hook over its budget",
                {{"hook", name}, {"event", event.id}, {"ms", std::int64_t(elapsed.count())}});
    }
    at->second = seq;
  }
  return true;
}

namespace {

// Whose an event is, for its partition: the student it is about where the data says (a
// rotation's, read from the mirror after the event was applied), else the person or site
// it names; empty when it names nobody.
std::string student_key(const Event& event, const HookContext& context) {
  switch (event.type) {
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
    case EventType::rotation_cancelled:
    case EventType::rotation_started:
    case EventType::rotation_midpoint:
    case EventType::rotation_ended: {
      auto id = rotation_id_from_json(event.payload);
      if (auto r = context.rotation(id)) return r->student_id;
      return rotation_from_json(event.payload).student_id;
    }
    case EventType::team_changed: {
      auto data = boost::json::parse(event.payload);
      if (auto r = context.rotation(std::string(data.at("rotation").as_string()))) {
        return r->student_id;
      }
      return "";
    }
    case EventType::evaluation_submitted:
      return evaluation_from_json(event.payload).student_id;
    case EventType::action_completed:
      return completion_of(event).first;
    case EventType::person_updated:
      return person_from_json(event.payload).id;
    case EventType::interests_changed:
      return std::string(boost::json::parse(event.payload).at("person").as_string());
    default:
      return "";  // a hook's own timer names its student as the subject, when it has one
  }
}

std::uint32_t fnv1a(std::string_view text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h;
}

constexpr std::int64_t kFollowAtMost = 50000;  // events behind: built again instead

}  // namespace

void Dispatcher::partition(int partitions, std::set<std::string> per_student) {
  partitions_ = partitions;
  per_student_ = std::move(per_student);
}

int Dispatcher::stored_partitions() {
  auto stored = store_.cursor(kPartitionsState, kPartitionsKey);
  return stored ? std::max(1, std::atoi(stored->c_str())) : 1;
}

int Dispatcher::part_of(const Event& event, const HookContext& context, int partitions) const {
  std::string key;
  try {
    key = student_key(event, context);
  } catch (const StoreError&) {
    throw;
  } catch (const soci::soci_error&) {
    throw;
  } catch (const std::exception&) {
    // Data that cannot be read: the hooks will say so; any partition does.
  }
  if (key.empty()) key = event.subject.empty() ? event.source + "\n" + event.id : event.subject;
  return int(fnv1a(key) % std::uint32_t(std::max(partitions, 1)));
}

void Dispatcher::follow(std::int64_t mirror, TimePoint now) {
  if (!graph_ready_ || mirror_at_ >= mirror) return;
  if (mirror_at_ < 0 || mirror - mirror_at_ > kFollowAtMost) {
    graph_ready_ = false;  // built again from the mirror, which is cheaper
    return;
  }
  StoreContext context(
      store_, [this]() -> const Relationships& { return graph_; }, now);
  while (mirror_at_ < mirror) {
    auto events = store_.events_up_to(std::nullopt, mirror_at_, mirror, batch_);
    if (events.empty()) break;
    for (const auto& [seq, event] : events) {
      // Others applied it; the memory reads what it needs from the mirror as it is now.
      try {
        update_graph(graph_, context, event, std::nullopt);
      } catch (const StoreError&) {
        throw;
      } catch (const soci::soci_error&) {
        throw;
      } catch (const std::exception&) {
        if (event.payload == "{}" || event.payload == R"({"erased":true})") {
          // Its data went (retention emptied it, or an erasure): the memory cannot follow
          // it, and is built again from the mirror.
          graph_ready_ = false;
          return;
        }
        // Data that does not fit its type: the mirror reported it and left it out too.
      }
      mirror_at_ = seq;
    }
  }
  mirror_at_ = mirror;
}

DispatchStats Dispatcher::run_partition(TimePoint now, int part) {
  DispatchStats stats;
  try {
    for (;;) {
      DispatchStats before = stats;
      auto batch = run_part_batch(now, part, stats);
      if (batch == Batch::done) break;
      if (batch == Batch::needs_memory) {
        stats = before;
        // Built from the mirror as it is now: at least where its progress is now, and
        // following from there applies again only what it has (which changes nothing).
        const auto at = store_.progress(kMirrorConsumer);
        graph();
        mirror_at_ = at;
      }
    }
  } catch (...) {
    graph_ready_ = false;
    throw;
  }
  return stats;
}

Dispatcher::Batch Dispatcher::run_part_batch(TimePoint now, int part, DispatchStats& stats) {
  const auto began = std::chrono::steady_clock::now();
  site_zones_.clear();
  any_held_.reset();
  Transaction tx(store_);
  const auto progress = store_.all_progress();
  auto progress_of = [&](const std::string& consumer) {
    auto it = progress.find(consumer);
    return it == progress.end() ? std::int64_t{0} : it->second;
  };
  const std::int64_t mirror = progress_of(kMirrorConsumer);
  // The store keeps progress for another number (the engine's holder changed it since this
  // process looked): nothing here is this partition's any more.
  if (stored_partitions() != partitions_) return Batch::done;
  if (rebuild_graph_) {
    graph_ready_ = false;
    rebuild_graph_ = false;
  }
  if (auto changed = progress_of(kMirrorChanged); changed != mirror_changed_at_) {
    graph_ready_ = false;
    mirror_changed_at_ = changed;
  }
  const std::string suffix = "#" + std::to_string(part);
  std::map<std::string, std::int64_t> reached;
  for (const auto& hook : hooks_) {
    if (global(*hook)) continue;
    const std::string consumer = hook->name() + suffix;
    auto held = held_.find(consumer);
    if (held != held_.end() && held->second.until > now) continue;
    reached[consumer] = progress_of(consumer);
  }
  const auto started = reached;
  std::int64_t from = mirror;
  for (const auto& [consumer, seq] : reached) from = std::min(from, seq);
  if (reached.empty() || from >= mirror) return Batch::done;
  follow(mirror, now);
  auto events = store_.events_up_to(part, from, mirror, batch_);
  // Every event of the partition up to the mirror read: the consumers move on to it.
  bool to_mirror = events.size() < batch_;
  StoreContext context(
      store_, [this]() -> const Relationships& { return graph_; }, now);
  std::set<std::string> blocked;
  for (const auto& [seq, event] : events) {
    ++stats.events;
    if (!run_hooks(seq, event, context, now, stats, reached, blocked, suffix)) {
      return Batch::needs_memory;
    }
    if (std::chrono::steady_clock::now() - began >= batch_time_ && seq != events.back().seq) {
      to_mirror = false;
      break;
    }
  }
  std::map<std::string, std::int64_t> moved;
  for (auto& [consumer, seq] : reached) {
    if (to_mirror && !blocked.count(consumer)) seq = std::max(seq, mirror);
    if (seq > started.at(consumer)) moved[consumer] = seq;
  }
  store_.set_progresses(moved);
  tx.commit();
  return Batch::more;
}

bool Dispatcher::align_partitions() {
  const int want = partitions_ > 1 ? partitions_ : 1;
  const int had = stored_partitions();
  if (had == want) return false;
  // Every partition's lease ends first, with a new epoch: a process still dispatching under
  // the old number has its next commit refused (and one committing now is waited for,
  // so that the places read below include it).
  store_.end_leases("dispatch:");
  const auto progress = store_.all_progress();
  auto progress_of = [&](const std::string& consumer) {
    auto it = progress.find(consumer);
    return it == progress.end() ? std::int64_t{0} : it->second;
  };
  auto name_of = [](const std::string& hook, int part, int parts) {
    return parts > 1 ? hook + "#" + std::to_string(part) : hook;
  };
  // A hook that runs per partition under either number: from its slowest place.
  std::map<std::string, std::int64_t> slowest;
  for (const auto& hook : hooks_) {
    if (!per_student_.count(hook->name())) continue;
    std::int64_t at = std::numeric_limits<std::int64_t>::max();
    for (int p = 0; p < had; ++p) at = std::min(at, progress_of(name_of(hook->name(), p, had)));
    slowest[hook->name()] = at;
  }
  std::int64_t from = progress_of(kMirrorConsumer);
  for (const auto& [hook, at] : slowest) from = std::min(from, at);
  if (want > 1) {
    // The events after it get their partitions under the new number.
    StoreContext context(
        store_, [this]() -> const Relationships& { return graph_; }, TimePoint{});
    const std::int64_t mirror = progress_of(kMirrorConsumer);
    for (std::int64_t at = from; at < mirror;) {
      auto events = store_.events_up_to(std::nullopt, at, mirror, batch_);
      if (events.empty()) break;
      std::vector<std::pair<std::int64_t, int>> parts;
      for (const auto& [seq, event] : events) {
        parts.emplace_back(seq, part_of(event, context, want));
      }
      store_.set_event_parts(parts);
      at = events.back().seq;
    }
  }
  for (const auto& [hook, at] : slowest) {
    for (int p = 0; p < had; ++p) store_.forget_progress(name_of(hook, p, had));
    for (int p = 0; p < want; ++p) store_.set_progress(name_of(hook, p, want), at);
  }
  store_.set_cursor(kPartitionsState, kPartitionsKey, std::to_string(want));
  held_.clear();
  log::info("dispatcher", "dispatch partitions changed",
            {{"from", std::int64_t(had)}, {"to", std::int64_t(want)}});
  return true;
}

DispatchStats Dispatcher::release_known(TimePoint now) {
  DispatchStats stats;
  if (!hold_unknown_) return stats;
  Transaction tx(store_);
  if (store_.held_count() == 0) return stats;
  StoreContext context(
      store_, [this]() -> const Relationships& { return graph_; }, now);
  for (const auto& action : store_.held_releasable(batch_)) {
    release(action, context, now, stats);
  }
  tx.commit();
  return stats;
}

}  // namespace rapport
