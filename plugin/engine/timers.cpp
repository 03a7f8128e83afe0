#include "engine/timers.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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

namespace {

// One zone's UTC offsets from its TZif file (/usr/share/zoneinfo, version 2+ data):
// transition times and the offset in force after each. Read once, kept; no process-wide
// TZ juggling, so this is safe from any thread.
struct Zone {
  std::vector<std::int64_t> transitions;
  std::vector<std::int32_t> offsets;  // offset after transitions[i]
  std::int32_t initial = 0;

  std::int32_t offset_at(std::int64_t utc) const {
    auto it = std::upper_bound(transitions.begin(), transitions.end(), utc);
    if (it == transitions.begin()) return initial;
    return offsets[std::size_t(it - transitions.begin() - 1)];
  }
};

std::uint64_t big_endian(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

Zone load_zone(const std::string& name) {
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)), {});
  auto fail = [&] { return std::invalid_argument("time zone \"" + name + "\": unreadable TZif"); };
  if (data.size() < 44 || std::memcmp(data.data(), "TZif", 4) != 0 || data[4] < '2') throw fail();
  auto counts = [&](std::size_t at) {
    std::array<std::uint64_t, 6> c{};
    for (int i = 0; i < 6; ++i)
      c[std::size_t(i)] = big_endian(&data[at + 20 + std::size_t(i) * 4], 4);
    return c;  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  };
  auto v1 = counts(0);
  std::size_t at = 44 + v1[3] * 5 + v1[4] * 6 + v1[5] + v1[2] * 8 + v1[1] + v1[0];
  if (data.size() < at + 44) throw fail();
  auto v2 = counts(at);
  at += 44;
  std::size_t times = at, indices = times + v2[3] * 8, types = indices + v2[3];
  if (data.size() < types + v2[4] * 6 || v2[4] == 0) throw fail();
  auto offset_of = [&](std::size_t type) {
    return std::int32_t(std::uint32_t(big_endian(&data[types + type * 6], 4)));
  };
  Zone z;
  z.initial = offset_of(0);
  for (std::size_t i = 0; i < v2[3]; ++i) {
    z.transitions.push_back(std::int64_t(big_endian(&data[times + i * 8], 8)));
    std::size_t type = data[indices + i];
    if (type >= v2[4]) throw fail();
    z.offsets.push_back(offset_of(type));
  }
  return z;
}

const Zone& zone_named(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, Zone> zones;
  std::lock_guard lock(mutex);
  auto it = zones.find(name);
  if (it == zones.end()) it = zones.emplace(name, load_zone(name)).first;
  return it->second;
}

}  // namespace

TimePoint local_midnight(Date day, const std::string& zone) {
  return local_time(day, std::chrono::seconds(0), zone);
}

TimePoint local_time(Date day, std::chrono::seconds after_midnight, const std::string& zone) {
  if (zone == "UTC") return TimePoint{day} + after_midnight;
  if (!zone_exists(zone)) throw std::invalid_argument("unknown time zone \"" + zone + "\"");
  const Zone& z = zone_named(zone);
  std::int64_t local =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint{day}.time_since_epoch()).count() +
      after_midnight.count();
  // The UTC instant whose local time is `local`: two rounds settle it, also next to a
  // change of offset. (TZif files hold transitions until 2037; later ones keep the last.)
  std::int64_t utc = local - z.offset_at(local);
  utc = local - z.offset_at(utc);
  return TimePoint{std::chrono::seconds(utc)};
}

Date local_date(TimePoint at, const std::string& zone) {
  std::int64_t utc =
      std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  if (zone != "UTC") {
    if (!zone_exists(zone)) throw std::invalid_argument("unknown time zone \"" + zone + "\"");
    utc += zone_named(zone).offset_at(utc);
  }
  return std::chrono::floor<std::chrono::days>(TimePoint{std::chrono::seconds(utc)});
}

