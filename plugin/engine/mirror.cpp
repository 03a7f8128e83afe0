#include "engine/mirror.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "engine/source.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport {
namespace {

// A roster row counts only for the days inside its rotation; one with no day inside it is
// not a member of this rotation at all.
void put_member(Store& store, const Rotation& rotation, TeamMember member) {
  member.start = std::max(member.start, rotation.start);
  member.end = std::min(member.end, rotation.end);
  if (member.end < member.start) {
    log::debug("mirror", "team row outside its rotation's dates; ignored",
               {{"rotation", rotation.id}, {"person", member.person_id}});
    return;
  }
  store.put_team_member(rotation.id, member);
}

void apply_rotation(Store& store, const Event& event, const TimeZones& zones) {
  Rotation rotation = rotation_from_json(event.payload);
  if (event.type == EventType::rotation_cancelled) rotation.status = RotationStatus::cancelled;
  store.put_rotation(rotation);
  for (const auto& member : rotation.team) put_member(store, rotation, member);
  if (rotation.status == RotationStatus::cancelled) {
    store.delete_timers_with_prefix(rotation_timer_prefix(rotation.id));
    return;
  }
  // A rotation read as history gets only the moments still to come (a rotation under way
  // still ends, and is thanked for); one long over gets none.
  const bool history = event.source.ends_with(kHistorySuffix);
  if (history && TimePoint{rotation.end + std::chrono::days(2)} <= event.occurred) return;
  for (const auto& timer : rotation_timers(rotation, zones)) {
    if (history && timer.due <= event.occurred) continue;
    store.put_timer(timer);
  }
}

// {"rotation": id, "added": [team members], "removed": [person ids]}
void apply_team_change(Store& store, const Event& event) {
  boost::json::error_code ec;
  auto value = boost::json::parse(event.payload, ec);
  if (ec || !value.is_object()) throw JsonError("team.changed: data must be an object");
  const auto& o = value.as_object();
  const auto* id = o.if_contains("rotation");
  if (!id || !id->is_string()) throw JsonError("field 'rotation': expected a string");
  auto rotation = store.rotation(std::string(id->as_string()));
  if (!rotation) throw JsonError("field 'rotation': unknown rotation");
  if (const auto* added = o.if_contains("added"); added && added->is_array()) {
    boost::json::object shell{{"id", rotation->id},
                              {"student", rotation->student_id},
                              {"site", rotation->site},
                              {"specialty", rotation->specialty},
                              {"kind", to_string(rotation->kind)},
                              {"start", format_date(rotation->start)},
                              {"end", format_date(rotation->end)},
                              {"team", *added}};
    for (const auto& m : rotation_from_json(boost::json::serialize(shell)).team) {
      put_member(store, *rotation, m);
    }
  }
  if (const auto* removed = o.if_contains("removed"); removed && removed->is_array()) {
    for (const auto& p : removed->as_array()) {
      if (p.is_string()) store.remove_team_member(rotation->id, std::string(p.as_string()));
    }
  }
}

}  // namespace

std::pair<std::string, std::string> completion_of(const Event& event) {
  boost::json::error_code ec;
  auto value = boost::json::parse(event.payload, ec);
  auto field = [&](const char* key) {
    const auto* v = !ec && value.is_object() ? value.as_object().if_contains(key) : nullptr;
    if (!v || !v->is_string()) throw JsonError(std::string("field '") + key + "': expected an id");
    return std::string(v->as_string());
  };
  return {field("student"), field("contact")};
}

void check_payload(const Event& event) {
  switch (event.type) {
    case EventType::person_updated: {
      auto person = person_from_json(event.payload);
      if (person.opted_out) {
        // Failed closed on a value that is not a boolean: say so, by id.
        boost::json::error_code ec;
        auto v = boost::json::parse(event.payload, ec);
        const auto* flag = !ec && v.is_object() ? v.as_object().if_contains("opted_out") : nullptr;
        if (flag && !flag->is_bool()) {
          log::warn("mirror", "opted_out is not true or false; counted as opted out",
                    {{"person", person.id}, {"event", event.id}});
        }
      }
      return;
    }
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
    case EventType::rotation_cancelled:
    case EventType::rotation_started:
    case EventType::rotation_midpoint:
    case EventType::rotation_ended:
      rotation_from_json(event.payload);
      return;
    case EventType::evaluation_submitted:
      evaluation_from_json(event.payload);
      return;
    case EventType::team_changed: {
      boost::json::error_code ec;
      auto value = boost::json::parse(event.payload, ec);
      const auto* rotation =
          !ec && value.is_object() ? value.as_object().if_contains("rotation") : nullptr;
      if (!rotation || !rotation->is_string()) {
        throw JsonError("field 'data.rotation': expected the rotation's id");
      }
      return;
    }
    case EventType::followup_due:
      return;
    case EventType::action_completed:
      completion_of(event);
      return;
  }
}

void apply_to_mirror(Store& store, const Event& event, const TimeZones& zones) {
  switch (event.type) {
    case EventType::person_updated:
      store.put_person(person_from_json(event.payload));
      return;
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
    case EventType::rotation_cancelled:
      apply_rotation(store, event, zones);
      return;
    case EventType::team_changed:
      apply_team_change(store, event);
      return;
    case EventType::evaluation_submitted:
      store.put_evaluation(evaluation_from_json(event.payload));
      return;
    case EventType::rotation_started:
    case EventType::rotation_midpoint:
    case EventType::rotation_ended:
    case EventType::followup_due:
      return;  // moments in time: nothing to mirror
    case EventType::action_completed: {
      auto [student, contact] = completion_of(event);
      store.put_touch(student, contact, event.occurred);
      return;
    }
  }
}

}  // namespace rapport
