// Several engines on one PostgreSQL store, as several `rapport serve` processes run them:
// one steps at a time under the engine lease, and one paused past its lease cannot
// complete what it was doing (its commit is refused), while the one that took over does it.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "engine/engine.hpp"
#include "rapport/json.hpp"
#include "store/postgresql/postgresql_store.hpp"
#include "support/fake_context.hpp"
#include "support/recording_sink.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

// A hook that, when told, stops inside its first event until let go: a process paused
// (SIGSTOP, a long GC, a VM migrated) in the middle of a dispatch.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool armed = false, inside = false, open = false;
  // Where the hook passes: armed, it stops here (once) until let go.
  void pass() {
    std::unique_lock lock(mutex);
    if (!armed) return;
    armed = false;
    inside = true;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  }
};

class GatedHook : public Hook {
 public:
  explicit GatedHook(Gate& gate) : gate_(gate) {}
  std::string name() const override { return "gated"; }
  std::vector<EventType> subscribed() const override { return {EventType::rotation_started}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override {
    gate_.pass();
    return {test::synthetic_action(name(), event, ActionType::introduce, "A1", context.now())};
  }

 private:
  Gate& gate_;
};

// One process's engine: its own connection and holder name, a 2 s lease, the gated hook and
// one sink.
std::unique_ptr<Engine> engine_with(const test::TempDir& dir, const std::string& holder, Gate& gate,
                                    std::unique_ptr<Sink> sink) {
  std::vector<std::unique_ptr<Hook>> hooks;
  hooks.push_back(std::make_unique<GatedHook>(gate));
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(sink));
  // The server's idle limit far beyond the lease: here only the fence may refuse.
  auto store = open_postgresql_store(
      {test::postgresql_url(dir), std::chrono::seconds(30), std::chrono::seconds(60)});
  auto engine = std::make_unique<Engine>(std::move(store), std::vector<std::unique_ptr<Source>>{},
                                         std::move(hooks), std::move(sinks), 10);
  engine->run_exclusively(std::chrono::seconds(2), holder);
  return engine;
}

std::unique_ptr<Engine> engine_on(const test::TempDir& dir, const std::string& holder, Gate& gate,
                                  test::RecordingSink*& recorder) {
  auto sink = std::make_unique<test::RecordingSink>();
  recorder = sink.get();
  return engine_with(dir, holder, gate, std::move(sink));
}

}  // namespace

TEST_CASE(
    "engines sharing a PostgreSQL store: one steps at a time, another takes over when it "
    "stops, and one paused past its lease has its late work refused while the other does it "
    "once",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Gate gate_a, gate_b;
  test::RecordingSink *sink_a = nullptr, *sink_b = nullptr;
  auto a = engine_on(dir, "process-a", gate_a, sink_a);
  auto b = engine_on(dir, "process-b", gate_b, sink_b);
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  auto rotation = [&](const std::string& student) {
    auto r = test::make_rotation("R-" + student, student, "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}});
    a->store().append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z"),
                            now);
  };
  rotation("S1");
  CHECK_FALSE(a->step(now).standby);
  CHECK(a->store().actions_after(0, 10).size() == 1);
  CHECK(sink_a->received.size() == 1);

  // A stops inside a hook while dispatching S2's event, and stays there past its lease.
  rotation("S2");
  b->store().last_event_seq();  // numbered now, so that A's batch holds no numbering lock
  gate_a.armed = true;
  std::string refused;
  std::thread paused([&] {
    try {
      a->step(now + std::chrono::minutes(1));
      FAIL("the paused engine's work was committed after it lost its lease");
    } catch (const LeaseLost& e) {
      refused = e.what();  // its transaction was rolled back by the fence
    }
  });
  {
    std::unique_lock lock(gate_a.mutex);
    gate_a.changed.wait(lock, [&] { return gate_a.inside; });
  }
  // B stands by while A holds the lease, then takes over once it has run out.
  CHECK(b->step(now + std::chrono::minutes(1)).standby);
  StepStats took;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    took = b->step(now + std::chrono::minutes(1));
    if (!took.standby) break;
  }
  REQUIRE_FALSE(took.standby);
  CHECK(took.dispatch.actions == 1);  // S2's introduction, made by B
  // A resumes: its work is refused; nothing it did is in the store.
  {
    std::lock_guard lock(gate_a.mutex);
    gate_a.open = true;
  }
  gate_a.changed.notify_all();
  paused.join();
  CHECK_FALSE(refused.empty());
  auto actions = b->store().actions_after(0, 10);
  REQUIRE(actions.size() == 2);
  CHECK(actions[1].action.student_id == "S2");
  CHECK(sink_b->received.size() == 1);  // B delivered S2's action; A delivered nothing more
  CHECK(sink_a->received.size() == 1);
  // A stands by from now on.
  CHECK(a->step(now + std::chrono::minutes(2)).standby);
  CHECK(a->standing_by());
  auto leases = b->store().leases();
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].epoch == 2);
}