TimePoint next_local_hour(TimePoint after, const std::string& zone, int hour,
                          const std::function<bool(unsigned)>& open) {
  Date day = local_date(after, zone);
  for (int i = 0; i < 15; ++i, day += std::chrono::days(1)) {
    if (!open(std::chrono::weekday(day).iso_encoding())) continue;
    auto at = local_time(day, std::chrono::hours(hour), zone);
    if (at > after) return at;
  }
  throw std::invalid_argument("no open day in a fortnight");
}

std::vector<Timer> rotation_timers(const Rotation& r, const TimeZones& zones) {
  using std::chrono::days;
  const std::string& zone = zones.of(r.site);
  Date midpoint = r.start + days((r.end - r.start).count() / 2);
  const std::string payload = rotation_reference(r.id);
  auto timer = [&](EventType type, Date day) {
    std::string kind(to_string(type));
    Timer t;
    t.id = rotation_timer_prefix(r.id) + kind;
    t.due = local_midnight(day, zone);
    // The date is part of the id: a rescheduled rotation starts again, a re-read one does not.
    t.event = Event{r.id + "/" + kind + "/" + format_date(day),
                    type,
                    kSchedulerSource,
                    t.due,
                    r.student_id,
                    payload};
    return t;
  };
  return {timer(EventType::rotation_started, r.start),
          timer(EventType::rotation_midpoint, midpoint),
          timer(EventType::rotation_ended, r.end + days(1))};
}

std::string rotation_reference(const std::string& rotation_id) {
  return boost::json::serialize(boost::json::object{{"rotation", rotation_id}});
}

std::optional<std::string> referenced_rotation(const std::string& payload) {
  boost::system::error_code ec;
  auto value = boost::json::parse(payload, ec);
  const auto* o = ec ? nullptr : value.if_object();
  if (!o || o->size() != 1) return std::nullopt;
  const auto* id = o->if_contains("rotation");
  if (!id || !id->is_string()) return std::nullopt;
  return std::string(id->as_string());
}

std::size_t fire_due_timers(Store& store, TimePoint now, std::size_t batch) {
  std::size_t fired = 0;
  for (;;) {
    Transaction tx(store);
    auto due = store.due_timers(now, batch);
    if (due.empty()) break;
    // A rotation's moment carries the rotation as the mirror has it now (the batch's read
    // at once); one the mirror no longer has, or has cancelled, does not fire (its timers
    // normally went with it).
    std::vector<std::optional<std::string>> named(due.size());
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < due.size(); ++i) {
      if (due[i].event.source == kSchedulerSource) {
        named[i] = referenced_rotation(due[i].event.payload);
      }
      if (named[i]) ids.push_back(*named[i]);
    }
    std::sort(ids.begin(), ids.end());  // a catch-up fires a rotation's moments together
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::map<std::string, Rotation> rotations;
    for (auto& r : store.rotations(ids)) rotations.emplace(r.id, std::move(r));
    // The batch's events go into the inbox at once, in due order, and its timers go at
    // once (a statement each on PostgreSQL, not two a timer).
    std::vector<Event> events;
    std::vector<std::string> done, timer_of;  // every timer of the batch; each event's
    for (std::size_t i = 0; i < due.size(); ++i) {
      auto& t = due[i];
      done.push_back(t.id);
      if (const auto& id = named[i]) {
        auto rotation = rotations.find(*id);
        if (rotation == rotations.end() || rotation->second.status == RotationStatus::cancelled) {
          // Cancelled: its timers normally went with the cancellation. Gone: erased, or
          // purged by retention before this moment came (an engine down that long).
          log::info("scheduler",
                    "a rotation's moment did not fire: its rotation is gone or cancelled",
                    {{"timer", t.id}, {"rotation", *id}});
          continue;
        }
        t.event.payload = to_json(rotation->second);
        t.event.subject = rotation->second.student_id;  // the mirror's word, as the payload's
      }
      events.push_back(std::move(t.event));
      timer_of.push_back(t.id);
    }
    const auto added = store.append_events(events, now);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (!added[i]) continue;
      ++fired;
      log::debug("scheduler", "timer fired",
                 {{"timer", timer_of[i]}, {"event", events[i].id}, {"subject", events[i].subject}});
    }
    store.delete_timers(done);
    tx.commit();
  }
  return fired;
}

}  // namespace rapport
