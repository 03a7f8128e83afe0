// The PostgreSQL store. Connected through SOCI's PostgreSQL backend (the connection string
// means what it means to the SQL source), with every statement sent as an unnamed one
// (PQexecParams on the session's connection): SOCI 4.0.3 prepares named statements for
// rowsets and `statement`s, which PgBouncer's transaction pooling cannot keep (a named
// statement lives on one server connection, and the next transaction may get another).
// No session state either: no SET but SET LOCAL, no LISTEN, no session advisory lock.
//
// Times are kept as the same ISO 8601 text as in SQLite, and text columns compare
// byte by byte (COLLATE "C"), so that both backends order and page alike.
//
// Order of the streams (inbox, outbox, releases): a row's `seq`, the position consumers
// read by, is not given when it is inserted (sequence values commit out of order when
// several processes write) but when it has become visible: publish() numbers the rows
// committed since, under a row lock on the stream's sequencer, in the transaction that
// then commits them. The next publisher waits for that lock, so positions become visible
// in the order they were given, and a consumer that read up to N never finds a row below
// N later. The order of a student's events is the order they became visible.
#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>

#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/plans.hpp"
#include "store/postgresql/postgresql_store.hpp"
#include "store/rows.hpp"

namespace rapport {
namespace {

using Param = std::optional<std::string>;

Param arg(const std::string& v) {
  return v;
}
Param arg(std::string_view v) {
  return std::string(v);
}
Param arg(const char* v) {
  return std::string(v);
}
Param arg(const std::optional<std::string>& v) {
  return v;
}
Param arg(bool v) {
  return std::string(v ? "1" : "0");
}
Param arg(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);
  return std::string(text);
}
template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Param arg(T v) {
  return std::to_string(v);
}

// A PostgreSQL array literal of texts, for CAST($n AS TEXT[]): every element quoted (none
// is NULL), quotes and backslashes escaped.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The same, where nullopt is NULL.
std::string nullable_text_array(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

class Result {
 public:
  explicit Result(PGresult* r) : r_(r, PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  std::optional<std::string> get(int row, int column) const {
    if (PQgetisnull(r_.get(), row, column)) return std::nullopt;
    return std::string(PQgetvalue(r_.get(), row, column),
                       std::size_t(PQgetlength(r_.get(), row, column)));
  }
  std::string str(int row, int column) const { return get(row, column).value_or(""); }
  std::int64_t integer(int row, int column) const {
    auto v = get(row, column);
    return v ? std::strtoll(v->c_str(), nullptr, 10) : 0;
  }
  double number(int row, int column) const {
    auto v = get(row, column);
    return v ? std::strtod(v->c_str(), nullptr) : 0;
  }
  std::int64_t affected() const {
    const char* n = PQcmdTuples(r_.get());
    return n && *n ? std::strtoll(n, nullptr, 10) : 0;
  }
  std::string_view status() const { return PQcmdStatus(r_.get()); }
  // A row's columns for the shared readers (store/rows.hpp).
  auto column_of(int row) const {
    return [this, row](int column) { return get(row, column); };
  }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

// SQLite's spelling of the shared plans (store/plans.hpp) in PostgreSQL's, outside quoted
// text, with named parameters turned into positional ones ($1...) in the order they first
// appear; `names` gets that order.
std::string postgresql_dialect(const std::string& sql, std::vector<std::string>* names = nullptr) {
  static const std::pair<const char*, const char*> kWords[] = {
      {"instr(", "strpos("}, {"char(31)", "chr(31)"}, {"rowid", "id"}};
  std::string out;
  bool quoted = false;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'') quoted = !quoted;
    if (quoted) {
      out += c;
      continue;
    }
    bool replaced = false;
    for (const auto& [from, to] : kWords) {
      if (sql.compare(i, std::strlen(from), from) == 0) {
        out += to;
        i += std::strlen(from) - 1;
        replaced = true;
        break;
      }
    }
    if (replaced) continue;
    bool named = c == ':' && i + 1 < sql.size() &&
                 (std::isalpha(static_cast<unsigned char>(sql[i + 1])) != 0) &&
                 (i == 0 || sql[i - 1] != ':');
    if (!named) {
      out += c;
      continue;
    }
    std::size_t end = i + 1;
    while (end < sql.size() &&
           (std::isalnum(static_cast<unsigned char>(sql[end])) != 0 || sql[end] == '_')) {
      ++end;
    }
    std::string name = sql.substr(i + 1, end - i - 1);
    if (!names) throw StoreError("no value for :" + name + " in a statement");
    std::size_t index = 0;
    while (index < names->size() && (*names)[index] != name) ++index;
    if (index == names->size()) names->push_back(name);
    out += "$" + std::to_string(index + 1);
    i = end - 1;
  }
  return out;
}

// The schema, version by version. Text columns compare as bytes (see the top).
const std::vector<std::vector<const char*>> kMigrations = {
    // 1: what SQLite's store has at its version 12, and the sequencers of the streams
    {
        "CREATE TABLE people (id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,"
        " email TEXT, specialty TEXT, subspecialty TEXT, program TEXT,"
        " opted_out INTEGER NOT NULL DEFAULT 0, program_role TEXT,"
        " email_opted_out INTEGER NOT NULL DEFAULT 0, seen_at TEXT)",
        "CREATE TABLE person_interests (person_id TEXT NOT NULL, specialty TEXT NOT NULL,"
        " rank INTEGER NOT NULL, PRIMARY KEY (person_id, specialty, rank))",
        "CREATE TABLE sites (site TEXT PRIMARY KEY, timezone TEXT NOT NULL)",
        "CREATE TABLE rotations (id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " site TEXT NOT NULL, specialty TEXT NOT NULL, subspecialty TEXT, kind TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL, status TEXT NOT NULL)",
        "CREATE INDEX rotations_by_student ON rotations(student_id, start_date)",
        "CREATE INDEX rotations_by_start ON rotations(start_date)",
        "CREATE INDEX rotations_by_end ON rotations(end_date)",
        "CREATE TABLE team_rows (rotation_id TEXT NOT NULL REFERENCES rotations(id)"
        " ON DELETE CASCADE, person_id TEXT NOT NULL, role TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL,"
        " legacy INTEGER NOT NULL DEFAULT 0, row_id TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (rotation_id, person_id, start_date, end_date, role))",
        "CREATE INDEX team_rows_by_row_id ON team_rows(row_id) WHERE row_id <> ''",
        "CREATE INDEX team_rows_by_person ON team_rows(person_id)",
        "CREATE TABLE evaluations (id TEXT PRIMARY KEY, rotation_id TEXT NOT NULL,"
        " evaluator_id TEXT NOT NULL, student_id TEXT NOT NULL, submitted_at TEXT NOT NULL,"
        " score DOUBLE PRECISION NOT NULL, scale_min DOUBLE PRECISION NOT NULL,"
        " scale_max DOUBLE PRECISION NOT NULL, would_recommend INTEGER,"
        " anonymous INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX evaluations_by_student ON evaluations(student_id)",
        "CREATE INDEX evaluations_by_rotation ON evaluations(rotation_id)",
        "CREATE INDEX evaluations_by_evaluator ON evaluations(evaluator_id)",
        "CREATE TABLE touches (id BIGSERIAL UNIQUE, student_id TEXT NOT NULL,"
        " contact_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (student_id, contact_id))",
        "CREATE INDEX touches_by_contact ON touches(contact_id)",
        "CREATE TABLE sequencer (name TEXT PRIMARY KEY, last BIGINT NOT NULL)",
        "INSERT INTO sequencer (name, last) VALUES ('inbox', 0), ('outbox', 0), ('releases', 0)",
        "CREATE TABLE inbox (id BIGSERIAL PRIMARY KEY, seq BIGINT UNIQUE, source TEXT NOT NULL,"
        " event_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL,"
        " occurred_at TEXT NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL,"
        " UNIQUE (source, event_id))",
        "CREATE INDEX inbox_unpublished ON inbox(id) WHERE seq IS NULL",
        "CREATE INDEX inbox_by_subject ON inbox(subject)",
        "CREATE TABLE progress (consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
        "CREATE TABLE failures (id BIGSERIAL PRIMARY KEY, consumer TEXT NOT NULL,"
        " seq BIGINT NOT NULL, kind TEXT NOT NULL DEFAULT 'error', message TEXT NOT NULL,"
        " at TEXT NOT NULL)",
        "CREATE INDEX failures_by_consumer ON failures(consumer, kind)",
        "CREATE INDEX failures_by_time ON failures(at)",
        "CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, seq BIGINT UNIQUE,"
        " action_id TEXT NOT NULL UNIQUE, hook TEXT NOT NULL, type TEXT NOT NULL,"
        " student_id TEXT NOT NULL, contact_id TEXT NOT NULL, due_at TEXT NOT NULL,"
        " body TEXT NOT NULL)",
        "CREATE INDEX outbox_unpublished ON outbox(id) WHERE seq IS NULL",
        "CREATE INDEX outbox_by_student ON outbox(student_id)",
        "CREATE INDEX outbox_by_hook ON outbox(hook, due_at)",
        "CREATE INDEX outbox_by_due ON outbox(due_at)",
        "CREATE INDEX outbox_by_contact ON outbox(contact_id)",
        "CREATE TABLE timers (id TEXT PRIMARY KEY, due_at TEXT NOT NULL, event TEXT NOT NULL)",
        "CREATE INDEX timers_by_due ON timers(due_at)",
        "CREATE TABLE source_cursors (source TEXT NOT NULL, entity TEXT NOT NULL,"
        " value TEXT NOT NULL, PRIMARY KEY (source, entity))",
        "CREATE TABLE source_rows (source TEXT NOT NULL, entity TEXT NOT NULL,"
        " row_key TEXT NOT NULL, hash TEXT NOT NULL, seen BIGINT NOT NULL DEFAULT 0,"
        " PRIMARY KEY (source, entity, row_key))",
        "CREATE TABLE source_state (source TEXT PRIMARY KEY, up INTEGER NOT NULL,"
        " message TEXT NOT NULL, since TEXT NOT NULL)",
        "CREATE TABLE inbound_messages (source TEXT NOT NULL, message_id TEXT NOT NULL,"
        " received_at TEXT NOT NULL, PRIMARY KEY (source, message_id))",
        "CREATE INDEX inbound_messages_by_time ON inbound_messages(received_at)",
        "CREATE TABLE deliveries (id BIGSERIAL PRIMARY KEY, sink TEXT NOT NULL,"
        " action_seq BIGINT NOT NULL, action_id TEXT NOT NULL, state TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL,"
        " last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
        " UNIQUE (sink, action_id))",
        "CREATE INDEX deliveries_due ON deliveries(sink, state, next_at)",
        "CREATE INDEX deliveries_by_action ON deliveries(action_id)",
        "CREATE TABLE delivery_attempts (id BIGSERIAL PRIMARY KEY,"
        " delivery BIGINT NOT NULL REFERENCES deliveries(id), attempt INTEGER NOT NULL,"
        " at TEXT NOT NULL, duration_ms BIGINT NOT NULL, status INTEGER NOT NULL,"
        " result TEXT NOT NULL, snippet TEXT NOT NULL)",
        "CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts(delivery)",
        "CREATE TABLE disclosures (id BIGSERIAL PRIMARY KEY, action_id TEXT NOT NULL,"
        " student_id TEXT NOT NULL, contact_id TEXT NOT NULL, fields TEXT NOT NULL,"
        " sink TEXT NOT NULL, endpoint TEXT NOT NULL, basis TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX disclosures_by_student ON disclosures(student_id)",
        "CREATE TABLE sink_state (sink TEXT PRIMARY KEY, disabled INTEGER NOT NULL,"
        " message TEXT NOT NULL, since TEXT NOT NULL)",
        "CREATE TABLE held_actions (action_id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " contact_id TEXT NOT NULL, expires_at TEXT, held_at TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX held_by_student ON held_actions(student_id)",
        "CREATE INDEX held_by_contact ON held_actions(contact_id)",
        "CREATE INDEX held_by_expiry ON held_actions(expires_at)",
        "CREATE TABLE expired_actions (action_id TEXT PRIMARY KEY, hook TEXT NOT NULL,"
        " student_id TEXT NOT NULL, contact_id TEXT NOT NULL, stage TEXT NOT NULL,"
        " at TEXT NOT NULL)",
        "CREATE TABLE erasures (id BIGSERIAL PRIMARY KEY, person_id TEXT NOT NULL,"
        " kind TEXT NOT NULL, at TEXT NOT NULL, requested_by TEXT NOT NULL,"
        " reason TEXT NOT NULL, removed TEXT NOT NULL, lifted_at TEXT)",
        "CREATE TABLE suppressions (person_id TEXT PRIMARY KEY, since TEXT NOT NULL)",
        "CREATE TABLE purged_actions (action_id TEXT PRIMARY KEY, at TEXT NOT NULL)",
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TEXT NOT NULL)",
        "CREATE TABLE prompts (id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " action_type TEXT NOT NULL, event_id TEXT NOT NULL, priority INTEGER NOT NULL,"
        " due_at TEXT NOT NULL, expires_at TEXT, state TEXT NOT NULL, week TEXT, until TEXT,"
        " reason TEXT NOT NULL, deferrals INTEGER NOT NULL, decided_at TEXT NOT NULL)",
        "CREATE INDEX prompts_by_week ON prompts(student_id, week)",
        "CREATE INDEX prompts_deferred ON prompts(state, until)",
        "CREATE TABLE prompt_actions (action_id TEXT PRIMARY KEY, prompt_id TEXT NOT NULL)",
        "CREATE INDEX prompt_actions_by_prompt ON prompt_actions(prompt_id)",
        "CREATE TABLE releases (id BIGSERIAL PRIMARY KEY, seq BIGINT UNIQUE,"
        " action_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL)",
        "CREATE INDEX releases_unpublished ON releases(id) WHERE seq IS NULL",
        "CREATE TABLE digest_items (sink TEXT NOT NULL, action_id TEXT NOT NULL,"
        " student_id TEXT NOT NULL, seq BIGINT NOT NULL, digest_id TEXT,"
        " PRIMARY KEY (sink, action_id))",
        "CREATE INDEX digest_items_open ON digest_items(sink, digest_id, student_id, seq)",
        "CREATE INDEX digest_items_by_digest ON digest_items(digest_id)",
        "CREATE INDEX digest_items_by_action ON digest_items(action_id)",
        "CREATE TABLE digests (\"row\" BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " sink TEXT NOT NULL, student_id TEXT NOT NULL, period_end TEXT NOT NULL,"
        " composed_at TEXT NOT NULL, recipient TEXT NOT NULL, message TEXT,"
        " state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL,"
        " last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX digests_due ON digests(sink, state, next_at)",
        "CREATE INDEX digests_by_student ON digests(student_id)",
    },
    // 2: several processes sharing the store: a lease's epoch (one more each time it
    // changes hands), and the process table.
    {
        "ALTER TABLE leases ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0",
        "CREATE TABLE processes (instance TEXT PRIMARY KEY, host TEXT NOT NULL,"
        " pid BIGINT NOT NULL, started TEXT NOT NULL, heartbeat TEXT NOT NULL,"
        " leases TEXT NOT NULL DEFAULT '')",
    },
    // 3: a rotation's moments name their rotation instead of carrying it (engine/timers.hpp).
    // No table changes: the version keeps an older build, which would fire the name as the
    // rotation, from opening the store ("upgrade rapport").
    {
        "UPDATE timers SET event = event WHERE false",
    },
    // 4: deliveries taken by claims (claim_deliveries): the claim's number, until when it
    // holds (the database's clock) and who took it.
    {
        "ALTER TABLE deliveries ADD COLUMN claim BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE deliveries ADD COLUMN claimed_until TEXT",
        "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''",
    },
    // 5: dispatch spread over processes (engine.partitions): each event's partition, given
    // when the mirror applies it.
    {
        "ALTER TABLE inbox ADD COLUMN part INTEGER",
        "CREATE INDEX inbox_by_part ON inbox(part, seq) WHERE part IS NOT NULL",
    },
};

