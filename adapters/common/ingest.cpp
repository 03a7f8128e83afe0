#include "adapters/common/ingest.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>

#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport::adapters {
namespace json = boost::json;

namespace {
// ASCII only, as std::tolower is in the "C" locale the process keeps, without its call
// per character (column names are compared for every field of every row read).
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}
}  // namespace

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ascii_lower);
  return s;
}

std::vector<std::string> default_key(const std::string& entity, const FieldMapping& m) {
  auto column = [&](const std::string& field) {
    auto it = m.columns.find(field);
    return it == m.columns.end() ? field : it->second;
  };
  if (entity == "team") return {column("rotation"), column("person")};
  if (entity == "interests") return {column("person"), column("specialty")};
  if (entity == "sites") return {column("site")};
  return {column("id")};
}

namespace {

std::string convert(const std::string& text, const std::string& format, const std::string& field,
                    bool date_only) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), format.c_str(), &tm);
  if (!end || *end != '\0') {
    throw JsonError("field '" + field + "': does not match the format \"" + format + "\"");
  }
  auto t = TimePoint{std::chrono::seconds(timegm(&tm))};
  return date_only ? format_date(std::chrono::floor<std::chrono::days>(t)) : format_time(t);
}

std::optional<bool> truthy(const std::optional<std::string>& v) {
  if (!v || v->empty()) return std::nullopt;
  std::string s = lower(*v);
  if (s == "1" || s == "true" || s == "t" || s == "y" || s == "yes") return true;
  if (s == "0" || s == "false" || s == "f" || s == "n" || s == "no") return false;
  throw JsonError("a field holds something other than a yes/no value");
}

void put(json::object& o, const char* key, const std::optional<std::string>& v) {
  if (v && !v->empty()) o[key] = *v;
}

double to_number(const std::string& field, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw JsonError("field '" + field + "': not a number");
  return v;
}

// What a row's mapping says, by the row's id: into `notes` when given (RowIngest::prepare,
// logged when the row is read), else logged now.
void note(std::vector<MappingNote>* notes, std::string message, const char* what, std::string id) {
  if (notes) {
    notes->push_back({std::move(message), what, std::move(id)});
  } else {
    log::warn("ingest", message, {{what, id}});
  }
}

// A flag that decides disclosure fails closed: empty or NULL is "no" (platforms leave such
// columns NULL for most people), a value that is neither yes nor no counts as yes, and the
// row's id is said so the school can correct it.
bool restrictive_flag(const MappedRow& r, const char* field, const char* what,
                      const std::string& id, std::vector<MappingNote>* notes) {
  try {
    return truthy(r.get(field)).value_or(false);
  } catch (const JsonError&) {
    note(notes, std::string(field) + " is not a yes/no value; counted as yes", what, id);
    return true;
  }
}

std::string or_default(const std::optional<std::string>& v, const char* fallback) {
  return v && !v->empty() ? *v : fallback;
}

json::object person_of(const MappedRow& r, std::vector<MappingNote>* notes) {
  json::object o{
      {"id", r.need("id")}, {"role", lower(r.need("role"))}, {"name", r.get("name").value_or("")}};
  put(o, "email", r.get("email"));
  put(o, "specialty", r.get("specialty"));
  put(o, "subspecialty", r.get("subspecialty"));
  put(o, "program", r.get("program"));
  if (auto part = r.get("program_role"); part && !part->empty()) {
    // Not worth losing the person for: an unknown code is left out, and said so by id.
    if (parse_program_role(*part)) {
      o["program_role"] = *part;
    } else {
      note(notes, "program_role is not a program role (map it with values:); left out", "person",
           r.need("id"));
    }
  }
  o["opted_out"] = restrictive_flag(r, "opted_out", "person", r.need("id"), notes);
  if (restrictive_flag(r, "email_opted_out", "person", r.need("id"), notes)) {
    o["email_opted_out"] = true;
  }
  return o;
}

json::object rotation_of(const MappedRow& r) {
  json::object o{{"id", r.need("id")},
                 {"student", r.need("student")},
                 {"site", r.need("site")},
                 {"specialty", r.need("specialty")},
                 {"start", r.date("start")},
                 {"end", r.date("end")},
                 {"kind", lower(or_default(r.get("kind"), "core"))},
                 {"status", lower(or_default(r.get("status"), "scheduled"))}};
  put(o, "subspecialty", r.get("subspecialty"));
  return o;
}

