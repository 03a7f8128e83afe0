#include "adapters/sql/sql_source.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <functional>
#include <random>

#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/soci_util.hpp"
#include "store/store.hpp"

namespace rapport::adapters {
namespace json = boost::json;
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One row of a mapped query, read field by field.
class MappedRow {
 public:
  MappedRow(const soci::row& row, const QueryMapping& mapping, const std::string& where)
      : row_(row), mapping_(mapping), where_(where) {
    for (std::size_t i = 0; i < row.size(); ++i) index_[lower(row.get_properties(i).get_name())] = i;
  }

  std::optional<std::string> get(const std::string& field) const {
    std::optional<std::string> raw;
    if (auto c = mapping_.constants.find(field); c != mapping_.constants.end()) {
      raw = c->second;
    } else {
      auto col = mapping_.columns.find(field);
      std::string column = col != mapping_.columns.end() ? col->second : field;
      auto at = index_.find(lower(column));
      if (at == index_.end()) {
        if (col != mapping_.columns.end()) {
          throw std::runtime_error(where_ + ": column \"" + column + "\" (mapped to field " +
                                   field + ") is not in the query's result");
        }
        return std::nullopt;
      }
      raw = soci_util::text(row_, at->second);
    }
    if (!raw) return raw;
    if (auto table = mapping_.values.find(field); table != mapping_.values.end()) {
      if (auto v = table->second.find(*raw); v != table->second.end()) return v->second;
    }
    return raw;
  }

  std::string need(const std::string& field) const {
    auto v = get(field);
    if (!v || v->empty()) throw JsonError("field '" + field + "' is empty or not mapped");
    return *v;
  }

  std::string date(const std::string& field) const {
    return convert(need(field), mapping_.date_format, field, true);
  }
  std::optional<std::string> opt_date(const std::string& field) const {
    auto v = get(field);
    if (!v || v->empty()) return std::nullopt;
    return convert(*v, mapping_.date_format, field, true);
  }
  std::string time(const std::string& field) const {
    return convert(need(field), mapping_.time_format, field, false);
  }
  std::optional<std::string> cursor_value() const {
    if (mapping_.cursor.empty()) return std::nullopt;
    auto at = index_.find(lower(mapping_.cursor));
    if (at == index_.end()) return std::nullopt;
    return soci_util::text(row_, at->second);
  }

 private:
  static std::string convert(const std::string& text, const std::string& format,
                             const std::string& field, bool date_only) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format.c_str(), &tm);
    if (!end || *end != '\0') {
      throw JsonError("field '" + field + "': does not match the format \"" + format + "\"");
    }
    auto t = TimePoint{std::chrono::seconds(timegm(&tm))};
    return date_only ? format_date(std::chrono::floor<std::chrono::days>(t)) : format_time(t);
  }

  const soci::row& row_;
  const QueryMapping& mapping_;
  std::string where_;
  std::map<std::string, std::size_t> index_;
};

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
  if (text.empty() || *end != '\0') {
    throw JsonError("field '" + field + "': not a number");
  }
  return v;
}

json::object person_of(const MappedRow& r) {
  json::object o{{"id", r.need("id")}, {"role", r.need("role")}, {"name", r.get("name").value_or("")}};
  put(o, "email", r.get("email"));
  put(o, "specialty", r.get("specialty"));
  put(o, "subspecialty", r.get("subspecialty"));
  put(o, "program", r.get("program"));
  o["opted_out"] = truthy(r.get("opted_out")).value_or(false);
  return o;
}

json::object rotation_of(const MappedRow& r) {
  json::object o{{"id", r.need("id")},       {"student", r.need("student")},
                 {"site", r.need("site")},   {"specialty", r.need("specialty")},
                 {"start", r.date("start")}, {"end", r.date("end")},
                 {"kind", r.get("kind").value_or("core")},
                 {"status", r.get("status").value_or("scheduled")}};
  put(o, "subspecialty", r.get("subspecialty"));
  return o;
}

