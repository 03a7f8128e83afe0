#include "engine/network.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "rapport/json.hpp"

namespace rapport {
namespace json = boost::json;

std::string network_json(Store& store, const std::string& student_id) {
  auto student = store.person(student_id);
  auto rotations = store.rotations_of(student_id);
  if (!student && rotations.empty()) {
    throw std::invalid_argument("no student with id \"" + student_id + "\"");
  }
  struct Contact {
    int days = 0;
    std::vector<std::string> roles, rotations;
    std::string last_day;
    json::array evaluations;
  };
  std::map<std::string, Contact> contacts;
  json::array rotation_list;
  for (const auto& r : rotations) {
    rotation_list.push_back(json::parse(to_json(r)));
    if (r.status == RotationStatus::cancelled) continue;
    for (const auto& m : r.team) {
      if (m.person_id == student_id) continue;
      Contact& c = contacts[m.person_id];
      c.days += int((m.end - m.start).count()) + 1;
      std::string role(to_string(m.role));
      if (std::find(c.roles.begin(), c.roles.end(), role) == c.roles.end()) c.roles.push_back(role);
      c.rotations.push_back(r.id);
      c.last_day = std::max(c.last_day, format_date(m.end));
    }
  }
  for (const auto& e : store.evaluations_of(student_id)) {
    if (e.anonymous) continue;  // never tie an anonymous evaluation to its evaluator
    auto it = contacts.find(e.evaluator_id);
    if (it == contacts.end()) continue;
    json::object o{{"id", e.id},
                   {"rotation", e.rotation_id},
                   {"submitted", format_time(e.submitted)},
                   {"score", e.normalized_score()}};
    if (e.would_recommend) o["would_recommend"] = *e.would_recommend;
    it->second.evaluations.push_back(std::move(o));
  }

  std::vector<std::pair<std::string, Contact>> ordered(contacts.begin(), contacts.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.second.days != b.second.days ? a.second.days > b.second.days
                                          : a.second.last_day > b.second.last_day;
  });
  json::array contact_list;
  for (auto& [id, c] : ordered) {
    json::object o{{"id", id}, {"days_together", c.days}, {"last_day", c.last_day}};
    if (auto p = store.person(id)) {
      o["name"] = p->name;
      o["role"] = to_string(p->role);
      if (p->specialty) o["specialty"] = *p->specialty;
      if (p->email) o["email"] = *p->email;
    }
    json::array roles(c.roles.begin(), c.roles.end()), rots(c.rotations.begin(), c.rotations.end());
    o["roles_together"] = std::move(roles);
    o["rotations"] = std::move(rots);
    o["evaluations"] = std::move(c.evaluations);
    contact_list.push_back(std::move(o));
  }
  json::array actions;
  for (const auto& a : store.actions_of(student_id)) {
    actions.push_back(json::parse(to_json(a)).as_object()["data"]);
    actions.back().as_object()["id"] = a.id;
  }
  json::object out{{"schema", kSchema},
                   {"student", student ? json::parse(to_json(*student)) : json::value(nullptr)},
                   {"rotations", std::move(rotation_list)},
                   {"contacts", std::move(contact_list)},
                   {"actions", std::move(actions)}};
  return json::serialize(out);
}

}  // namespace rapport