json::object member_of(const MappedRow& r) {
  json::object o{{"person", r.need("person")}, {"role", lower(r.need("role"))}};
  auto start = r.opt_date("start"), end = r.opt_date("end");
  if (start && end && *end < *start) throw JsonError("field 'end': ends before it starts");
  if (start) o["start"] = *start;
  if (end) o["end"] = *end;
  // The platform's own id of the roster row, where mapped: an edited row (new dates, role
  // or person) replaces what it was, even read by cursor.
  if (r.mapped("id")) o["row"] = r.need("id");
  return o;
}

// A roster row is one person's stretch on a rotation: platforms keep several per person
// (split around a weekend, separate weeks), each its own row, keyed by its dates and role;
// the same row exported twice is one row.
std::string team_key(const std::string& rotation, const json::object& member) {
  auto text = [&](const char* field) {
    const auto* v = member.if_contains(field);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  if (member.contains("row")) {
    std::string key = rotation + "\x1f#\x1f" + text("row");
    if (std::count(key.begin(), key.end(), '\x1f') != 2) {
      throw JsonError("a rotation or roster row id holds a control character (0x1F)");
    }
    return key;
  }
  std::string key = rotation + '\x1f' + text("person") + '\x1f' + text("start") + '\x1f' +
                    text("end") + '\x1f' + text("role");
  // The separator in an id would make the key unreadable when its row goes.
  if (std::count(key.begin(), key.end(), '\x1f') != 4) {
    throw JsonError("a rotation or person id holds a control character (0x1F)");
  }
  return key;
}

json::object evaluation_of(const MappedRow& r, std::vector<MappingNote>* notes) {
  json::object o{
      {"id", r.need("id")},
      {"rotation", r.need("rotation")},
      {"evaluator", r.need("evaluator")},
      {"student", r.need("student")},
      {"submitted", r.time("submitted")},
      {"score", to_number("score", r.need("score"))},
      {"scale", json::object{{"min", to_number("scale_min", r.get("scale_min").value_or("0"))},
                             {"max", to_number("scale_max", r.get("scale_max").value_or("1"))}}},
      {"anonymous", restrictive_flag(r, "anonymous", "evaluation", r.need("id"), notes)}};
  if (auto rec = truthy(r.get("would_recommend"))) o["would_recommend"] = *rec;
  return o;
}

}  // namespace

MappedRow::MappedRow(const RowColumns& columns, const FieldMapping& mapping, std::string where)
    : columns_(columns), mapping_(mapping), where_(std::move(where)) {}

const std::optional<std::string>* MappedRow::find(std::string_view column) const {
  for (const auto& [name, value] : columns_) {  // names are lower case already
    if (name.size() == column.size() &&
        std::equal(name.begin(), name.end(), column.begin(),
                   [](char a, char b) { return a == ascii_lower(b); })) {
      return &value;
    }
  }
  return nullptr;
}

bool MappedRow::has(const std::string& column) const {
  return find(column) != nullptr;
}

std::optional<std::string> MappedRow::raw(const std::string& column) const {
  if (const auto* value = find(column)) return *value;
  throw std::runtime_error(where_ + ": column \"" + column + "\" is not in the result");
}

std::optional<std::string> MappedRow::get(const std::string& field) const {
  std::optional<std::string> value;
  if (auto c = mapping_.constants.find(field); c != mapping_.constants.end()) {
    value = c->second;
  } else {
    auto col = mapping_.columns.find(field);
    const std::string& column = col != mapping_.columns.end() ? col->second : field;
    const auto* found = find(column);
    if (!found) {
      if (col != mapping_.columns.end()) {
        throw std::runtime_error(where_ + ": column \"" + column + "\" (mapped to field " + field +
                                 ") is not in the result");
      }
      return std::nullopt;
    }
    value = *found;
  }
  if (!value) return value;
  if (!mapping_.trim) {
    if (auto table = mapping_.values.find(field); table != mapping_.values.end()) {
      if (auto v = table->second.find(*value); v != table->second.end()) return v->second;
    }
    return value;
  }
  // Exports pad and mix case: a value without its stray spaces, and a code that matches a
  // value table's entry but for case and spaces is that entry.
  auto first = value->find_first_not_of(" \t\r\n"), last = value->find_last_not_of(" \t\r\n");
  *value = first == std::string::npos ? std::string() : value->substr(first, last - first + 1);
  if (auto table = mapping_.values.find(field); table != mapping_.values.end()) {
    if (auto v = table->second.find(*value); v != table->second.end()) return v->second;
    for (const auto& [theirs, ours] : table->second) {
      auto key = theirs;
      auto kf = key.find_first_not_of(" \t"), kl = key.find_last_not_of(" \t");
      key = kf == std::string::npos ? std::string() : key.substr(kf, kl - kf + 1);
      if (lower(key) == lower(*value)) return ours;
    }
  }
  return value;
}

