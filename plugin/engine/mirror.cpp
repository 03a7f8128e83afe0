#include "engine/mirror.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "engine/source.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "sdk/src/json_value.hpp"

namespace rapport {
namespace {

// The zones to time a site's rotations in: the YAML's word for the site, else the site's
// zone as a source gives it (the `sites` entity), else the engine's.
TimeZones zones_for(Store& store, const std::string& site, const TimeZones& zones,
                    SiteZoneMemo* memo) {
  if (zones.by_site.count(site)) return zones;
  std::optional<std::string> zone;
  if (!memo) {
    zone = store.site_timezone(site);
  } else if (auto known = memo->find(site); known != memo->end()) {
    zone = known->second;
  } else {
    zone = memo->emplace(site, store.site_timezone(site)).first->second;
  }
  if (!zone) return zones;
  TimeZones out = zones;
  out.by_site[site] = *zone;
  return out;
}

// A rotation's timers. Read as history, only the moments still to come (a rotation under
// way still ends, and is thanked for); none for one long over.
std::vector<Timer> timers_of(const Rotation& rotation, const Event& event, const TimeZones& zones) {
  const bool history = event.source.ends_with(kHistorySuffix);
  if (history && TimePoint{rotation.end + std::chrono::days(2)} <= event.occurred) return {};
  auto timers = rotation_timers(rotation, zones);
  if (history) std::erase_if(timers, [&](const Timer& t) { return t.due <= event.occurred; });
  return timers;
}

void apply_rotation(Store& store, const Event& event, const TimeZones& configured,
                    SiteZoneMemo* memo) {
  Rotation rotation = rotation_from_json(event.payload);
  const TimeZones zones = zones_for(store, rotation.site, configured, memo);
  if (event.type == EventType::rotation_cancelled) rotation.status = RotationStatus::cancelled;
  store.put_rotation(rotation);
  store.put_team(rotation.id, rotation.team);
  if (rotation.status == RotationStatus::cancelled) {
    store.delete_timers_with_prefix(rotation_timer_prefix(rotation.id));
    return;
  }
  store.put_timers(timers_of(rotation, event, zones));
}

// The roster rows of a team.changed entry: {"person", "role", "start"?, "end"?,
// "spans"?: [{"start", "end"}]}, one row per span (an end left out follows the
// rotation's). In a removal, a person's id alone is all their rows, and the role may be
// left out (the rows of any role).
std::vector<TeamRow> rows_of(const boost::json::value& entry, const std::string& where,
                             bool removal) {
  if (removal && entry.is_string()) return {{std::string(entry.as_string()), std::nullopt, {}, {}}};
  if (!entry.is_object()) throw JsonError("field '" + where + "': expected an object");
  const auto& o = entry.as_object();
  const auto* row_id = o.if_contains("row");
  if (row_id && !row_id->is_string()) throw JsonError("field '" + where + ".row': expected an id");
  if (removal && row_id) {
    TeamRow gone;
    gone.row_id = std::string(row_id->as_string());
    return {gone};
  }
  auto text = [&](const boost::json::object& in, const std::string& at,
                  const char* key) -> std::optional<std::string> {
    const auto* v = in.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) throw JsonError("field '" + at + "." + key + "': expected a string");
    return std::string(v->as_string());
  };
  auto date = [&](const boost::json::object& in, const std::string& at,
                  const char* key) -> std::optional<Date> {
    auto t = text(in, at, key);
    if (!t) return std::nullopt;
    auto d = parse_date(*t);
    if (!d) throw JsonError("field '" + at + "." + key + "': expected a date YYYY-MM-DD");
    return d;
  };
  TeamRow row;
  if (row_id) row.row_id = std::string(row_id->as_string());
  auto person = text(o, where, "person");
  if (!person || person->empty()) throw JsonError("field '" + where + ".person': is required");
  row.person_id = *person;
  if (const auto* legacy = o.if_contains("legacy");
      removal && legacy && legacy->is_bool() && legacy->as_bool()) {
    row.legacy_only = true;
    return {row};
  }
  if (auto role = text(o, where, "role")) {
    row.role = parse_role(*role);
    if (!row.role) throw JsonError("field '" + where + ".role': unknown value \"" + *role + "\"");
  } else if (!removal) {
    throw JsonError("field '" + where + ".role': is required");
  }
  std::vector<TeamRow> rows;
  if (const auto* spans = o.if_contains("spans"); spans && !spans->is_null()) {
    if (!spans->is_array()) throw JsonError("field '" + where + ".spans': expected an array");
    for (std::size_t i = 0; i < spans->as_array().size(); ++i) {
      std::string at = where + ".spans[" + std::to_string(i) + "]";
      const auto& span = spans->as_array()[i];
      if (!span.is_object()) throw JsonError("field '" + at + "': expected an object");
      row.start = date(span.as_object(), at, "start");
      row.end = date(span.as_object(), at, "end");
      rows.push_back(row);
    }
    if (!rows.empty()) return rows;
  }
  row.start = date(o, where, "start");
  row.end = date(o, where, "end");
  if (row.start && row.end && *row.end < *row.start) {
    throw JsonError("field '" + where + ".end': ends before it starts");
  }
  rows.push_back(row);
  return rows;
}

// A team.changed event read: {"rotation": id, "added": [rows], "removed": [rows or person
// ids]}. A row that does not fit is left out and said in `skipped`: one bad row does not
// cost the others theirs (their hashes are stored already).
struct TeamChange {
  std::string rotation;
  std::vector<TeamRow> removed, added;  // as listed
  std::vector<std::string> skipped;     // why each row left out was
};

TeamChange team_change_of(const Event& event) {
  boost::json::error_code ec;
  // The parsed payload lives only here: one arena for it instead of a malloc a node.
  unsigned char arena[4096];
  boost::json::monotonic_resource resource(arena, sizeof arena);
  auto value = boost::json::parse(event.payload, ec, &resource);
  if (ec || !value.is_object()) throw JsonError("team.changed: data must be an object");
  const auto& o = value.as_object();
  const auto* id = o.if_contains("rotation");
  if (!id || !id->is_string()) throw JsonError("field 'rotation': expected a string");
  TeamChange change;
  change.rotation = std::string(id->as_string());
  for (const char* list : {"removed", "added"}) {
    const auto* entries = o.if_contains(list);
    if (!entries || entries->is_null()) continue;
    if (!entries->is_array())
      throw JsonError(std::string("field '") + list + "': expected an array");
    const bool removal = list[0] == 'r';
    for (std::size_t i = 0; i < entries->as_array().size(); ++i) {
      std::string where = std::string(list) + "[" + std::to_string(i) + "]";
      try {
        auto rows = rows_of(entries->as_array()[i], where, removal);
        auto& into = removal ? change.removed : change.added;
        into.insert(into.end(), std::make_move_iterator(rows.begin()),
                    std::make_move_iterator(rows.end()));
      } catch (const JsonError& e) {
        change.skipped.emplace_back(e.what());
      }
    }
  }
  return change;
}

void log_skipped(const TeamChange& change, const Event& event) {
  for (const auto& why : change.skipped) {
    log::warn("mirror", "team row skipped: it does not fit rapport/v1",
              {{"rotation", change.rotation}, {"event", event.id}, {"error", why}});
  }
}

// Removals first, so that one event can move a row (remove its old dates, add its new
// ones); the rows added are written at once, after the removals, as listed.
void apply_team_change(Store& store, const Event& event) {
  const TeamChange change = team_change_of(event);
  if (!store.has_rotation(change.rotation)) throw JsonError("field 'rotation': unknown rotation");
  log_skipped(change, event);
  for (const auto& row : change.removed) {
    if (!row.role && !row.start && !row.end && !row.legacy_only && !row.row_id) {
      store.remove_team_member(change.rotation, row.person_id);
    } else {
      store.remove_team_row(change.rotation, row);
    }
  }
  store.add_team_rows(change.rotation, change.added);
}

// Rotations scheduled or updated (not cancelled: that one deletes timers), each as
// apply_rotation: the rotations in one statement, the teams listed with them each
// rotation's in turn, the timers in one statement.
std::size_t apply_rotation_run(Store& store, const std::vector<Event>& events, std::size_t from,
                               const TimeZones& configured, SiteZoneMemo* memo) {
  std::vector<Rotation> rotations;
  std::vector<Timer> timers;
  std::size_t next = from;
  for (; next < events.size(); ++next) {
    const Event& event = events[next];
    if (event.type != EventType::rotation_scheduled && event.type != EventType::rotation_updated) {
      break;
    }
    try {
      rotations.push_back(rotation_from_json(event.payload));
    } catch (const std::exception&) {
      break;  // apply_to_mirror reports it
    }
    const Rotation& rotation = rotations.back();
    if (rotation.status == RotationStatus::cancelled) {
      rotations.pop_back();
      break;
    }
    std::vector<Timer> due;
    try {
      due = timers_of(rotation, event, zones_for(store, rotation.site, configured, memo));
    } catch (const std::exception&) {
      // Alone, apply_to_mirror writes the rotation and then fails the same way: reported
      // (a store's failure thrown again).
      rotations.pop_back();
      break;
    }
    timers.insert(timers.end(), std::make_move_iterator(due.begin()),
                  std::make_move_iterator(due.end()));
  }
  if (rotations.size() < 2) return 0;
  store.put_rotations(rotations);
  for (const auto& rotation : rotations) {
    if (!rotation.team.empty()) store.put_team(rotation.id, rotation.team);
  }
  store.put_timers(timers);
  return rotations.size();
}

// Roster rows added (removals go alone) to rotations the mirror has, each as
// apply_team_change: whether each rotation is known in one statement, the rows in one.
std::size_t apply_team_run(Store& store, const std::vector<Event>& events, std::size_t from) {
  std::vector<TeamChange> changes;
  for (std::size_t next = from; next < events.size(); ++next) {
    if (events[next].type != EventType::team_changed) break;
    try {
      changes.push_back(team_change_of(events[next]));
    } catch (const JsonError&) {
      break;  // apply_to_mirror reports it
    }
    if (!changes.back().removed.empty()) {
      changes.pop_back();
      break;
    }
  }
  if (changes.size() < 2) return 0;
  std::vector<std::string> ids;
  for (const auto& change : changes) ids.push_back(change.rotation);
  const auto known = store.known_rotations(ids);
  std::vector<RotationRows> teams;
  for (auto& change : changes) {
    if (!known.count(change.rotation)) break;  // apply_to_mirror reports it
    log_skipped(change, events[from + teams.size()]);
    teams.push_back({change.rotation, std::move(change.added)});
  }
  if (teams.size() < 2) return 0;
  store.add_roster_rows(teams);
  return teams.size();
}

// {"id": site, "timezone": zone}. An unknown zone is not stored (the site keeps the
// engine's), and said so by site. The site's rotations not over yet have their moments
// still to come timed again.
void apply_site(Store& store, const Event& event, const TimeZones& configured, SiteZoneMemo* memo) {
  auto value = boost::json::parse(event.payload);
  std::string site(value.at("id").as_string()), zone(value.at("timezone").as_string());
  if (!zone_exists(zone)) {
    log::warn("mirror", "a site's time zone is not a known zone; the engine's is used",
              {{"site", site}, {"event", event.id}});
    return;
  }
  store.put_site_timezone(site, zone);
  if (memo) (*memo)[site] = zone;
  if (configured.by_site.count(site)) return;  // the YAML's word stands
  const TimeZones zones = zones_for(store, site, configured, memo);
  const Date today = std::chrono::floor<std::chrono::days>(event.occurred);
  store.for_each_rotation([&](const Rotation& r) {
    if (r.site != site || r.status == RotationStatus::cancelled || r.end < today) return;
    for (const auto& timer : rotation_timers(r, zones)) {
      if (timer.due > event.occurred) store.put_timer(timer);
    }
  });
}

// {"person", "added": [{"specialty", "rank"}], "removed": [{"specialty", "rank"?}]}
void apply_interests(Store& store, const Event& event) {
  auto value = boost::json::parse(event.payload);
  const auto& o = value.as_object();
  std::string person(o.at("person").as_string());
  for (const char* list : {"removed", "added"}) {
    const auto* rows = o.if_contains(list);
    if (!rows || !rows->is_array()) continue;
    for (const auto& row : rows->as_array()) {
      const auto* specialty = row.is_object() ? row.as_object().if_contains("specialty") : nullptr;
      if (!specialty || !specialty->is_string() || specialty->as_string().empty()) {
        throw JsonError(std::string("field '") + list + "[].specialty': expected a specialty");
      }
      const auto* rank = row.as_object().if_contains("rank");
      std::optional<int> n;
      if (rank && rank->is_int64() && rank->as_int64() >= 1) n = int(rank->as_int64());
      if (list[0] == 'r') {
        store.remove_interest(person, std::string(specialty->as_string()), n);
      } else {
        store.add_interest(person, std::string(specialty->as_string()), n.value_or(1));
      }
    }
  }
}

}  // namespace