TEST_CASE(
    "a statement waiting for a row a stalled transaction holds gives up after the lock wait, "
    "so that it frees its pooled connection, and succeeds once that transaction ends",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  const auto url = test::postgresql_url(dir);
  auto stalled = open_postgresql_store({url});
  auto waiter = open_postgresql_store(
      {url, std::chrono::seconds(30), std::chrono::seconds(60), std::chrono::milliseconds(300)});
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  auto r = test::make_rotation("R-S1", "S1", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
  const auto event = test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z");

  // A process stopped inside its transaction: the same event taken in, the engine lease
  // renewed, neither committed.
  stalled->begin();
  REQUIRE(stalled->append_event(event, now));
  REQUIRE(stalled->hold_lease("engine", "stalled", std::chrono::seconds(2)));
  // The second process does not wait for it longer than its lock wait, for either row.
  const auto started = std::chrono::steady_clock::now();
  auto take_in = [&] {  // as the listener takes a request's events in
    Transaction tx(*waiter);
    bool added = waiter->append_event(event, now);
    tx.commit();
    return added;
  };
  CHECK_THROWS_AS(take_in(), StoreError);
  CHECK_THROWS_AS(waiter->hold_lease("engine", "waiter", std::chrono::seconds(2)), StoreError);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  // The stalled transaction ends (the server's idle limit, or the process resumes and
  // fails): what waited goes through.
  stalled->rollback();
  CHECK(take_in());
  CHECK(waiter->hold_lease("engine", "waiter", std::chrono::seconds(2)) == 1);
}

namespace {

// A per-action sink whose sends stay under way until the test answers them: a process
// whose sends are slow, or that is stopped with its sends out.
class AnsweringSink final : public PerActionSink {
 public:
  explicit AnsweringSink(std::size_t room) : room_(room) {}
  std::vector<SendRequest> started;
  const std::string& name() const override { return name_; }
  std::string destination() const override { return "test receiver"; }
  std::size_t room(std::chrono::steady_clock::time_point) override {
    return room_ > open_.size() ? room_ - open_.size() : 0;
  }
  void start(SendRequest request) override {
    open_.push_back(request.delivery);
    started.push_back(std::move(request));
  }
  std::vector<SendResult> finished() override { return std::exchange(done_, {}); }
  std::optional<std::chrono::milliseconds> retry_delay(int) const override {
    return std::chrono::seconds(1);
  }
  std::chrono::milliseconds longest_send() const override { return std::chrono::milliseconds(0); }
  void set_room(std::size_t room) { room_ = room; }
  void answer_all(int status) {
    for (auto id : open_) done_.push_back({id, status, std::chrono::milliseconds(5), "", {}});
    open_.clear();
  }

 private:
  std::string name_ = "platform";
  std::size_t room_;
  std::vector<std::int64_t> open_;
  std::vector<SendResult> done_;
};

std::unique_ptr<Engine> sending_engine(const test::TempDir& dir, const std::string& holder,
                                       Gate& gate, AnsweringSink*& sink, std::size_t room) {
  auto made = std::make_unique<AnsweringSink>(room);
  sink = made.get();
  return engine_with(dir, holder, gate, std::move(made));
}

}  // namespace

TEST_CASE(
    "engines sharing a PostgreSQL store share the sending: a standing-by one sends what the "
    "holder has no room for, a delivery whose claim ran out is sent by another, and the late "
    "answer to it is refused",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Gate gate_a, gate_b;
  AnsweringSink *sink_a = nullptr, *sink_b = nullptr;
  auto a = sending_engine(dir, "process-a", gate_a, sink_a, 1);
  auto b = sending_engine(dir, "process-b", gate_b, sink_b, 4);
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  for (const char* student : {"S1", "S2", "S3"}) {
    auto r = test::make_rotation(std::string("R-") + student, student, "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}});
    a->store().append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z"),
                            now);
  }
  // A holds the lease and makes the three actions, with room to send one.
  CHECK_FALSE(a->step(now).standby);
  REQUIRE(sink_a->started.size() == 1);
  // B stands by, and sends the two A has no room for.
  CHECK(b->step(now).standby);
  REQUIRE(sink_b->started.size() == 2);
  std::set<std::string> sent{sink_a->started[0].action_id};
  for (const auto& r : sink_b->started) sent.insert(r.action_id);
  CHECK(sent.size() == 3);  // none taken twice
  sink_b->answer_all(200);
  CHECK(b->step(now).delivered == 2);
  // A's send stays out (A stopped): once its claim has run out (the lease, 2 s, on top of
  // the longest a send takes), B takes the delivery over and sends it again, same id.
  const auto slow = sink_a->started[0];
  for (int i = 0; i < 60 && sink_b->started.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    b->step(now);
  }
  REQUIRE(sink_b->started.size() == 3);
  CHECK(sink_b->started[2].action_id == slow.action_id);
  CHECK(sink_b->started[2].delivery == slow.delivery);
  sink_b->answer_all(503);  // busy: tried again in a second
  b->step(now);
  // A resumes (with room for more) before its answer comes and finds the delivery due
  // again: taken over since, so it sends nothing and gives the claim back.
  sink_a->set_room(2);
  auto claimed_by = [&] { return b->store().delivery(slow.delivery)->claimed_by; };
  for (int i = 0; i < 40 && claimed_by() != "process-a"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    a->step(now);
  }
  REQUIRE(claimed_by() == "process-a");
  CHECK(sink_a->started.size() == 1);
  // A's answer comes: refused, nothing of it recorded; the delivery, due, is sent again
  // under a claim of its own (by A here, the first to step).
  sink_a->answer_all(200);
  a->step(now);
  CHECK(a->results_refused() == 1);
  CHECK(b->store().attempts_of(slow.delivery).size() == 1);  // B's 503
  REQUIRE(sink_a->started.size() == 2);
  CHECK(sink_a->started[1].delivery == slow.delivery);
  sink_a->answer_all(200);
  a->step(now);
  CHECK(a->results_refused() == 1);
  auto record = b->store().delivery(slow.delivery);
  REQUIRE(record);
  CHECK(record->state == "delivered");
  CHECK(record->claimed_by == "process-a");
  CHECK(b->store().attempts_of(slow.delivery).size() == 2);
  CHECK(b->store().delivery_counts("platform") ==
        std::map<std::string, std::int64_t>{{"delivered", 3}});
  CHECK(b->results_refused() == 0);
}

TEST_CASE(
    "a process standing by fires the timers that are due, and the engine's holder dispatches "
    "their events",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Gate gate_a, gate_b;
  test::RecordingSink *sink_a = nullptr, *sink_b = nullptr;
  auto a = engine_on(dir, "process-a", gate_a, sink_a);
  auto b = engine_on(dir, "process-b", gate_b, sink_b);
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  CHECK_FALSE(a->step(now).standby);
  auto r = test::make_rotation("R-S9", "S9", "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
  auto moment = test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z");
  b->store().put_timer({"moment/R-S9", now - std::chrono::hours(1), moment});
  b->store().put_timer({"moment/later", now + std::chrono::hours(1), moment});
  const auto before = b->store().last_event_seq();
  auto standing = b->step(now);
  CHECK(standing.standby);
  CHECK(standing.fired == 1);
  CHECK(b->store().last_event_seq() == before + 1);
  CHECK(b->store().timers_about("S9").size() == 1);  // the one not due yet stays
  // A simulated run standing by (its clock is not the others') fires nothing.
  b->work_standing_by(false);
  auto idle = b->step(now + std::chrono::hours(2));
  CHECK(idle.standby);
  CHECK(idle.fired == 0);
  CHECK(b->store().timers_about("S9").size() == 1);
  auto held = a->step(now);
  CHECK_FALSE(held.standby);
  CHECK(held.fired == 0);
  CHECK(held.dispatch.actions == 1);
  CHECK(sink_a->received.size() == 1);
  CHECK(sink_b->received.empty());
}

namespace {

// What a per-student hook handled, in the order the engines handled it (steps run one at a
// time in these tests, so this is the order of their commits or refusals).
struct Ledger {
  std::mutex mutex;
  std::vector<std::tuple<std::string, std::string, EventType>> handled;  // engine, student, type
};

// One action per event of a student (an introduction when the rotation starts, a thank-you
// when it ends); the gate, when armed, stops it inside its next event.
class EachStudentHook : public Hook {
 public:
  EachStudentHook(std::string engine, Ledger& ledger, Gate& gate)
      : engine_(std::move(engine)), ledger_(ledger), gate_(gate) {}
  std::string name() const override { return "each"; }
  std::vector<EventType> subscribed() const override {
    return {EventType::rotation_started, EventType::rotation_ended};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override {
    gate_.pass();
    {
      std::lock_guard lock(ledger_.mutex);
      ledger_.handled.emplace_back(engine_, event.subject, event.type);
    }
    const auto type =
        event.type == EventType::rotation_started ? ActionType::introduce : ActionType::thank_you;
    // Each engine's own id: what two engines both committed would be two actions.
    return {
        test::synthetic_action(name(), event, type, "A1", context.now(), name() + "/" + engine_)};
  }

 private:
  std::string engine_;
  Ledger& ledger_;
  Gate& gate_;
};

std::unique_ptr<Engine> spread_engine(const test::TempDir& dir, const std::string& holder,
                                      Ledger& ledger, Gate& gate) {
  std::vector<std::unique_ptr<Hook>> hooks;
  hooks.push_back(std::make_unique<EachStudentHook>(holder, ledger, gate));
  auto store = open_postgresql_store(
      {test::postgresql_url(dir), std::chrono::seconds(30), std::chrono::seconds(60)});
  auto engine =
      std::make_unique<Engine>(std::move(store), std::vector<std::unique_ptr<Source>>{},
                               std::move(hooks), std::vector<std::unique_ptr<Sink>>{}, 10);
  engine->run_exclusively(std::chrono::seconds(2), holder);
  engine->spread_dispatch(4, {"each"});
  return engine;
}

std::map<std::string, std::string> partition_holders(Store& store) {
  std::map<std::string, std::string> out;
  for (const auto& lease : store.leases()) {
    if (lease.name.starts_with("dispatch:") && !lease.until.empty()) out[lease.name] = lease.holder;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "engine.partitions: two engines on one PostgreSQL store share the partitions and both "
    "dispatch; each student's events are handled once, in order, by one engine",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Ledger ledger;
  Gate gate_a, gate_b;
  auto a = spread_engine(dir, "process-a", ledger, gate_a);
  auto b = spread_engine(dir, "process-b", ledger, gate_b);
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  // A runs the engine and takes every partition (nobody else takes part yet); once B's
  // heartbeat says it takes part, A gives half back and B takes them.
  CHECK_FALSE(a->step(now).standby);
  CHECK(partition_holders(a->store()).size() == 4);
  for (int round = 0; round < 3; ++round) {
    CHECK(b->step(now).standby);
    a->step(now);
  }
  b->step(now);
  auto holders = partition_holders(a->store());
  REQUIRE(holders.size() == 4);
  std::map<std::string, int> per_holder;
  for (const auto& [lease, holder] : holders) ++per_holder[holder];
  CHECK(per_holder == std::map<std::string, int>{{"process-a", 2}, {"process-b", 2}});

  std::vector<std::string> students;
  for (int i = 0; i < 40; ++i) students.push_back("S" + std::to_string(100 + i));
  auto send = [&](EventType type, const std::string& at) {
    Transaction tx(a->store());
    for (const auto& s : students) {
      auto r =
          test::make_rotation("R-" + s, s, "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
      a->store().append_event(test::event_for(r, type, at), now);
    }
    tx.commit();
  };
  auto made = [&] { return a->store().actions_after(0, 1000).size(); };
  // Both events of every student waiting at once, read ten at a time (the engines' batch):
  // a student's end must not be handled before their start, though other students' events
  // come between.
  send(EventType::rotation_started, "2027-01-04T08:00:00Z");
  send(EventType::rotation_ended, "2027-01-31T17:00:00Z");
  for (int i = 0; i < 20 && made() < 80; ++i) {
    b->step(now);  // B first: it sees nothing until A's step has applied the mirror
    a->step(now);
  }
  REQUIRE(made() == 80);
  std::map<std::string, std::vector<std::pair<std::string, EventType>>> by_student;
  std::set<std::string> engines;
  for (const auto& [engine, student, type] : ledger.handled) {
    by_student[student].emplace_back(engine, type);
    engines.insert(engine);
  }
  CHECK(engines == std::set<std::string>{"process-a", "process-b"});
  for (const auto& s : students) {
    INFO(s);
    const auto& handled = by_student[s];
    REQUIRE(handled.size() == 2);  // each event once
    CHECK(handled[0].second == EventType::rotation_started);
    CHECK(handled[1].second == EventType::rotation_ended);
    CHECK(handled[0].first == handled[1].first);
  }
  // Every partition's progress reached the mirror's.
  auto progress = a->store().all_progress();
  for (int p = 0; p < 4; ++p) {
    CHECK(progress["each#" + std::to_string(p)] == progress[kMirrorConsumer]);
  }
  CHECK(progress.count("each") == 0);
}

TEST_CASE(
    "engine.partitions: an engine paused inside a partition past its lease has its late "
    "commit refused while another takes the partition over and makes the action once",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Ledger ledger;
  Gate gate_a, gate_b;
  auto a = spread_engine(dir, "process-a", ledger, gate_a);
  auto b = spread_engine(dir, "process-b", ledger, gate_b);
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  for (int round = 0; round < 4; ++round) {
    a->step(now);
    b->step(now);
  }
  auto holders = partition_holders(a->store());
  REQUIRE(holders.size() == 4);
  std::set<std::string> sharing;
  for (const auto& [lease, holder] : holders) sharing.insert(holder);
  REQUIRE(sharing.size() == 2);
  // A student of one of B's partitions: found by trying ids until one lands there.
  std::string student;
  for (int i = 0; student.empty(); ++i) {
    auto candidate = "S" + std::to_string(i);
    auto r = test::make_rotation("R-" + candidate, candidate, "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}});
    a->store().append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z"),
                            now);
    a->step(now);  // the mirror applied; A handles it if it is in A's partitions
    if (a->store().actions_after(0, 100).size() == std::size_t(i + 1)) continue;
    student = candidate;
  }
  REQUIRE(a->store().actions_of(student).empty());
  // B stops inside the hook on that student's event and stays there past its lease.
  gate_b.armed = true;
  DispatchStats paused_stats;
  std::thread paused([&] { paused_stats = b->step(now).dispatch; });
  {
    std::unique_lock lock(gate_b.mutex);
    gate_b.changed.wait(lock, [&] { return gate_b.inside; });
  }
  // A sees B gone (no heartbeat for a lease), takes its partitions over and makes the
  // action.
  for (int i = 0; i < 100 && a->store().actions_of(student).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    a->step(now);
  }
  REQUIRE(a->store().actions_of(student).size() == 1);
  CHECK(partition_holders(a->store()).size() == 4);
  for (const auto& [lease, holder] : partition_holders(a->store())) CHECK(holder == "process-a");
  // B resumes: its batch is refused at commit (nothing of it stays) and it lets the
  // partition go.
  {
    std::lock_guard lock(gate_b.mutex);
    gate_b.open = true;
  }
  gate_b.changed.notify_all();
  paused.join();
  CHECK(paused_stats.actions == 0);
  CHECK(a->store().actions_of(student).size() == 1);
  std::size_t handled_by_b = 0;
  for (const auto& [engine, s, type] : ledger.handled) {
    if (s == student && engine == "process-b") ++handled_by_b;
  }
  CHECK(handled_by_b == 1);  // it ran, and its result was thrown away
  for (const auto& [lease, holder] : partition_holders(a->store())) CHECK(holder == "process-a");
}

TEST_CASE(
    "engine.partitions: an engine whose number differs from the store's dispatches no "
    "partition; the others share them without it",
    "[cluster]") {
  RAPPORT_SKIP_WITHOUT_POSTGRESQL();
  test::TempDir dir;
  Ledger ledger;
  Gate gate_a, gate_b;
  auto a = spread_engine(dir, "process-a", ledger, gate_a);  // 4 partitions, the holder
  auto b = spread_engine(dir, "process-b", ledger, gate_b);
  b->spread_dispatch(2, {"each"});  // another config
  const auto now = *parse_time("2027-01-04T00:00:00Z");
  for (int i = 0; i < 10; ++i) {
    auto s = "S" + std::to_string(i);
    auto r =
        test::make_rotation("R-" + s, s, "2027-01-04", "2027-01-31", {{"A1", Role::attending}});
    a->store().append_event(test::event_for(r, EventType::rotation_started, "2027-01-04T08:00:00Z"),
                            now);
  }
  for (int round = 0; round < 3; ++round) {
    a->step(now);
    b->step(now);
  }
  CHECK(a->store().actions_after(0, 100).size() == 10);
  for (const auto& [engine, student, type] : ledger.handled) CHECK(engine == "process-a");
  for (const auto& [lease, holder] : partition_holders(a->store())) CHECK(holder == "process-a");
  CHECK(partition_holders(a->store()).size() == 4);
}
