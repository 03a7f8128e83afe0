#pragma once
// An in-memory HookContext for hook tests, and builders for test data.

#include <map>

#include "graph/relationship_graph.hpp"
#include "rapport/hook.hpp"
#include "rapport/json.hpp"

namespace rapport::test {

class FakeContext : public HookContext {
 public:
  TimePoint now_ = *parse_time("2027-01-01T00:00:00Z");
  std::map<std::string, Person> people;
  std::map<std::string, Rotation> rotations;
  std::vector<Evaluation> evaluations;
  std::vector<std::pair<std::string, std::string>> touches;  // student, contact (at now)
  struct Scheduled {
    std::string key;
    TimePoint due;
    std::string subject, payload;
  };
  mutable std::vector<Scheduled> scheduled;
  mutable std::vector<std::string> notices;

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
  std::vector<Evaluation> evaluations_of(const std::string& student) const override {
    std::vector<Evaluation> out;
    for (const auto& e : evaluations) {
      if (e.student_id == student) out.push_back(e);
    }
    return out;
  }
  // The memory as the engine would hold it after these rotations and touches.
  const Relationships& relationships() const override {
    graph_.clear();
    for (const auto& [id, r] : rotations) graph_.put_rotation(r);
    for (const auto& [student, contact] : touches) {
      graph_.put_touch(student, contact, std::chrono::floor<std::chrono::days>(now_));
    }
    return graph_;
  }
  void schedule(const std::string& key, TimePoint due, const std::string& subject,
                const std::string& payload) const override {
    std::erase_if(scheduled, [&](const Scheduled& s) { return s.key == key; });
    scheduled.push_back({key, due, subject, payload});
  }
  void notice(const std::string& message) const override { notices.push_back(message); }

 private:
  mutable RelationshipGraph graph_;
};

// A FakeContext whose memory is kept change by change, as the dispatcher keeps it, instead
// of built again at every read: the assignments' tests compare what a hook keeps from run
// to run with what one made from nothing gives.
class KeptGraphContext : public FakeContext {
 public:
  RelationshipGraph graph;

  const Relationships& relationships() const override { return graph; }
  void put_person(const Person& p) {
    people[p.id] = p;
    graph.put_person(p);
  }
  void put_rotation(const Rotation& r) {
    rotations[r.id] = r;
    graph.put_rotation(r);
  }
  // A student's entry changed at random: opted in or out (one time in three), or new interests
  // among `specialties`.
  template <typename Pick>
  void change_student_entry(const std::string& id, const std::vector<std::string>& specialties,
                            Pick&& pick) {
    Person p = people.at(id);
    if (pick(3) == 0) {
      p.opted_out = !p.opted_out;
    } else {
      p.interests = {specialties[std::size_t(pick(int(specialties.size())))],
                     specialties[std::size_t(pick(int(specialties.size())))]};
    }
    put_person(p);
  }
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
  return Event{r.id + "/" + std::string(to_string(type)),
               type,
               "test",
               *parse_time(at),
               r.student_id,
               to_json(r)};
}

// A hook's action of `type` about the event's subject (its student), naming `contact`,
// due `due`, with the id the engine would give it (`id_hook`: another hook name for the id
// alone, so that two engines' actions can be told apart).
inline Action synthetic_action(const std::string& hook, const Event& event, ActionType type,
                               const std::string& contact, TimePoint due,
                               const std::string& id_hook = "") {
  Action a;
  a.id = make_action_id(id_hook.empty() ? hook : id_hook, event.source + "/" + event.id, type,
                        contact);
  a.type = type;
  a.student_id = event.subject;
  a.contact_id = contact;
  a.created = event.occurred;
  a.due = due;
  a.reason = "synthetic";
  a.hook = hook;
  a.event_id = event.source + "/" + event.id;
  return a;
}

}  // namespace rapport::test