std::string MappedRow::need(const std::string& field) const {
  auto v = get(field);
  if (!v || v->empty()) throw JsonError("field '" + field + "' is empty or not mapped");
  return *v;
}

std::string MappedRow::date(const std::string& field) const {
  return convert(need(field), mapping_.date_format, field, true);
}

std::optional<std::string> MappedRow::opt_date(const std::string& field) const {
  auto v = get(field);
  if (!v || v->empty()) return std::nullopt;
  return convert(*v, mapping_.date_format, field, true);
}

std::string MappedRow::time(const std::string& field) const {
  return convert(need(field), mapping_.time_format, field, false);
}

const std::vector<std::string>& RowIngest::entities() {
  // Rotations before their team, so that a member always joins a rotation already read;
  // sites before rotations, so that a rotation's moments are timed in its site's zone.
  static const std::vector<std::string> order{"sites",     "people", "interests",
                                              "rotations", "team",   "evaluations"};
  return order;
}

std::optional<bool> RowIngest::changed(Store& store, PageEvents& page, const std::string& entity,
                                       const std::string& key, const std::string& hash) const {
  // The same row twice in one page (a join repeating it): one change.
  if (!page.hashed.insert(entity + '\x1f' + key + '\x1f' + hash).second) return std::nullopt;
  auto before = page.unseen ? std::nullopt : stored_hash(store, page, entity, key);
  if (before == hash) return std::nullopt;
  page.hashes.emplace_back(entity, key, hash);
  return !before.has_value();
}

std::optional<std::string> RowIngest::stored_hash(Store& store, PageEvents& page,
                                                  const std::string& entity,
                                                  const std::string& key) const {
  if (auto ahead = page.stored.find(entity + '\x1f' + key); ahead != page.stored.end()) {
    return ahead->second;
  }
  return store.row_hash(source_, entity, key);
}

void RowIngest::read_ahead(const std::string& entity, const std::vector<std::string>& keys,
                           const std::vector<std::string>& rotations, Store& store,
                           PageEvents& page) const {
  auto read = [&](const std::string& of, const std::vector<std::string>& which) {
    if (which.empty()) return;
    for (const auto& key : which) page.stored.emplace(of + '\x1f' + key, std::nullopt);
    for (auto& [key, hash] : store.row_hashes(source_, of, which)) {
      page.stored[of + '\x1f' + key] = std::move(hash);
    }
  };
  read(entity, keys);
  read("rotations", rotations);
}

namespace {

// An interest row: {"person", "specialty", "rank"} (rank 1 when the source has none),
// the specialty without stray spaces. Several rows of one person are their ranked list.
json::object interest_of(const MappedRow& r) {
  std::string specialty = r.need("specialty");
  auto first = specialty.find_first_not_of(" \t"), last = specialty.find_last_not_of(" \t");
  specialty = specialty.substr(first, last - first + 1);
  std::int64_t rank = 1;
  if (auto text = r.get("rank"); text && !text->empty()) {
    double v = to_number("rank", *text);
    if (v < 1 || v != double(std::int64_t(v))) {
      throw JsonError("field 'rank': expected a whole number from 1");
    }
    rank = std::int64_t(v);
  }
  return {{"person", r.need("person")}, {"specialty", specialty}, {"rank", rank}};
}

std::string interest_key(const json::object& o) {
  std::string key = std::string(o.at("person").as_string()) + '\x1f' +
                    std::string(o.at("specialty").as_string()) + '\x1f' +
                    std::to_string(o.at("rank").as_int64());
  if (std::count(key.begin(), key.end(), '\x1f') != 2) {
    throw JsonError("a person id or specialty holds a control character (0x1F)");
  }
  return key;
}

}  // namespace

