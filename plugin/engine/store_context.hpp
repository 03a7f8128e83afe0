#pragma once
// The HookContext the engine gives hooks: the store's mirror and the relationship memory,
// at one moment. Timers a hook schedules and notices it raises go to the store, inside
// the dispatcher's transaction.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "graph/relationship_graph.hpp"
#include "rapport/hook.hpp"
#include "store/store.hpp"

namespace rapport {

class StoreContext final : public HookContext {
 public:
  // `relationships` is asked for the memory only when a hook reads it (building it is
  // costly; the opt-out checks at delivery never need it).
  StoreContext(Store& store, std::function<const Relationships&()> relationships, TimePoint now)
      : store_(store), relationships_(std::move(relationships)), now_(now) {}

  TimePoint now() const override { return now_; }
  // Remembered until the next event, hook or change of the mirror: an assignment asks for
  // the same staff once per student (thousands of reads of a few records), and nothing
  // changes people while one hook handles one event.
  std::optional<Person> person(const std::string& id) const override {
    auto it = people_.find(id);
    if (it == people_.end()) it = people_.emplace(id, store_.person(id)).first;
    return it->second;
  }
  // Remembered until the mirror changes (hooks, stamping and the memory's update read the
  // event's rotation several times; each read is two statements on PostgreSQL).
  std::optional<Rotation> rotation(const std::string& id) const override {
    auto it = rotations_.find(id);
    if (it == rotations_.end()) it = rotations_.emplace(id, store_.rotation(id)).first;
    return it->second;
  }
  std::vector<Rotation> rotations_of(const std::string& student_id) const override {
    return store_.rotations_of(student_id);
  }
  std::vector<Evaluation> evaluations_of(const std::string& student_id) const override {
    return store_.evaluations_of(student_id);
  }
  const Relationships& relationships() const override { return relationships_(); }
  void schedule(const std::string& key, TimePoint due, const std::string& subject,
                const std::string& payload) const override;
  void notice(const std::string& message) const override;
  std::vector<Action> made_since(TimePoint since) const override {
    return store_.actions_of_hook(hook_, since);
  }
  // Nobody forgotten on request is reachable (read once per context).
  bool reachable(const std::string& person_id) const override {
    if (!suppressed_) suppressed_ = store_.suppressed_ids();
    return !suppressed_->count(person_id) && HookContext::reachable(person_id);
  }

  // Which hook and event the next calls are on behalf of.
  void set_current(const std::string& hook, std::int64_t seq) {
    hook_ = hook;
    seq_ = seq;
    people_.clear();
  }
  void set_now(TimePoint now) {
    now_ = now;
    people_.clear();
  }
  // The dispatcher applied an event to the mirror: people and rotations are read again.
  void mirror_changed() {
    people_.clear();
    rotations_.clear();
  }

 private:
  Store& store_;
  std::function<const Relationships&()> relationships_;
  TimePoint now_;
  std::string hook_;
  std::int64_t seq_ = 0;
  mutable std::optional<std::set<std::string>> suppressed_;
  mutable std::unordered_map<std::string, std::optional<Person>> people_;
  mutable std::unordered_map<std::string, std::optional<Rotation>> rotations_;
};

}  // namespace rapport