namespace {

// The id at `key` of a payload's data, or JsonError(`what`).
std::string id_at(const boost::json::value& data, const char* key, const std::string& what) {
  const auto* v = data.is_object() ? data.as_object().if_contains(key) : nullptr;
  if (!v || !v->is_string()) throw JsonError(what);
  return std::string(v->as_string());
}

std::pair<std::string, std::string> completion_in(const boost::json::value& data) {
  return {id_at(data, "student", "field 'student': expected an id"),
          id_at(data, "contact", "field 'contact': expected an id")};
}

}  // namespace

std::pair<std::string, std::string> completion_of(const Event& event) {
  boost::json::error_code ec;
  auto value = boost::json::parse(event.payload, ec);  // null when it is not JSON
  return completion_in(value);
}

void check_payload(const Event& event) {
  boost::json::error_code ec;
  auto data = boost::json::parse(event.payload, ec);
  if (ec && event.type == EventType::followup_due) return;  // its payload is the scheduler's
  if (ec) throw JsonError("malformed JSON: " + ec.message());
  check_payload(event, data);
}

void check_payload(const Event& event, const boost::json::value& data) {
  switch (event.type) {
    case EventType::person_updated: {
      auto person = person_from_value(data);
      if (person.opted_out) {
        // Failed closed on a value that is not a boolean: say so, by id.
        const auto* flag = data.as_object().if_contains("opted_out");
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
      rotation_from_value(data);
      return;
    case EventType::evaluation_submitted:
      evaluation_from_value(data);
      return;
    case EventType::team_changed:
      id_at(data, "rotation", "field 'data.rotation': expected the rotation's id");
      return;
    case EventType::followup_due:
      return;
    case EventType::action_completed:
      completion_in(data);
      return;
    case EventType::interests_changed:
    case EventType::site_updated: {
      const bool site = event.type == EventType::site_updated;
      const char* key = site ? "id" : "person";
      id_at(data, key, std::string("field 'data.") + key + "': expected an id");
      if (site) {
        const auto* zone = data.as_object().if_contains("timezone");
        if (!zone || !zone->is_string()) {
          throw JsonError("field 'data.timezone': expected an IANA time zone name");
        }
      }
      return;
    }
  }
}

std::size_t apply_run_to_mirror(Store& store, const std::vector<Event>& events, std::size_t from,
                                const TimeZones& zones, SiteZoneMemo* memo) {
  if (from >= events.size()) return 0;
  switch (events[from].type) {
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
      return apply_rotation_run(store, events, from, zones, memo);
    case EventType::team_changed:
      return apply_team_run(store, events, from);
    default:
      return 0;
  }
}

void apply_to_mirror(Store& store, const Event& event, const TimeZones& zones, SiteZoneMemo* memo) {
  switch (event.type) {
    case EventType::person_updated: {
      // A person pushed with "interests" (a webhook, a plugin) has exactly those; a row of
      // a people feed carries none and leaves the `interests` entity's rows alone.
      auto person = person_from_json(event.payload);
      store.put_person(person);
      if (!person.interests.empty()) {
        store.clear_interests(person.id);
        for (std::size_t i = 0; i < person.interests.size(); ++i) {
          store.add_interest(person.id, person.interests[i], int(i) + 1);
        }
      }
      return;
    }
    case EventType::rotation_scheduled:
    case EventType::rotation_updated:
    case EventType::rotation_cancelled:
      apply_rotation(store, event, zones, memo);
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
    case EventType::interests_changed:
      apply_interests(store, event);
      return;
    case EventType::site_updated:
      apply_site(store, event, zones, memo);
      return;
  }
}

}  // namespace rapport