std::string mapped_json(const std::string& entity, const MappedRow& r,
                        std::vector<MappingNote>* notes) {
  if (entity == "people") return json::serialize(person_of(r, notes));
  if (entity == "rotations") return json::serialize(rotation_of(r));
  if (entity == "team") return json::serialize(member_of(r));
  if (entity == "evaluations") return json::serialize(evaluation_of(r, notes));
  if (entity == "interests") return json::serialize(interest_of(r));
  if (entity == "sites") {
    return json::serialize(json::object{{"id", r.need("site")}, {"timezone", r.need("timezone")}});
  }
  throw JsonError("no entity \"" + entity + "\"");
}

PreparedRow RowIngest::prepare(const std::string& entity, const MappedRow& r) const {
  PreparedRow p;
  try {
    if (entity == "people") {
      p.text = mapped_json(entity, r, &p.notes);
      p.key = p.subject = person_from_json(p.text).id;  // validates the role
      p.payload = p.text;
    } else if (entity == "rotations") {
      p.text = mapped_json(entity, r);
      auto rotation = rotation_from_json(p.text);
      p.key = rotation.id;
      p.subject = rotation.student_id;
      p.payload = to_json(rotation);
      p.cancelled = rotation.status == RotationStatus::cancelled;
    } else if (entity == "sites") {
      p.text = mapped_json(entity, r);
      p.key = p.subject = r.need("site");
      p.payload = p.text;
    } else if (entity == "interests") {
      auto interest = interest_of(r);
      p.key = interest_key(interest);
      p.owner = interest.at("person").as_string();
      p.text = json::serialize(interest);
    } else if (entity == "team") {
      auto member = member_of(r);
      p.owner = r.need("rotation");
      if (!parse_role(std::string(member["role"].as_string()))) {
        throw JsonError("field 'role': a code no value table maps to a role");
      }
      // Its key's error waits for the check that holds a row of a rotation not read yet.
      try {
        p.key = team_key(p.owner, member);
      } catch (...) {
        p.held_failure = std::current_exception();
      }
      p.text = json::serialize(member);
    } else {
      p.text = mapped_json("evaluations", r, &p.notes);
      auto evaluation = evaluation_from_json(p.text);
      p.key = evaluation.id;
      p.subject = evaluation.student_id;
      p.owner = evaluation.evaluator_id;
      p.payload = to_json(evaluation);
    }
    p.hash = content_hash(p.text);
  } catch (...) {
    p.failure = std::current_exception();
  }
  return p;
}

RowOutcome RowIngest::row(const std::string& entity, const MappedRow& r, Store& store,
                          PageEvents& page) const {
  return row(entity, r, prepare(entity, r), store, page);
}

