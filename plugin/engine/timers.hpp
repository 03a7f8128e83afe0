#pragma once
// Time-derived events: a rotation's start, midpoint and end become durable timers.
// Rotation dates are local to the site: started at 00:00 of the first day, midpoint at
// 00:00 of first day + (last day - first day) / 2 (rounded down), ended at 00:00 of the
// day after the last, each in the site's time zone (daylight saving included).

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace rapport {

inline constexpr const char* kSchedulerSource = "rapport/scheduler";

// IANA zone names, per site, with a fallback for the rest ("UTC" by default).
struct TimeZones {
  std::string fallback = "UTC";
  std::map<std::string, std::string> by_site;
  const std::string& of(const std::string& site) const;
};

// The instant at which `day` begins in `zone`. Throws for an unknown zone.
TimePoint local_midnight(Date day, const std::string& zone);
// The instant the clock on the wall in `zone` shows `after_midnight` on `day` (in a
// skipped hour, the instant after the change).
TimePoint local_time(Date day, std::chrono::seconds after_midnight, const std::string& zone);
bool zone_exists(const std::string& zone);
// The day `at` falls on in `zone`. Throws for an unknown zone.
Date local_date(TimePoint at, const std::string& zone);
// The first `hour`:00 local time in `zone` after `after`, on a day whose ISO weekday
// (Monday 1 ... Sunday 7) `open` accepts (one of the next 14 days must be).
TimePoint next_local_hour(TimePoint after, const std::string& zone, int hour,
                          const std::function<bool(unsigned)>& open);

// A rotation's moments name their rotation (`{"rotation": id}`, rotation_reference) instead
// of carrying a copy of it: they fire with the rotation as the mirror has it then, late
// edits included (fire_due_timers). Three copies of a rotation written with every rotation
// event were a quarter of its dispatch (dispatch_bench, mirror only: 190 -> 143 us).
std::vector<Timer> rotation_timers(const Rotation& rotation, const TimeZones& zones = {});
std::string rotation_reference(const std::string& rotation_id);
// The rotation a timer's payload names, if it is a reference (timers stored before carried
// the rotation itself, and fire as they are).
std::optional<std::string> referenced_rotation(const std::string& payload);
std::string rotation_timer_prefix(const std::string& rotation_id);

// Moves every timer due at `now` into the inbox; returns how many fired.
std::size_t fire_due_timers(Store& store, TimePoint now, std::size_t batch);

}  // namespace rapport
