#pragma once
// Applies an event's data to the mirror of institutional data, and keeps the rotation
// timers in step with the rotation. Runs in the dispatcher, in inbox order, before hooks.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/timers.hpp"
#include "store/store.hpp"

namespace boost::json {
class value;
}

namespace rapport {

// Sites' time zones as the mirror has them, remembered while one dispatcher batch runs: a
// rotation event read its site's each time (a round trip on PostgreSQL); a site event
// writes through it.
using SiteZoneMemo = std::map<std::string, std::optional<std::string>>;

// Throws JsonError when the payload does not fit the event's type.
void apply_to_mirror(Store& store, const Event& event, const TimeZones& zones = {},
                     SiteZoneMemo* memo = nullptr);
// From events[from], a run of events of one kind written at once where the store can (a
// backfill's page: its rotations, then their rosters, in a few statements, not several
// each): how many it applied, each as apply_to_mirror would have. 0 when the event at
// `from` goes alone through apply_to_mirror: it starts no such run, or would not apply
// (it is reported there). An event that would not apply ends a run before it.
std::size_t apply_run_to_mirror(Store& store, const std::vector<Event>& events, std::size_t from,
                                const TimeZones& zones, SiteZoneMemo* memo);
// The same check without touching the store: for events arriving from outside.
void check_payload(const Event& event);
// The same over the payload already parsed (`data`), for a reader that has it.
void check_payload(const Event& event, const boost::json::value& data);
// action.completed: {"action": id, "student": id, "contact": id} -> (student, contact).
std::pair<std::string, std::string> completion_of(const Event& event);

}  // namespace rapport
