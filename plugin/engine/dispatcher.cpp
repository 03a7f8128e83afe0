#include "engine/dispatcher.hpp"

#include <algorithm>
#include <map>

#include "engine/mirror.hpp"
#include "log/log.hpp"

namespace rapport {
namespace {

class StoreContext final : public HookContext {
 public:
  StoreContext(Store& store, TimePoint now) : store_(store), now_(now) {}
  TimePoint now() const override { return now_; }
  std::optional<Person> person(const std::string& id) const override { return store_.person(id); }
  std::optional<Rotation> rotation(const std::string& id) const override {
    return store_.rotation(id);
  }
  std::vector<Rotation> rotations_of(const std::string& student_id) const override {
    return store_.rotations_of(student_id);
  }
  std::vector<Evaluation> evaluations_of(const std::string& student_id) const override {
    return store_.evaluations_of(student_id);
  }

 private:
  Store& store_;
  TimePoint now_;
};

bool subscribes(const Hook& hook, EventType type) {
  auto types = hook.subscribed();
  return std::find(types.begin(), types.end(), type) != types.end();
}

}  // namespace

bool permitted(Store& store, const Action& action) {
  auto student = store.person(action.student_id);
  if (student && student->opted_out) return false;
  auto contact = store.person(action.contact_id);
  return !(contact && contact->opted_out);
}

Dispatcher::Dispatcher(Store& store, const std::vector<std::unique_ptr<Hook>>& hooks,
                       std::size_t batch)
    : store_(store), hooks_(hooks), batch_(batch) {}

DispatchStats Dispatcher::run(TimePoint now) {
  DispatchStats stats;
  for (;;) {
    Transaction tx(store_);
    std::map<std::string, std::int64_t> progress;
    progress[kMirrorConsumer] = store_.progress(kMirrorConsumer);
    for (const auto& hook : hooks_) progress[hook->name()] = store_.progress(hook->name());
    std::int64_t from = progress[kMirrorConsumer];
    for (const auto& [consumer, seq] : progress) from = std::min(from, seq);

    auto events = store_.events_after(from, batch_);
    if (events.empty()) break;
    StoreContext context(store_, now);
    for (const auto& [seq, event] : events) {
      ++stats.events;
      if (progress[kMirrorConsumer] < seq) {
        try {
          apply_to_mirror(store_, event);
        } catch (const std::exception& e) {
          ++stats.failures;
          store_.record_failure(kMirrorConsumer, seq, e.what(), now);
          log::error("dispatcher", "event does not fit its type; hooks see the mirror without it",
                     {{"event", event.id}, {"source", event.source}, {"seq", seq},
                      {"error", e.what()}});
        }
      }
      for (const auto& hook : hooks_) {
        if (progress[hook->name()] >= seq || !subscribes(*hook, event.type)) continue;
        try {
          for (const auto& action : hook->handle(event, context)) {
            if (!permitted(store_, action)) {
              ++stats.suppressed;
              continue;
            }
            if (store_.add_action(action)) ++stats.actions;
          }
        } catch (const std::exception& e) {
          ++stats.failures;
          store_.record_failure(hook->name(), seq, e.what(), now);
          log::error("dispatcher", "hook failed on an event; moving on",
                     {{"hook", hook->name()}, {"event", event.id}, {"seq", seq},
                      {"error", e.what()}});
        }
      }
    }
    std::int64_t last = events.back().seq;
    for (const auto& [consumer, seq] : progress) {
      if (seq < last) store_.set_progress(consumer, last);
    }
    tx.commit();
  }
  return stats;
}

}  // namespace rapport
