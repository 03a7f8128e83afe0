#include "hooks/common/interest.hpp"

#include <map>

namespace rapport::hooks {

std::optional<Interest> interest_of(const std::string& student_id, const HookContext& context) {
  auto all = interests_of(student_id, context);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<Interest> interests_of(const std::string& student_id, const HookContext& context) {
  if (auto s = context.person(student_id)) {
    std::vector<Interest> declared;
    for (const auto& i : s->interests) {
      if (!i.empty()) declared.push_back({i, false});
    }
    if (declared.empty() && s->specialty && !s->specialty->empty()) {
      declared.push_back({*s->specialty, false});
    }
    if (!declared.empty()) return declared;
  }
  std::map<std::string, std::pair<int, Date>> chosen;
  for (const auto& r : context.rotations_of(student_id)) {
    if (r.kind == RotationKind::core || r.status == RotationStatus::cancelled) continue;
    auto& [count, last] = chosen[r.specialty];
    ++count;
    last = std::max(last, r.start);
  }
  std::optional<Interest> best;
  std::pair<int, Date> best_key{0, Date{}};
  for (const auto& [specialty, key] : chosen) {
    if (!best || key > best_key) {
      best = Interest{specialty, true};
      best_key = key;
    }
  }
  if (!best) return {};
  return {*best};
}

}  // namespace rapport::hooks