// The database's clock as the store writes times, and that clock moved by $n seconds.
#define DB_NOW "to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define DB_NOW_PLUS(n)                                        \
  "to_char((statement_timestamp() + make_interval(secs => " n \
  ")) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

// Any migration's text columns compare byte by byte.
std::string with_byte_collation(std::string statement) {
  for (auto at = statement.find(" TEXT"); at != std::string::npos;
       at = statement.find(" TEXT", at + 1)) {
    statement.insert(at + 5, " COLLATE \"C\"");
  }
  return statement;
}

// A key (held by pg_advisory_xact_lock while migrating): "rapport" in ASCII.
constexpr long long kMigrationLock = 0x72617070'6f7274;

// The streams with positions given at publication, and their tables.
constexpr const char* kStreams[] = {"inbox", "outbox", "releases"};

class PostgresqlStore final : public Store {
 public:
  explicit PostgresqlStore(const PostgresqlOptions& options) : options_(options) {
    connect_first();
    migrate();
  }

  std::string_view backend() const override { return "postgresql"; }

  // Nest by counting, as in SQLite. A failed statement inside aborts PostgreSQL's
  // transaction: the rest of it fails until the outermost rolls back.
  void begin() override { begin_with("BEGIN"); }
  void begin_snapshot() override {
    begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (depth_ == 1) read_only_ = true;
  }
  void commit() override {
    if (depth_ > 1) {
      --depth_;
      return;
    }
    depth_ = 0;
    read_only_ = false;
    if (poisoned_) {
      quiet_rollback();
      throw StoreError("transaction rolled back by an inner failure");
    }
    if (fence_) check_fence();
    Result r = exec("COMMIT", {});
    // COMMIT of a transaction a failed statement aborted answers ROLLBACK, not an error.
    if (r.status() == "ROLLBACK") throw StoreError("commit failed: the transaction had failed");
  }
  void rollback() override {
    if (depth_ == 0) return;
    if (--depth_ > 0) {
      poisoned_ = true;
      return;
    }
    read_only_ = false;
    quiet_rollback();
  }

  // --- inbox ---

  bool append_event(const Event& e, TimePoint received) override {
    return q("INSERT INTO inbox (source, event_id, type, subject, occurred_at, received_at,"
             " payload) VALUES ($1, $2, $3, $4, $5, $6, $7)"
             " ON CONFLICT (source, event_id) DO NOTHING",
             e.source, e.id, to_string(e.type), e.subject, format_time(e.occurred),
             format_time(received), e.payload)
               .affected() > 0;
  }

  std::vector<bool> append_events(const std::vector<Event>& events, TimePoint received) override {
    if (events.size() < 2) return InboxStore::append_events(events, received);
    std::vector<std::string> sources, ids, types, subjects, occurred, payloads;
    for (const auto& e : events) {
      sources.push_back(e.source);
      ids.push_back(e.id);
      types.emplace_back(to_string(e.type));
      subjects.push_back(e.subject);
      occurred.push_back(format_time(e.occurred));
      payloads.push_back(e.payload);
    }
    // In the order given (ids, and so positions, follow it); a key given twice is added
    // once, by its first row.
    auto r =
        q("INSERT INTO inbox (source, event_id, type, subject, occurred_at, received_at, payload)"
          " SELECT u.source, u.event_id, u.type, u.subject, u.occurred_at, $7, u.payload FROM"
          " unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]),"
          " CAST($5 AS TEXT[]), CAST($6 AS TEXT[])) WITH ORDINALITY"
          " AS u(source, event_id, type, subject, occurred_at, payload, n) ORDER BY u.n"
          " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id",
          text_array(sources), text_array(ids), text_array(types), text_array(subjects),
          text_array(occurred), text_array(payloads), format_time(received));
    std::set<std::pair<std::string, std::string>> inserted;
    for (int i = 0; i < r.rows(); ++i) inserted.emplace(r.str(i, 0), r.str(i, 1));
    std::vector<bool> added;
    added.reserve(events.size());
    for (const auto& e : events) added.push_back(inserted.erase({e.source, e.id}) > 0);
    return added;
  }

  std::vector<InboxEvent> events_after(std::int64_t seq, std::size_t limit) override {
    publish("inbox");
    auto r =
        q("SELECT seq, source, event_id, type, subject, occurred_at, payload FROM inbox"
          " WHERE seq > $1 ORDER BY seq LIMIT $2",
          seq, clamp(limit));
    return inbox_events(r);
  }

  std::int64_t last_event_seq() override { return last_of("inbox"); }

  void set_event_parts(const std::vector<std::pair<std::int64_t, int>>& parts) override {
    if (parts.empty()) return;
    std::string seqs = "{", numbers = "{";
    for (std::size_t i = 0; i < parts.size(); ++i) {
      seqs += (i ? "," : "") + std::to_string(parts[i].first);
      numbers += (i ? "," : "") + std::to_string(parts[i].second);
    }
    q("UPDATE inbox AS t SET part = u.part FROM unnest(CAST($1 AS BIGINT[]),"
      " CAST($2 AS INTEGER[])) AS u(seq, part) WHERE t.seq = u.seq",
      seqs + "}", numbers + "}");
  }

