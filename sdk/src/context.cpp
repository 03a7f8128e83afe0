#include <set>

#include "rapport/hook.hpp"

namespace rapport {

ContextSnapshot snapshot_of(const HookContext& context, const std::string& student_id) {
  ContextSnapshot s;
  s.now = context.now();
  s.rotations = context.rotations_of(student_id);
  s.evaluations = context.evaluations_of(student_id);
  std::set<std::string> ids{student_id};
  for (const auto& r : s.rotations) {
    for (const auto& m : r.team) ids.insert(m.person_id);
  }
  for (const auto& id : ids) {
    if (auto p = context.person(id)) s.people.push_back(std::move(*p));
  }
  return s;
}

std::optional<Person> SnapshotContext::person(const std::string& id) const {
  for (const auto& p : snapshot_.people) {
    if (p.id == id) return p;
  }
  return std::nullopt;
}

std::optional<Rotation> SnapshotContext::rotation(const std::string& id) const {
  for (const auto& r : snapshot_.rotations) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

std::vector<Rotation> SnapshotContext::rotations_of(const std::string& student_id) const {
  std::vector<Rotation> out;
  for (const auto& r : snapshot_.rotations) {
    if (r.student_id == student_id) out.push_back(r);
  }
  return out;
}

std::vector<Evaluation> SnapshotContext::evaluations_of(const std::string& student_id) const {
  std::vector<Evaluation> out;
  for (const auto& e : snapshot_.evaluations) {
    if (e.student_id == student_id) out.push_back(e);
  }
  return out;
}

}  // namespace rapport
