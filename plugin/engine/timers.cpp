#include "engine/timers.hpp"

#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport {

std::string rotation_timer_prefix(const std::string& rotation_id) {
  return "rotation/" + rotation_id + "/";
}

std::vector<Timer> rotation_timers(const Rotation& r) {
  using std::chrono::days;
  Date midpoint = r.start + days((r.end - r.start).count() / 2);
  std::string payload = to_json(r);
  auto timer = [&](EventType type, Date day) {
    std::string kind(to_string(type));
    Timer t;
    t.id = rotation_timer_prefix(r.id) + kind;
    t.due = TimePoint{day};
    // The date is part of the id: a rescheduled rotation starts again, a re-read one does not.
    t.event = Event{r.id + "/" + kind + "/" + format_date(day), type, kSchedulerSource, t.due,
                    r.student_id, payload};
    return t;
  };
  return {timer(EventType::rotation_started, r.start),
          timer(EventType::rotation_midpoint, midpoint),
          timer(EventType::rotation_ended, r.end + days(1))};
}

std::size_t fire_due_timers(Store& store, TimePoint now, std::size_t batch) {
  std::size_t fired = 0;
  for (;;) {
    Transaction tx(store);
    auto due = store.due_timers(now, batch);
    if (due.empty()) break;
    for (const auto& t : due) {
      if (store.append_event(t.event, now)) {
        ++fired;
        log::debug("scheduler", "timer fired",
                   {{"timer", t.id}, {"event", t.event.id}, {"subject", t.event.subject}});
      }
      store.delete_timer(t.id);
    }
    tx.commit();
  }
  return fired;
}

}  // namespace rapport
