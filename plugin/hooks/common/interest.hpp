#pragma once
// A student's specialty interests, strongest first: declared (the `interests` entity's
// ranked rows, else their directory entry's specialty), or else one inferred from the
// electives, sub-internships and away rotations they chose (the most frequent specialty,
// the latest on a tie), and then said to be inferred.

#include <optional>
#include <string>

#include "rapport/hook.hpp"

namespace rapport::hooks {

struct Interest {
  std::string specialty;
  bool inferred = false;
};

std::vector<Interest> interests_of(const std::string& student_id, const HookContext& context);
// The strongest one.
std::optional<Interest> interest_of(const std::string& student_id, const HookContext& context);

}  // namespace rapport::hooks