RowOutcome RowIngest::row(const std::string& entity, const MappedRow& r, PreparedRow p,
                          Store& store, PageEvents& page) const {
  // Nothing about a person forgotten on request comes in, and no hash is kept, so that
  // when the school lifts it the rows read again are new. A forgotten student's rotation
  // is remembered as such, so that its roster rows do not wait for it.
  if (!page.suppressed) page.suppressed = store.suppressed_ids();
  if (!page.suppressed->empty()) {
    auto out = [&](const std::string& field) {
      auto v = r.get(field);
      return v && page.suppressed->count(*v) > 0;
    };
    const std::string suppressed_rotations = "rotations#suppressed";
    if ((entity == "people" && out("id")) || (entity == "interests" && out("person")) ||
        (entity == "evaluations" && out("student"))) {
      return {false, {}};
    }
    if (entity == "rotations" && out("student")) {
      std::string id = r.need("id");
      if (!store.row_hash(source_, suppressed_rotations, id)) {
        store.set_row_hash(source_, suppressed_rotations, id, "1");
      }
      return {false, {}};
    }
    if (entity == "team" &&
        (out("person") || store.row_hash(source_, suppressed_rotations, r.need("rotation")))) {
      return {false, {}};
    }
  }
  // What the mapping had to say, then whether it failed: once the row is known to be read.
  for (const auto& n : p.notes) log::warn("ingest", n.message, {{n.what, n.id}});
  if (p.failure) std::rethrow_exception(p.failure);  // a row that does not map
  if (entity == "people" || entity == "sites") {
    if (changed(store, page, entity, p.key, p.hash)) {
      const EventType type =
          entity == "people" ? EventType::person_updated : EventType::site_updated;
      page.events.push_back({type, p.subject, p.key, std::move(p.payload)});
    }
    return {false, p.key};
  }
  if (entity == "rotations") {
    if (auto is_new = changed(store, page, entity, p.key, p.hash)) {
      EventType type = p.cancelled ? EventType::rotation_cancelled
                       : *is_new   ? EventType::rotation_scheduled
                                   : EventType::rotation_updated;
      page.events.push_back({type, p.subject, p.key, std::move(p.payload)});
    }
    return {false, p.key};
  }
  if (entity == "interests") {
    if (changed(store, page, entity, p.key, p.hash)) {
      page.interests_added[p.owner].push_back(std::move(p.text));
    }
    return {false, p.key};
  }
  if (entity == "team") {
    const std::string& rotation = p.owner;
    // Team rows come in runs of one rotation: it is looked up once per run.
    if (rotation != page.known_rotation && !stored_hash(store, page, "rotations", rotation)) {
      log::debug("source", "team row for a rotation this source has not read; kept for later",
                 {{"source", source_}, {"rotation", rotation}});
      return {true, {}};
    }
    page.known_rotation = rotation;
    if (p.held_failure) std::rethrow_exception(p.held_failure);
    if (changed(store, page, entity, p.key, p.hash)) {
      page.team_added[rotation].push_back(std::move(p.text));
    }
    return {false, p.key};
  }
  // An evaluation a forgotten staff member wrote is the student's record: it comes in
  // under a pseudonym.
  if (page.suppressed->count(p.owner)) {
    auto evaluation = evaluation_from_json(p.text);
    evaluation.evaluator_id = "erased";
    p.text = p.payload = to_json(evaluation);
    p.hash = content_hash(p.text);
  }
  if (changed(store, page, entity, p.key, p.hash)) {
    page.events.push_back(
        {EventType::evaluation_submitted, p.subject, p.key, std::move(p.payload)});
  }
  return {false, p.key};
}

std::string RowIngest::stored_key(const std::string& entity, const MappedRow& row,
                                  const std::string& fallback) const {
  try {
    if (entity == "team") {
      // A row with the platform's id keeps its key however unreadable the rest is.
      if (row.mapped("id")) return row.need("rotation") + "\x1f#\x1f" + row.need("id");
      try {
        return team_key(row.need("rotation"), member_of(row));
      } catch (const JsonError&) {
        // Its dates or role no longer read: every row of the person on the rotation.
        return row.need("rotation") + '\x1f' + row.need("person") + kAnyRow;
      }
    }
    if (entity == "interests") return interest_key(interest_of(row));
    if (entity == "sites") return row.need("site");
    return row.need("id");
  } catch (const std::exception&) {
    return fallback;
  }
}

void RowIngest::removed(const std::string& entity, const std::string& key, Store& store,
                        PageEvents& page) const {
  if (entity == "rotations") {
    if (auto r = store.rotation(key); r && r->status != RotationStatus::cancelled) {
      r->status = RotationStatus::cancelled;
      r->team.clear();
      page.events.push_back({EventType::rotation_cancelled, r->student_id, r->id, to_json(*r)});
    }
    return;
  }
  if (entity != "team" && entity != "interests") return;
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    auto next = key.find('\x1f', at);
    parts.push_back(key.substr(at, next == std::string::npos ? next : next - at));
    if (next == std::string::npos) break;
    at = next + 1;
  }
  if (entity == "interests") {
    if (parts.size() != 3) return;
    json::object row{{"person", parts[0]}, {"specialty", parts[1]}};
    try {
      row["rank"] = std::stoll(parts[2]);
    } catch (const std::exception&) {
      return;
    }
    page.interests_removed[parts[0]].push_back(json::serialize(row));
    return;
  }
  // A row known by the platform's id: that row goes, wherever it is.
  if (parts.size() == 3 && parts[1] == "#") {
    page.team_removed[parts[0]].push_back(json::serialize(json::object{{"row", parts[2]}}));
    return;
  }
  // A key of before spans (rotation, person): the person's rows carried over from then
  // that this read did not see again go (those it saw were marked read again).
  if (parts.size() == 2) {
    page.team_removed[parts[0]].push_back(
        json::serialize(json::object{{"person", parts[1]}, {"legacy", true}}));
    return;
  }
  if (parts.size() != 5) return;
  json::object row{{"person", parts[1]}, {"role", parts[4]}};
  if (!parts[2].empty()) row["start"] = parts[2];
  if (!parts[3].empty()) row["end"] = parts[3];
  page.team_removed[parts[0]].push_back(json::serialize(row));
}

