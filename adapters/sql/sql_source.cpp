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
#include <set>

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

}  // namespace

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
  std::optional<std::string> raw(const std::string& column) const {
    auto at = index_.find(lower(column));
    if (at == index_.end()) {
      throw std::runtime_error(where_ + ": key column \"" + column +
                               "\" is not in the query's result");
    }
    return soci_util::text(row_, at->second);
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

namespace {

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

namespace {

// Where a query's reading stands: the cursor column's value and the key of the last row
// read at that value (the "timestamp + incrementing" model), as JSON in source_cursors.
struct Position {
  std::string at;
  std::vector<std::string> key;
};

std::optional<Position> position_of(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  boost::json::error_code ec;
  auto v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return Position{*text, {}};  // a cursor stored before keys
  Position p;
  p.at = std::string(v.at("at").as_string());
  for (const auto& k : v.at("key").as_array()) p.key.emplace_back(k.as_string());
  return p;
}

std::string text_of(const Position& p) {
  boost::json::array key;
  for (const auto& k : p.key) key.emplace_back(k);
  return boost::json::serialize(boost::json::object{{"at", p.at}, {"key", key}});
}

}  // namespace

std::vector<std::string> SqlSource::key_columns(const std::string& entity,
                                                const QueryMapping& m) const {
  if (!m.key.empty()) return m.key;
  auto column = [&](const std::string& field) {
    auto it = m.columns.find(field);
    return it == m.columns.end() ? field : it->second;
  };
  if (entity == "team") return {column("rotation"), column("person")};
  return {column("id")};
}

std::size_t SqlSource::read_entity(Store& store, const std::string& entity, const QueryMapping& m,
                                   TimePoint until, TimePoint now, const RowHandler& handle) {
  const std::string where = "sources." + name_ + ".queries." + entity;
  const auto keys = key_columns(entity, m);
  const bool full_scan = m.cursor.empty();
  // A full scan sees every row, so it also sees which rows are gone (rotations, team).
  const bool sweep = full_scan && (entity == "rotations" || entity == "team");
  std::int64_t generation = 0;
  if (sweep) {
    generation = std::stoll(store.cursor(name_, entity + "#scan").value_or("0")) + 1;
  }
  std::optional<Position> position = full_scan ? std::nullopt : position_of(store.cursor(name_, entity));
  std::vector<std::string> last_key;  // full scans page by key alone
  std::string bound = format_bound(until, m.time_format);
  bool held = false;  // a row asked to be read again: the position stays before it
  std::size_t added = 0;

  auto key_list = [&] {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ", ") + quoted(k);
    return out;
  };
  auto params = [&](std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += (i ? ", :k" : ":k") + std::to_string(i);
    return out;
  };
  for (;;) {
    // One page: rows after the position, in (cursor, key) order, at most `batch` of them.
    std::string sql = "SELECT * FROM (" + m.sql + ") rapport_q WHERE 1 = 1";
    std::vector<std::string> values;
    if (!full_scan) {
      sql += " AND " + quoted(m.cursor) + " <= :until";
      values.push_back(bound);
      if (position) {
        sql += " AND (" + quoted(m.cursor) + " > :at OR (" + quoted(m.cursor) + " = :at2 AND (" +
               key_list() + ") > (" + params(keys.size()) + ")))";
        values.push_back(position->at);
        values.push_back(position->at);
        for (std::size_t i = 0; i < keys.size(); ++i) {
          values.push_back(i < position->key.size() ? position->key[i] : "");
        }
      }
      sql += " ORDER BY " + quoted(m.cursor) + ", " + key_list();
    } else {
      if (!last_key.empty()) {
        sql += " AND (" + key_list() + ") > (" + params(keys.size()) + ")";
        values.insert(values.end(), last_key.begin(), last_key.end());
      }
      sql += " ORDER BY " + key_list();
    }
    sql += " LIMIT " + std::to_string(options_.batch);

    Transaction tx(store);
    soci::statement st(session());
    soci::row row;
    st.exchange(soci::into(row));
    for (auto& v : values) st.exchange(soci::use(v));
    st.alloc();
    st.prepare(sql);
    st.define_and_bind();
    std::size_t rows = 0;
    PageEvents page;
    std::vector<std::string> seen;  // marked once the page's hashes are stored
    for (bool more = st.execute(true); more; more = st.fetch()) {
      ++rows;
      MappedRow mapped(row, m, where);
      std::vector<std::string> row_key;
      for (const auto& k : keys) row_key.push_back(mapped.raw(k).value_or(""));
      std::string key_text;
      for (const auto& k : row_key) key_text += (key_text.empty() ? "" : "/") + k;
      RowOutcome outcome;
      try {
        outcome = handle(mapped, key_text, page);
      } catch (const JsonError& e) {
        log::warn("source.sql", "row skipped: it does not map onto rapport/v1",
                  {{"source", name_}, {"entity", entity}, {"error", e.what()}});
      }
      if (outcome.hold) held = true;
      if (sweep && !outcome.hold && !outcome.stored_as.empty()) seen.push_back(outcome.stored_as);
      if (full_scan) {
        last_key = row_key;
      } else if (!held) {
        position = Position{mapped.cursor_value().value_or(""), row_key};
      }
    }
    added += flush(store, page, now);
    for (const auto& key : seen) store.mark_row_seen(name_, entity, key, generation);
    if (!full_scan && position) store.set_cursor(name_, entity, text_of(*position));
    tx.commit();
    if (rows < options_.batch) break;
  }
  if (sweep) {
    Transaction tx(store);
    PageEvents page;
    for (const auto& key : store.rows_not_seen(name_, entity, generation)) {
      removed(store, entity, key, page);
      store.forget_row(name_, entity, key);
    }
    added += flush(store, page, now);
    store.set_cursor(name_, entity + "#scan", std::to_string(generation));
    tx.commit();
  }
  return added;
}

// A row of a full scan is gone: its rotation was cancelled, or its member left the team.
void SqlSource::removed(Store& store, const std::string& entity, const std::string& key,
                        PageEvents& page) {
  if (entity == "rotations") {
    if (auto r = store.rotation(key); r && r->status != RotationStatus::cancelled) {
      r->status = RotationStatus::cancelled;
      r->team.clear();
      page.events.push_back({EventType::rotation_cancelled, r->student_id, r->id, to_json(*r)});
    }
    return;
  }
  auto slash = key.find('/');
  if (slash == std::string::npos) return;
  page.team_removed[key.substr(0, slash)].push_back(key.substr(slash + 1));
}

std::size_t SqlSource::flush(Store& store, PageEvents& page, TimePoint now) {
  // Team changes go out one event per rotation and page.
  std::set<std::string> rotations;
  for (const auto& [id, members] : page.team_added) rotations.insert(id);
  for (const auto& [id, people] : page.team_removed) rotations.insert(id);
  for (const auto& id : rotations) {
    boost::json::object payload{{"rotation", id}};
    if (auto a = page.team_added.find(id); a != page.team_added.end()) {
      boost::json::array members;
      for (const auto& m : a->second) members.push_back(boost::json::parse(m));
      payload["added"] = std::move(members);
    }
    if (auto r = page.team_removed.find(id); r != page.team_removed.end()) {
      payload["removed"] = boost::json::array(r->second.begin(), r->second.end());
    }
    std::string student;
    if (auto known = store.rotation(id)) student = known->student_id;
    page.events.push_back({EventType::team_changed, student, id, boost::json::serialize(payload)});
  }
  std::size_t added = 0;
  for (const auto& e : page.events) {
    // The poll's time keeps a row that returns to an earlier state (opted out, back in,
    // out again) a new event; a page commits atomically, so a crash repeats nothing.
    Event event{std::string(to_string(e.type)) + "/" + e.key + "/" +
                    content_hash(e.payload).substr(0, 16) + "/" + format_time(now),
                e.type, "rapport/sources/" + name_, now, e.subject, e.payload};
    added += store.append_event(event, now) ? 1 : 0;
  }
  for (const auto& [entity, key, hash] : page.hashes) store.set_row_hash(name_, entity, key, hash);
  page = PageEvents{};
  return added;
}

std::size_t SqlSource::read_changes(Store& store, TimePoint until, TimePoint now) {
  // Whether a row changed since it was last read; records its new hash with the page.
  auto changed = [&](PageEvents& page, const char* entity, const std::string& key,
                     const std::string& text) -> std::optional<bool> {
    std::string hash = content_hash(text);
    auto before = store.row_hash(name_, entity, key);
    if (before == hash) return std::nullopt;
    for (const auto& [e, k, h] : page.hashes) {
      if (e == entity && k == key && h == hash) return std::nullopt;
    }
    page.hashes.emplace_back(entity, key, hash);
    return !before.has_value();
  };

  std::size_t added = 0;
  // Rotations before their team, so that a member always joins a rotation already read.
  if (options_.people) {
    added += read_entity(store, "people", *options_.people, until, now,
                         [&](const MappedRow& r, const std::string&, PageEvents& page) {
                           auto text = json::serialize(person_of(r));
                           auto person = person_from_json(text);  // validates the role
                           if (changed(page, "people", person.id, text)) {
                             page.events.push_back(
                                 {EventType::person_updated, person.id, person.id, text});
                           }
                           return RowOutcome{false, person.id};
                         });
  }
  if (options_.rotations) {
    added += read_entity(
        store, "rotations", *options_.rotations, until, now,
        [&](const MappedRow& r, const std::string&, PageEvents& page) {
          auto o = rotation_of(r);
          auto rotation = rotation_from_json(json::serialize(o));
          auto is_new = changed(page, "rotations", rotation.id, json::serialize(o));
          if (is_new) {
            EventType type = rotation.status == RotationStatus::cancelled
                                 ? EventType::rotation_cancelled
                             : *is_new ? EventType::rotation_scheduled
                                       : EventType::rotation_updated;
            page.events.push_back({type, rotation.student_id, rotation.id, to_json(rotation)});
          }
          return RowOutcome{false, rotation.id};
        });
  }
  if (options_.team) {
    added += read_entity(
        store, "team", *options_.team, until, now,
        [&](const MappedRow& r, const std::string& key, PageEvents& page) {
          auto member = member_of(r);
          std::string rotation = r.need("rotation");
          if (!parse_role(std::string(member["role"].as_string()))) {
            throw JsonError("field 'role': a code no value table maps to a role");
          }
          if (!store.row_hash(name_, "rotations", rotation)) {
            // Its rotation has not been read (yet): read this row again next time.
            log::warn("source.sql", "team row for a rotation this source has not read; kept for "
                                    "the next poll",
                      {{"source", name_}, {"rotation", rotation}});
            return RowOutcome{true, {}};
          }
          if (changed(page, "team", key, json::serialize(member))) {
            page.team_added[rotation].push_back(json::serialize(member));
          }
          return RowOutcome{false, key};
        });
  }
  if (options_.evaluations) {
    added += read_entity(store, "evaluations", *options_.evaluations, until, now,
                         [&](const MappedRow& r, const std::string&, PageEvents& page) {
                           auto text = json::serialize(evaluation_of(r));
                           auto evaluation = evaluation_from_json(text);
                           if (changed(page, "evaluations", evaluation.id, text)) {
                             page.events.push_back({EventType::evaluation_submitted,
                                                    evaluation.student_id, evaluation.id,
                                                    to_json(evaluation)});
                           }
                           return RowOutcome{false, evaluation.id};
                         });
  }
  if (added) log::debug("source.sql", "poll", {{"source", name_}, {"events", added}});
  return added;
}

}  // namespace rapport::adapters
