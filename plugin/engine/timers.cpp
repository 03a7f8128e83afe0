#include "engine/timers.hpp"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport {

std::string rotation_timer_prefix(const std::string& rotation_id) {
  return "rotation/" + rotation_id + "/";
}

const std::string& TimeZones::of(const std::string& site) const {
  auto it = by_site.find(site);
  return it == by_site.end() ? fallback : it->second;
}

bool zone_exists(const std::string& zone) {
  return zone == "UTC" || (zone.find("..") == std::string::npos &&
                           std::filesystem::is_regular_file("/usr/share/zoneinfo/" + zone));
}

TimePoint local_midnight(Date day, const std::string& zone) {
  if (zone == "UTC") return TimePoint{day};
  if (!zone_exists(zone)) throw std::invalid_argument("unknown time zone \"" + zone + "\"");
  // libstdc++ 12 has no std::chrono::tzdb: mktime under TZ, serialized, as the C library
  // keeps the zone in process-wide state.
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const char* before = std::getenv("TZ");
  std::string saved = before ? before : "";
  setenv("TZ", zone.c_str(), 1);
  tzset();
  std::chrono::year_month_day ymd{day};
  std::tm tm{};
  tm.tm_year = int(ymd.year()) - 1900;
  tm.tm_mon = int(unsigned(ymd.month())) - 1;
  tm.tm_mday = int(unsigned(ymd.day()));
  tm.tm_isdst = -1;
  std::time_t t = std::mktime(&tm);
  if (before) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  return TimePoint{std::chrono::seconds(t)};
}

std::vector<Timer> rotation_timers(const Rotation& r, const TimeZones& zones) {
  using std::chrono::days;
  const std::string& zone = zones.of(r.site);
  Date midpoint = r.start + days((r.end - r.start).count() / 2);
  std::string payload = to_json(r);
  auto timer = [&](EventType type, Date day) {
    std::string kind(to_string(type));
    Timer t;
    t.id = rotation_timer_prefix(r.id) + kind;
    t.due = local_midnight(day, zone);
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
