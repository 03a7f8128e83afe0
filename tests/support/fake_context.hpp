#pragma once
// An in-memory HookContext for hook tests, and builders for test data.

#include <map>

#include "rapport/hook.hpp"
#include "rapport/json.hpp"

namespace rapport::test {

class FakeContext : public HookContext {
 public:
  TimePoint now_ = *parse_time("2027-01-01T00:00:00Z");
  std::map<std::string, Person> people;
  std::map<std::string, Rotation> rotations;

  TimePoint now() const override { return now_; }
  std::optional<Person> person(const std::string& id) const override {
    auto it = people.find(id);
    return it == people.end() ? std::nullopt : std::optional<Person>(it->second);
  }
  std::optional<Rotation> rotation(const std::string& id) const override {
    auto it = rotations.find(id);
    return it == rotations.end() ? std::nullopt : std::optional<Rotation>(it->second);
  }
  std::vector<Rotation> rotations_of(const std::string& student) const override {
    std::vector<Rotation> out;
    for (const auto& [id, r] : rotations) {
      if (r.student_id == student) out.push_back(r);
    }
    return out;
  }
  std::vector<Evaluation> evaluations_of(const std::string&) const override { return {}; }
};

inline Rotation make_rotation(std::string id, std::string student, std::string start,
                              std::string end, std::vector<std::pair<std::string, Role>> team) {
  Rotation r;
  r.id = std::move(id);
  r.student_id = std::move(student);
  r.site = "Test General";
  r.specialty = "Internal Medicine";
  r.start = *parse_date(start);
  r.end = *parse_date(end);
  for (auto& [person, role] : team) r.team.push_back({person, role, r.start, r.end});
  return r;
}

inline Event event_for(const Rotation& r, EventType type, const std::string& at) {
  return Event{r.id + "/" + std::string(to_string(type)), type, "test", *parse_time(at),
               r.student_id, to_json(r)};
}

}  // namespace rapport::test