json::object member_of(const MappedRow& r) {
  json::object o{{"person", r.need("person")}, {"role", r.need("role")}};
  if (auto d = r.opt_date("start")) o["start"] = *d;
  if (auto d = r.opt_date("end")) o["end"] = *d;
  return o;
}

json::object evaluation_of(const MappedRow& r) {
  json::object o{{"id", r.need("id")},
                 {"rotation", r.need("rotation")},
                 {"evaluator", r.need("evaluator")},
                 {"student", r.need("student")},
                 {"submitted", r.time("submitted")},
                 {"score", to_number("score", r.need("score"))},
                 {"scale",
                  json::object{{"min", to_number("scale_min", r.get("scale_min").value_or("0"))},
                               {"max", to_number("scale_max", r.get("scale_max").value_or("1"))}}},
                 {"anonymous", truthy(r.get("anonymous")).value_or(false)}};
  if (auto rec = truthy(r.get("would_recommend"))) o["would_recommend"] = *rec;
  return o;
}

std::string format_bound(TimePoint t, const std::string& format) {
  std::time_t tt = t.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format.c_str(), &tm);
  return buf;
}

}  // namespace

SqlSource::SqlSource(std::string name, SqlSourceOptions options)
    : name_(std::move(name)), options_(std::move(options)) {}

SqlSource::~SqlSource() = default;

std::unique_ptr<soci::session> open_session(const SqlSourceOptions& options) {
  const auto& b = options.backend;
  const auto& c = options.connection;
  if (b == "sqlite") {
    if (!std::filesystem::exists(c)) {
      throw std::runtime_error("database file not found (the source's connection)");
    }
    return std::make_unique<soci::session>(soci::sqlite3, "db=\"" + c + "\" timeout=5");
  }
  auto session = std::make_unique<soci::session>(b, c);  // the backend library, by name
  if (b == "postgresql") *session << "SET TIME ZONE 'UTC'";
  if (b == "mysql") *session << "SET time_zone = '+00:00'";
  return session;
}

soci::session& SqlSource::session() {
  if (!session_) session_ = open_session(options_);
  return *session_;
}

std::string SqlSource::quoted(const std::string& column) const {
  return options_.backend == "mysql" ? "`" + column + "`" : "\"" + column + "\"";
}

TimePoint SqlSource::database_now() {
  const char* sql = options_.backend == "sqlite"       ? "SELECT strftime('%Y-%m-%d %H:%M:%S','now')"
                    : options_.backend == "postgresql" ? "SELECT to_char(now() AT TIME ZONE 'UTC',"
                                                         " 'YYYY-MM-DD HH24:MI:SS')"
                    : options_.backend == "mysql"
                        ? "SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')"
                        : "SELECT {fn NOW()}";
  soci::row row;
  session() << sql, soci::into(row);
  auto text = soci_util::text(row, 0).value_or("");
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (!end) throw std::runtime_error("cannot read the database's clock");
  return TimePoint{std::chrono::seconds(timegm(&tm))};
}

std::size_t SqlSource::poll(Store& store, TimePoint now) {
  auto wall = std::chrono::steady_clock::now();
  if (down_ && wall < next_attempt_) return 0;
  try {
    TimePoint clock = options_.database_clock ? database_now() : now;
    auto until = clock - std::chrono::duration_cast<std::chrono::seconds>(options_.lag);
    std::size_t added = read_changes(store, until, now);
    if (down_) {
      log::info("source.sql", "database reachable again; polling resumes where it stopped",
                {{"source", name_}, {"failed_attempts", failures_}});
      Transaction tx(store);
      store.set_source_state(name_, true, "reachable", now);
      tx.commit();
    }
    down_ = false;
    failures_ = 0;
    return added;
  } catch (const soci::soci_error& e) {
    // The session may be broken: reconnect at the next attempt. The store's transaction
    // was rolled back, so the next poll starts from the same cursor.
    session_.reset();
    if (!down_) {
      log::warn("source.sql", "database unreachable; retrying with backoff",
                {{"source", name_}, {"error", e.get_error_message()}});
      Transaction tx(store);
      store.set_source_state(name_, false, "unreachable: " + e.get_error_message(), now);
      tx.commit();
    }
    down_ = true;
    ++failures_;
    static thread_local std::mt19937 rng{std::random_device{}()};
    double base = std::min(60.0, double(1 << std::min(failures_ - 1, 6)));
    double jitter = 0.8 + 0.4 * double(rng() % 1000) / 1000.0;
    next_attempt_ = wall + std::chrono::milliseconds(static_cast<long long>(base * jitter * 1000));
    throw std::runtime_error("sources." + name_ + ": database unreachable");
  }
}