  std::vector<InboxEvent> events_up_to(std::optional<int> part, std::int64_t after,
                                       std::int64_t upto, std::size_t limit) override {
    auto r = part ? q("SELECT seq, source, event_id, type, subject, occurred_at, payload"
                      " FROM inbox WHERE part = $1 AND seq > $2 AND seq <= $3"
                      " ORDER BY seq LIMIT $4",
                      *part, after, upto, clamp(limit))
                  : q("SELECT seq, source, event_id, type, subject, occurred_at, payload"
                      " FROM inbox WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                      after, upto, clamp(limit));
    return inbox_events(r);
  }

  void set_progresses(const std::map<std::string, std::int64_t>& progress) override {
    if (progress.size() < 2) return InboxStore::set_progresses(progress);
    std::vector<std::string> consumers;
    std::string seqs = "{";
    for (const auto& [consumer, seq] : progress) {
      seqs += (consumers.empty() ? "" : ",") + std::to_string(seq);
      consumers.push_back(consumer);
    }
    q("INSERT INTO progress (consumer, seq) SELECT * FROM unnest(CAST($1 AS TEXT[]),"
      " CAST($2 AS BIGINT[])) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq",
      text_array(consumers), seqs + "}");
  }

  void forget_progress(const std::string& consumer) override {
    q("DELETE FROM progress WHERE consumer = $1", consumer);
  }

  std::int64_t progress(const std::string& consumer) override {
    auto r = q("SELECT seq FROM progress WHERE consumer = $1", consumer);
    return r.rows() ? r.integer(0, 0) : 0;
  }

  void set_progress(const std::string& consumer, std::int64_t seq) override {
    q("INSERT INTO progress (consumer, seq) VALUES ($1, $2)"
      " ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq",
      consumer, seq);
  }

  std::map<std::string, std::int64_t> all_progress() override {
    return pairs("SELECT consumer, seq FROM progress");
  }

  void record_report(const std::string& consumer, std::int64_t seq, ReportKind kind,
                     const std::string& message, TimePoint at) override {
    std::string text = message;  // a plugin's message may hold a NUL, which PostgreSQL refuses
    std::erase(text, '\0');
    q("INSERT INTO failures (consumer, seq, kind, message, at) VALUES ($1, $2, $3, $4, $5)",
      consumer, seq, to_string(kind), text, format_time(at));
  }

  std::vector<ReportSummary> reports() override {
    auto r =
        q("SELECT f.consumer, f.kind, g.n, f.message, f.at FROM failures f JOIN"
          " (SELECT MAX(id) AS last, COUNT(*) AS n FROM failures GROUP BY consumer, kind) g"
          " ON f.id = g.last ORDER BY f.consumer, f.kind");
    std::vector<ReportSummary> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), r.str(i, 1), r.integer(i, 2), r.str(i, 3), r.str(i, 4)});
    }
    return out;
  }

  std::vector<std::pair<std::int64_t, std::string>> notices_after(std::int64_t id,
                                                                  std::size_t limit) override {
    auto r =
        q("SELECT id, consumer FROM failures WHERE id > $1 AND kind = 'notice'"
          " ORDER BY id LIMIT $2",
          id, clamp(limit));
    std::vector<std::pair<std::int64_t, std::string>> out;
    for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.integer(i, 0), r.str(i, 1));
    return out;
  }

  std::int64_t last_report_id() override {
    return q("SELECT coalesce(MAX(id), 0) FROM failures").integer(0, 0);
  }

  bool remember_message(const std::string& source, const std::string& id,
                        TimePoint received) override {
    return q("INSERT INTO inbound_messages (source, message_id, received_at)"
             " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
             source, id, format_time(received))
               .affected() > 0;
  }

  std::size_t forget_messages_before(TimePoint before) override {
    return std::size_t(
        q("DELETE FROM inbound_messages WHERE received_at < $1", format_time(before)).affected());
  }

  // --- outbox ---

  bool add_action(const Action& a) override {
    // Not again once made: neither while it is in the outbox nor after retention purged it.
    return q("INSERT INTO outbox (action_id, hook, type, student_id, contact_id, due_at, body)"
             " SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS"
             " (SELECT 1 FROM purged_actions WHERE action_id = $1)"
             " ON CONFLICT (action_id) DO NOTHING",
             a.id, a.hook, to_string(a.type), a.student_id, a.contact_id, format_time(a.due),
             to_json(a))
               .affected() > 0;
  }

  std::vector<OutboxAction> actions_after(std::int64_t seq, std::size_t limit) override {
    publish("outbox");
    auto r =
        q("SELECT seq, body FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", seq, clamp(limit));
    std::vector<OutboxAction> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.integer(i, 0), action_from_json(r.str(i, 1))});
    }
    return out;
  }

  std::int64_t count_actions_after(std::int64_t seq) override {
    publish("outbox");
    return q("SELECT COUNT(*) FROM outbox WHERE seq > $1", seq).integer(0, 0);
  }

  std::vector<Action> actions_of(const std::string& student_id) override {
    return actions_in(
        q("SELECT body FROM outbox WHERE student_id = $1 ORDER BY seq, id", student_id));
  }

  std::vector<Action> actions_of_hook(const std::string& hook, TimePoint since) override {
    return actions_in(
        q("SELECT body FROM outbox WHERE hook = $1 AND due_at > $2"
          " ORDER BY seq, id",
          hook, format_time(since)));
  }

  std::int64_t last_action_seq() override { return last_of("outbox"); }

  bool hold_action(const Action& a, TimePoint now) override {
    return q("INSERT INTO held_actions (action_id, student_id, contact_id, expires_at,"
             " held_at, body) SELECT $1, $2, $3, $4, $5, $6"
             " WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE action_id = $1)"
             " ON CONFLICT (action_id) DO NOTHING",
             a.id, a.student_id, a.contact_id,
             a.expires ? Param(format_time(*a.expires)) : std::nullopt, format_time(now),
             to_json(a))
               .affected() > 0;
  }

  std::vector<Action> held_naming(const std::string& person_id) override {
    return actions_in(
        q("SELECT body FROM held_actions WHERE student_id = $1 OR contact_id = $1"
          " ORDER BY held_at, action_id",
          person_id));
  }

  std::vector<Action> held_expired(TimePoint now) override {
    return actions_in(q("SELECT body FROM held_actions WHERE expires_at <= $1 ORDER BY action_id",
                        format_time(now)));
  }

  std::vector<Action> held_releasable(std::size_t limit) override {
    return actions_in(
        q("SELECT body FROM held_actions h WHERE EXISTS (SELECT 1 FROM people WHERE id ="
          " h.student_id) AND EXISTS (SELECT 1 FROM people WHERE id = h.contact_id)"
          " ORDER BY held_at, action_id LIMIT $1",
          clamp(limit)));
  }

  void drop_held(const std::string& action_id) override {
    q("DELETE FROM held_actions WHERE action_id = $1", action_id);
  }

  std::int64_t held_count() override { return count("held_actions"); }

  void record_expired(const Action& a, const std::string& stage, TimePoint at) override {
    q("INSERT INTO expired_actions (action_id, hook, student_id, contact_id, stage, at)"
      " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (action_id) DO NOTHING",
      a.id, a.hook, a.student_id, a.contact_id, stage, format_time(at));
  }

  std::map<std::string, std::int64_t> expired_counts() override {
    return pairs("SELECT stage, COUNT(*) FROM expired_actions GROUP BY stage");
  }

  std::optional<Action> action_with_id(const std::string& id) override {
    auto r = q("SELECT body FROM outbox WHERE action_id = $1", id);
    if (!r.rows()) return std::nullopt;
    return action_from_json(r.str(0, 0));
  }

  void enqueue_delivery(const std::string& sink, std::int64_t action_seq,
                        const std::string& action_id, TimePoint next_at) override {
    q("INSERT INTO deliveries (sink, action_seq, action_id, state, next_at)"
      " VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (sink, action_id) DO NOTHING",
      sink, action_seq, action_id, format_time(next_at));
  }

  // One statement: the rows are locked as they are chosen, and rows another process is
  // taking at this moment are skipped (SKIP LOCKED), so two processes never take one row.
  std::vector<DeliveryRecord> claim_deliveries(const std::string& sink, TimePoint now,
                                               std::size_t limit, std::chrono::seconds hold,
                                               const std::string& holder) override {
    static constexpr const char* kClaim =
        "UPDATE deliveries d SET claim = d.claim + 1, claimed_by = $4,"
        " claimed_until = CASE WHEN $5 = 0 THEN NULL ELSE " DB_NOW_PLUS(
            "CAST($5 AS DOUBLE PRECISION)") " END FROM (SELECT id"
        " FROM deliveries WHERE sink = $1 AND state = 'pending' AND next_at <= $2 AND"
        " (claimed_until IS NULL OR claimed_until <= " DB_NOW ") ORDER BY next_at, id"
        " LIMIT $3 FOR UPDATE SKIP LOCKED) c WHERE d.id = c.id RETURNING d.id, d.sink,"
        " d.action_seq, d.action_id, d.state, d.attempts, d.next_at, d.last_status,"
        " d.last_error, d.claim, d.claimed_by";
    auto taken = deliveries_in(
        q(kClaim, sink, format_time(now), clamp(limit), holder, std::int64_t(hold.count())));
    std::sort(taken.begin(), taken.end(), [](const DeliveryRecord& a, const DeliveryRecord& b) {
      return std::tie(a.next_at, a.id) < std::tie(b.next_at, b.id);
    });
    return taken;
  }

  std::optional<DeliveryRecord> delivery(std::int64_t id) override {
    auto found = deliveries_in(q(std::string(kDeliveryColumns) + "WHERE id = $1", id));
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  bool update_delivery(const DeliveryRecord& d) override {
    return q("UPDATE deliveries SET state = $1, attempts = $2, next_at = $3, last_status = $4,"
             " last_error = $5, claim = claim + 1, claimed_until = NULL"
             " WHERE id = $6 AND claim = $7",
             d.state, d.attempts, format_time(d.next_at), d.last_status, d.last_error, d.id,
             d.claim)
               .affected() > 0;
  }

  void add_attempt(const DeliveryAttempt& a) override {
    q("INSERT INTO delivery_attempts (delivery, attempt, at, duration_ms, status, result,"
      " snippet) VALUES ($1, $2, $3, $4, $5, $6, $7)",
      a.delivery, a.attempt, format_time(a.at), a.duration_ms, a.status, a.result, a.snippet);
  }

  std::vector<DeliveryRecord> deliveries(const std::string& sink, bool failed,
                                         std::size_t limit) override {
    std::string query = std::string(kDeliveryColumns) + "WHERE ($1 = '' OR sink = $1)";
    if (failed) query += " AND (state = 'dead' OR (state = 'pending' AND attempts > 0))";
    query += " ORDER BY id DESC LIMIT $2";
    return deliveries_in(q(query, sink, clamp(limit)));
  }

  std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery) override {
    auto r =
        q("SELECT attempt, at, duration_ms, status, result, snippet"
          " FROM delivery_attempts WHERE delivery = $1 ORDER BY id",
          delivery);
    std::vector<DeliveryAttempt> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({delivery, int(r.integer(i, 0)), parse_time(r.str(i, 1)).value_or(TimePoint{}),
                     r.integer(i, 2), int(r.integer(i, 3)), r.str(i, 4), r.str(i, 5)});
    }
    return out;
  }

  std::size_t replay_deliveries(const std::string& sink, const std::string& action_id,
                                std::optional<TimePoint> since, TimePoint now) override {
    return std::size_t(q("UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $1"
                         " WHERE ($2 = '' OR sink = $2) AND (($3 <> '' AND action_id = $3) OR"
                         " ($4 <> '' AND action_id IN (SELECT action_id FROM outbox o WHERE"
                         " (CAST(o.body AS jsonb) ->> 'time') COLLATE \"C\" >= $4)))",
                         format_time(now), sink, action_id,
                         since ? format_time(*since) : std::string())
                           .affected());
  }

  std::map<std::string, std::int64_t> delivery_counts(const std::string& sink) override {
    return pairs("SELECT state, COUNT(*) FROM deliveries WHERE sink = $1 GROUP BY state", sink);
  }

  void set_sink_disabled(const std::string& sink, bool disabled, const std::string& message,
                         TimePoint since) override {
    q("INSERT INTO sink_state (sink, disabled, message, since) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (sink) DO UPDATE SET disabled = excluded.disabled,"
      " message = excluded.message, since = excluded.since",
      sink, disabled, message, format_time(since));
  }

  std::optional<std::string> sink_disabled(const std::string& sink) override {
    auto r = q("SELECT disabled, message FROM sink_state WHERE sink = $1", sink);
    if (!r.rows() || r.integer(0, 0) == 0) return std::nullopt;
    return r.str(0, 1);
  }

  // --- prompts, releases, digests ---

  static constexpr const char* kPromptColumns =
      "SELECT p.id, p.student_id, p.action_type, p.event_id, p.priority, p.due_at,"
      " p.expires_at, p.state, p.week, p.until, p.reason, p.deferrals, p.decided_at,"
      " (SELECT COUNT(*) FROM prompt_actions pa WHERE pa.prompt_id = p.id) FROM prompts p ";

  static std::vector<Prompt> prompts_in(const Result& r) {
    std::vector<Prompt> out;
    for (int i = 0; i < r.rows(); ++i) {
      Prompt p;
      p.id = r.str(i, 0);
      p.student_id = r.str(i, 1);
      p.type = r.str(i, 2);
      p.event_id = r.str(i, 3);
      p.priority = int(r.integer(i, 4));
      p.due = parse_time(r.str(i, 5)).value_or(TimePoint{});
      if (auto e = r.get(i, 6)) p.expires = parse_time(*e);
      p.state = r.str(i, 7);
      if (auto w = r.get(i, 8)) p.week = parse_date(*w);
      if (auto u = r.get(i, 9)) p.until = parse_time(*u);
      p.reason = r.str(i, 10);
      p.deferrals = int(r.integer(i, 11));
      p.decided_at = parse_time(r.str(i, 12)).value_or(TimePoint{});
      p.actions = r.integer(i, 13);
      out.push_back(std::move(p));
    }
    return out;
  }

  std::optional<Prompt> prompt(const std::string& id) override {
    auto found = prompts_in(q(std::string(kPromptColumns) + "WHERE p.id = $1", id));
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  void put_prompt(const Prompt& p) override {
    q("INSERT INTO prompts (id, student_id, action_type, event_id, priority, due_at,"
      " expires_at, state, week, until, reason, deferrals, decided_at)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
      " ON CONFLICT (id) DO UPDATE SET student_id = excluded.student_id,"
      " action_type = excluded.action_type, event_id = excluded.event_id,"
      " priority = excluded.priority, due_at = excluded.due_at,"
      " expires_at = excluded.expires_at, state = excluded.state, week = excluded.week,"
      " until = excluded.until, reason = excluded.reason, deferrals = excluded.deferrals,"
      " decided_at = excluded.decided_at",
      p.id, p.student_id, p.type, p.event_id, p.priority, format_time(p.due),
      p.expires ? Param(format_time(*p.expires)) : std::nullopt, p.state,
      p.week ? Param(format_date(*p.week)) : std::nullopt,
      p.until ? Param(format_time(*p.until)) : std::nullopt, p.reason, p.deferrals,
      format_time(p.decided_at));
  }

  void add_to_prompt(const std::string& prompt_id, const std::string& action_id) override {
    q("INSERT INTO prompt_actions (action_id, prompt_id) VALUES ($1, $2)"
      " ON CONFLICT (action_id) DO NOTHING",
      action_id, prompt_id);
  }

  std::vector<std::string> prompt_action_ids(const std::string& prompt_id) override {
    return texts(
        q("SELECT pa.action_id FROM prompt_actions pa JOIN outbox o ON o.action_id ="
          " pa.action_id WHERE pa.prompt_id = $1 ORDER BY o.seq, o.id",
          prompt_id));
  }

  std::vector<Prompt> prompts_to_decide(TimePoint now, std::size_t limit) override {
    return prompts_in(q(std::string(kPromptColumns) +
                            "WHERE p.state = 'pending' OR (p.state = 'deferred' AND p.until <= $1)"
                            " ORDER BY p.priority, p.due_at, p.id LIMIT $2",
                        format_time(now), clamp(limit)));
  }

  std::int64_t prompts_sent_in_week(const std::string& student_id, Date week) override {
    return q("SELECT COUNT(*) FROM prompts WHERE student_id = $1 AND week = $2 AND"
             " state = 'sent'",
             student_id, format_date(week))
        .integer(0, 0);
  }

  std::vector<Prompt> prompts_of(const std::string& student_id) override {
    return prompts_in(q(
        std::string(kPromptColumns) + "WHERE p.student_id = $1 ORDER BY p.due_at, p.priority, p.id",
        student_id));
  }

  std::map<std::string, std::int64_t> prompt_counts() override {
    return pairs("SELECT state, COUNT(*) FROM prompts GROUP BY state");
  }

  bool release_action(const std::string& action_id, TimePoint at) override {
    return q("INSERT INTO releases (action_id, at) VALUES ($1, $2)"
             " ON CONFLICT (action_id) DO NOTHING",
             action_id, format_time(at))
               .affected() > 0;
  }

  std::vector<OutboxAction> released_after(std::int64_t seq, std::size_t limit) override {
    publish("releases");
    auto r =
        q("SELECT r.seq, o.body FROM releases r JOIN outbox o ON o.action_id = r.action_id"
          " WHERE r.seq > $1 ORDER BY r.seq LIMIT $2",
          seq, clamp(limit));
    std::vector<OutboxAction> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.integer(i, 0), action_from_json(r.str(i, 1))});
    }
    return out;
  }

  std::int64_t count_released_after(std::int64_t seq) override {
    publish("releases");
    return q("SELECT COUNT(*) FROM releases WHERE seq > $1", seq).integer(0, 0);
  }

  std::int64_t last_release_seq() override { return last_of("releases"); }

  void add_digest_item(const std::string& sink, const std::string& action_id,
                       const std::string& student_id, std::int64_t seq) override {
    q("INSERT INTO digest_items (sink, action_id, student_id, seq) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT DO NOTHING",
      sink, action_id, student_id, seq);
  }

  std::vector<std::string> students_with_open_items(const std::string& sink,
                                                    const std::string& after,
                                                    std::size_t limit) override {
    return texts(
        q("SELECT DISTINCT student_id FROM digest_items WHERE sink = $1 AND"
          " digest_id IS NULL AND student_id > $2 ORDER BY student_id LIMIT $3",
          sink, after, clamp(limit)));
  }

  std::vector<std::string> open_digest_items(const std::string& sink,
                                             const std::string& student_id) override {
    return texts(
        q("SELECT action_id FROM digest_items WHERE sink = $1 AND digest_id IS NULL"
          " AND student_id = $2 ORDER BY seq",
          sink, student_id));
  }

  bool put_digest(const DigestRecord& d, const std::vector<std::string>& included,
                  const std::vector<std::string>& left_out) override {
    bool stored =
        q("INSERT INTO digests (id, sink, student_id, period_end, composed_at,"
          " recipient, message, state, attempts, next_at) VALUES ($1, $2, $3, $4, $5,"
          " $6, $7, $8, 0, $9) ON CONFLICT (id) DO NOTHING",
          d.id, d.sink, d.student_id, format_time(d.period_end), format_time(d.composed_at),
          d.recipient, d.message, d.state, format_time(d.next_at))
            .affected() > 0;
    if (!stored) return false;
    // Left-out items are closed with "-", which names no digest.
    for (const auto* ids : {&included, &left_out}) {
      for (const auto& action_id : *ids) {
        q("UPDATE digest_items SET digest_id = $1 WHERE sink = $2 AND action_id = $3",
          ids == &included ? d.id : std::string("-"), d.sink, action_id);
      }
    }
    return true;
  }

  void reopen_digest(const std::string& digest_id) override {
    q("UPDATE digest_items SET digest_id = NULL WHERE digest_id = $1", digest_id);
    q("UPDATE digests SET state = 'withheld', message = NULL WHERE id = $1", digest_id);
  }

  static constexpr const char* kDigestColumns =
      "SELECT \"row\", id, sink, student_id, period_end, composed_at, recipient, message,"
      " state, attempts, next_at, last_status, last_error FROM digests ";

  static std::vector<DigestRecord> digests_in(const Result& r) {
    std::vector<DigestRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      DigestRecord d;
      d.row = r.integer(i, 0);
      d.id = r.str(i, 1);
      d.sink = r.str(i, 2);
      d.student_id = r.str(i, 3);
      d.period_end = parse_time(r.str(i, 4)).value_or(TimePoint{});
      d.composed_at = parse_time(r.str(i, 5)).value_or(TimePoint{});
      d.recipient = r.str(i, 6);
      d.message = r.str(i, 7);
      d.state = r.str(i, 8);
      d.attempts = int(r.integer(i, 9));
      d.next_at = parse_time(r.str(i, 10)).value_or(TimePoint{});
      d.last_status = int(r.integer(i, 11));
      d.last_error = r.str(i, 12);
      out.push_back(std::move(d));
    }
    return out;
  }

  std::vector<DigestRecord> due_digests(const std::string& sink, TimePoint now,
                                        std::size_t limit) override {
    return digests_in(q(std::string(kDigestColumns) +
                            "WHERE sink = $1 AND state = 'pending' AND next_at <= $2"
                            " ORDER BY next_at, \"row\" LIMIT $3",
                        sink, format_time(now), clamp(limit)));
  }

  std::optional<DigestRecord> digest_row(std::int64_t row) override {
    auto found = digests_in(q(std::string(kDigestColumns) + "WHERE \"row\" = $1", row));
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  void update_digest(const DigestRecord& d) override {
    q("UPDATE digests SET state = $1, attempts = $2, next_at = $3, last_status = $4,"
      " last_error = $5, message = CASE WHEN $1 = 'pending' THEN message END"
      " WHERE \"row\" = $6",
      d.state, d.attempts, format_time(d.next_at), d.last_status, d.last_error, d.row);
  }

  std::vector<std::string> digest_action_ids(const std::string& digest_id) override {
    return texts(
        q("SELECT action_id FROM digest_items WHERE digest_id = $1 ORDER BY seq", digest_id));
  }

  std::map<std::string, std::int64_t> digest_counts(const std::string& sink) override {
    return pairs("SELECT state, COUNT(*) FROM digests WHERE sink = $1 GROUP BY state", sink);
  }

  std::vector<std::string> students_without_address(const std::string& sink) override {
    return texts(
        q("SELECT DISTINCT student_id FROM digests WHERE sink = $1 AND"
          " state = 'no_address' ORDER BY student_id",
          sink));
  }

  // --- timers ---

  // A timer stored as it is already (a rotation sent again unchanged) is not written
  // again: no new row version, no dead tuple for vacuum. Measured on this server, 2,000
  // rotations' timers upserted unchanged: 6.9 MB of WAL and 6,000 dead tuples without the
  // guard, 2.6 MB and none with it.
  void put_timer(const Timer& t) override {
    q("INSERT INTO timers (id, due_at, event) VALUES ($1, $2, $3)"
      " ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, event = excluded.event"
      " WHERE (timers.due_at, timers.event) IS DISTINCT FROM (excluded.due_at, excluded.event)",
      t.id, format_time(t.due), to_json(t.event));
  }

  void put_timers(const std::vector<Timer>& timers) override {
    const auto last = store_rows::last_of_each(timers, &Timer::id);
    if (last.empty()) return;
    std::vector<std::string> ids, dues, events;
    for (const Timer* timer : last) {
      ids.push_back(timer->id);
      dues.push_back(format_time(timer->due));
      events.push_back(to_json(timer->event));
    }
    q("INSERT INTO timers (id, due_at, event) SELECT * FROM unnest(CAST($1 AS TEXT[]),"
      " CAST($2 AS TEXT[]), CAST($3 AS TEXT[]))"
      " ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, event = excluded.event"
      " WHERE (timers.due_at, timers.event) IS DISTINCT FROM (excluded.due_at, excluded.event)",
      text_array(ids), text_array(dues), text_array(events));
  }

  void delete_timers_with_prefix(const std::string& prefix) override {
    q("DELETE FROM timers WHERE starts_with(id, $1)", prefix);
  }

  std::vector<Timer> due_timers(TimePoint now, std::size_t limit) override {
    // Locked until this transaction ends: every process fires timers, each passing over
    // the ones another is firing at this moment.
    auto taken =
        timers_in(q("SELECT id, due_at, event FROM timers WHERE due_at <= $1"
                    " ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    format_time(now), clamp(limit)));
    if (taken.empty()) return taken;
    // Those are the first due timers nobody holds, so a due timer ordered before the last
    // of them and not among them is one that another process holds. A subject's timers
    // enter the inbox in order: a timer whose subject has such an earlier one waits for it
    // (left locked and unfired until this transaction ends, then taken again).
    std::vector<std::string> ids;
    for (const auto& t : taken) ids.push_back(t.id);
    auto held =
        timers_in(q("SELECT id, due_at, event FROM timers WHERE (due_at, id) < ($1, $2)"
                    " AND NOT (id = ANY(CAST($3 AS TEXT[]))) ORDER BY due_at, id",
                    format_time(taken.back().due), taken.back().id, text_array(ids)));
    if (held.empty()) return taken;
    std::map<std::string, std::pair<TimePoint, std::string>> first_held;  // by subject
    for (auto& t : held) first_held.try_emplace(t.event.subject, t.due, t.id);
    std::erase_if(taken, [&](const Timer& t) {
      auto h = first_held.find(t.event.subject);
      return h != first_held.end() && h->second < std::pair(t.due, t.id);
    });
    return taken;
  }

  void delete_timer(const std::string& id) override { q("DELETE FROM timers WHERE id = $1", id); }

  void delete_timers(const std::vector<std::string>& ids) override {
    if (ids.empty()) return;
    q("DELETE FROM timers WHERE id = ANY(CAST($1 AS TEXT[]))", text_array(ids));
  }

  std::vector<Timer> timers_about(const std::string& subject) override {
    std::vector<Timer> out;
    for (auto& t : timers_in(q("SELECT id, due_at, event FROM timers ORDER BY due_at, id"))) {
      if (t.event.subject == subject) out.push_back(std::move(t));
    }
    return out;
  }

  // --- sources' own state ---

  std::optional<std::string> cursor(const std::string& source, const std::string& entity) override {
    auto r =
        q("SELECT value FROM source_cursors WHERE source = $1 AND entity = $2", source, entity);
    return r.rows() ? r.get(0, 0) : std::nullopt;
  }

  void set_cursor(const std::string& source, const std::string& entity,
                  const std::string& value) override {
    q("INSERT INTO source_cursors (source, entity, value) VALUES ($1, $2, $3)"
      " ON CONFLICT (source, entity) DO UPDATE SET value = excluded.value",
      source, entity, value);
  }

  void delete_cursor(const std::string& source, const std::string& entity) override {
    q("DELETE FROM source_cursors WHERE source = $1 AND entity = $2", source, entity);
  }

  std::vector<std::pair<std::string, std::string>> cursors(const std::string& source) override {
    auto r =
        q("SELECT entity, value FROM source_cursors WHERE source = $1 ORDER BY entity", source);
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.str(i, 0), r.str(i, 1));
    return out;
  }

  std::optional<std::string> row_hash(const std::string& source, const std::string& entity,
                                      const std::string& key) override {
    auto r = q("SELECT hash FROM source_rows WHERE source = $1 AND entity = $2 AND row_key = $3",
               source, entity, key);
    return r.rows() ? r.get(0, 0) : std::nullopt;
  }

  void set_row_hash(const std::string& source, const std::string& entity, const std::string& key,
                    const std::string& hash) override {
    q("INSERT INTO source_rows (source, entity, row_key, hash) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (source, entity, row_key) DO UPDATE SET hash = excluded.hash",
      source, entity, key, hash);
  }

  bool reads_pay_by_statement() const override { return true; }

  std::map<std::string, std::string> row_hashes(const std::string& source,
                                                const std::string& entity,
                                                const std::vector<std::string>& keys) override {
    std::map<std::string, std::string> out;
    if (keys.empty()) return out;
    auto r =
        q("SELECT row_key, hash FROM source_rows WHERE source = $1 AND entity = $2"
          " AND row_key = ANY(CAST($3 AS TEXT[]))",
          source, entity, text_array(keys));
    for (int i = 0; i < r.rows(); ++i) out[r.str(i, 0)] = r.str(i, 1);
    return out;
  }

  void set_row_hashes(const std::string& source, const RowHashes& rows) override {
    // One statement cannot update a row twice: the last of a key counts.
    std::map<std::pair<std::string, std::string>, const std::string*> last;
    for (const auto& [entity, key, hash] : rows) last[{entity, key}] = &hash;
    if (last.empty()) return;
    std::vector<std::string> entities, keys, hashes;
    for (const auto& [at, hash] : last) {
      entities.push_back(at.first);
      keys.push_back(at.second);
      hashes.push_back(*hash);
    }
    q("INSERT INTO source_rows (source, entity, row_key, hash) SELECT $1, * FROM"
      " unnest(CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]))"
      " ON CONFLICT (source, entity, row_key) DO UPDATE SET hash = excluded.hash",
      source, text_array(entities), text_array(keys), text_array(hashes));
  }

  void mark_rows_seen(const std::string& source, const std::string& entity,
                      const std::vector<std::string>& keys, std::int64_t generation) override {
    if (keys.empty()) return;
    q("UPDATE source_rows SET seen = $1 WHERE source = $2 AND entity = $3"
      " AND row_key = ANY(CAST($4 AS TEXT[]))",
      generation, source, entity, text_array(keys));
  }

  void mark_rows_seen_with_prefix(const std::string& source, const std::string& entity,
                                  const std::string& prefix, std::int64_t generation) override {
    q("UPDATE source_rows SET seen = $1 WHERE source = $2 AND entity = $3"
      " AND starts_with(row_key, $4)",
      generation, source, entity, prefix);
  }

  std::vector<std::string> rows_not_seen(const std::string& source, const std::string& entity,
                                         std::int64_t generation) override {
    return texts(
        q("SELECT row_key FROM source_rows WHERE source = $1 AND entity = $2"
          " AND seen < $3 ORDER BY row_key",
          source, entity, generation));
  }

  void forget_row(const std::string& source, const std::string& entity,
                  const std::string& key) override {
    q("DELETE FROM source_rows WHERE source = $1 AND entity = $2 AND row_key = $3", source, entity,
      key);
  }

  void set_source_state(const std::string& source, bool up, const std::string& message,
                        TimePoint since) override {
    q("INSERT INTO source_state (source, up, message, since) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (source) DO UPDATE SET up = excluded.up, message = excluded.message,"
      " since = excluded.since",
      source, up, message, format_time(since));
  }

  std::vector<SourceState> source_states() override {
    auto r = q("SELECT source, up, message, since FROM source_state ORDER BY source");
    std::vector<SourceState> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), r.integer(i, 1) != 0, r.str(i, 2), r.str(i, 3)});
    }
    return out;
  }

  // --- the mirror ---

  static constexpr const char* kPersonColumns =
      "SELECT id, role, name, email, specialty, subspecialty, program, opted_out,"
      " program_role, email_opted_out FROM people ";

  void put_person(const Person& p) override {
    q("INSERT INTO people (id, role, name, email, specialty, subspecialty, program,"
      " opted_out, program_role, email_opted_out, seen_at) VALUES ($1, $2, $3, $4, $5, $6,"
      " $7, $8, $9, $10, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
      " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,"
      " role = excluded.role, name = excluded.name, email = excluded.email,"
      " specialty = excluded.specialty, subspecialty = excluded.subspecialty,"
      " program = excluded.program, opted_out = excluded.opted_out,"
      " program_role = excluded.program_role, email_opted_out = excluded.email_opted_out",
      p.id, to_string(p.role), p.name, p.email, p.specialty, p.subspecialty, p.program, p.opted_out,
      p.program_role ? Param(std::string(to_string(*p.program_role))) : std::nullopt,
      p.email_opted_out);
  }

  void put_people(const std::vector<Person>& people) override {
    std::map<std::string, const Person*> last;  // one statement writes a row once
    for (const auto& p : people) last[p.id] = &p;
    if (last.empty()) return;
    std::vector<std::optional<std::string>> ids, roles, names, emails, specialties, subspecialties,
        programs, opted_out, program_roles, email_opted_out;
    for (const auto& [id, p] : last) {
      ids.emplace_back(id);
      roles.emplace_back(std::string(to_string(p->role)));
      names.emplace_back(p->name);
      emails.push_back(p->email);
      specialties.push_back(p->specialty);
      subspecialties.push_back(p->subspecialty);
      programs.push_back(p->program);
      opted_out.emplace_back(p->opted_out ? "1" : "0");
      program_roles.push_back(
          p->program_role ? std::optional<std::string>(to_string(*p->program_role)) : std::nullopt);
      email_opted_out.emplace_back(p->email_opted_out ? "1" : "0");
    }
    q("INSERT INTO people (id, role, name, email, specialty, subspecialty, program,"
      " opted_out, program_role, email_opted_out, seen_at) SELECT u.*,"
      " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM"
      " unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]),"
      " CAST($5 AS TEXT[]), CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS INTEGER[]),"
      " CAST($9 AS TEXT[]), CAST($10 AS INTEGER[])) AS u"
      " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,"
      " role = excluded.role, name = excluded.name, email = excluded.email,"
      " specialty = excluded.specialty, subspecialty = excluded.subspecialty,"
      " program = excluded.program, opted_out = excluded.opted_out,"
      " program_role = excluded.program_role, email_opted_out = excluded.email_opted_out",
      nullable_text_array(ids), nullable_text_array(roles), nullable_text_array(names),
      nullable_text_array(emails), nullable_text_array(specialties),
      nullable_text_array(subspecialties), nullable_text_array(programs),
      nullable_text_array(opted_out), nullable_text_array(program_roles),
      nullable_text_array(email_opted_out));
  }

  std::optional<Person> person(const std::string& id) override {
    auto r = q(std::string(kPersonColumns) + "WHERE id = $1", id);
    if (!r.rows()) return std::nullopt;
    Person p = store_rows::person_from(r.column_of(0));
    auto interests =
        q("SELECT specialty FROM person_interests WHERE person_id = $1"
          " ORDER BY rank, specialty",
          id);
    for (int i = 0; i < interests.rows(); ++i) {
      store_rows::add_interest_to(p, interests.str(i, 0));
    }
    return p;
  }

  void for_each_person(const std::function<void(const Person&)>& each) override {
    std::map<std::string, std::vector<std::string>> interests;
    {
      auto r =
          q("SELECT person_id, specialty FROM person_interests"
            " ORDER BY person_id, rank, specialty");
      for (int i = 0; i < r.rows(); ++i) interests[r.str(i, 0)].push_back(r.str(i, 1));
    }
    page_through(std::string(kPersonColumns), "id", [&](const Result& r, int i) {
      Person p = store_rows::person_from(r.column_of(i));
      if (auto it = interests.find(p.id); it != interests.end()) {
        for (const auto& s : it->second) store_rows::add_interest_to(p, s);
      }
      each(p);
    });
  }

  void add_interest(const std::string& person_id, const std::string& specialty, int rank) override {
    q("INSERT INTO person_interests (person_id, specialty, rank) VALUES ($1, $2, $3)"
      " ON CONFLICT DO NOTHING",
      person_id, specialty, rank);
  }

  void remove_interest(const std::string& person_id, const std::string& specialty,
                       std::optional<int> rank) override {
    q("DELETE FROM person_interests WHERE person_id = $1 AND specialty = $2"
      " AND (CAST($3 AS INTEGER) IS NULL OR rank = $3)",
      person_id, specialty, rank ? Param(std::to_string(*rank)) : std::nullopt);
  }

  void clear_interests(const std::string& person_id) override {
    q("DELETE FROM person_interests WHERE person_id = $1", person_id);
  }

  void put_site_timezone(const std::string& site, const std::string& zone) override {
    q("INSERT INTO sites (site, timezone) VALUES ($1, $2)"
      " ON CONFLICT (site) DO UPDATE SET timezone = excluded.timezone",
      site, zone);
  }

  std::optional<std::string> site_timezone(const std::string& site) override {
    auto r = q("SELECT timezone FROM sites WHERE site = $1", site);
    return r.rows() ? r.get(0, 0) : std::nullopt;
  }

  void put_rotation(const Rotation& r) override {
    q("INSERT INTO rotations (id, student_id, site, specialty, subspecialty, kind,"
      " start_date, end_date, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
      " ON CONFLICT (id) DO UPDATE SET student_id = excluded.student_id,"
      " site = excluded.site, specialty = excluded.specialty,"
      " subspecialty = excluded.subspecialty, kind = excluded.kind,"
      " start_date = excluded.start_date, end_date = excluded.end_date,"
      " status = excluded.status",
      r.id, r.student_id, r.site, r.specialty, r.subspecialty, to_string(r.kind),
      format_date(r.start), format_date(r.end), to_string(r.status));
  }

  void put_rotations(const std::vector<Rotation>& rotations) override {
    std::map<std::string, const Rotation*> last;  // one statement writes a row once
    for (const auto& r : rotations) last[r.id] = &r;
    if (last.empty()) return;
    std::vector<std::string> ids, students, sites, specialties, kinds, starts, ends, statuses;
    std::vector<std::optional<std::string>> subspecialties;
    for (const auto& [id, r] : last) {
      ids.push_back(id);
      students.push_back(r->student_id);
      sites.push_back(r->site);
      specialties.push_back(r->specialty);
      subspecialties.push_back(r->subspecialty);
      kinds.emplace_back(to_string(r->kind));
      starts.push_back(format_date(r->start));
      ends.push_back(format_date(r->end));
      statuses.emplace_back(to_string(r->status));
    }
    q("INSERT INTO rotations (id, student_id, site, specialty, subspecialty, kind,"
      " start_date, end_date, status) SELECT * FROM unnest(CAST($1 AS TEXT[]),"
      " CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS TEXT[]),"
      " CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS TEXT[]), CAST($9 AS TEXT[]))"
      " ON CONFLICT (id) DO UPDATE SET student_id = excluded.student_id,"
      " site = excluded.site, specialty = excluded.specialty,"
      " subspecialty = excluded.subspecialty, kind = excluded.kind,"
      " start_date = excluded.start_date, end_date = excluded.end_date,"
      " status = excluded.status",
      text_array(ids), text_array(students), text_array(sites), text_array(specialties),
      nullable_text_array(subspecialties), text_array(kinds), text_array(starts), text_array(ends),
      text_array(statuses));
  }

  void put_team_member(const std::string& rotation_id, const TeamMember& m) override {
    remove_team_member(rotation_id, m.person_id);
    for (const auto& span : m.spans_or_dates()) {
      add_team_row(rotation_id, {m.person_id, m.role, span.start, span.end});
    }
  }

  void put_team(const std::string& rotation_id, const std::vector<TeamMember>& team) override {
    // Each person's last entry, as put_team_member one after the other would leave it.
    const auto last = store_rows::last_of_each(team, &TeamMember::person_id);
    if (last.empty()) return;
    std::vector<std::string> listed, people, roles, starts, ends;  // the rows, column by column
    for (const TeamMember* member : last) {
      listed.push_back(member->person_id);
      std::set<std::pair<std::string, std::string>> spans;  // a span given twice: one row
      for (const auto& span : member->spans_or_dates()) {
        spans.insert({format_date(span.start), format_date(span.end)});
      }
      for (const auto& [start, end] : spans) {
        people.push_back(member->person_id);
        roles.emplace_back(to_string(member->role));
        starts.push_back(start);
        ends.push_back(end);
      }
    }
    q("DELETE FROM team_rows WHERE rotation_id = $1 AND person_id = ANY(CAST($2 AS TEXT[]))",
      rotation_id, text_array(listed));
    q("INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, row_id)"
      " SELECT $1, p, r, s, e, '' FROM unnest(CAST($2 AS TEXT[]), CAST($3 AS TEXT[]),"
      " CAST($4 AS TEXT[]), CAST($5 AS TEXT[])) AS t(p, r, s, e)",
      rotation_id, text_array(people), text_array(roles), text_array(starts), text_array(ends));
  }

  void add_team_row(const std::string& rotation_id, const TeamRow& row) override {
    if (row.row_id) {
      q("DELETE FROM team_rows WHERE row_id = $1 AND row_id <> ''", *row.row_id);
    }
    q("INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, row_id)"
      " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rotation_id, person_id, start_date,"
      " end_date, role) DO UPDATE SET legacy = 0, row_id = excluded.row_id",
      rotation_id, row.person_id, to_string(row.role.value_or(Role::other)),
      row.start ? format_date(*row.start) : "", row.end ? format_date(*row.end) : "",
      row.row_id.value_or(""));
  }

  void add_team_rows(const std::string& rotation_id, const std::vector<TeamRow>& rows) override {
    add_roster_rows({{rotation_id, rows}});
  }

  void add_roster_rows(const std::vector<RotationRows>& teams) override {
    // In one statement a row may be written once: a later row of the same roster key
    // replaces an earlier one, as one call of add_team_row after another would.
    using Key =
        std::tuple<std::string, std::string, Role, std::optional<Date>, std::optional<Date>>;
    // A row id given twice: the first row may have taken over a stored row under another
    // key before the second takes it away again, which one statement cannot say.
    std::set<std::string> ids;
    for (const auto& team : teams) {
      for (const auto& row : team.rows) {
        if (row.row_id && !row.row_id->empty() && !ids.insert(*row.row_id).second) {
          for (const auto& each : teams) {
            for (const auto& one : each.rows) add_team_row(each.rotation_id, one);
          }
          return;
        }
      }
    }
    std::map<Key, std::size_t> at;  // where each key's row is in the columns below
    std::vector<std::string> rotations, people, roles, starts, ends, row_ids;
    for (const auto& team : teams) {
      for (const auto& row : team.rows) {
        const Role role = row.role.value_or(Role::other);
        auto [it, added] = at.try_emplace(
            Key{team.rotation_id, row.person_id, role, row.start, row.end}, rotations.size());
        if (added) {
          rotations.push_back(team.rotation_id);
          people.push_back(row.person_id);
          roles.emplace_back(to_string(role));
          starts.push_back(row.start ? format_date(*row.start) : "");
          ends.push_back(row.end ? format_date(*row.end) : "");
          row_ids.emplace_back();
        }
        row_ids[it->second] = row.row_id.value_or("");  // the last row of the key counts
      }
    }
    if (rotations.empty()) return;
    if (!ids.empty()) {  // every row id given takes its row over first
      q("DELETE FROM team_rows WHERE row_id = ANY(CAST($1 AS TEXT[])) AND row_id <> ''",
        text_array(std::vector<std::string>(ids.begin(), ids.end())));
    }
    q("INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, row_id)"
      " SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]),"
      " CAST($4 AS TEXT[]), CAST($5 AS TEXT[]), CAST($6 AS TEXT[])) ON CONFLICT (rotation_id,"
      " person_id, start_date, end_date, role) DO UPDATE SET legacy = 0,"
      " row_id = excluded.row_id",
      text_array(rotations), text_array(people), text_array(roles), text_array(starts),
      text_array(ends), text_array(row_ids));
  }

  std::set<std::string> known_rotations(const std::vector<std::string>& ids) override {
    std::set<std::string> known;
    if (ids.empty()) return known;
    auto r = q("SELECT id FROM rotations WHERE id = ANY(CAST($1 AS TEXT[]))", text_array(ids));
    for (int i = 0; i < r.rows(); ++i) known.insert(r.str(i, 0));
    return known;
  }

  bool has_rotation(const std::string& id) override {
    return q("SELECT 1 FROM rotations WHERE id = $1", id).rows() > 0;
  }

  std::map<std::string, std::string> rotation_students(
      const std::vector<std::string>& ids) override {
    std::map<std::string, std::string> students;
    if (ids.empty()) return students;
    auto r = q("SELECT id, student_id FROM rotations WHERE id = ANY(CAST($1 AS TEXT[]))",
               text_array(ids));
    for (int i = 0; i < r.rows(); ++i) students.emplace(r.str(i, 0), r.str(i, 1));
    return students;
  }

  void remove_team_row(const std::string& rotation_id, const TeamRow& row) override {
    if (row.row_id) {
      q("DELETE FROM team_rows WHERE row_id = $1 AND row_id <> ''", *row.row_id);
      return;
    }
    if (row.legacy_only) {
      q("DELETE FROM team_rows WHERE rotation_id = $1 AND person_id = $2 AND legacy = 1",
        rotation_id, row.person_id);
      return;
    }
    q("DELETE FROM team_rows WHERE rotation_id = $1 AND person_id = $2"
      " AND ($3 = '' OR role = $3) AND start_date = $4 AND end_date = $5",
      rotation_id, row.person_id, row.role ? std::string(to_string(*row.role)) : std::string(),
      row.start ? format_date(*row.start) : "", row.end ? format_date(*row.end) : "");
  }

  void remove_team_member(const std::string& rotation_id, const std::string& person_id) override {
    q("DELETE FROM team_rows WHERE rotation_id = $1 AND person_id = $2", rotation_id, person_id);
  }

  static constexpr const char* kRotationColumns =
      "SELECT id, student_id, site, specialty, subspecialty, kind, start_date, end_date,"
      " status FROM rotations ";

  std::optional<Rotation> rotation(const std::string& id) override {
    auto found = rotations_in(q(std::string(kRotationColumns) + "WHERE id = $1", id));
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  std::vector<Rotation> rotations(const std::vector<std::string>& ids) override {
    if (ids.empty()) return {};
    return rotations_in(
        q(std::string(kRotationColumns) + "WHERE id = ANY(CAST($1 AS TEXT[]))", text_array(ids)));
  }

  std::vector<Rotation> rotations_of(const std::string& student_id) override {
    return rotations_in(
        q(std::string(kRotationColumns) + "WHERE student_id = $1 ORDER BY start_date, id",
          student_id));
  }

  std::vector<Rotation> rotations_starting(Date day) override {
    return rotations_in(
        q(std::string(kRotationColumns) + "WHERE start_date = $1 ORDER BY start_date, id",
          format_date(day)));
  }

  void for_each_rotation(const std::function<void(const Rotation&)>& each) override {
    // A page of rotations at a time, each page's teams in one statement.
    std::string after;
    for (;;) {
      auto page = rotations_in(
          q(std::string(kRotationColumns) + "WHERE id > $1 ORDER BY id LIMIT 1000", after));
      if (page.empty()) return;
      for (const auto& rot : page) each(rot);
      after = page.back().id;
    }
  }

  void put_touch(const std::string& student, const std::string& contact, TimePoint at) override {
    q("INSERT INTO touches (student_id, contact_id, at) VALUES ($1, $2, $3)"
      " ON CONFLICT (student_id, contact_id) DO UPDATE SET at = GREATEST(touches.at,"
      " excluded.at)",
      student, contact, format_time(at));
  }

  std::vector<std::pair<std::string, TimePoint>> touches_of(
      const std::string& student_id) override {
    auto r = q("SELECT contact_id, at FROM touches WHERE student_id = $1", student_id);
    std::vector<std::pair<std::string, TimePoint>> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.emplace_back(r.str(i, 0), parse_time(r.str(i, 1)).value_or(TimePoint{}));
    }
    return out;
  }

  void for_each_touch(
      const std::function<void(const std::string&, const std::string&, TimePoint)>& each) override {
    page_through("SELECT student_id, contact_id, at, id FROM touches ", "id",
                 [&](const Result& r, int i) {
                   each(r.str(i, 0), r.str(i, 1), parse_time(r.str(i, 2)).value_or(TimePoint{}));
                 });
  }

  std::optional<std::string> evaluation_student(const std::string& evaluation_id) override {
    auto r = q("SELECT student_id FROM evaluations WHERE id = $1", evaluation_id);
    return r.rows() ? r.get(0, 0) : std::nullopt;
  }

  void put_evaluation(const Evaluation& e) override {
    q("INSERT INTO evaluations (id, rotation_id, evaluator_id, student_id, submitted_at, score,"
      " scale_min, scale_max, would_recommend, anonymous)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE"
      " SET rotation_id = excluded.rotation_id, evaluator_id = excluded.evaluator_id,"
      " student_id = excluded.student_id, submitted_at = excluded.submitted_at,"
      " score = excluded.score, scale_min = excluded.scale_min,"
      " scale_max = excluded.scale_max, would_recommend = excluded.would_recommend,"
      " anonymous = excluded.anonymous",
      e.id, e.rotation_id, e.evaluator_id, e.student_id, format_time(e.submitted), e.score,
      e.scale_min, e.scale_max, e.would_recommend ? arg(*e.would_recommend) : Param(std::nullopt),
      e.anonymous);
  }

  std::vector<Evaluation> evaluations_of(const std::string& student_id) override {
    auto r =
        q("SELECT id, rotation_id, evaluator_id, student_id, submitted_at, score,"
          " scale_min, scale_max, would_recommend, anonymous FROM evaluations"
          " WHERE student_id = $1 ORDER BY submitted_at, id",
          student_id);
    std::vector<Evaluation> out;
    for (int i = 0; i < r.rows(); ++i) {
      Evaluation e;
      e.id = r.str(i, 0);
      e.rotation_id = r.str(i, 1);
      e.evaluator_id = r.str(i, 2);
      e.student_id = r.str(i, 3);
      e.submitted = parse_time(r.str(i, 4)).value_or(TimePoint{});
      e.score = r.number(i, 5);
      e.scale_min = r.number(i, 6);
      e.scale_max = r.get(i, 7) ? r.number(i, 7) : 1;
      if (auto rec = r.get(i, 8)) e.would_recommend = *rec != "0";
      // An anonymity flag that cannot be read counts as set (privacy fails closed).
      e.anonymous = !r.get(i, 9) || r.integer(i, 9) != 0;
      out.push_back(std::move(e));
    }
    return out;
  }

  // --- audit, privacy, retention, leases ---

  void add_disclosure(const Disclosure& d) override {
    q("INSERT INTO disclosures (action_id, student_id, contact_id, fields, sink, endpoint,"
      " basis, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      d.action_id, d.student_id, d.contact_id, d.fields, d.sink, d.endpoint, d.basis,
      format_time(d.at));
  }

  std::vector<Disclosure> disclosures_of(const std::string& student_id) override {
    auto r =
        q("SELECT action_id, student_id, contact_id, fields, sink, endpoint, basis, at"
          " FROM disclosures WHERE student_id = $1 ORDER BY id",
          student_id);
    std::vector<Disclosure> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), r.str(i, 1), r.str(i, 2), r.str(i, 3), r.str(i, 4), r.str(i, 5),
                     r.str(i, 6), parse_time(r.str(i, 7)).value_or(TimePoint{})});
    }
    return out;
  }

  std::map<std::string, std::int64_t> erase_person(const std::string& id, TimePoint at,
                                                   const std::string& kind,
                                                   const std::string& requested_by,
                                                   const std::string& reason) override {
    Transaction tx(*this);
    std::map<std::string, std::int64_t> removed;
    const std::string quoted = "\"" + id + "\"";  // the id as a JSON string
    const std::string pseudonym = store_plans::new_pseudonym();
    const std::int64_t consumed = inbox_consumed();
    for (const auto& step : store_plans::erase_steps()) {
      const std::map<std::string, Param> named{
          {"id", id}, {"q", quoted}, {"p", pseudonym}, {"s", arg(consumed)}};
      std::vector<std::string> names;
      auto sql = postgresql_dialect(step.sql, &names);
      std::vector<Param> values;
      for (const auto& name : names) values.push_back(named.at(name));
      if (auto n = exec(sql, values).affected(); n > 0) removed[step.what] += n;
    }
    std::string removed_text;  // "people 1, rotations 2, ..."
    for (const auto& [what, n] : removed) {
      removed_text += (removed_text.empty() ? "" : ", ") + what + " " + std::to_string(n);
    }
    q("INSERT INTO erasures (person_id, kind, at, requested_by, reason, removed)"
      " VALUES ($1, $2, $3, $4, $5, $6)",
      id, kind, format_time(at), requested_by, reason, removed_text);
    q("INSERT INTO suppressions (person_id, since) VALUES ($1, $2)"
      " ON CONFLICT (person_id) DO NOTHING",
      id, format_time(at));
    bump_progress(kMirrorChanged);
    tx.commit();
    return removed;
  }

  // PostgreSQL reuses the space of deleted rows once VACUUM has passed; it has no
  // counterpart of SQLite's secure_delete (docs/privacy.md says what that means).
  void scrub() override {}

  std::set<std::string> suppressed_ids() override {
    auto ids = texts(q("SELECT person_id FROM suppressions"));
    return {ids.begin(), ids.end()};
  }

  bool lift_suppression(const std::string& id, TimePoint at) override {
    Transaction tx(*this);
    if (q("DELETE FROM suppressions WHERE person_id = $1", id).affected() == 0) return false;
    q("UPDATE erasures SET lifted_at = $1 WHERE person_id = $2 AND lifted_at IS NULL",
      format_time(at), id);
    bump_progress(kMirrorChanged);
    tx.commit();
    return true;
  }

  std::vector<Erasure> erasures() override {
    auto r =
        q("SELECT person_id, kind, at, requested_by, reason, removed, lifted_at"
          " FROM erasures ORDER BY id");
    std::vector<Erasure> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), r.str(i, 1), r.str(i, 2), r.str(i, 3), r.str(i, 4), r.str(i, 5),
                     r.str(i, 6)});
    }
    return out;
  }

  std::map<std::string, std::int64_t> purge(const PurgeBefore& before, std::size_t batch,
                                            bool dry_run) override {
    Transaction tx(*this);
    std::map<std::string, std::int64_t> out;
    const auto limit = static_cast<std::int64_t>(batch);
    publish("inbox");
    publish("outbox");
    publish("releases");
    const auto kinds = store_plans::purge_kinds(before, inbox_consumed());
    // The keys of one kind at a time, so that each of its statements deletes the same rows;
    // dropped at commit (no session state stays behind a transaction pooler).
    if (!dry_run) {
      q("CREATE TEMP TABLE IF NOT EXISTS purge_keys (k TEXT COLLATE \"C\" PRIMARY KEY)"
        " ON COMMIT DROP");
    }
    bool mirror_changed = false;
    for (const auto& kind : kinds) {
      std::vector<std::string> names;
      const std::string rows = postgresql_dialect(kind.rows, &names);
      std::vector<Param> values;
      for (const auto& name : names) values.push_back(name == "t" ? kind.cutoff : arg(limit));
      auto n =
          exec("SELECT COUNT(*) FROM (" + rows + ") AS candidates", values, false).integer(0, 0);
      out[kind.name] = n;
      if (dry_run || n == 0) continue;
      q("DELETE FROM purge_keys");
      exec("INSERT INTO purge_keys (k) SELECT CAST(x AS TEXT) FROM (" + rows + ") AS r(x)", values,
           false);
      const std::string keys =
          kind.numeric ? "SELECT CAST(k AS BIGINT) FROM purge_keys" : "SELECT k FROM purge_keys";
      for (std::string statement : kind.statements) {
        for (auto at = statement.find("%rows%"); at != std::string::npos;
             at = statement.find("%rows%", at)) {
          statement.replace(at, 6, keys);
        }
        exec(postgresql_dialect(statement), {}, false);
      }
      if (store_plans::changes_mirror(kind.name)) mirror_changed = true;
    }
    // A running daemon rebuilds its relationship memory: purged time together counts no more.
    if (mirror_changed) bump_progress(kMirrorChanged);
    tx.commit();
    return out;
  }

  bool take_lease(const std::string& name, const std::string& holder, TimePoint now,
                  TimePoint until) override {
    return q("INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)"
             " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
             " until = excluded.until"
             " WHERE leases.holder = excluded.holder OR leases.until < $4",
             name, holder, format_time(until), format_time(now))
               .affected() > 0;
  }

  // Ended, not deleted: the row keeps its epoch, so the next holder's is one more.
  void release_lease(const std::string& name, const std::string& holder) override {
    q("UPDATE leases SET until = '' WHERE name = $1 AND holder = $2", name, holder);
  }

  void end_leases(const std::string& prefix) override {
    q("UPDATE leases SET until = '', epoch = epoch + 1 WHERE name LIKE $1", prefix + "%");
  }

  std::optional<std::int64_t> hold_lease(const std::string& name, const std::string& holder,
                                         std::chrono::seconds ttl) override {
    // In a transaction of its own, for its lock-wait limit: the row may be share-locked by
    // a paused holder's commit (check_fence), and the lease is tried again at the next step.
    // Not fenced: this is how the fence is got.
    auto r = unfenced("INSERT INTO leases (name, holder, until, epoch) VALUES ($1, $2, " DB_NOW_PLUS(
                   "CAST($3 AS DOUBLE PRECISION)") ", 1) ON CONFLICT (name) DO UPDATE SET"
               " holder = excluded.holder, until = excluded.until, epoch = CASE WHEN"
               " leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END"
               " WHERE leases.holder = excluded.holder OR leases.until < " DB_NOW
               " RETURNING epoch",
               name, holder, std::int64_t(ttl.count()));
    if (!r.rows()) return std::nullopt;
    return r.integer(0, 0);
  }

  void set_fence(std::optional<Fence> fence) override { fence_ = std::move(fence); }

  std::vector<LeaseRecord> leases() override {
    auto r = q("SELECT name, holder, until, epoch FROM leases ORDER BY name");
    std::vector<LeaseRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), r.str(i, 1), r.str(i, 2), r.integer(i, 3)});
    }
    return out;
  }

  void heartbeat(const ProcessRecord& p) override {
    q("INSERT INTO processes (instance, host, pid, started, heartbeat, leases) VALUES"
      " ($1, $2, $3, $4, " DB_NOW
      ", $5) ON CONFLICT (instance) DO UPDATE SET"
      " heartbeat = excluded.heartbeat, leases = excluded.leases",
      p.instance, p.host, p.pid, p.started, p.leases);
  }

  std::vector<ProcessRecord> live_processes(std::chrono::seconds within) override {
    auto r =
        q("SELECT instance, host, pid, started, heartbeat, leases FROM processes"
          " WHERE heartbeat >= " DB_NOW_PLUS(
              "-CAST($1 AS DOUBLE PRECISION)") " ORDER BY started, instance",
          std::int64_t(within.count()));
    std::vector<ProcessRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(
          {r.str(i, 0), r.str(i, 1), r.integer(i, 2), r.str(i, 3), r.str(i, 4), r.str(i, 5)});
    }
    return out;
  }

  void forget_process(const std::string& instance) override {
    q("DELETE FROM processes WHERE instance = $1", instance);
  }

  // --- the whole store ---

  StoreCounts counts() override {
    StoreCounts c;
    c.people = count("people");
    c.rotations = count("rotations");
    c.evaluations = count("evaluations");
    c.events = count("inbox");
    c.actions = count("outbox");
    c.timers = count("timers");
    c.events_by_type = pairs("SELECT type, COUNT(*) FROM inbox GROUP BY type");
    c.actions_by_type = pairs("SELECT type, COUNT(*) FROM outbox GROUP BY type");
    return c;
  }

  void read_table(const TableShape& table, const std::function<void(const Row&)>& each) override {
    Transaction tx(*this);  // a cursor lives in a transaction
    std::string columns;
    for (const auto& c : table.columns) columns += (columns.empty() ? "" : ", ") + quote(c);
    std::string order;
    for (const auto& c : split_columns(table.order_by)) {
      order += (order.empty() ? "" : ", ") + quote(c);
    }
    q("DECLARE copy_rows NO SCROLL CURSOR FOR SELECT " + columns + " FROM " + table.name +
      (is_stream(table.name) ? " WHERE seq IS NOT NULL" : "") + " ORDER BY " + order);
    Row row(table.columns.size());
    for (;;) {
      auto r = q("FETCH 1000 FROM copy_rows");
      for (int i = 0; i < r.rows(); ++i) {
        for (std::size_t c = 0; c < row.size(); ++c) row[c] = r.get(i, int(c));
        each(row);
      }
      if (r.rows() < 1000) break;
    }
    q("CLOSE copy_rows");
    tx.commit();
  }

  void write_rows(const TableShape& table, const std::vector<Row>& rows) override {
    if (rows.empty()) return;
    // A stream's rows keep their positions, and take them as their ids too.
    const bool stream = is_stream(table.name);
    std::string columns;
    for (const auto& c : table.columns) columns += (columns.empty() ? "" : ", ") + quote(c);
    if (stream) columns += ", id";
    const std::size_t width = table.columns.size() + (stream ? 1 : 0);
    const std::size_t seq_column = std::size_t(
        std::find(table.columns.begin(), table.columns.end(), "seq") - table.columns.begin());
    const std::size_t per_statement = std::max<std::size_t>(1, 30'000 / width);
    for (std::size_t from = 0; from < rows.size(); from += per_statement) {
      std::string sql = "INSERT INTO " + table.name + " (" + columns + ") VALUES ";
      std::vector<Param> values;
      for (std::size_t i = from; i < std::min(rows.size(), from + per_statement); ++i) {
        sql += i == from ? "(" : ", (";
        for (std::size_t c = 0; c < width; ++c) {
          values.push_back(c < rows[i].size() ? rows[i][c] : rows[i][seq_column]);
          sql += (c ? ", $" : "$") + std::to_string(values.size());
        }
        sql += ")";
      }
      exec(sql, values, false);
    }
  }

  void finish_copy(std::int64_t last_event, std::int64_t last_action,
                   std::int64_t last_release) override {
    for (auto [table, column] :
         std::initializer_list<std::pair<const char*, const char*>>{{"inbox", "id"},
                                                                    {"outbox", "id"},
                                                                    {"releases", "id"},
                                                                    {"failures", "id"},
                                                                    {"deliveries", "id"},
                                                                    {"delivery_attempts", "id"},
                                                                    {"disclosures", "id"},
                                                                    {"erasures", "id"},
                                                                    {"touches", "id"},
                                                                    {"digests", "row"}}) {
      q(std::string("SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT MAX(") +
            quote(column) + ") FROM " + table + "), 0) + 1, false)",
        table, column);
    }
    for (auto [stream, last] :
         {std::pair{"inbox", last_event}, {"outbox", last_action}, {"releases", last_release}}) {
      q(std::string("UPDATE sequencer SET last = GREATEST($2, (SELECT coalesce(MAX(seq), 0)"
                    " FROM ") +
            stream + ")) WHERE name = $1",
        stream, last);
    }
  }

  int schema_version() override {
    return int(q("SELECT version FROM schema_version").integer(0, 0));
  }

 private:
  static constexpr const char* kDeliveryColumns =
      "SELECT id, sink, action_seq, action_id, state, attempts, next_at, last_status,"
      " last_error, claim, claimed_by FROM deliveries ";

  static std::vector<DeliveryRecord> deliveries_in(const Result& r) {
    std::vector<DeliveryRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      DeliveryRecord d;
      d.id = r.integer(i, 0);
      d.sink = r.str(i, 1);
      d.action_seq = r.integer(i, 2);
      d.action_id = r.str(i, 3);
      d.state = r.str(i, 4);
      d.attempts = int(r.integer(i, 5));
      d.next_at = parse_time(r.str(i, 6)).value_or(TimePoint{});
      d.last_status = int(r.integer(i, 7));
      d.last_error = r.str(i, 8);
      d.claim = r.integer(i, 9);
      d.claimed_by = r.str(i, 10);
      out.push_back(std::move(d));
    }
    return out;
  }

  static std::vector<Timer> timers_in(const Result& r) {
    std::vector<Timer> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.str(i, 0), parse_time(r.str(i, 1)).value_or(TimePoint{}),
                     event_from_json(r.str(i, 2))});
    }
    return out;
  }

  // Rows of (seq, source, event_id, type, subject, occurred_at, payload).
  static std::vector<InboxEvent> inbox_events(const Result& r) {
    std::vector<InboxEvent> out;
    out.reserve(std::size_t(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      InboxEvent ie;
      ie.seq = r.integer(i, 0);
      ie.event.source = r.str(i, 1);
      ie.event.id = r.str(i, 2);
      ie.event.type = parse_event_type(r.str(i, 3)).value_or(EventType::person_updated);
      ie.event.subject = r.str(i, 4);
      ie.event.occurred = parse_time(r.str(i, 5)).value_or(TimePoint{});
      ie.event.payload = r.str(i, 6);
      out.push_back(std::move(ie));
    }
    return out;
  }

  static std::vector<Action> actions_in(const Result& r) {
    std::vector<Action> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(action_from_json(r.str(i, 0)));
    return out;
  }

  static std::vector<std::string> texts(const Result& r) {
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

  // Rotations with their teams (one more statement for all of them).
  std::vector<Rotation> rotations_in(const Result& r) {
    std::vector<Rotation> out;
    std::map<std::string, std::size_t> index;
    std::vector<std::string> ids;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(store_rows::rotation_from(r.column_of(i)));
      index[out.back().id] = out.size() - 1;
      ids.push_back(out.back().id);
    }
    if (out.empty()) return out;
    auto team =
        q("SELECT rotation_id, person_id, role, start_date, end_date FROM team_rows"
          " WHERE rotation_id = ANY(CAST($1 AS TEXT[]))"
          " ORDER BY rotation_id, person_id, start_date, end_date, role",
          text_array(ids));
    for (int i = 0; i < team.rows(); ++i) {
      auto& rot = out[index.at(team.str(i, 0))];
      store_rows::add_team_row_to(rot, team.str(i, 1), team.str(i, 2), team.str(i, 3),
                                  team.str(i, 4));
    }
    for (auto& rot : out) store_rows::finish_team(rot);
    return out;
  }

  // Every row of `select` (a SELECT ... FROM without ORDER BY) in `key` order, a thousand
  // at a time through a cursor (memory stays flat whatever the table's size).
  void page_through(const std::string& select, const std::string& key,
                    const std::function<void(const Result&, int)>& each) {
    Transaction tx(*this);
    q("DECLARE page_rows NO SCROLL CURSOR FOR " + select + "ORDER BY " + key);
    for (;;) {
      auto r = q("FETCH 1000 FROM page_rows");
      for (int i = 0; i < r.rows(); ++i) each(r, i);
      if (r.rows() < 1000) break;
    }
    q("CLOSE page_rows");
    tx.commit();
  }

  static bool is_stream(const std::string& table) {
    return std::find(std::begin(kStreams), std::end(kStreams), table) != std::end(kStreams);
  }

  static std::string quote(const std::string& column) { return "\"" + column + "\""; }

  static std::vector<std::string> split_columns(const std::string& list) {
    std::vector<std::string> out;
    std::size_t from = 0;
    while (from < list.size()) {
      auto comma = list.find(',', from);
      auto item = list.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      out.push_back(item);
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
    return out;
  }

  // Numbers the stream's rows committed since the last time, in the order they are seen
  // (see the top of the file). Nothing to do (the usual case): one indexed read, no lock.
  void publish(const char* stream) {
    if (read_only_) return;
    const std::string table = stream;
    if (q("SELECT 1 FROM " + table + " WHERE seq IS NULL LIMIT 1").rows() == 0) return;
    Transaction tx(*this);
    auto last = q("SELECT last FROM sequencer WHERE name = $1 FOR UPDATE", table).integer(0, 0);
    // The rows to number, locked: one deleted meanwhile (an erasure) is waited for and left
    // out, so that exactly these get the next numbers and `last` stays the largest given.
    // In chunks (the ids travel as one array), every row waiting numbered before commit.
    for (;;) {
      auto rows =
          q("SELECT id FROM " + table + " WHERE seq IS NULL ORDER BY id LIMIT 10000 FOR UPDATE");
      if (rows.rows() == 0) break;
      std::string ids = "{";
      for (int i = 0; i < rows.rows(); ++i) ids += (i ? "," : "") + rows.str(i, 0);
      ids += "}";
      q("UPDATE " + table +
            " AS t SET seq = CAST($1 AS BIGINT) + o.n FROM unnest(CAST($2 AS BIGINT[]))"
            " WITH ORDINALITY AS o(id, n) WHERE t.id = o.id",
        last, ids);
      last += rows.rows();
      q("UPDATE sequencer SET last = CAST($2 AS BIGINT) WHERE name = $1", table, last);
      if (rows.rows() < 10000) break;
    }
    tx.commit();
  }

  std::int64_t last_of(const char* stream) {
    publish(stream);
    return q("SELECT last FROM sequencer WHERE name = $1", stream).integer(0, 0);
  }

  std::int64_t inbox_consumed() { return q(store_plans::kInboxConsumed).integer(0, 0); }

  void bump_progress(const std::string& counter) override {
    q("INSERT INTO progress (consumer, seq) VALUES ($1, 1)"
      " ON CONFLICT (consumer) DO UPDATE SET seq = progress.seq + 1",
      counter);
  }

  std::int64_t count(const std::string& table) {
    return q("SELECT COUNT(*) FROM " + table).integer(0, 0);
  }

  template <class... A>
  std::map<std::string, std::int64_t> pairs(const std::string& sql, const A&... a) {
    auto r = q(sql, a...);
    std::map<std::string, std::int64_t> out;
    for (int i = 0; i < r.rows(); ++i) out[r.str(i, 0)] = r.integer(i, 1);
    return out;
  }

  static std::int64_t clamp(std::size_t limit) {
    return std::int64_t(std::min<std::size_t>(limit, std::size_t(INT64_MAX)));
  }

  template <class... A>
  Result q(const std::string& sql, const A&... a) {
    return exec(sql, {arg(a)...});
  }

  // `reused`: the text is one of a fixed set, worth preparing (store.prepared_statements);
  // false for text built with values or sizes in it (purge, copy), always unnamed.
  Result exec(const std::string& sql, const std::vector<Param>& params, bool reused = true) {
    ensure_connected();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
      if (p && p->find('\0') != std::string::npos) {
        // Not a StoreError: the value is at fault (a hook's or a source's), not the store,
        // and the work that made it fails as its own, instead of being retried for ever.
        throw std::invalid_argument(
            "PostgreSQL cannot store text with a NUL character (a hook's or a source's value)");
      }
      values.push_back(p ? p->c_str() : nullptr);
    }
    const std::string* name =
        options_.prepare && reused ? prepared(sql, int(values.size())) : nullptr;
    PGresult* raw = name ? PQexecPrepared(conn_, name->c_str(), int(values.size()), values.data(),
                                          nullptr, nullptr, 0)
                         : PQexecParams(conn_, sql.c_str(), int(values.size()), nullptr,
                                        values.data(), nullptr, nullptr, 0);
    Result r(raw);
    auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      if (name) fail_prepared(raw);
      fail(raw);
    }
    return r;
  }

  // The name of `sql` prepared on this connection (prepared now if it is new), or null for
  // a statement sent unnamed: one that is not a query or a row change (BEGIN, COMMIT, DDL),
  // or one past the first kMaxPrepared (a statement's text is the same each time, but
  // this bounds the server's memory should one ever vary).
  const std::string* prepared(const std::string& sql, int params) {
    static constexpr std::size_t kMaxPrepared = 1000;
    if (auto it = prepared_.find(sql); it != prepared_.end()) return &it->second;
    if (prepared_.size() >= kMaxPrepared) return nullptr;
    static constexpr const char* kPrepared[] = {"SELECT ", "INSERT ", "UPDATE ", "DELETE ",
                                                "WITH "};
    if (std::none_of(std::begin(kPrepared), std::end(kPrepared),
                     [&](const char* head) { return sql.rfind(head, 0) == 0; })) {
      return nullptr;
    }
    // A read of the rows a set of keys names (`= ANY($n)`) is planned for each array:
    // a plan kept from while the table was nearly empty (a new store) stays a full scan
    // until an analyze, and the roster's read took 30 times as long in a benchmark of a
    // fresh store (partition_bench.sh: 1,549 ms against 48 over 3,008 reads).
    if (sql.find("ANY(") != std::string::npos) return nullptr;
    if (prepared_.empty()) {
      // A name no other client uses: through a pooler (where this cannot work), a statement
      // of another client's under the same name would otherwise run in its place.
      std::random_device random;
      prefix_ = "rapport_" + std::to_string(random()) + std::to_string(random()) + "_";
    }
    std::string name = prefix_ + std::to_string(prepared_.size() + 1);
    PGresult* raw = PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr);
    Result made(raw);
    if (!raw || PQresultStatus(raw) != PGRES_COMMAND_OK) {
      fail_prepared(raw);
      fail(raw);
    }
    return &prepared_.emplace(sql, std::move(name)).first->second;
  }

  // A statement prepared on this connection found missing, or its name taken: the
  // connection is shared behind a transaction pooler, where prepared statements cannot work.
  void fail_prepared(PGresult* r) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    if (!state || (std::strcmp(state, "26000") != 0 && std::strcmp(state, "42P05") != 0)) return;
    if (depth_ > 0) poisoned_ = true;
    throw StoreError(std::string("PostgreSQL: a statement prepared on this connection is ") +
                     (std::strcmp(state, "26000") == 0 ? "missing" : "taken by another") + " (" +
                     state +
                     "): store.prepared_statements needs a direct connection to PostgreSQL, "
                     "not one through a transaction pooler such as PgBouncer; turn it off there");
  }

  // The error of a statement: its SQLSTATE and primary message, never the statement or
  // its values (the detail may quote a row's values: names).
  [[noreturn]] void fail(PGresult* r) {
    std::string message = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                                  ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                                  : ""
                            : "";
    std::string state =
        r && PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "";
    if (message.empty()) message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    if (depth_ > 0) poisoned_ = true;
    throw StoreError("PostgreSQL: " + message + (state.empty() ? "" : " (" + state + ")"));
  }

  // BEGIN and the transaction's own idle and lock-wait limits in one round trip (the
  // simple protocol, no parameters: nothing prepared; SET LOCAL, because a session's
  // settings do not follow it through PgBouncer's transaction pooling).
  void begin_with(const char* statement) {
    if (depth_ == 0) {
      ensure_connected();
      const std::string sql =
          std::string(statement) + "; SET LOCAL idle_in_transaction_session_timeout = " +
          std::to_string(std::max<std::int64_t>(1, options_.idle_in_transaction.count())) +
          "; SET LOCAL lock_timeout = " +
          std::to_string(std::max<std::int64_t>(1, options_.lock_wait.count()));
      PGresult* raw = PQexec(conn_, sql.c_str());
      Result r(raw);
      if (!raw || PQresultStatus(raw) != PGRES_COMMAND_OK) fail(raw);
      poisoned_ = false;
    }
    ++depth_;
  }

  // One statement in a transaction of its own (with begin_with's limits), committed
  // without the fence check; inside a caller's transaction, a statement of it.
  template <class... A>
  Result unfenced(const std::string& sql, const A&... a) {
    if (depth_ > 0) return q(sql, a...);
    begin_with("BEGIN");
    try {
      Result r = q(sql, a...);
      depth_ = 0;
      exec("COMMIT", {});
      return r;
    } catch (...) {
      depth_ = 0;
      quiet_rollback();
      throw;
    }
  }

  // The lease row read under a share lock: another process cannot take the lease over
  // (an update of that row) until this transaction ends.
  void check_fence() {
    bool held = false;
    try {
      held = q("SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 FOR SHARE",
               fence_->lease, fence_->holder, fence_->epoch)
                 .rows() > 0;
    } catch (const StoreError&) {
      quiet_rollback();
      throw;
    }
    if (held) return;
    quiet_rollback();
    throw LeaseLost("another process holds the " + fence_->lease +
                    " lease now; this transaction was rolled back");
  }

  void quiet_rollback() {
    if (PQstatus(conn_) != CONNECTION_OK) return;
    PGresult* r = PQexec(conn_, "ROLLBACK");
    if (r) PQclear(r);
  }

  void connect_first() {
    try {
      sql_.open(soci::postgresql, options_.url);
    } catch (const soci::soci_error& e) {
      // SOCI's first line says only that it failed; libpq's reason follows (never the
      // password).
      std::string reason = e.what();
      for (auto at = reason.find('\n'); at != std::string::npos; at = reason.find('\n', at)) {
        reason.replace(at, 1, "; ");
      }
      while (!reason.empty() && (reason.back() == ' ' || reason.back() == ';')) reason.pop_back();
      throw StoreError("cannot connect to the store (PostgreSQL): " + reason);
    }
    conn_ = static_cast<soci::postgresql_session_backend*>(sql_.get_backend())->conn_;
    // The server's notices ("already exists, skipping") are not for the log.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }

  // A lost connection is opened again, with backoff, for up to `retry`; not inside a
  // transaction, whose work went with the connection (the caller's retry redoes it).
  void ensure_connected() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    if (depth_ > 0) {
      poisoned_ = true;
      throw StoreError("the connection to the store (PostgreSQL) was lost in a transaction");
    }
    auto deadline = std::chrono::steady_clock::now() + options_.retry;
    auto wait = std::chrono::milliseconds(100);
    for (int attempt = 1;; ++attempt) {
      PQreset(conn_);
      prepared_.clear();  // they went with the old connection
      if (PQstatus(conn_) == CONNECTION_OK) {
        log::info("store", "connected to the store again", {{"attempts", attempt}});
        return;
      }
      if (std::chrono::steady_clock::now() + wait > deadline) {
        throw StoreError("cannot reach the store (PostgreSQL): " +
                         first_line(PQerrorMessage(conn_)));
      }
      if (attempt == 1) {
        log::warn("store", "lost the connection to the store; trying again",
                  {{"error", first_line(PQerrorMessage(conn_))}});
      }
      std::this_thread::sleep_for(wait);
      wait = std::min(wait * 2, std::chrono::milliseconds(2000));
    }
  }

  static std::string first_line(const std::string& text) {
    auto line = text.substr(0, text.find('\n'));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
  }

  // Under a transaction-scoped advisory lock: processes starting at once migrate once,
  // the others wait and find nothing left to do. Another application's schema is never
  // migrated into.
  void migrate() {
    // A migration added without moving the version is never applied (it happened once).
    if (kMigrations.size() != std::size_t(kPostgresqlSchemaVersion)) {
      throw std::logic_error("this build's store migrations and schema version disagree");
    }
    Transaction tx(*this);
    q("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    // pg_class, not information_schema: tables this user may not read count too.
    auto tables =
        q("SELECT COUNT(*), COUNT(*) FILTER (WHERE c.relname = 'schema_version')"
          " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
          " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm',"
          " 'f')");
    if (tables.integer(0, 0) > 0 && tables.integer(0, 1) == 0) {
      throw StoreError(
          "the store's database (PostgreSQL) holds tables of something else (none of them "
          "Rapport's); nothing was written to it");
    }
    q("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    auto read = q("SELECT version FROM schema_version");
    int version = read.rows() ? int(read.integer(0, 0)) : 0;
    if (!read.rows()) q("INSERT INTO schema_version (version) VALUES (0)");
    if (version > kPostgresqlSchemaVersion) {
      throw StoreError("the store's schema is version " + std::to_string(version) +
                       ", newer than this rapport knows (" +
                       std::to_string(kPostgresqlSchemaVersion) + "); upgrade rapport");
    }
    for (; version < kPostgresqlSchemaVersion; ++version) {
      for (const char* statement : kMigrations[std::size_t(version)]) {
        q(with_byte_collation(statement));
      }
    }
    q("UPDATE schema_version SET version = $1", version);
    tx.commit();
  }

  PostgresqlOptions options_;
  soci::session sql_;
  PGconn* conn_ = nullptr;                       // the session's
  std::map<std::string, std::string> prepared_;  // statement text -> its name on conn_
  std::string prefix_;                           // of those names, new with each connection
  int depth_ = 0;
  bool poisoned_ = false;
  bool read_only_ = false;
  std::optional<Fence> fence_;
};

}  // namespace

std::unique_ptr<Store> open_postgresql_store(const PostgresqlOptions& options) {
  return std::make_unique<PostgresqlStore>(options);
}

}  // namespace rapport