std::size_t RowIngest::flush(Store& store, PageEvents& page, TimePoint now,
                             const std::function<bool(const std::vector<Event>&)>& write) const {
  // Team changes go out one event per rotation and page.
  std::set<std::string> rotations;
  for (const auto& [id, members] : page.team_added) rotations.insert(id);
  for (const auto& [id, people] : page.team_removed) rotations.insert(id);
  // Whom each is about, as the mirror has it: read at once, without the teams (on
  // PostgreSQL one statement for the page, not two per rotation).
  const auto students = rotations.empty()
                            ? std::map<std::string, std::string>()
                            : store.rotation_students({rotations.begin(), rotations.end()});
  for (const auto& id : rotations) {
    // {"rotation": id, "added": [rows], "removed": [rows]}, each roster row one entry
    // {"person", "role", "start"?, "end"?}, serialized when it was read.
    std::string payload = "{\"rotation\":" + json::serialize(json::value(id));
    if (auto a = page.team_added.find(id); a != page.team_added.end()) {
      payload += ",\"added\":[";
      for (std::size_t i = 0; i < a->second.size(); ++i) {
        payload += (i ? "," : "") + a->second[i];
      }
      payload += "]";
    }
    if (auto r = page.team_removed.find(id); r != page.team_removed.end()) {
      payload += ",\"removed\":[";
      for (std::size_t i = 0; i < r->second.size(); ++i) {
        payload += (i ? "," : "") + r->second[i];
      }
      payload += "]";
    }
    payload += "}";
    auto student = students.find(id);
    page.events.push_back({EventType::team_changed,
                           student == students.end() ? std::string() : student->second, id,
                           std::move(payload)});
  }
  // Interest changes: one event per person and page, {"person", "added": [rows],
  // "removed": [rows]}.
  std::set<std::string> people;
  for (const auto& [id, rows] : page.interests_added) people.insert(id);
  for (const auto& [id, rows] : page.interests_removed) people.insert(id);
  for (const auto& id : people) {
    std::string payload = "{\"person\":" + json::serialize(json::value(id));
    for (auto* list : {&page.interests_added, &page.interests_removed}) {
      auto rows = list->find(id);
      if (rows == list->end()) continue;
      payload += list == &page.interests_added ? ",\"added\":[" : ",\"removed\":[";
      for (std::size_t i = 0; i < rows->second.size(); ++i) {
        payload += (i ? "," : "") + rows->second[i];
      }
      payload += "]";
    }
    payload += "}";
    page.events.push_back({EventType::interests_changed, id, id, std::move(payload)});
  }
  std::vector<Event> events;
  events.reserve(page.events.size());
  std::unordered_set<std::string> ids;
  for (auto& e : page.events) {
    // The time keeps a row that returns to an earlier state (opted out, back in, out
    // again) a new event; a page commits atomically, so a crash repeats nothing.
    std::string id = std::string(to_string(e.type)) + "/" + e.key + "/" +
                     content_hash(e.payload).substr(0, 16) + "/" + format_time(now);
    // The same change twice in a page is one event, whichever way it is stored.
    if (!ids.insert(id).second) continue;
    events.push_back({std::move(id), e.type,
                      "rapport/sources/" + source_ + (page.history ? "/history" : ""), now,
                      std::move(e.subject), std::move(e.payload)});
  }
  std::size_t added = 0;
  if (page.history && write && !events.empty() && write(events)) {
    added = events.size();
  } else {
    for (bool fresh : store.append_events(events, now)) added += fresh ? 1 : 0;
  }
  store.set_row_hashes(source_, page.hashes);
  page = PageEvents{page.history, page.unseen};
  return added;
}

}  // namespace rapport::adapters
