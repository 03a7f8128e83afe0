#pragma once
// Applies an event's data to the mirror of institutional data, and keeps the rotation
// timers in step with the rotation. Runs in the dispatcher, in inbox order, before hooks.

#include <string>
#include <utility>

#include "engine/timers.hpp"
#include "store/store.hpp"

namespace rapport {

// Throws JsonError when the payload does not fit the event's type.
void apply_to_mirror(Store& store, const Event& event, const TimeZones& zones = {});
// The same check without touching the store: for events arriving from outside.
void check_payload(const Event& event);
// action.completed: {"action": id, "student": id, "contact": id} -> (student, contact).
std::pair<std::string, std::string> completion_of(const Event& event);

}  // namespace rapport
