#pragma once
// Small helpers shared by the built-in hooks: readable role names and reasons.

#include <string>

#include "rapport/hook.hpp"
#include "rapport/types.hpp"

namespace rapport::hooks {

std::string readable(Role role);  // "social worker"
std::string event_key(const Event& event);  // "<source>/<id>", the key of action ids
int days_together(const TeamMember& member);
// The rotation the event is about: its id is in the payload, its current state in the
// store. nullopt when it is gone or cancelled.
std::optional<Rotation> live_rotation(const Event& event, const HookContext& context);

}  // namespace rapport::hooks
