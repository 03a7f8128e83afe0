#pragma once
// Small helpers shared by the built-in hooks.

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "rapport/hook.hpp"
#include "rapport/types.hpp"

namespace rapport::hooks {

std::string readable(Role role);            // "social worker"
std::string event_key(const Event& event);  // "<source>/<id>", the key of action ids
int days_together(const TeamMember& member);
std::string month_year(Date day);                    // "March 2027"
std::string plural(int n, const std::string& word);  // "1 day", "3 days"
std::string with_article(const std::string& noun);   // "an attending", "a nurse"
std::string capitalized(std::string text);
// The rotation the event is about: its id is in the payload, its current state in the
// store. nullopt when it is gone or cancelled.
std::optional<Rotation> live_rotation(const Event& event, const HookContext& context);

// An action with its id derived from (hook, key, type, contact). `key` is the event's
// key for per-event actions, or a stable key (e.g. per student) for suggestions that
// must not repeat across events.
// `expires`: after it, the action is not made or sent (Action::expires).
Action make_action(const std::string& hook, const std::string& key, const Event& event,
                   ActionType type, const std::string& student, const std::string& contact,
                   TimePoint due, std::optional<TimePoint> expires, std::string reason,
                   std::map<std::string, std::string> evidence);

// `from` plus the hook's max_lateness; none without one (a hook built without its config).
inline std::optional<TimePoint> expiry(TimePoint from,
                                       std::optional<std::chrono::seconds> max_lateness) {
  if (!max_lateness) return std::nullopt;
  return from + *max_lateness;
}

}  // namespace rapport::hooks