std::size_t SqlSource::read_changes(Store& store, TimePoint until, TimePoint now) {
  std::vector<Event> events;
  std::vector<std::pair<std::string, std::string>> cursors;  // entity, value
  std::vector<std::tuple<std::string, std::string, std::string>> hashes;  // entity, key, hash

  // Reads one mapped query within the watermark and calls `each` per row.
  auto read = [&](const char* entity, const QueryMapping& m,
                  const std::function<void(const MappedRow&)>& each) {
    std::string where = "sources." + name_ + ".queries." + entity;
    std::string after = store.cursor(name_, entity).value_or("");
    std::string bound = format_bound(until, m.time_format);
    std::string sql = m.sql;
    if (!m.cursor.empty()) {
      // >= and not >: rows sharing the last cursor value are read again and dropped by
      // their content hash, so a row committed late with that value is not missed.
      sql = "SELECT * FROM (" + m.sql + ") rapport_q WHERE " + quoted(m.cursor) + " <= :until" +
            (after.empty() ? "" : " AND " + quoted(m.cursor) + " >= :after") + " ORDER BY " +
            quoted(m.cursor);
    }
    soci::session& s = session();
    std::optional<std::string> max_cursor;
    auto consume = [&](soci::rowset<soci::row>& rows) {
      for (const auto& row : rows) {
        MappedRow mapped(row, m, where);
        try {
          each(mapped);
        } catch (const JsonError& e) {
          log::warn("source.sql", "row skipped: it does not map onto rapport/v1",
                    {{"source", name_}, {"entity", entity}, {"error", e.what()}});
        }
        if (auto c = mapped.cursor_value(); c && (!max_cursor || *c > *max_cursor)) max_cursor = c;
      }
    };
    if (m.cursor.empty()) {
      soci::rowset<soci::row> rows = s.prepare << sql;
      consume(rows);
    } else if (after.empty()) {
      soci::rowset<soci::row> rows = (s.prepare << sql, soci::use(bound));
      consume(rows);
    } else {
      soci::rowset<soci::row> rows = (s.prepare << sql, soci::use(bound), soci::use(after));
      consume(rows);
    }
    if (max_cursor && *max_cursor != after) cursors.emplace_back(entity, *max_cursor);
  };

  // Records the row's hash and says whether it is new (nullopt: unchanged).
  auto changed = [&](const char* entity, const std::string& key,
                     const std::string& text) -> std::optional<bool> {
    std::string hash = content_hash(text);
    auto before = store.row_hash(name_, entity, key);
    if (before == hash) return std::nullopt;
    for (const auto& [e, k, h] : hashes) {
      if (e == entity && k == key && h == hash) return std::nullopt;
    }
    hashes.emplace_back(entity, key, hash);
    return !before.has_value();
  };

  auto event = [&](EventType type, const std::string& subject, const std::string& key,
                   const std::string& payload) {
    // The poll's time keeps a row that returns to an earlier state (opted out, back in,
    // out again) a new event; the poll commits atomically, so a crash repeats nothing.
    events.push_back(Event{std::string(to_string(type)) + "/" + key + "/" +
                               content_hash(payload).substr(0, 16) + "/" + format_time(now),
                           type, "rapport/sources/" + name_, now, subject, payload});
  };

  Transaction tx(store);
  if (options_.people) {
    read("people", *options_.people, [&](const MappedRow& r) {
      auto text = json::serialize(person_of(r));
      auto person = person_from_json(text);  // validates role and fields
      if (changed("people", person.id, text)) {
        event(EventType::person_updated, person.id, person.id, text);
      }
    });
  }

  std::map<std::string, json::array> team_changes;  // rotation id -> changed members
  std::map<std::string, std::string> team_first_cursor;  // rotation id -> lowest row cursor
  if (options_.team) {
    read("team", *options_.team, [&](const MappedRow& r) {
      if (auto c = r.cursor_value()) {
        auto& first = team_first_cursor[r.need("rotation")];
        if (first.empty() || *c < first) first = *c;
      }
      auto member = member_of(r);
      std::string rotation = r.need("rotation");
      auto role = parse_role(std::string(member["role"].as_string()));
      if (!role) throw JsonError("field 'role': a code no value table maps to a role");
      std::string key = rotation + "/" + std::string(member["person"].as_string());
      if (changed("team", key, json::serialize(member))) team_changes[rotation].push_back(member);
    });
  }

  if (options_.rotations) {
    read("rotations", *options_.rotations, [&](const MappedRow& r) {
      auto o = rotation_of(r);
      std::string id(o["id"].as_string());
      auto is_new = changed("rotations", id, json::serialize(o));
      if (!is_new) return;  // unchanged: its team's changes become team.changed below
      if (auto members = team_changes.find(id); members != team_changes.end()) {
        o["team"] = std::move(members->second);
        team_changes.erase(members);
      }
      auto rotation = rotation_from_json(json::serialize(o));
      EventType type = rotation.status == RotationStatus::cancelled ? EventType::rotation_cancelled
                       : *is_new ? EventType::rotation_scheduled
                                 : EventType::rotation_updated;
      event(type, rotation.student_id, rotation.id, to_json(rotation));
    });
  }
  for (auto& [rotation_id, members] : team_changes) {
    if (!store.row_hash(name_, "rotations", rotation_id)) {
      bool seen_now = false;
      for (const auto& [e, k, h] : hashes) seen_now = seen_now || (e == "rotations" && k == rotation_id);
      if (!seen_now) {
        log::warn("source.sql", "team rows for a rotation this source has not read; skipped",
                  {{"source", name_}, {"rotation", rotation_id}});
        std::erase_if(hashes, [&](const auto& h) {
          return std::get<0>(h) == "team" && std::get<1>(h).starts_with(rotation_id + "/");
        });
        // Keep the team watermark at these rows, so that they are read again.
        if (auto first = team_first_cursor.find(rotation_id); first != team_first_cursor.end()) {
          for (auto& [entity, value] : cursors) {
            if (entity == "team" && first->second < value) value = first->second;
          }
        }
        continue;
      }
    }
    json::object payload{{"rotation", rotation_id}, {"added", members}};
    auto text = json::serialize(payload);
    std::string student;
    if (auto known = store.rotation(rotation_id)) student = known->student_id;
    event(EventType::team_changed, student, rotation_id, text);
  }

  if (options_.evaluations) {
    read("evaluations", *options_.evaluations, [&](const MappedRow& r) {
      auto text = json::serialize(evaluation_of(r));
      auto evaluation = evaluation_from_json(text);
      if (changed("evaluations", evaluation.id, text)) {
        event(EventType::evaluation_submitted, evaluation.student_id, evaluation.id,
              to_json(evaluation));
      }
    });
  }

  std::size_t added = 0;
  for (const auto& e : events) added += store.append_event(e, now) ? 1 : 0;
  for (const auto& [entity, key, hash] : hashes) store.set_row_hash(name_, entity, key, hash);
  for (const auto& [entity, value] : cursors) store.set_cursor(name_, entity, value);
  tx.commit();
  if (added) log::debug("source.sql", "poll", {{"source", name_}, {"events", added}});
  return added;
}

}  // namespace rapport::adapters
