#pragma once
// Time-derived events: a rotation's start, midpoint and end become durable timers.
// Times are UTC: started at 00:00 of the first day, midpoint at 00:00 of the middle day
// (first day + half the length, rounded down), ended at 00:00 of the day after the last.

#include <cstddef>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace rapport {

inline constexpr const char* kSchedulerSource = "rapport/scheduler";

std::vector<Timer> rotation_timers(const Rotation& rotation);
std::string rotation_timer_prefix(const std::string& rotation_id);

// Moves every timer due at `now` into the inbox; returns how many fired.
std::size_t fire_due_timers(Store& store, TimePoint now, std::size_t batch);

}  // namespace rapport
