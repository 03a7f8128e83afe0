// The SQLite store. WAL, foreign keys on, versioned migrations. Statements that run once
// per event, row or team member (ingest, the mirror, the dispatcher's progress) are
// prepared once per connection with SQLite's own API (Cached below); the rest go
// through SOCI, which parses a statement's SQL again at every call.
#include <soci/soci.h>

#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "files/private_files.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/plans.hpp"
#include "store/rows.hpp"
#include "store/soci_util.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rapport {
namespace {

using soci_util::integer;
using soci_util::text;
using store_rows::add_interest_to;
using store_rows::add_team_row_to;
using store_rows::finish_team;
using namespace sqlite_api;  // SOCI's header includes sqlite3.h inside this namespace

// Each migration is a list of statements (SQLite prepares one at a time), applied in
// one transaction together with the new schema version.
const std::vector<std::vector<const char*>> kMigrations = {
    // 1: the foundation
    {
        "CREATE TABLE people (id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,"
        " email TEXT, specialty TEXT, subspecialty TEXT, program TEXT,"
        " opted_out INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE rotations (id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " site TEXT NOT NULL, specialty TEXT NOT NULL, subspecialty TEXT, kind TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL, status TEXT NOT NULL)",
        "CREATE INDEX rotations_by_student ON rotations(student_id, start_date)",
        "CREATE TABLE team_members (rotation_id TEXT NOT NULL REFERENCES rotations(id)"
        " ON DELETE CASCADE, person_id TEXT NOT NULL, role TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL, PRIMARY KEY (rotation_id, person_id))",
        "CREATE TABLE evaluations (id TEXT PRIMARY KEY, rotation_id TEXT NOT NULL,"
        " evaluator_id TEXT NOT NULL, student_id TEXT NOT NULL, submitted_at TEXT NOT NULL,"
        " score REAL NOT NULL, scale_min REAL NOT NULL, scale_max REAL NOT NULL,"
        " would_recommend INTEGER, anonymous INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX evaluations_by_student ON evaluations(student_id)",
        "CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,"
        " event_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL,"
        " occurred_at TEXT NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL,"
        " UNIQUE (source, event_id))",
        "CREATE TABLE progress (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
        "CREATE TABLE failures (id INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL,"
        " seq INTEGER NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, action_id TEXT NOT NULL"
        " UNIQUE, hook TEXT NOT NULL, type TEXT NOT NULL, student_id TEXT NOT NULL,"
        " contact_id TEXT NOT NULL, due_at TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX outbox_by_student ON outbox(student_id)",
        "CREATE TABLE timers (id TEXT PRIMARY KEY, due_at TEXT NOT NULL, event TEXT NOT NULL)",
        "CREATE INDEX timers_by_due ON timers(due_at)",
        "CREATE TABLE source_cursors (source TEXT NOT NULL, entity TEXT NOT NULL,"
        " value TEXT NOT NULL, PRIMARY KEY (source, entity))",
        "CREATE TABLE source_rows (source TEXT NOT NULL, entity TEXT NOT NULL,"
        " row_key TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (source, entity, row_key))",
    },
    // 2: failures become reports of three kinds (error, retry, slow)
    {
        "ALTER TABLE failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'error'",
        "CREATE INDEX failures_by_consumer ON failures(consumer, kind)",
    },
    // 3: touches reported by the host (action.completed)
    {
        "CREATE TABLE touches (student_id TEXT NOT NULL, contact_id TEXT NOT NULL,"
        " at TEXT NOT NULL, PRIMARY KEY (student_id, contact_id))",
    },
    // 4: whether each source reaches its database
    {
        "CREATE TABLE source_state (source TEXT PRIMARY KEY, up INTEGER NOT NULL,"
        " message TEXT NOT NULL, since TEXT NOT NULL)",
    },
    // 5: full scans remember which rows they saw, to notice deletions
    {
        "ALTER TABLE source_rows ADD COLUMN seen INTEGER NOT NULL DEFAULT 0",
    },
    // 6: webhooks: message ids received, per-action deliveries and their attempts, the
    // disclosure log, sinks disabled by their receiver
    {
        "CREATE TABLE inbound_messages (source TEXT NOT NULL, message_id TEXT NOT NULL,"
        " received_at TEXT NOT NULL, PRIMARY KEY (source, message_id)) WITHOUT ROWID",
        "CREATE INDEX inbound_messages_by_time ON inbound_messages(received_at)",
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL,"
        " action_seq INTEGER NOT NULL, action_id TEXT NOT NULL, state TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL,"
        " last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
        " UNIQUE (sink, action_id))",
        "CREATE INDEX deliveries_due ON deliveries(sink, state, next_at)",
        "CREATE TABLE delivery_attempts (delivery INTEGER NOT NULL REFERENCES deliveries(id),"
        " attempt INTEGER NOT NULL, at TEXT NOT NULL, duration_ms INTEGER NOT NULL,"
        " status INTEGER NOT NULL, result TEXT NOT NULL, snippet TEXT NOT NULL)",
        "CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts(delivery)",
        "CREATE TABLE disclosures (id INTEGER PRIMARY KEY AUTOINCREMENT, action_id TEXT NOT NULL,"
        " student_id TEXT NOT NULL, contact_id TEXT NOT NULL, fields TEXT NOT NULL,"
        " sink TEXT NOT NULL, endpoint TEXT NOT NULL, basis TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX disclosures_by_student ON disclosures(student_id)",
        "CREATE TABLE sink_state (sink TEXT PRIMARY KEY, disabled INTEGER NOT NULL,"
        " message TEXT NOT NULL, since TEXT NOT NULL)",
    },
    // 7: the two tables a backfill fills by the million, clustered on their keys (WITHOUT
    // ROWID: one b-tree per table instead of a table and its key's index)
    {
        "CREATE TABLE source_rows_7 (source TEXT NOT NULL, entity TEXT NOT NULL,"
        " row_key TEXT NOT NULL, hash TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (source, entity, row_key)) WITHOUT ROWID",
        "INSERT INTO source_rows_7 SELECT source, entity, row_key, hash, seen FROM source_rows",
        "DROP TABLE source_rows",
        "ALTER TABLE source_rows_7 RENAME TO source_rows",
        "CREATE TABLE team_members_7 (rotation_id TEXT NOT NULL REFERENCES rotations(id)"
        " ON DELETE CASCADE, person_id TEXT NOT NULL, role TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL, PRIMARY KEY (rotation_id, person_id))"
        " WITHOUT ROWID",
        "INSERT INTO team_members_7 SELECT rotation_id, person_id, role, start_date, end_date"
        " FROM team_members",
        "DROP TABLE team_members",
        "ALTER TABLE team_members_7 RENAME TO team_members",
    },
    // 8: actions held for people not known yet, and actions that expired (ids only)
    {
        "CREATE TABLE held_actions (action_id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " contact_id TEXT NOT NULL, expires_at TEXT, held_at TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX held_by_student ON held_actions(student_id)",
        "CREATE INDEX held_by_contact ON held_actions(contact_id)",
        "CREATE INDEX held_by_expiry ON held_actions(expires_at)",
        "CREATE TABLE expired_actions (action_id TEXT PRIMARY KEY, hook TEXT NOT NULL,"
        " student_id TEXT NOT NULL, contact_id TEXT NOT NULL, stage TEXT NOT NULL,"
        " at TEXT NOT NULL)",
    },
    // 9: a person's several roster rows on one rotation, each kept (team_members kept one,
    // and a roster split around a weekend flipped between its rows at every read); '' for
    // an end that follows the rotation's. The rows carried over are marked `legacy` until
    // a source reads them again: a full read that no longer sees a person's row under its
    // old key takes away their legacy rows that were not read again.
    {
        "CREATE TABLE team_rows (rotation_id TEXT NOT NULL REFERENCES rotations(id)"
        " ON DELETE CASCADE, person_id TEXT NOT NULL, role TEXT NOT NULL,"
        " start_date TEXT NOT NULL, end_date TEXT NOT NULL,"
        " legacy INTEGER NOT NULL DEFAULT 0, row_id TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (rotation_id, person_id, start_date, end_date, role)) WITHOUT ROWID",
        "CREATE INDEX team_rows_by_row_id ON team_rows(row_id) WHERE row_id <> ''",
        "INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, legacy)"
        " SELECT t.rotation_id, t.person_id, t.role,"
        " CASE WHEN t.start_date = r.start_date THEN '' ELSE t.start_date END,"
        " CASE WHEN t.end_date = r.end_date THEN '' ELSE t.end_date END, 1"
        " FROM team_members t JOIN rotations r ON r.id = t.rotation_id",
        "DROP TABLE team_members",
        // and a hook's own actions by due time (what a letter season already suggested)
        "CREATE INDEX outbox_by_hook ON outbox(hook, due_at)",
        // and a person's part in their program (director, coordinator...)
        "ALTER TABLE people ADD COLUMN program_role TEXT",
        // a person's ranked interests, one row per interest row read (the `interests`
        // entity), and the sites' time zones (the `sites` entity)
        "CREATE TABLE person_interests (person_id TEXT NOT NULL, specialty TEXT NOT NULL,"
        " rank INTEGER NOT NULL, PRIMARY KEY (person_id, specialty, rank)) WITHOUT ROWID",
        "CREATE TABLE sites (site TEXT PRIMARY KEY, timezone TEXT NOT NULL)",
        // erasures on request, and the people kept out after one
        "CREATE TABLE erasures (id INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL,"
        " kind TEXT NOT NULL, at TEXT NOT NULL, requested_by TEXT NOT NULL,"
        " reason TEXT NOT NULL, removed TEXT NOT NULL, lifted_at TEXT)",
        "CREATE TABLE suppressions (person_id TEXT PRIMARY KEY, since TEXT NOT NULL)",
    },
    // 10: retention. When a person's row was last written (a person the store no longer
    // needs goes after retention.people), the ids of actions purged (a re-run makes them
    // not again), and leases (one process purges where several share the store).
    {
        "ALTER TABLE people ADD COLUMN seen_at TEXT",
        "UPDATE people SET seen_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        "CREATE TABLE purged_actions (action_id TEXT PRIMARY KEY, at TEXT NOT NULL)"
        " WITHOUT ROWID",
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TEXT NOT NULL)",
        "CREATE INDEX rotations_by_end ON rotations(end_date)",
        "CREATE INDEX outbox_by_due ON outbox(due_at)",
        // what the purge asks of each candidate: does anything still name it?
        "CREATE INDEX outbox_by_contact ON outbox(contact_id)",
        "CREATE INDEX deliveries_by_action ON deliveries(action_id)",
        "CREATE INDEX team_rows_by_person ON team_rows(person_id)",
        "CREATE INDEX evaluations_by_rotation ON evaluations(rotation_id)",
        "CREATE INDEX evaluations_by_evaluator ON evaluations(evaluator_id)",
        "CREATE INDEX touches_by_contact ON touches(contact_id)",
        "CREATE INDEX failures_by_time ON failures(at)",
    },
    // 11: the prompt budget. Prompts and what was decided about each, which actions make
    // each prompt, and the stream of released actions that student-facing sinks read.
    {
        "CREATE TABLE prompts (id TEXT PRIMARY KEY, student_id TEXT NOT NULL,"
        " action_type TEXT NOT NULL, event_id TEXT NOT NULL, priority INTEGER NOT NULL,"
        " due_at TEXT NOT NULL, expires_at TEXT, state TEXT NOT NULL, week TEXT, until TEXT,"
        " reason TEXT NOT NULL, deferrals INTEGER NOT NULL, decided_at TEXT NOT NULL)"
        " WITHOUT ROWID",
        "CREATE INDEX prompts_by_week ON prompts(student_id, week)",
        "CREATE INDEX prompts_deferred ON prompts(state, until)",
        "CREATE TABLE prompt_actions (action_id TEXT PRIMARY KEY, prompt_id TEXT NOT NULL)"
        " WITHOUT ROWID",
        "CREATE INDEX prompt_actions_by_prompt ON prompt_actions(prompt_id)",
        "CREATE TABLE releases (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " action_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL)",
    },
    // 12: email digests, and a person's opt-out of email alone.
    {
        "ALTER TABLE people ADD COLUMN email_opted_out INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE digest_items (sink TEXT NOT NULL, action_id TEXT NOT NULL,"
        " student_id TEXT NOT NULL, seq INTEGER NOT NULL, digest_id TEXT,"
        " PRIMARY KEY (sink, action_id)) WITHOUT ROWID",
        "CREATE INDEX digest_items_open ON digest_items(sink, digest_id, student_id, seq)",
        "CREATE INDEX digest_items_by_digest ON digest_items(digest_id)",
        "CREATE INDEX digest_items_by_action ON digest_items(action_id)",
        "CREATE TABLE digests (row INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " sink TEXT NOT NULL, student_id TEXT NOT NULL, period_end TEXT NOT NULL,"
        " composed_at TEXT NOT NULL, recipient TEXT NOT NULL, message TEXT,"
        " state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL,"
        " last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX digests_due ON digests(sink, state, next_at)",
        "CREATE INDEX digests_by_student ON digests(student_id)",
    },
    // 13: several processes sharing a store: a lease's epoch (one more each time it
    // changes hands), and the process table.
    {
        "ALTER TABLE leases ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE processes (instance TEXT PRIMARY KEY, host TEXT NOT NULL,"
        " pid INTEGER NOT NULL, started TEXT NOT NULL, heartbeat TEXT NOT NULL,"
        " leases TEXT NOT NULL DEFAULT '')",
    },
    // 14: a rotation's moments name their rotation instead of carrying it (engine/timers.hpp).
    // No table changes: the version keeps an older build, which would fire the name as the
    // rotation, from opening the store ("upgrade rapport").
    {
        "UPDATE timers SET event = event WHERE 0",
    },
    // 15: deliveries taken by claims (claim_deliveries): the claim's number, until when it
    // holds and who took it.
    {
        "ALTER TABLE deliveries ADD COLUMN claim INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE deliveries ADD COLUMN claimed_until TEXT",
        "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''",
    },
    // 16: dispatch spread over processes (engine.partitions): each event's partition, given
    // when the mirror applies it.
    {
        "ALTER TABLE inbox ADD COLUMN part INTEGER",
        "CREATE INDEX inbox_by_part ON inbox(part, seq) WHERE part IS NOT NULL",
    },
};

std::string opt_text(const soci::row& r, std::size_t i) {
  return text(r, i).value_or("");
}

// A statement prepared once and kept for the connection's life. Use: `auto q =
// cached(SQL); q.bind(1, ...); q.run();` or `while (q.next()) q.text(0)`; the statement
// is reset when `q` goes out of scope, so no read stays open. Every use binds every
// parameter (values of the previous use stay bound otherwise).
class Cached {
 public:
  Cached(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(std::string("cannot prepare a statement: ") + sqlite3_errmsg(db));
    }
  }
  ~Cached() { sqlite3_finalize(stmt_); }
  Cached(const Cached&) = delete;
  Cached& operator=(const Cached&) = delete;

  class Use {
   public:
    explicit Use(Cached& c) : c_(c) {
      // One use at a time: a statement stepped inside its own use would lose its rows.
      if (c_.busy_) throw StoreError("a cached statement was used while in use");
      c_.busy_ = true;
    }
    ~Use() {
      sqlite3_reset(c_.stmt_);
      c_.busy_ = false;
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

    Use& bind(int i, std::string_view v) {
      return check(sqlite3_bind_text(c_.stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
    }
    Use& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Use& bind(int i, const char* v) { return bind(i, std::string_view(v)); }  // not bool
    Use& bind(int i, const std::optional<std::string>& v) {
      return v ? bind(i, std::string_view(*v)) : check(sqlite3_bind_null(c_.stmt_, i));
    }
    Use& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(c_.stmt_, i, v)); }
    Use& bind(int i, int v) { return bind(i, std::int64_t{v}); }
    Use& bind(int i, bool v) { return bind(i, std::int64_t{v ? 1 : 0}); }
    Use& bind(int i, double v) { return check(sqlite3_bind_double(c_.stmt_, i, v)); }
    Use& bind_null(int i) { return check(sqlite3_bind_null(c_.stmt_, i)); }
    // One more row (true) or the end (false).
    bool next() {
      int rc = sqlite3_step(c_.stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      throw StoreError(std::string(sqlite3_errmsg(c_.db_)));
    }
    // A statement without rows; the number of rows it changed.
    int run() {
      while (next()) {
      }
      return sqlite3_changes(c_.db_);
    }
    // `args` bound to ?1, ?2... and run, the text where the caller keeps it: every argument,
    // a temporary too, lives until the statement has run. (bind() copies the text, which
    // may be gone by the time the statement steps; on the paths that write a row per event
    // or per row read, the copies cost a malloc each.)
    template <typename... Args>
    int run_with(const Args&... args) {
      int i = 0;
      (bind_in_place(++i, args), ...);
      return run();
    }
    // The text where the caller keeps it, which must stay there, unchanged, until the
    // statement has run (run_with is the way where the values fit in one call).
    void bind_in_place(int i, std::string_view v) {
      // (A view without data is empty text, not NULL, as it is to bind().)
      check(sqlite3_bind_text(c_.stmt_, i, v.data() ? v.data() : "", int(v.size()), SQLITE_STATIC));
    }
    void bind_in_place(int i, const std::string& v) { bind_in_place(i, std::string_view(v)); }
    void bind_in_place(int i, const char* v) { bind_in_place(i, std::string_view(v)); }
    void bind_in_place(int i, const std::optional<std::string>& v) {
      if (v) return bind_in_place(i, std::string_view(*v));
      check(sqlite3_bind_null(c_.stmt_, i));
    }
    template <typename Number>
    void bind_in_place(int i, const Number& v) {
      bind(i, v);
    }
    std::optional<std::string> text(int column) const {
      const auto* p = sqlite3_column_text(c_.stmt_, column);
      if (!p) return std::nullopt;
      return std::string(reinterpret_cast<const char*>(p),
                         std::size_t(sqlite3_column_bytes(c_.stmt_, column)));
    }
    std::string str(int column) const { return text(column).value_or(""); }
    // The column's text where SQLite keeps it ("" for NULL): valid until the next step.
    std::string_view view(int column) const {
      const auto* p = sqlite3_column_text(c_.stmt_, column);
      if (!p) return {};
      return {reinterpret_cast<const char*>(p),
              std::size_t(sqlite3_column_bytes(c_.stmt_, column))};
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(c_.stmt_, column); }
    std::optional<std::int64_t> opt_integer(int column) const {
      if (sqlite3_column_type(c_.stmt_, column) == SQLITE_NULL) return std::nullopt;
      return integer(column);
    }
    std::optional<double> number(int column) const {
      if (sqlite3_column_type(c_.stmt_, column) == SQLITE_NULL) return std::nullopt;
      return sqlite3_column_double(c_.stmt_, column);
    }

   private:
    Use& check(int rc) {
      if (rc != SQLITE_OK) throw StoreError(std::string("cannot bind: ") + sqlite3_errmsg(c_.db_));
      return *this;
    }
    Cached& c_;
  };

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool busy_ = false;
};

// Connections of one process to one file take turns writing through this mutex: a
// waiting writer wakes the moment the other commits, where SQLite's busy handler would
// sleep and poll (seen as latencies of a second when the listener's committer and the
// engine wrote at the same time). Other processes still meet busy_timeout.
//
// `first_open` runs (under the registry's lock) when no store of this process has the file
// open: only then may the file be opened and closed outside SQLite, because closing any
// descriptor of a file drops every POSIX lock the process holds on it, SQLite's included.
std::shared_ptr<std::mutex> writer_mutex(const std::string& path,
                                         const std::function<void()>& first_open) {
  static std::mutex guard;
  static std::map<std::string, std::weak_ptr<std::mutex>> by_file;
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) key = path;
  std::lock_guard lock(guard);
  auto& slot = by_file[key];
  auto mutex = slot.lock();
  if (!mutex) {
    first_open();
    mutex = std::make_shared<std::mutex>();
    slot = mutex;
  }
  return mutex;
}

// The rows of a statement reading (seq, source, event_id, type, subject, occurred_at,
// payload).
std::vector<InboxEvent> inbox_events(Cached::Use& q) {
  std::vector<InboxEvent> out;
  while (q.next()) {
    InboxEvent ie;
    ie.seq = q.integer(0);
    ie.event.source = q.str(1);
    ie.event.id = q.str(2);
    ie.event.type = parse_event_type(q.str(3)).value_or(EventType::person_updated);
    ie.event.subject = q.str(4);
    ie.event.occurred = parse_time(q.str(5)).value_or(TimePoint{});
    ie.event.payload = q.str(6);
    out.push_back(std::move(ie));
  }
  return out;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const SqliteOptions& options)
      : writer_(writer_mutex(options.path, [&] { first_open(options.path); })) {
    try {
      sql_.open(soci::sqlite3, "db=\"" + options.path + "\" timeout=" +
                                   std::to_string(std::max(1, options.busy_timeout_ms / 1000)));
      refuse_foreign(options.path);
      // Turning a new file to WAL takes it whole, and SQLite answers "locked" at once,
      // without waiting, while another process opening it at the same moment does the
      // same: tried again within the busy timeout (the mode stays once set).
      for (auto deadline = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(options.busy_timeout_ms);
           ;) {
        try {
          sql_ << "PRAGMA journal_mode=WAL";
          break;
        } catch (const soci::soci_error& e) {
          if (std::string_view(e.what()).find("locked") == std::string_view::npos ||
              std::chrono::steady_clock::now() > deadline) {
            throw;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      sql_ << "PRAGMA foreign_keys=ON";
      sql_ << (options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      sql_ << "PRAGMA busy_timeout=" + std::to_string(options.busy_timeout_ms);
      if (!options.checkpoints) {
        sql_ << "PRAGMA wal_autocheckpoint=0";
        sql_ << "PRAGMA journal_size_limit=" + std::to_string(options.wal_file_limit);
      }
    } catch (const soci::soci_error& e) {
      throw StoreError("cannot open store \"" + options.path + "\": " + e.what());
    }
    migrate();
  }

  // A bulk load leaves out the roster's index by person (each roster row lands in a
  // different page of it, which every commit writes again: it made building a backfill's
  // mirror twice as slow), and builds it at its end, sorted, in a second or two a million
  // rows. Erasure and retention, its only readers, build it first if it is missing (a
  // load that died half way); opening the store does not, since it cannot tell a load
  // that died from one still running.
  void begin_bulk_load() override { sql_ << "DROP INDEX IF EXISTS team_rows_by_person"; }
  void end_bulk_load() override { ensure_person_index(); }
  void ensure_person_index() {
    int present = 0;
    sql_ << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
            " AND name = 'team_rows_by_person'",
        soci::into(present);
    if (present == 0) {
      log::info("store", "building the roster's index by person (a bulk load left it out)");
      sql_ << "CREATE INDEX IF NOT EXISTS team_rows_by_person ON team_rows(person_id)";
    }
  }

  // A read transaction (WAL: one moment of the file) that leaves writers alone.
  void begin_snapshot() override {
    if (depth_ == 0) {
      poisoned_ = false;
      sql_ << "BEGIN DEFERRED";
      try {
        int version = 0;
        sql_ << "SELECT version FROM schema_version", soci::into(version);  // the moment is now
      } catch (...) {
        quiet_rollback();
        throw;
      }
    }
    ++depth_;
  }

  // Counted only once BEGIN succeeded; a failed COMMIT ends the transaction (rolled back)
  // and leaves the count at zero, so one error never leaves the store half in a
  // transaction.
  void begin() override {
    if (depth_ == 0) {
      poisoned_ = false;
      std::unique_lock turn(*writer_);
      cached("BEGIN IMMEDIATE").run();  // prepared once: a listener's every group begins
      turn_ = std::move(turn);
    }
    ++depth_;
  }
  void commit() override {
    if (depth_ > 1) {
      --depth_;
      return;
    }
    depth_ = 0;
    auto turn = std::move(turn_);  // released when this returns or throws
    if (poisoned_) {
      quiet_rollback();
      throw StoreError("transaction rolled back by an inner failure");
    }
    if (fence_) check_fence();
    try {
      cached("COMMIT").run();
    } catch (const std::exception& e) {
      quiet_rollback();
      throw StoreError(std::string("commit failed: ") + e.what());
    }
  }
  void rollback() override {
    if (depth_ == 0) return;  // already ended (a failed commit)
    if (--depth_ > 0) {
      poisoned_ = true;
      return;
    }
    auto turn = std::move(turn_);
    quiet_rollback();
  }

  bool append_event(const Event& e, TimePoint received) override {
    return cached(
               "INSERT INTO inbox (source, event_id, type, subject, occurred_at, received_at,"
               " payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
               " ON CONFLICT (source, event_id) DO NOTHING")
               .run_with(e.source, e.id, to_string(e.type), e.subject, format_time(e.occurred),
                         format_time(received), e.payload) > 0;
  }

  std::vector<InboxEvent> events_after(std::int64_t seq, std::size_t limit) override {
    auto q = cached(
        "SELECT seq, source, event_id, type, subject, occurred_at, payload"
        " FROM inbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    q.bind(1, seq).bind(2, std::int64_t(limit));
    return inbox_events(q);
  }

  void set_event_parts(const std::vector<std::pair<std::int64_t, int>>& parts) override {
    for (const auto& [seq, part] : parts) {
      cached("UPDATE inbox SET part = ?2 WHERE seq = ?1").run_with(seq, part);
    }
  }

  std::vector<InboxEvent> events_up_to(std::optional<int> part, std::int64_t after,
                                       std::int64_t upto, std::size_t limit) override {
    // ?1: a partition, or NULL for all of them.
    auto q = part ? cached(
                        "SELECT seq, source, event_id, type, subject, occurred_at, payload"
                        " FROM inbox WHERE part = ?1 AND seq > ?2 AND seq <= ?3"
                        " ORDER BY seq LIMIT ?4")
                  : cached(
                        "SELECT seq, source, event_id, type, subject, occurred_at, payload"
                        " FROM inbox WHERE seq > ?2 AND seq <= ?3 AND ?1 IS NULL"
                        " ORDER BY seq LIMIT ?4");
    if (part) {
      q.bind(1, std::int64_t(*part));
    } else {
      q.bind(1, std::optional<std::string>{});
    }
    q.bind(2, after).bind(3, upto).bind(4, std::int64_t(limit));
    return inbox_events(q);
  }

  std::int64_t last_action_seq() override {
    long long seq = 0;
    soci::indicator ind;
    // The sequence, not the newest row: retention may have purged every action.
    sql_ << "SELECT MAX(s) FROM (SELECT seq AS s FROM sqlite_sequence WHERE name = 'outbox'"
            " UNION ALL SELECT MAX(seq) FROM outbox)",
        soci::into(seq, ind);
    return ind == soci::i_ok ? seq : 0;
  }

  std::int64_t last_event_seq() override {
    long long seq = 0;
    soci::indicator ind;
    sql_ << "SELECT MAX(s) FROM (SELECT seq AS s FROM sqlite_sequence WHERE name = 'inbox'"
            " UNION ALL SELECT MAX(seq) FROM inbox)",
        soci::into(seq, ind);
    return ind == soci::i_ok ? seq : 0;
  }

  std::int64_t progress(const std::string& consumer) override {
    auto q = cached("SELECT seq FROM progress WHERE consumer = ?1");
    q.bind(1, consumer);
    return q.next() ? q.integer(0) : 0;
  }

  void set_progress(const std::string& consumer, std::int64_t seq) override {
    cached(
        "INSERT INTO progress (consumer, seq) VALUES (?1, ?2)"
        " ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq")
        .run_with(consumer, seq);
  }

  std::map<std::string, std::int64_t> all_progress() override {
    std::map<std::string, std::int64_t> out;
    auto q = cached("SELECT consumer, seq FROM progress");  // read by every dispatch batch
    while (q.next()) out[q.str(0)] = q.integer(1);
    return out;
  }

  void forget_progress(const std::string& consumer) override {
    sql_ << "DELETE FROM progress WHERE consumer = :c", soci::use(consumer);
  }

  void record_report(const std::string& consumer, std::int64_t seq, ReportKind kind,
                     const std::string& message, TimePoint at) override {
    long long s = seq;
    std::string when = format_time(at), k(to_string(kind));
    sql_ << "INSERT INTO failures (consumer, seq, kind, message, at) VALUES (:c, :s, :k, :m, :a)",
        soci::use(consumer), soci::use(s), soci::use(k), soci::use(message), soci::use(when);
  }

  std::vector<ReportSummary> reports() override {
    std::vector<ReportSummary> out;
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT f.consumer, f.kind, g.n, f.message, f.at FROM failures f JOIN"
                        " (SELECT MAX(id) AS last, COUNT(*) AS n FROM failures"
                        "  GROUP BY consumer, kind) g ON f.id = g.last"
                        " ORDER BY f.consumer, f.kind";
    for (const auto& r : rows) {
      out.push_back({opt_text(r, 0), opt_text(r, 1), integer(r, 2).value_or(0), opt_text(r, 3),
                     opt_text(r, 4)});
    }
    return out;
  }

  std::vector<std::pair<std::int64_t, std::string>> notices_after(std::int64_t id,
                                                                  std::size_t limit) override {
    auto q = cached(
        "SELECT id, consumer FROM failures WHERE id > ?1 AND kind = 'notice' ORDER BY id LIMIT ?2");
    q.bind(1, id).bind(2, std::int64_t(limit));
    std::vector<std::pair<std::int64_t, std::string>> out;
    while (q.next()) out.emplace_back(q.integer(0), q.str(1));
    return out;
  }

  std::int64_t last_report_id() override {
    auto q = cached("SELECT coalesce(MAX(id), 0) FROM failures");
    return q.next() ? q.integer(0) : 0;
  }

  bool add_action(const Action& a) override {
    // Not again once made: neither while it is in the outbox nor after retention purged it.
    return cached(
               "INSERT INTO outbox (action_id, hook, type, student_id, contact_id, due_at,"
               " body) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS"
               " (SELECT 1 FROM purged_actions WHERE action_id = ?1)"
               " ON CONFLICT (action_id) DO NOTHING")
               .run_with(a.id, a.hook, to_string(a.type), a.student_id, a.contact_id,
                         format_time(a.due), to_json(a)) > 0;
  }

  std::vector<OutboxAction> actions_after(std::int64_t seq, std::size_t limit) override {
    long long after = seq, n = static_cast<long long>(limit);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT seq, body FROM outbox WHERE seq > :a ORDER BY seq LIMIT :n",
         soci::use(after), soci::use(n));
    std::vector<OutboxAction> out;
    for (const auto& r : rows) out.push_back({*integer(r, 0), action_from_json(opt_text(r, 1))});
    return out;
  }

  std::int64_t count_actions_after(std::int64_t seq) override {
    auto q = cached("SELECT COUNT(*) FROM outbox WHERE seq > ?1");
    q.bind(1, seq);
    return q.next() ? q.integer(0) : 0;
  }

  std::vector<Action> actions_of(const std::string& student_id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM outbox WHERE student_id = :s ORDER BY seq",
         soci::use(student_id));
    std::vector<Action> out;
    for (const auto& r : rows) out.push_back(action_from_json(opt_text(r, 0)));
    return out;
  }

  std::vector<Action> actions_of_hook(const std::string& hook, TimePoint since) override {
    std::string after = format_time(since);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM outbox WHERE hook = :h AND due_at > :t ORDER BY seq",
         soci::use(hook), soci::use(after));
    std::vector<Action> out;
    for (const auto& r : rows) out.push_back(action_from_json(opt_text(r, 0)));
    return out;
  }

  void put_timer(const Timer& t) override {
    upsert_timer(t.id, format_time(t.due), to_json(t.event));
  }
  void upsert_timer(const std::string& id, const std::string& due, const std::string& event) {
    cached(
        "INSERT INTO timers (id, due_at, event) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, event = excluded.event"
        " WHERE (due_at, event) IS NOT (excluded.due_at, excluded.event)")
        .run_with(id, due, event);
  }

  // Each as put_timer (of an id given twice, the last), but a timer already stored as it
  // is (a rotation sent again unchanged names its three moments as they are) is not
  // written again: the timers in their ids' order, a run of them sharing a prefix up to
  // their last '/' (a rotation's) is read in one range statement, and only those that
  // differ are written. The read is bounded; a timer it did not see is written, as
  // put_timer would. Called inside the write transaction (as the mirror calls it), the
  // read and the writes see one state of the table.
  void put_timers(const std::vector<Timer>& timers) override {
    const auto last = store_rows::last_of_each(timers, &Timer::id);
    auto group_of = [&](std::size_t i) {
      const std::string_view id = last[i]->id;
      const auto slash = id.rfind('/');
      return slash == std::string_view::npos ? std::string_view() : id.substr(0, slash + 1);
    };
    for (std::size_t begin = 0, end = 0; begin < last.size(); begin = end) {
      const auto prefix = group_of(begin);
      end = begin + 1;
      while (end < last.size() && !prefix.empty() && group_of(end) == prefix) ++end;
      std::vector<std::string> due, event;
      for (std::size_t i = begin; i < end; ++i) {
        due.push_back(format_time(last[i]->due));
        event.push_back(to_json(last[i]->event));
      }
      std::vector<char> stored(end - begin, 0);  // already there as it is
      if (end - begin > 1) {
        auto q = cached("SELECT id, due_at, event FROM timers WHERE id >= ?1 AND id < ?2 LIMIT ?3");
        q.bind(1, prefix)
            .bind(2, std::string(prefix) + "\xff")
            .bind(3, std::int64_t(4 * (end - begin)));
        while (q.next()) {
          const auto id = q.view(0);
          for (std::size_t k = 0; k < end - begin; ++k) {
            if (id == last[begin + k]->id) stored[k] = q.view(1) == due[k] && q.view(2) == event[k];
          }
        }
      }
      for (std::size_t k = 0; k < end - begin; ++k) {
        if (!stored[k]) upsert_timer(last[begin + k]->id, due[k], event[k]);
      }
    }
  }

  void delete_timers_with_prefix(const std::string& prefix) override {
    cached("DELETE FROM timers WHERE id >= ?1 AND id < ?2").run_with(prefix, prefix + "\xff");
  }

  std::vector<Timer> due_timers(TimePoint now, std::size_t limit) override {
    // Cached, like delete_timer: the engine asks at every step, and fires timers by the batch.
    auto q = cached(
        "SELECT id, due_at, event FROM timers WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2");
    q.bind(1, format_time(now)).bind(2, static_cast<std::int64_t>(limit));
    std::vector<Timer> out;
    while (q.next()) {
      out.push_back(
          {q.str(0), parse_time(q.str(1)).value_or(TimePoint{}), event_from_json(q.str(2))});
    }
    return out;
  }

  std::vector<Timer> timers_about(const std::string& subject) override {
    std::vector<Timer> out;
    soci::rowset<soci::row> rows = sql_.prepare
                                   << "SELECT id, due_at, event FROM timers ORDER BY due_at, id";
    for (const auto& r : rows) {
      Timer t{opt_text(r, 0), parse_time(opt_text(r, 1)).value_or(TimePoint{}),
              event_from_json(opt_text(r, 2))};
      if (t.event.subject == subject) out.push_back(std::move(t));
    }
    return out;
  }

  void delete_timer(const std::string& id) override {
    cached("DELETE FROM timers WHERE id = ?1").run_with(id);
  }

  std::optional<std::string> cursor(const std::string& source, const std::string& entity) override {
    auto q = cached("SELECT value FROM source_cursors WHERE source = ?1 AND entity = ?2");
    q.bind(1, source).bind(2, entity);
    return q.next() ? q.text(0) : std::nullopt;
  }

  void set_cursor(const std::string& source, const std::string& entity,
                  const std::string& value) override {
    cached(
        "INSERT INTO source_cursors (source, entity, value) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (source, entity) DO UPDATE SET value = excluded.value")
        .run_with(source, entity, value);
  }

  std::vector<std::pair<std::string, std::string>> cursors(const std::string& source) override {
    std::vector<std::pair<std::string, std::string>> out;
    auto q = cached("SELECT entity, value FROM source_cursors WHERE source = ?1 ORDER BY entity");
    q.bind(1, source);
    while (q.next()) out.emplace_back(q.text(0).value_or(""), q.text(1).value_or(""));
    return out;
  }

  void delete_cursor(const std::string& source, const std::string& entity) override {
    cached("DELETE FROM source_cursors WHERE source = ?1 AND entity = ?2").run_with(source, entity);
  }

  std::optional<std::string> row_hash(const std::string& source, const std::string& entity,
                                      const std::string& key) override {
    auto q = cached(
        "SELECT hash FROM source_rows WHERE source = ?1 AND entity = ?2"
        " AND row_key = ?3");
    q.bind(1, source).bind(2, entity).bind(3, key);
    return q.next() ? q.text(0) : std::nullopt;
  }

  // Runs of 32 rows in one statement: a page of a backfill stores thousands, and each
  // statement's own work (stepping, halting, resetting) cost as much as a third of its row's.
  void set_row_hashes(const std::string& source, const RowHashes& rows) override {
    static const std::string run_sql = statement_of_run(
        "INSERT INTO source_rows (source, entity, row_key, hash) VALUES ",
        // ?1 the source, then three a row
        [](std::size_t i) { return "(?1, " + parameters(2 + 3 * i, 3) + ")"; },
        // A key given twice in one run: the second updates the first, as one after another.
        " ON CONFLICT (source, entity, row_key) DO UPDATE SET hash = excluded.hash");
    std::size_t done = 0;
    for (; done + kRun <= rows.size(); done += kRun) {
      auto q = cached(run_sql.c_str());
      q.bind_in_place(1, source);  // every text here outlives the statement's run
      for (std::size_t i = 0; i < kRun; ++i) {
        const auto& [entity, key, hash] = rows[done + i];
        q.bind_in_place(int(2 + 3 * i), entity);
        q.bind_in_place(int(3 + 3 * i), key);
        q.bind_in_place(int(4 + 3 * i), hash);
      }
      q.run();
    }
    for (; done < rows.size(); ++done) {
      const auto& [entity, key, hash] = rows[done];
      set_row_hash(source, entity, key, hash);
    }
  }

  void set_row_hash(const std::string& source, const std::string& entity, const std::string& key,
                    const std::string& hash) override {
    cached(
        "INSERT INTO source_rows (source, entity, row_key, hash) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (source, entity, row_key) DO UPDATE SET hash = excluded.hash")
        .run_with(source, entity, key, hash);
  }

  void mark_rows_seen_with_prefix(const std::string& source, const std::string& entity,
                                  const std::string& prefix, std::int64_t generation) override {
    cached(
        "UPDATE source_rows SET seen = ?1 WHERE source = ?2 AND entity = ?3"
        " AND substr(row_key, 1, length(?4)) = ?4")
        .bind(1, generation)
        .bind(2, source)
        .bind(3, entity)
        .bind(4, prefix)
        .run();
  }

  void mark_rows_seen(const std::string& source, const std::string& entity,
                      const std::vector<std::string>& keys, std::int64_t generation) override {
    for (const auto& key : keys) {
      cached("UPDATE source_rows SET seen = ?1 WHERE source = ?2 AND entity = ?3 AND row_key = ?4")
          .run_with(generation, source, entity, key);
    }
  }

  std::vector<std::string> rows_not_seen(const std::string& source, const std::string& entity,
                                         std::int64_t generation) override {
    long long g = generation;
    std::vector<std::string> out;
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT row_key FROM source_rows WHERE source = :s AND entity = :e"
                         " AND seen < :g ORDER BY row_key",
         soci::use(source), soci::use(entity), soci::use(g));
    for (const auto& r : rows) out.push_back(opt_text(r, 0));
    return out;
  }

  void forget_row(const std::string& source, const std::string& entity,
                  const std::string& key) override {
    sql_ << "DELETE FROM source_rows WHERE source = :s AND entity = :e AND row_key = :k",
        soci::use(source), soci::use(entity), soci::use(key);
  }

  void put_person(const Person& p) override {
    cached(
        "INSERT INTO people (id, role, name, email, specialty, subspecialty, program,"
        " opted_out, program_role, email_opted_out, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
        " ?7, ?8, ?9, ?10, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
        " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,"
        " role = excluded.role, name = excluded.name, email = excluded.email,"
        " specialty = excluded.specialty, subspecialty = excluded.subspecialty,"
        " program = excluded.program, opted_out = excluded.opted_out,"
        " program_role = excluded.program_role, email_opted_out = excluded.email_opted_out")
        .bind(1, p.id)
        .bind(2, to_string(p.role))
        .bind(3, p.name)
        .bind(4, p.email)
        .bind(5, p.specialty)
        .bind(6, p.subspecialty)
        .bind(7, p.program)
        .bind(8, p.opted_out)
        .bind(9, p.program_role
                     ? std::optional<std::string>(std::string(to_string(*p.program_role)))
                     : std::nullopt)
        .bind(10, p.email_opted_out)
        .run();
  }

  std::optional<Person> person(const std::string& id) override {
    std::optional<Person> found;
    {
      // Cached: hooks ask for people by the thousand (each candidate of an assignment).
      auto q = cached(
          "SELECT id, role, name, email, specialty, subspecialty, program, opted_out,"
          " program_role, email_opted_out FROM people WHERE id = ?1");
      q.bind(1, id);
      if (q.next()) found = store_rows::person_from([&](int i) { return q.text(i); });
    }
    if (found) {
      auto q = cached(
          "SELECT specialty FROM person_interests WHERE person_id = ?1 ORDER BY rank, specialty");
      q.bind(1, id);
      while (q.next()) add_interest_to(*found, q.str(0));
    }
    return found;
  }

  void for_each_person(const std::function<void(const Person&)>& each) override {
    std::map<std::string, std::vector<std::string>> interests;
    {
      soci::rowset<soci::row> rows = sql_.prepare
                                     << "SELECT person_id, specialty FROM person_interests"
                                        " ORDER BY person_id, rank, specialty";
      for (const auto& r : rows) interests[opt_text(r, 0)].push_back(opt_text(r, 1));
    }
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT id, role, name, email, specialty, subspecialty, program,"
                        " opted_out, program_role, email_opted_out FROM people ORDER BY id";
    for (const auto& r : rows) {
      Person p = person_of(r);
      if (auto it = interests.find(p.id); it != interests.end()) {
        for (const auto& s : it->second) add_interest_to(p, s);
      }
      each(p);
    }
  }

  void add_interest(const std::string& person_id, const std::string& specialty, int rank) override {
    cached(
        "INSERT INTO person_interests (person_id, specialty, rank) VALUES (?1, ?2, ?3)"
        " ON CONFLICT DO NOTHING")
        .run_with(person_id, specialty, rank);
  }

  void remove_interest(const std::string& person_id, const std::string& specialty,
                       std::optional<int> rank) override {
    cached(
        "DELETE FROM person_interests WHERE person_id = ?1 AND specialty = ?2"
        " AND (?3 IS NULL OR rank = ?3)")
        .run_with(person_id, specialty,
                  rank ? std::optional<std::string>(std::to_string(*rank)) : std::nullopt);
  }

  void clear_interests(const std::string& person_id) override {
    cached("DELETE FROM person_interests WHERE person_id = ?1").run_with(person_id);
  }

  void put_site_timezone(const std::string& site, const std::string& zone) override {
    cached(
        "INSERT INTO sites (site, timezone) VALUES (?1, ?2)"
        " ON CONFLICT (site) DO UPDATE SET timezone = excluded.timezone")
        .run_with(site, zone);
  }

  std::optional<std::string> site_timezone(const std::string& site) override {
    auto q = cached("SELECT timezone FROM sites WHERE site = ?1");
    q.bind(1, site);
    if (!q.next()) return std::nullopt;
    return q.str(0);
  }

  void put_rotation(const Rotation& r) override {
    cached(
        "INSERT INTO rotations (id, student_id, site, specialty, subspecialty, kind,"
        " start_date, end_date, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (id) DO UPDATE SET student_id = excluded.student_id,"
        " site = excluded.site, specialty = excluded.specialty,"
        " subspecialty = excluded.subspecialty, kind = excluded.kind,"
        " start_date = excluded.start_date, end_date = excluded.end_date,"
        " status = excluded.status"
        // A rotation sent again unchanged (a platform's update of fields we do not keep)
        // writes nothing.
        " WHERE (student_id, site, specialty, subspecialty, kind, start_date, end_date,"
        " status) IS NOT (excluded.student_id, excluded.site, excluded.specialty,"
        " excluded.subspecialty, excluded.kind, excluded.start_date, excluded.end_date,"
        " excluded.status)")
        .run_with(r.id, r.student_id, r.site, r.specialty, r.subspecialty, to_string(r.kind),
                  format_date(r.start), format_date(r.end), to_string(r.status));
  }

  void put_team_member(const std::string& rotation_id, const TeamMember& m) override {
    remove_team_member(rotation_id, m.person_id);
    for (const auto& span : m.spans_or_dates()) {
      add_team_row(rotation_id, {m.person_id, m.role, span.start, span.end});
    }
  }

  void put_team(const std::string& rotation_id, const std::vector<TeamMember>& team) override {
    const auto members = store_rows::last_of_each(team, &TeamMember::person_id);
    switch (roster_against(rotation_id, members)) {
      case Roster::same:  // a rotation sent again unchanged writes nothing
        return;
      case Roster::none:  // seen for the first time (most are): nobody's rows to replace
        for (const TeamMember* m : members) {
          for (const auto& span : m->spans_or_dates()) {
            add_team_row(rotation_id, {m->person_id, m->role, span.start, span.end});
          }
        }
        return;
      case Roster::other:
        break;
    }
    // The rows the rotation has, by person: (role, start, end, legacy, row id).
    using Kept = std::tuple<std::string, std::string, std::string, std::int64_t, std::string>;
    std::map<std::string, std::vector<Kept>> rows;
    {
      auto q = cached(
          "SELECT person_id, role, start_date, end_date, legacy, row_id FROM team_rows"
          " WHERE rotation_id = ?1");
      q.bind(1, rotation_id);
      while (q.next()) {
        rows[q.str(0)].emplace_back(q.str(1), q.str(2), q.str(3), q.integer(4), q.str(5));
      }
    }
    // Each member's rows replace that person's (a person listed twice: the last entry
    // counts); a member whose rows are already exactly these is left alone.
    for (const TeamMember* m : members) {
      const auto spans = m->spans_or_dates();
      if (auto known = rows.find(m->person_id); known != rows.end()) {
        const std::string role(to_string(m->role));
        std::vector<Kept> wanted;
        for (const auto& span : spans) {
          wanted.emplace_back(role, format_date(span.start), format_date(span.end), 0, "");
        }
        std::sort(known->second.begin(), known->second.end());
        std::sort(wanted.begin(), wanted.end());
        wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());  // one row each
        if (known->second == wanted) continue;
        remove_team_member(rotation_id, m->person_id);
      }
      for (const auto& span : spans) {
        add_team_row(rotation_id, {m->person_id, m->role, span.start, span.end});
      }
    }
  }

  enum class Roster { none, same, other };

  // The rotation's roster rows against the members' (one row a span; none legacy, none
  // with a row id), compared row by row in the key's order without copying a row: a
  // rotation sent again unchanged (the platform's update of fields we do not keep) cost
  // a map of every row's text before. `none`: the rotation has no rows yet.
  Roster roster_against(const std::string& rotation_id,
                        const std::vector<const TeamMember*>& members) {
    auto q = cached(
        "SELECT person_id, start_date, end_date, role, legacy, row_id FROM team_rows"
        " WHERE rotation_id = ?1 ORDER BY person_id, start_date, end_date, role");
    q.bind(1, rotation_id);
    // No rows (a new rotation): nothing to compare, so nothing built to compare with.
    if (!q.next()) return members.empty() ? Roster::same : Roster::none;
    using Wanted = std::tuple<std::string_view, std::string, std::string, std::string_view>;
    std::vector<Wanted> wanted;
    for (const TeamMember* m : members) {
      for (const auto& span : m->spans_or_dates()) {
        wanted.emplace_back(m->person_id, format_date(span.start), format_date(span.end),
                            to_string(m->role));
      }
    }
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());  // one row each
    std::size_t i = 0;
    do {
      if (i >= wanted.size() || q.integer(4) != 0 || !q.view(5).empty()) return Roster::other;
      const auto& [person, start, end, role] = wanted[i++];
      if (q.view(0) != person || q.view(1) != start || q.view(2) != end || q.view(3) != role) {
        return Roster::other;
      }
    } while (q.next());
    return i == wanted.size() ? Roster::same : Roster::other;
  }

  void add_team_row(const std::string& rotation_id, const TeamRow& row) override {
    if (row.row_id) {
      // "row_id <> ''" lets SQLite use the partial index on row ids.
      cached("DELETE FROM team_rows WHERE row_id = ?1 AND row_id <> ''").run_with(*row.row_id);
    }
    cached(
        "INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, row_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (rotation_id, person_id, start_date,"
        " end_date, role) DO UPDATE SET legacy = 0, row_id = excluded.row_id")
        .run_with(rotation_id, row.person_id, to_string(row.role.value_or(Role::other)),
                  row.start ? format_date(*row.start) : "", row.end ? format_date(*row.end) : "",
                  row.row_id ? std::string_view(*row.row_id) : std::string_view(""));
  }

  // Rows without a row id in runs of 32 a statement, as set_row_hashes; a row with an id
  // (which first takes that id from wherever it is) on its own, in its turn.
  void add_roster_rows(const std::vector<RotationRows>& teams) override {
    static const std::string run_sql = statement_of_run(
        "INSERT INTO team_rows (rotation_id, person_id, role, start_date, end_date, row_id)"
        " VALUES ",
        [](std::size_t i) { return "(" + parameters(1 + 5 * i, 5) + ", '')"; },
        // A row given twice in one run: the second updates the first, as one after another.
        " ON CONFLICT (rotation_id, person_id, start_date, end_date, role) DO UPDATE SET"
        " legacy = 0, row_id = excluded.row_id");
    std::vector<std::pair<const std::string*, const TeamRow*>> run;
    run.reserve(kRun);
    auto flush = [&] {
      if (run.size() < kRun) {
        for (const auto& [rotation_id, row] : run) add_team_row(*rotation_id, *row);
        run.clear();
        return;
      }
      std::array<std::string, 2 * kRun> dates;  // kept until the statement has run
      auto q = cached(run_sql.c_str());
      for (std::size_t i = 0; i < kRun; ++i) {
        const auto& [rotation_id, row] = run[i];
        dates[2 * i] = row->start ? format_date(*row->start) : "";
        dates[2 * i + 1] = row->end ? format_date(*row->end) : "";
        const int at = int(5 * i);
        q.bind_in_place(at + 1, *rotation_id);
        q.bind_in_place(at + 2, row->person_id);
        q.bind_in_place(at + 3, to_string(row->role.value_or(Role::other)));
        q.bind_in_place(at + 4, dates[2 * i]);
        q.bind_in_place(at + 5, dates[2 * i + 1]);
      }
      q.run();
      run.clear();
    };
    for (const auto& team : teams) {
      for (const auto& row : team.rows) {
        if (row.row_id) {
          flush();
          add_team_row(team.rotation_id, row);
          continue;
        }
        run.emplace_back(&team.rotation_id, &row);
        if (run.size() == kRun) flush();
      }
    }
    flush();
  }

  void remove_team_row(const std::string& rotation_id, const TeamRow& row) override {
    if (row.row_id) {
      // "row_id <> ''" lets SQLite use the partial index on row ids.
      cached("DELETE FROM team_rows WHERE row_id = ?1 AND row_id <> ''").run_with(*row.row_id);
      return;
    }
    if (row.legacy_only) {
      cached("DELETE FROM team_rows WHERE rotation_id = ?1 AND person_id = ?2 AND legacy = 1")
          .run_with(rotation_id, row.person_id);
      return;
    }
    cached(
        "DELETE FROM team_rows WHERE rotation_id = ?1 AND person_id = ?2"
        " AND (?3 = '' OR role = ?3) AND start_date = ?4 AND end_date = ?5")
        .run_with(rotation_id, row.person_id,
                  row.role ? std::string(to_string(*row.role)) : std::string(),
                  row.start ? format_date(*row.start) : "", row.end ? format_date(*row.end) : "");
  }

  void remove_team_member(const std::string& rotation_id, const std::string& person_id) override {
    cached("DELETE FROM team_rows WHERE rotation_id = ?1 AND person_id = ?2")
        .run_with(rotation_id, person_id);
  }

  bool has_rotation(const std::string& id) override {
    auto q = cached("SELECT 1 FROM rotations WHERE id = ?1");
    q.bind(1, id);
    return q.next();
  }

  std::map<std::string, std::string> rotation_students(
      const std::vector<std::string>& ids) override {
    std::map<std::string, std::string> students;
    for (const auto& id : ids) {
      auto q = cached("SELECT student_id FROM rotations WHERE id = ?1");
      q.bind(1, id);
      if (q.next()) students.emplace(id, q.str(0));
    }
    return students;
  }

  std::optional<Rotation> rotation(const std::string& id) override {
    std::optional<Rotation> rot;
    {
      auto q = cached(
          "SELECT id, student_id, site, specialty, subspecialty, kind, start_date,"
          " end_date, status FROM rotations WHERE id = ?1");
      q.bind(1, id);
      if (!q.next()) return std::nullopt;
      rot = store_rows::rotation_from([&](int i) { return q.text(i); });
    }
    auto q = cached(
        "SELECT person_id, role, start_date, end_date FROM team_rows"
        " WHERE rotation_id = ?1 ORDER BY person_id, start_date, end_date, role");
    q.bind(1, id);
    while (q.next()) add_team_row_to(*rot, q.str(0), q.str(1), q.str(2), q.str(3));
    finish_team(*rot);
    return rot;
  }

  std::vector<Rotation> rotations_of(const std::string& student_id) override {
    return rotations_where("student_id = :v", student_id);
  }

  std::vector<Rotation> rotations_starting(Date day) override {
    return rotations_where("start_date = :v", format_date(day));
  }

  void for_each_rotation(const std::function<void(const Rotation&)>& each) override {
    soci::rowset<soci::row> rows =
        sql_.prepare
        << "SELECT r.id, r.student_id, r.site, r.specialty, r.subspecialty, r.kind,"
           " r.start_date, r.end_date, r.status, t.person_id, t.role, t.start_date,"
           " t.end_date FROM rotations r LEFT JOIN team_rows t"
           " ON t.rotation_id = r.id ORDER BY r.id, t.person_id, t.start_date, t.end_date, t.role";
    std::optional<Rotation> current;
    for (const auto& r : rows) {
      std::string id = opt_text(r, 0);
      if (current && current->id != id) {
        finish_team(*current);
        each(*current);
        current.reset();
      }
      if (!current) current = rotation_of(r);
      if (auto person = text(r, 9)) {
        add_team_row_to(*current, *person, opt_text(r, 10), opt_text(r, 11), opt_text(r, 12));
      }
    }
    if (current) {
      finish_team(*current);
      each(*current);
    }
  }

  void put_touch(const std::string& student, const std::string& contact, TimePoint at) override {
    cached(
        "INSERT INTO touches (student_id, contact_id, at) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (student_id, contact_id) DO UPDATE SET at = MAX(at, excluded.at)")
        .run_with(student, contact, format_time(at));
  }

  std::vector<std::pair<std::string, TimePoint>> touches_of(
      const std::string& student_id) override {
    std::vector<std::pair<std::string, TimePoint>> out;
    auto q = cached("SELECT contact_id, at FROM touches WHERE student_id = ?1");
    q.bind(1, student_id);
    while (q.next()) {
      out.emplace_back(q.text(0).value_or(""),
                       parse_time(q.text(1).value_or("")).value_or(TimePoint{}));
    }
    return out;
  }

  void for_each_touch(
      const std::function<void(const std::string&, const std::string&, TimePoint)>& each) override {
    soci::rowset<soci::row> rows = sql_.prepare << "SELECT student_id, contact_id, at FROM touches";
    for (const auto& r : rows) {
      each(opt_text(r, 0), opt_text(r, 1), parse_time(opt_text(r, 2)).value_or(TimePoint{}));
    }
  }

  std::optional<std::string> evaluation_student(const std::string& evaluation_id) override {
    auto q = cached("SELECT student_id FROM evaluations WHERE id = ?1");
    q.bind(1, evaluation_id);
    return q.next() ? q.text(0) : std::nullopt;
  }

  void put_evaluation(const Evaluation& e) override {
    auto q = cached(
        "INSERT INTO evaluations (id, rotation_id, evaluator_id, student_id,"
        " submitted_at, score, scale_min, scale_max, would_recommend, anonymous)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE"
        " SET rotation_id = excluded.rotation_id, evaluator_id = excluded.evaluator_id,"
        " student_id = excluded.student_id, submitted_at = excluded.submitted_at,"
        " score = excluded.score, scale_min = excluded.scale_min,"
        " scale_max = excluded.scale_max, would_recommend = excluded.would_recommend,"
        " anonymous = excluded.anonymous");
    q.bind(1, e.id)
        .bind(2, e.rotation_id)
        .bind(3, e.evaluator_id)
        .bind(4, e.student_id)
        .bind(5, format_time(e.submitted))
        .bind(6, e.score)
        .bind(7, e.scale_min)
        .bind(8, e.scale_max)
        .bind(10, e.anonymous);
    if (e.would_recommend) {
      q.bind(9, *e.would_recommend);
    } else {
      q.bind_null(9);
    }
    q.run();
  }

  // Cached: letter candidates read a student's evaluations for every student at each
  // assignment.
  std::vector<Evaluation> evaluations_of(const std::string& student_id) override {
    auto q = cached(
        "SELECT id, rotation_id, evaluator_id, student_id, submitted_at, score, scale_min,"
        " scale_max, would_recommend, anonymous FROM evaluations WHERE student_id = ?1"
        " ORDER BY submitted_at, id");
    q.bind(1, student_id);
    std::vector<Evaluation> out;
    while (q.next()) {
      Evaluation e;
      e.id = q.str(0);
      e.rotation_id = q.str(1);
      e.evaluator_id = q.str(2);
      e.student_id = q.str(3);
      e.submitted = parse_time(q.str(4)).value_or(TimePoint{});
      e.score = q.number(5).value_or(0);
      e.scale_min = q.number(6).value_or(0);
      e.scale_max = q.number(7).value_or(1);
      if (auto rec = q.opt_integer(8)) e.would_recommend = *rec != 0;
      e.anonymous = q.opt_integer(9).value_or(0) != 0;
      out.push_back(std::move(e));
    }
    return out;
  }

  StoreCounts counts() override {
    StoreCounts c;
    c.people = count("people");
    c.rotations = count("rotations");
    c.evaluations = count("evaluations");
    c.events = count("inbox");
    c.actions = count("outbox");
    c.timers = count("timers");
    c.events_by_type = group("inbox");
    c.actions_by_type = group("outbox");
    return c;
  }

  void set_source_state(const std::string& source, bool up, const std::string& message,
                        TimePoint since) override {
    int u = up ? 1 : 0;
    std::string at = format_time(since);
    sql_ << "INSERT INTO source_state (source, up, message, since) VALUES (:s, :u, :m, :a)"
            " ON CONFLICT (source) DO UPDATE SET up = excluded.up, message = excluded.message,"
            " since = excluded.since",
        soci::use(source), soci::use(u), soci::use(message), soci::use(at);
  }

  std::vector<SourceState> source_states() override {
    std::vector<SourceState> out;
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT source, up, message, since FROM source_state ORDER BY source";
    for (const auto& r : rows) {
      out.push_back(
          {opt_text(r, 0), integer(r, 1).value_or(1) != 0, opt_text(r, 2), opt_text(r, 3)});
    }
    return out;
  }

  void read_table(const TableShape& table, const std::function<void(const Row&)>& each) override {
    std::string columns;
    for (const auto& c : table.columns) columns += (columns.empty() ? "" : ", ") + c;
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT " + columns + " FROM " + table.name + " ORDER BY " + table.order_by;
    Row row(table.columns.size());
    for (const auto& r : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) row[i] = text(r, i);
      each(row);
    }
  }

  void write_rows(const TableShape& table, const std::vector<Row>& rows) override {
    std::string columns, values;
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      columns += (i ? ", " : "") + table.columns[i];
      values += (i ? ", ?" : "?") + std::to_string(i + 1);
    }
    Cached statement(
        connection(),
        ("INSERT INTO " + table.name + " (" + columns + ") VALUES (" + values + ")").c_str());
    for (const auto& row : rows) {
      Cached::Use use(statement);
      for (std::size_t i = 0; i < row.size(); ++i) use.bind(int(i + 1), row[i]);
      use.run();
    }
  }

  // AUTOINCREMENT goes on from the largest key copied, or the source's last number.
  void finish_copy(std::int64_t last_event, std::int64_t last_action,
                   std::int64_t last_release) override {
    for (auto [table, last] :
         {std::pair{"inbox", last_event}, {"outbox", last_action}, {"releases", last_release}}) {
      cached(
          "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, 0 WHERE NOT EXISTS"
          " (SELECT 1 FROM sqlite_sequence WHERE name = ?1)")
          .run_with(table);
      cached("UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1").run_with(table, last);
    }
  }

  std::string_view backend() const override { return "sqlite"; }

  std::map<std::string, std::int64_t> erase_person(const std::string& id, TimePoint at,
                                                   const std::string& kind,
                                                   const std::string& requested_by,
                                                   const std::string& reason) override {
    ensure_person_index();              // the roster rows naming them are found through it
    sql_ << "PRAGMA secure_delete=ON";  // freed pages are zeroed, not left readable
    std::map<std::string, std::int64_t> removed;
    const std::string quoted = "\"" + id + "\"";  // the id as a JSON string
    const std::string pseudonym = store_plans::new_pseudonym();
    const std::int64_t consumed = inbox_consumed();
    for (const auto& step : store_plans::erase_steps()) {
      // Bound by name, each value the statement names.
      soci::statement st(sql_);
      const auto& q = step.sql;
      if (q.find(":id") != std::string::npos) st.exchange(soci::use(id, "id"));
      if (q.find(":q") != std::string::npos) st.exchange(soci::use(quoted, "q"));
      if (q.find(":p") != std::string::npos) st.exchange(soci::use(pseudonym, "p"));
      if (q.find(":s") != std::string::npos) st.exchange(soci::use(consumed, "s"));
      st.alloc();
      st.prepare(q);
      st.define_and_bind();
      st.execute(true);
      if (auto n = st.get_affected_rows(); n > 0) removed[step.what] += n;
    }
    std::string removed_text;  // "people 1, rotations 2, ..."
    for (const auto& [what, n] : removed) {
      removed_text += (removed_text.empty() ? "" : ", ") + what + " " + std::to_string(n);
    }
    std::string when = format_time(at);
    sql_ << "INSERT INTO erasures (person_id, kind, at, requested_by, reason, removed)"
            " VALUES (:i, :k, :a, :r, :w, :c)",
        soci::use(id), soci::use(kind), soci::use(when), soci::use(requested_by), soci::use(reason),
        soci::use(removed_text);
    sql_ << "INSERT INTO suppressions (person_id, since) VALUES (:i, :a)"
            " ON CONFLICT (person_id) DO NOTHING",
        soci::use(id), soci::use(when);
    bump_progress(kMirrorChanged);
    return removed;
  }

  std::map<std::string, std::int64_t> purge(const PurgeBefore& before, std::size_t batch,
                                            bool dry_run) override {
    std::map<std::string, std::int64_t> out;
    const auto limit = static_cast<std::int64_t>(batch);
    const auto kinds = store_plans::purge_kinds(before, inbox_consumed());
    bool mirror_changed = false;
    ensure_person_index();  // people no roster row names are found through it
    // Freed pages are zeroed, as for an erasure (scrub() truncates the WAL afterwards).
    if (!dry_run) sql_ << "PRAGMA secure_delete=ON";
    // The keys of one kind at a time, so that each of its statements deletes the same rows.
    if (!dry_run)
      sql_ << "CREATE TEMP TABLE IF NOT EXISTS purge_keys (k PRIMARY KEY) WITHOUT ROWID";
    for (const auto& kind : kinds) {
      std::int64_t n = 0;
      sql_ << "SELECT COUNT(*) FROM (" + kind.rows + ")", soci::use(kind.cutoff, "t"),
          soci::use(limit, "n"), soci::into(n);
      out[kind.name] = n;
      if (dry_run || n == 0) continue;
      sql_ << "DELETE FROM temp.purge_keys";
      sql_ << "INSERT INTO temp.purge_keys " + kind.rows, soci::use(kind.cutoff, "t"),
          soci::use(limit, "n");
      for (std::string statement : kind.statements) {
        for (auto at = statement.find("%rows%"); at != std::string::npos;
             at = statement.find("%rows%", at)) {
          statement.replace(at, 6, "SELECT k FROM temp.purge_keys");
        }
        sql_ << statement;
      }
      if (store_plans::changes_mirror(kind.name)) mirror_changed = true;
    }
    if (!dry_run) {
      sql_ << "DELETE FROM temp.purge_keys";
      sql_ << "PRAGMA secure_delete=OFF";  // the engine's own writes need not pay for it
    }
    // A running daemon rebuilds its relationship memory: purged time together counts no more.
    if (mirror_changed) bump_progress(kMirrorChanged);
    return out;
  }

  bool take_lease(const std::string& name, const std::string& holder, TimePoint now,
                  TimePoint until) override {
    std::string at = format_time(now), end = format_time(until);
    soci::statement st =
        (sql_.prepare << "INSERT INTO leases (name, holder, until) VALUES (:n, :h, :u)"
                         " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                         " until = excluded.until"
                         " WHERE leases.holder = excluded.holder OR leases.until < :a",
         soci::use(name, "n"), soci::use(holder, "h"), soci::use(end, "u"), soci::use(at, "a"));
    st.execute(true);
    return st.get_affected_rows() > 0;
  }

  // Ended, not deleted: the row keeps its epoch, so the next holder's is one more.
  void release_lease(const std::string& name, const std::string& holder) override {
    sql_ << "UPDATE leases SET until = '' WHERE name = :n AND holder = :h", soci::use(name),
        soci::use(holder);
  }

  void end_leases(const std::string& prefix) override {
    const std::string pattern = prefix + "%";
    sql_ << "UPDATE leases SET until = '', epoch = epoch + 1 WHERE name LIKE :p",
        soci::use(pattern);
  }

  std::optional<std::int64_t> hold_lease(const std::string& name, const std::string& holder,
                                         std::chrono::seconds ttl) override {
    auto q = cached(
        "INSERT INTO leases (name, holder, until, epoch) VALUES (?1, ?2,"
        " strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?3), 1) ON CONFLICT (name) DO UPDATE SET"
        " holder = excluded.holder, until = excluded.until, epoch = CASE WHEN leases.holder ="
        " excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END WHERE leases.holder ="
        " excluded.holder OR leases.until < strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
        " RETURNING epoch");
    q.bind(1, name).bind(2, holder).bind(3, "+" + std::to_string(ttl.count()) + " seconds");
    if (!q.next()) return std::nullopt;
    auto epoch = q.integer(0);
    while (q.next()) {
    }
    return epoch;
  }

  void set_fence(std::optional<Fence> fence) override { fence_ = std::move(fence); }

  std::vector<LeaseRecord> leases() override {
    std::vector<LeaseRecord> out;
    auto q = cached("SELECT name, holder, until, epoch FROM leases ORDER BY name");
    while (q.next()) out.push_back({q.str(0), q.str(1), q.str(2), q.integer(3)});
    return out;
  }

  void heartbeat(const ProcessRecord& p) override {
    cached(
        "INSERT INTO processes (instance, host, pid, started, heartbeat, leases) VALUES"
        " (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?5) ON CONFLICT (instance)"
        " DO UPDATE SET heartbeat = excluded.heartbeat, leases = excluded.leases")
        .bind(1, p.instance)
        .bind(2, p.host)
        .bind(3, p.pid)
        .bind(4, p.started)
        .bind(5, p.leases)
        .run();
  }

  std::vector<ProcessRecord> live_processes(std::chrono::seconds within) override {
    auto q = cached(
        "SELECT instance, host, pid, started, heartbeat, leases FROM processes WHERE heartbeat"
        " >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1) ORDER BY started, instance");
    q.bind(1, "-" + std::to_string(within.count()) + " seconds");
    std::vector<ProcessRecord> out;
    while (q.next()) {
      out.push_back({q.str(0), q.str(1), q.integer(2), q.str(3), q.str(4), q.str(5)});
    }
    return out;
  }

  void forget_process(const std::string& instance) override {
    cached("DELETE FROM processes WHERE instance = ?1").run_with(instance);
  }

  void scrub() override { sql_ << "PRAGMA wal_checkpoint(TRUNCATE)"; }

  // One passive checkpoint (WalCheckpointer's), under the process's write turn when
  // `in_turn`: no writer of this process can add to the WAL meanwhile, so it copies to
  // the WAL's end unless a reader holds frames back. {frames in the WAL, frames copied}.
  std::pair<int, int> checkpoint_pass(bool in_turn) {
    std::unique_lock<std::mutex> turn;
    if (in_turn) turn = std::unique_lock(*writer_);
    int frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(connection(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                       &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {  // busy: another checkpoint is running
      throw StoreError(std::string("checkpoint failed: ") + sqlite3_errmsg(connection()));
    }
    return {frames, copied};
  }

  std::int64_t page_size() {
    std::int64_t size = 0;
    sql_ << "PRAGMA page_size", soci::into(size);
    return size;
  }

  std::set<std::string> suppressed_ids() override {
    std::set<std::string> out;
    auto q = cached("SELECT person_id FROM suppressions");  // read by a listener's every group
    while (q.next()) out.insert(q.str(0));
    return out;
  }

  bool lift_suppression(const std::string& id, TimePoint at) override {
    std::string when = format_time(at);
    soci::statement st =
        (sql_.prepare << "DELETE FROM suppressions WHERE person_id = :i", soci::use(id, "i"));
    st.execute(true);
    if (st.get_affected_rows() == 0) return false;
    sql_ << "UPDATE erasures SET lifted_at = :a WHERE person_id = :i AND lifted_at IS NULL",
        soci::use(when), soci::use(id);
    bump_progress(kMirrorChanged);
    return true;
  }

  std::vector<Erasure> erasures() override {
    std::vector<Erasure> out;
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT person_id, kind, at, requested_by, reason, removed, lifted_at"
                        " FROM erasures ORDER BY id";
    for (const auto& r : rows) {
      out.push_back({opt_text(r, 0), opt_text(r, 1), opt_text(r, 2), opt_text(r, 3), opt_text(r, 4),
                     opt_text(r, 5), opt_text(r, 6)});
    }
    return out;
  }

  // The last inbox event every inbox consumer (the mirror, the hooks; not the sinks,
  // which consume the outbox, nor the engine's own counters) has passed.
  std::int64_t inbox_consumed() {
    std::int64_t consumed = 0;
    sql_ << store_plans::kInboxConsumed, soci::into(consumed);
    return consumed;
  }

  void bump_progress(const std::string& counter) override {
    cached(
        "INSERT INTO progress (consumer, seq) VALUES (?1, 1)"
        " ON CONFLICT (consumer) DO UPDATE SET seq = seq + 1")
        .run_with(counter);
  }

  bool remember_message(const std::string& source, const std::string& id,
                        TimePoint received) override {
    return cached(
               "INSERT INTO inbound_messages (source, message_id, received_at)"
               " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
               .run_with(source, id, format_time(received)) > 0;
  }

  std::size_t forget_messages_before(TimePoint before) override {
    std::string at = format_time(before);
    sql_ << "DELETE FROM inbound_messages WHERE received_at < :a", soci::use(at);
    return std::size_t(changes());
  }

  bool hold_action(const Action& a, TimePoint now) override {
    std::string expires = a.expires ? format_time(*a.expires) : std::string();
    soci::indicator ind = a.expires ? soci::i_ok : soci::i_null;
    std::string at = format_time(now), body = to_json(a);
    soci::statement st =
        (sql_.prepare << "INSERT INTO held_actions (action_id, student_id, contact_id,"
                         " expires_at, held_at, body) SELECT :i, :s, :c, :e, :h, :b"
                         " WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE action_id = :i2)"
                         " ON CONFLICT (action_id) DO NOTHING",
         soci::use(a.id), soci::use(a.student_id), soci::use(a.contact_id), soci::use(expires, ind),
         soci::use(at), soci::use(body), soci::use(a.id));
    st.execute(true);
    return st.get_affected_rows() > 0;
  }

  std::vector<Action> held_naming(const std::string& person_id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM held_actions WHERE student_id = :p OR contact_id = :q"
                         " ORDER BY held_at, action_id",
         soci::use(person_id), soci::use(person_id));
    return actions_in(rows);
  }

  std::vector<Action> held_expired(TimePoint now) override {
    std::string at = format_time(now);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM held_actions WHERE expires_at <= :n ORDER BY action_id",
         soci::use(at));
    return actions_in(rows);
  }

  std::vector<Action> held_releasable(std::size_t limit) override {
    long long n = static_cast<long long>(limit);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM held_actions h WHERE EXISTS (SELECT 1 FROM people"
                         " WHERE id = h.student_id) AND EXISTS (SELECT 1 FROM people WHERE id ="
                         " h.contact_id) ORDER BY held_at, action_id LIMIT :n",
         soci::use(n));
    return actions_in(rows);
  }

  void drop_held(const std::string& action_id) override {
    sql_ << "DELETE FROM held_actions WHERE action_id = :i", soci::use(action_id);
  }

  std::int64_t held_count() override { return count("held_actions"); }

  void record_expired(const Action& a, const std::string& stage, TimePoint at) override {
    std::string when = format_time(at);
    sql_ << "INSERT INTO expired_actions (action_id, hook, student_id, contact_id, stage, at)"
            " VALUES (:i, :h, :s, :c, :g, :a) ON CONFLICT (action_id) DO NOTHING",
        soci::use(a.id), soci::use(a.hook), soci::use(a.student_id), soci::use(a.contact_id),
        soci::use(stage), soci::use(when);
  }

  std::map<std::string, std::int64_t> expired_counts() override {
    std::map<std::string, std::int64_t> out;
    soci::rowset<soci::row> rows = sql_.prepare
                                   << "SELECT stage, COUNT(*) FROM expired_actions GROUP BY stage";
    for (const auto& r : rows) out[opt_text(r, 0)] = integer(r, 1).value_or(0);
    return out;
  }

// A prompt's columns with its number of actions, read by read_prompts (a macro: cached
// statements are known by their literal).
#define PROMPT_COLUMNS                                                            \
  "SELECT p.id, p.student_id, p.action_type, p.event_id, p.priority, p.due_at,"   \
  " p.expires_at, p.state, p.week, p.until, p.reason, p.deferrals, p.decided_at," \
  " (SELECT COUNT(*) FROM prompt_actions pa WHERE pa.prompt_id = p.id) FROM prompts p "

  static std::vector<Prompt> read_prompts(Cached::Use& q) {
    std::vector<Prompt> out;
    while (q.next()) {
      Prompt p;
      p.id = q.str(0);
      p.student_id = q.str(1);
      p.type = q.str(2);
      p.event_id = q.str(3);
      p.priority = int(q.integer(4));
      p.due = parse_time(q.str(5)).value_or(TimePoint{});
      if (auto e = q.text(6)) p.expires = parse_time(*e);
      p.state = q.str(7);
      if (auto w = q.text(8)) p.week = parse_date(*w);
      if (auto u = q.text(9)) p.until = parse_time(*u);
      p.reason = q.str(10);
      p.deferrals = int(q.integer(11));
      p.decided_at = parse_time(q.str(12)).value_or(TimePoint{});
      p.actions = q.integer(13);
      out.push_back(std::move(p));
    }
    return out;
  }

  std::optional<Prompt> prompt(const std::string& id) override {
    auto q = cached(PROMPT_COLUMNS "WHERE p.id = ?1");
    q.bind(1, id);
    auto found = read_prompts(q);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  void put_prompt(const Prompt& p) override {
    auto q = cached(
        "INSERT OR REPLACE INTO prompts (id, student_id, action_type, event_id, priority,"
        " due_at, expires_at, state, week, until, reason, deferrals, decided_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    q.bind(1, p.id).bind(2, p.student_id).bind(3, p.type).bind(4, p.event_id);
    q.bind(5, std::int64_t(p.priority)).bind(6, format_time(p.due));
    q.bind(7, p.expires ? std::optional(format_time(*p.expires)) : std::nullopt);
    q.bind(8, p.state);
    q.bind(9, p.week ? std::optional(format_date(*p.week)) : std::nullopt);
    q.bind(10, p.until ? std::optional(format_time(*p.until)) : std::nullopt);
    q.bind(11, p.reason).bind(12, std::int64_t(p.deferrals)).bind(13, format_time(p.decided_at));
    q.run();
  }

  void add_to_prompt(const std::string& prompt_id, const std::string& action_id) override {
    cached(
        "INSERT INTO prompt_actions (action_id, prompt_id) VALUES (?1, ?2)"
        " ON CONFLICT (action_id) DO NOTHING")
        .run_with(action_id, prompt_id);
  }

  std::vector<std::string> prompt_action_ids(const std::string& prompt_id) override {
    auto q = cached(
        "SELECT pa.action_id FROM prompt_actions pa JOIN outbox o ON o.action_id ="
        " pa.action_id WHERE pa.prompt_id = ?1 ORDER BY o.seq");
    q.bind(1, prompt_id);
    std::vector<std::string> out;
    while (q.next()) out.push_back(q.str(0));
    return out;
  }

  std::vector<Prompt> prompts_to_decide(TimePoint now, std::size_t limit) override {
    auto q = cached(PROMPT_COLUMNS
                    "WHERE p.state = 'pending' OR (p.state = 'deferred' AND p.until <= ?1)"
                    " ORDER BY p.priority, p.due_at, p.id LIMIT ?2");
    q.bind(1, format_time(now)).bind(2, std::int64_t(limit));
    return read_prompts(q);
  }

  std::int64_t prompts_sent_in_week(const std::string& student_id, Date week) override {
    auto q = cached(
        "SELECT COUNT(*) FROM prompts WHERE student_id = ?1 AND week = ?2 AND state = 'sent'");
    q.bind(1, student_id).bind(2, format_date(week));
    return q.next() ? q.integer(0) : 0;
  }

  std::vector<Prompt> prompts_of(const std::string& student_id) override {
    auto q = cached(PROMPT_COLUMNS "WHERE p.student_id = ?1 ORDER BY p.due_at, p.priority, p.id");
    q.bind(1, student_id);
    return read_prompts(q);
  }

  std::map<std::string, std::int64_t> prompt_counts() override {
    std::map<std::string, std::int64_t> out;
    soci::rowset<soci::row> rows = sql_.prepare
                                   << "SELECT state, COUNT(*) FROM prompts GROUP BY state";
    for (const auto& r : rows) out[opt_text(r, 0)] = integer(r, 1).value_or(0);
    return out;
  }

#undef PROMPT_COLUMNS

  bool release_action(const std::string& action_id, TimePoint at) override {
    return cached(
               "INSERT INTO releases (action_id, at) VALUES (?1, ?2)"
               " ON CONFLICT (action_id) DO NOTHING")
               .run_with(action_id, format_time(at)) > 0;
  }

  std::vector<OutboxAction> released_after(std::int64_t seq, std::size_t limit) override {
    auto q = cached(
        "SELECT r.seq, o.body FROM releases r JOIN outbox o ON o.action_id = r.action_id"
        " WHERE r.seq > ?1 ORDER BY r.seq LIMIT ?2");
    q.bind(1, seq).bind(2, std::int64_t(limit));
    std::vector<OutboxAction> out;
    while (q.next()) out.push_back({q.integer(0), action_from_json(q.str(1))});
    return out;
  }

  std::int64_t count_released_after(std::int64_t seq) override {
    auto q = cached("SELECT COUNT(*) FROM releases WHERE seq > ?1");
    q.bind(1, seq);
    return q.next() ? q.integer(0) : 0;
  }

  std::int64_t last_release_seq() override {
    long long seq = 0;
    soci::indicator ind;
    sql_ << "SELECT MAX(s) FROM (SELECT seq AS s FROM sqlite_sequence WHERE name = 'releases'"
            " UNION ALL SELECT MAX(seq) FROM releases)",
        soci::into(seq, ind);
    return ind == soci::i_ok ? seq : 0;
  }

  void add_digest_item(const std::string& sink, const std::string& action_id,
                       const std::string& student_id, std::int64_t seq) override {
    cached(
        "INSERT INTO digest_items (sink, action_id, student_id, seq) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT DO NOTHING")
        .run_with(sink, action_id, student_id, seq);
  }

  std::vector<std::string> students_with_open_items(const std::string& sink,
                                                    const std::string& after,
                                                    std::size_t limit) override {
    auto q = cached(
        "SELECT DISTINCT student_id FROM digest_items WHERE sink = ?1 AND digest_id IS NULL"
        " AND student_id > ?2 ORDER BY student_id LIMIT ?3");
    q.bind(1, sink).bind(2, after).bind(3, std::int64_t(limit));
    std::vector<std::string> out;
    while (q.next()) out.push_back(q.str(0));
    return out;
  }

  std::vector<std::string> open_digest_items(const std::string& sink,
                                             const std::string& student_id) override {
    auto q = cached(
        "SELECT action_id FROM digest_items WHERE sink = ?1 AND digest_id IS NULL"
        " AND student_id = ?2 ORDER BY seq");
    q.bind(1, sink).bind(2, student_id);
    std::vector<std::string> out;
    while (q.next()) out.push_back(q.str(0));
    return out;
  }

  bool put_digest(const DigestRecord& d, const std::vector<std::string>& included,
                  const std::vector<std::string>& left_out) override {
    bool stored =
        cached(
            "INSERT INTO digests (id, sink, student_id, period_end, composed_at, recipient,"
            " message, state, attempts, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)"
            " ON CONFLICT (id) DO NOTHING")
            .run_with(d.id, d.sink, d.student_id, format_time(d.period_end),
                      format_time(d.composed_at), d.recipient, d.message, d.state,
                      format_time(d.next_at)) > 0;
    if (!stored) return false;
    // Left-out items are closed with "-", which names no digest.
    for (const auto* ids : {&included, &left_out}) {
      for (const auto& action_id : *ids) {
        cached("UPDATE digest_items SET digest_id = ?1 WHERE sink = ?2 AND action_id = ?3")
            .run_with(ids == &included ? d.id : std::string("-"), d.sink, action_id);
      }
    }
    return true;
  }

  void reopen_digest(const std::string& digest_id) override {
    cached("UPDATE digest_items SET digest_id = NULL WHERE digest_id = ?1").run_with(digest_id);
    cached("UPDATE digests SET state = 'withheld', message = NULL WHERE id = ?1")
        .run_with(digest_id);
  }

// A digest's columns, read by read_digests (a macro: cached statements are known by their
// literal).
#define DIGEST_COLUMNS                                                                    \
  "SELECT row, id, sink, student_id, period_end, composed_at, recipient, message, state," \
  " attempts, next_at, last_status, last_error FROM digests "

  static std::vector<DigestRecord> read_digests(Cached::Use& q) {
    std::vector<DigestRecord> out;
    while (q.next()) {
      DigestRecord d;
      d.row = q.integer(0);
      d.id = q.str(1);
      d.sink = q.str(2);
      d.student_id = q.str(3);
      d.period_end = parse_time(q.str(4)).value_or(TimePoint{});
      d.composed_at = parse_time(q.str(5)).value_or(TimePoint{});
      d.recipient = q.str(6);
      d.message = q.str(7);
      d.state = q.str(8);
      d.attempts = int(q.integer(9));
      d.next_at = parse_time(q.str(10)).value_or(TimePoint{});
      d.last_status = int(q.integer(11));
      d.last_error = q.str(12);
      out.push_back(std::move(d));
    }
    return out;
  }

  std::vector<DigestRecord> due_digests(const std::string& sink, TimePoint now,
                                        std::size_t limit) override {
    auto q = cached(DIGEST_COLUMNS
                    "WHERE sink = ?1 AND state = 'pending' AND next_at <= ?2"
                    " ORDER BY next_at, row LIMIT ?3");
    q.bind(1, sink).bind(2, format_time(now)).bind(3, std::int64_t(limit));
    return read_digests(q);
  }

  std::optional<DigestRecord> digest_row(std::int64_t row) override {
    auto q = cached(DIGEST_COLUMNS "WHERE row = ?1");
    q.bind(1, row);
    auto found = read_digests(q);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

#undef DIGEST_COLUMNS

  void update_digest(const DigestRecord& d) override {
    cached(
        "UPDATE digests SET state = ?1, attempts = ?2, next_at = ?3, last_status = ?4,"
        " last_error = ?5, message = CASE WHEN ?1 = 'pending' THEN message END"
        " WHERE row = ?6")
        .run_with(d.state, d.attempts, format_time(d.next_at), d.last_status, d.last_error, d.row);
  }

  std::vector<std::string> digest_action_ids(const std::string& digest_id) override {
    auto q = cached("SELECT action_id FROM digest_items WHERE digest_id = ?1 ORDER BY seq");
    q.bind(1, digest_id);
    std::vector<std::string> out;
    while (q.next()) out.push_back(q.str(0));
    return out;
  }

  std::map<std::string, std::int64_t> digest_counts(const std::string& sink) override {
    std::map<std::string, std::int64_t> out;
    auto q = cached("SELECT state, COUNT(*) FROM digests WHERE sink = ?1 GROUP BY state");
    q.bind(1, sink);
    while (q.next()) out[q.str(0)] = q.integer(1);
    return out;
  }

  std::vector<std::string> students_without_address(const std::string& sink) override {
    auto q = cached(
        "SELECT DISTINCT student_id FROM digests WHERE sink = ?1 AND state = 'no_address'"
        " ORDER BY student_id");
    q.bind(1, sink);
    std::vector<std::string> out;
    while (q.next()) out.push_back(q.str(0));
    return out;
  }

  std::optional<Action> action_with_id(const std::string& id) override {
    std::string body;
    sql_ << "SELECT body FROM outbox WHERE action_id = :i", soci::use(id), soci::into(body);
    if (!sql_.got_data()) return std::nullopt;
    return action_from_json(body);
  }

  void enqueue_delivery(const std::string& sink, std::int64_t action_seq,
                        const std::string& action_id, TimePoint next_at) override {
    long long seq = action_seq;
    std::string at = format_time(next_at);
    sql_ << "INSERT INTO deliveries (sink, action_seq, action_id, state, next_at)"
            " VALUES (:s, :q, :a, 'pending', :n) ON CONFLICT (sink, action_id) DO NOTHING",
        soci::use(sink), soci::use(seq), soci::use(action_id), soci::use(at);
  }

  static DeliveryRecord delivery_from(const soci::row& r) {
    DeliveryRecord d;
    d.id = integer(r, 0).value_or(0);
    d.sink = opt_text(r, 1);
    d.action_seq = integer(r, 2).value_or(0);
    d.action_id = opt_text(r, 3);
    d.state = opt_text(r, 4);
    d.attempts = int(integer(r, 5).value_or(0));
    d.next_at = parse_time(opt_text(r, 6)).value_or(TimePoint{});
    d.last_status = int(integer(r, 7).value_or(0));
    d.last_error = opt_text(r, 8);
    d.claim = integer(r, 9).value_or(0);
    d.claimed_by = opt_text(r, 10);
    return d;
  }
  static constexpr const char* kDeliveryColumns =
      "SELECT id, sink, action_seq, action_id, state, attempts, next_at, last_status,"
      " last_error, claim, claimed_by FROM deliveries ";

  // Read first, outside a write (most steps find nothing due, and leave the writers'
  // lock alone); each row is then taken only if nobody took or recorded it since.
  std::vector<DeliveryRecord> claim_deliveries(const std::string& sink, TimePoint now,
                                               std::size_t limit, std::chrono::seconds hold,
                                               const std::string& holder) override {
    // A claim of no length leaves no time behind (a clock stepped back would hold it).
    const std::string due = format_time(now), until = format_time(now + hold);
    soci::indicator until_known = hold.count() > 0 ? soci::i_ok : soci::i_null;
    long long n = static_cast<long long>(limit);
    std::vector<DeliveryRecord> found, out;
    {
      soci::rowset<soci::row> rows =
          (sql_.prepare << std::string(kDeliveryColumns) +
                               "WHERE sink = :s AND state = 'pending' AND next_at <= :u AND"
                               " (claimed_until IS NULL OR claimed_until <= :u2)"
                               " ORDER BY next_at, id LIMIT :n",
           soci::use(sink), soci::use(due), soci::use(due), soci::use(n));
      for (const auto& r : rows) found.push_back(delivery_from(r));
    }
    if (found.empty()) return out;
    Transaction tx(*this);
    for (auto& d : found) {
      long long id = d.id, claim = d.claim;
      soci::statement st =
          (sql_.prepare << "UPDATE deliveries SET claim = claim + 1, claimed_until = :t,"
                           " claimed_by = :h WHERE id = :i AND claim = :c AND state = 'pending'",
           soci::use(until, until_known), soci::use(holder), soci::use(id), soci::use(claim));
      st.execute(true);
      if (st.get_affected_rows() == 0) continue;
      d.claim += 1;
      d.claimed_by = holder;
      out.push_back(std::move(d));
    }
    tx.commit();
    return out;
  }

  std::optional<DeliveryRecord> delivery(std::int64_t id) override {
    long long key = id;
    soci::rowset<soci::row> rows =
        (sql_.prepare << std::string(kDeliveryColumns) + "WHERE id = :i", soci::use(key));
    for (const auto& r : rows) return delivery_from(r);
    return std::nullopt;
  }

  bool update_delivery(const DeliveryRecord& d) override {
    long long id = d.id, claim = d.claim;
    std::string at = format_time(d.next_at);
    soci::statement st =
        (sql_.prepare << "UPDATE deliveries SET state = :s, attempts = :a, next_at = :n,"
                         " last_status = :l, last_error = :e, claim = claim + 1,"
                         " claimed_until = NULL WHERE id = :i AND claim = :c",
         soci::use(d.state), soci::use(d.attempts), soci::use(at), soci::use(d.last_status),
         soci::use(d.last_error), soci::use(id), soci::use(claim));
    st.execute(true);
    return st.get_affected_rows() > 0;
  }

  void add_attempt(const DeliveryAttempt& a) override {
    long long delivery = a.delivery, duration = a.duration_ms;
    std::string at = format_time(a.at);
    sql_ << "INSERT INTO delivery_attempts (delivery, attempt, at, duration_ms, status, result,"
            " snippet) VALUES (:d, :n, :a, :ms, :s, :r, :sn)",
        soci::use(delivery), soci::use(a.attempt), soci::use(at), soci::use(duration),
        soci::use(a.status), soci::use(a.result), soci::use(a.snippet);
  }

  std::vector<DeliveryRecord> deliveries(const std::string& sink, bool failed,
                                         std::size_t limit) override {
    long long n = static_cast<long long>(limit);
    std::string query = std::string(kDeliveryColumns) + "WHERE (:s = '' OR sink = :s2)";
    if (failed) query += " AND (state = 'dead' OR (state = 'pending' AND attempts > 0))";
    query += " ORDER BY id DESC LIMIT :n";
    soci::rowset<soci::row> rows =
        (sql_.prepare << query, soci::use(sink), soci::use(sink), soci::use(n));
    std::vector<DeliveryRecord> out;
    for (const auto& r : rows) out.push_back(delivery_from(r));
    return out;
  }

  std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery) override {
    long long id = delivery;
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT attempt, at, duration_ms, status, result, snippet"
                         " FROM delivery_attempts WHERE delivery = :d ORDER BY rowid",
         soci::use(id));
    std::vector<DeliveryAttempt> out;
    for (const auto& r : rows) {
      out.push_back({delivery, int(integer(r, 0).value_or(0)),
                     parse_time(opt_text(r, 1)).value_or(TimePoint{}), integer(r, 2).value_or(0),
                     int(integer(r, 3).value_or(0)), opt_text(r, 4), opt_text(r, 5)});
    }
    return out;
  }

  std::size_t replay_deliveries(const std::string& sink, const std::string& action_id,
                                std::optional<TimePoint> since, TimePoint now) override {
    std::string at = format_time(now);
    std::string from = since ? format_time(*since) : std::string();
    sql_ << "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = :n"
            " WHERE (:s = '' OR sink = :s2) AND ((:a <> '' AND action_id = :a2) OR"
            " (:f <> '' AND action_id IN (SELECT action_id FROM outbox o WHERE"
            " json_extract(o.body, '$.time') >= :f2)))",
        soci::use(at), soci::use(sink), soci::use(sink), soci::use(action_id), soci::use(action_id),
        soci::use(from), soci::use(from);
    return std::size_t(changes());
  }

  std::map<std::string, std::int64_t> delivery_counts(const std::string& sink) override {
    std::map<std::string, std::int64_t> out;
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT state, COUNT(*) FROM deliveries WHERE sink = :s GROUP BY state",
         soci::use(sink));
    for (const auto& r : rows) out[opt_text(r, 0)] = integer(r, 1).value_or(0);
    return out;
  }

  void set_sink_disabled(const std::string& sink, bool disabled, const std::string& message,
                         TimePoint since) override {
    int d = disabled ? 1 : 0;
    std::string at = format_time(since);
    sql_ << "INSERT INTO sink_state (sink, disabled, message, since) VALUES (:s, :d, :m, :a)"
            " ON CONFLICT (sink) DO UPDATE SET disabled = excluded.disabled,"
            " message = excluded.message, since = excluded.since",
        soci::use(sink), soci::use(d), soci::use(message), soci::use(at);
  }

  std::optional<std::string> sink_disabled(const std::string& sink) override {
    int disabled = 0;
    std::string message;
    sql_ << "SELECT disabled, message FROM sink_state WHERE sink = :s", soci::use(sink),
        soci::into(disabled), soci::into(message);
    if (!sql_.got_data() || !disabled) return std::nullopt;
    return message;
  }

  void add_disclosure(const Disclosure& d) override {
    std::string at = format_time(d.at);
    sql_ << "INSERT INTO disclosures (action_id, student_id, contact_id, fields, sink, endpoint,"
            " basis, at) VALUES (:a, :s, :c, :f, :k, :e, :b, :t)",
        soci::use(d.action_id), soci::use(d.student_id), soci::use(d.contact_id),
        soci::use(d.fields), soci::use(d.sink), soci::use(d.endpoint), soci::use(d.basis),
        soci::use(at);
  }

  std::vector<Disclosure> disclosures_of(const std::string& student_id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT action_id, student_id, contact_id, fields, sink, endpoint,"
                         " basis, at FROM disclosures WHERE student_id = :s ORDER BY id",
         soci::use(student_id));
    std::vector<Disclosure> out;
    for (const auto& r : rows) {
      out.push_back({opt_text(r, 0), opt_text(r, 1), opt_text(r, 2), opt_text(r, 3), opt_text(r, 4),
                     opt_text(r, 5), opt_text(r, 6),
                     parse_time(opt_text(r, 7)).value_or(TimePoint{})});
    }
    return out;
  }

  int schema_version() override {
    int version = 0;
    sql_ << "SELECT version FROM schema_version", soci::into(version);
    return version;
  }

 private:
  // The first store of this process on the file: created 0600 when new (SQLite gives the
  // -wal and -shm files the database file's mode), checked when not.
  static void first_open(const std::string& path) {
    check_file(path);
    try {
      files::create_private_file(path);
    } catch (const std::runtime_error& e) {
      throw StoreError(std::string("cannot open store: ") + e.what());
    }
  }

  // Before anything is written: a file that is not a SQLite database, or one cut short,
  // is refused with its name, and left as it is.
  static void check_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return;  // new: created below
    char header[100] = {};
    in.read(header, sizeof header);
    auto got = in.gcount();
    if (got == 0) return;  // empty: SQLite makes it a database
    auto refuse = [&](const std::string& why) {
      throw StoreError("cannot open store \"" + path + "\": " + why +
                       "; nothing was written to it");
    };
    if (got < 100 || std::memcmp(header, "SQLite format 3", 16) != 0) {
      refuse("it is not a SQLite database (not a Rapport store, or damaged)");
    }
    auto be32 = [&](int at) {
      std::uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(header[at + i]);
      return v;
    };
    std::uint32_t page_size = (std::uint32_t(static_cast<unsigned char>(header[16])) << 8) |
                              static_cast<unsigned char>(header[17]);
    if (page_size == 1) page_size = 65536;
    // The size in pages the header states holds while the change counter matches, and
    // while no WAL is there: a checkpoint writes page 1 before it grows the file, and a
    // WAL left by a crash is SQLite's to recover from.
    std::error_code wal_error;
    auto wal = std::filesystem::file_size(path + "-wal", wal_error);
    bool wal_pending = !wal_error && wal > 0;
    if (!wal_pending && be32(92) == be32(24) && page_size >= 512) {
      auto stated = std::uintmax_t(be32(28)) * page_size;
      auto actual = std::filesystem::file_size(path);
      if (actual < stated) {
        refuse("it is truncated (" + std::to_string(actual) + " of " + std::to_string(stated) +
               " bytes); restore it from a backup");
      }
    }
  }

  // Another application's database is never migrated into.
  void refuse_foreign(const std::string& path) {
    int tables = 0, ours = 0;
    sql_ << "SELECT count(*), coalesce(sum(name = 'schema_version'), 0) FROM sqlite_master"
            " WHERE type = 'table'",
        soci::into(tables), soci::into(ours);
    if (tables > 0 && ours == 0) {
      throw StoreError("cannot open store \"" + path +
                       "\": it is a SQLite database of something else (it has tables, none of "
                       "them Rapport's); nothing was written to it");
    }
  }

  // Each step reads the version inside its own write transaction (BEGIN IMMEDIATE), so
  // that processes opening one store at once (a daemon and `rapport purge`, say) migrate it
  // once: the second waits for the first and finds nothing left to do.
  void migrate() {
    // A migration added without moving the version is never applied (it happened once).
    if (kMigrations.size() != std::size_t(kStoreSchemaVersion)) {
      throw std::logic_error("this build's store migrations and schema version disagree");
    }
    {
      // Up to date already (every open but the first after an upgrade): nothing written.
      int tables = 0, version = 0;
      sql_ << "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_version'",
          soci::into(tables);
      if (tables == 1) {
        sql_ << "SELECT version FROM schema_version", soci::into(version);
        if (sql_.got_data() && version == kStoreSchemaVersion) return;
      }
    }
    for (;;) {
      Transaction tx(*this);
      sql_ << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
      int version = 0;
      sql_ << "SELECT version FROM schema_version", soci::into(version);
      if (!sql_.got_data()) sql_ << "INSERT INTO schema_version (version) VALUES (0)";
      if (version > kStoreSchemaVersion) {
        throw StoreError("the store's schema is version " + std::to_string(version) +
                         ", newer than this rapport knows (" + std::to_string(kStoreSchemaVersion) +
                         "); upgrade rapport");
      }
      if (version == kStoreSchemaVersion) {
        tx.commit();
        return;
      }
      for (const char* statement : kMigrations[std::size_t(version)]) sql_ << statement;
      int next = version + 1;
      sql_ << "UPDATE schema_version SET version = :v", soci::use(next);
      tx.commit();
    }
  }

  std::vector<Rotation> rotations_where(const std::string& condition, const std::string& value) {
    std::vector<Rotation> out;
    {
      soci::rowset<soci::row> rows =
          (sql_.prepare << "SELECT id, student_id, site, specialty, subspecialty, kind,"
                           " start_date, end_date, status FROM rotations WHERE " +
                               condition + " ORDER BY start_date, id",
           soci::use(value));
      for (const auto& r : rows) out.push_back(rotation_of(r));
    }
    for (auto& rot : out) {
      soci::rowset<soci::row> rows =
          (sql_.prepare << "SELECT person_id, role, start_date, end_date FROM team_rows"
                           " WHERE rotation_id = :r ORDER BY person_id, start_date, end_date, role",
           soci::use(rot.id));
      for (const auto& r : rows) {
        add_team_row_to(rot, opt_text(r, 0), opt_text(r, 1), opt_text(r, 2), opt_text(r, 3));
      }
      finish_team(rot);
    }
    return out;
  }

  static Rotation rotation_of(const soci::row& r) {
    return store_rows::rotation_from([&](int i) { return text(r, std::size_t(i)); });
  }
  static Person person_of(const soci::row& r) {
    return store_rows::person_from([&](int i) { return text(r, std::size_t(i)); });
  }

  static std::vector<Action> actions_in(soci::rowset<soci::row>& rows) {
    std::vector<Action> out;
    for (const auto& r : rows) out.push_back(action_from_json(opt_text(r, 0)));
    return out;
  }

  std::int64_t count(const std::string& table) {
    long long n = 0;
    sql_ << "SELECT COUNT(*) FROM " + table, soci::into(n);
    return n;
  }

  std::map<std::string, std::int64_t> group(const std::string& table) {
    std::map<std::string, std::int64_t> out;
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT type, COUNT(*) FROM " + table + " GROUP BY type");
    for (const auto& r : rows) out[opt_text(r, 0)] = integer(r, 1).value_or(0);
    return out;
  }

  // The most rows one statement writes where a page's rows are written in runs
  // (set_row_hashes, add_roster_rows).
  static constexpr std::size_t kRun = 32;
  // "?first, ?first+1, ..." (`count` of them).
  static std::string parameters(std::size_t first, std::size_t count) {
    std::string out;
    for (std::size_t k = 0; k < count; ++k) out += (k ? ", ?" : "?") + std::to_string(first + k);
    return out;
  }
  // `head`, the values of kRun rows (`row(i)` the i-th's), `tail`.
  template <typename Row>
  static std::string statement_of_run(const std::string& head, const Row& row,
                                      const std::string& tail) {
    std::string sql = head;
    for (std::size_t i = 0; i < kRun; ++i) sql += (i ? ", " : "") + row(i);
    return sql + tail;
  }

  Cached::Use cached(const char* sql) {
    auto& slot = cached_[sql];  // by the literal's address: one per call site
    if (!slot) slot = std::make_unique<Cached>(connection(), sql);
    return Cached::Use(*slot);
  }

  sqlite3* connection() {
    return static_cast<soci::sqlite3_session_backend*>(sql_.get_backend())->conn_;
  }

  // Inside the write transaction (one writer at a time): the lease cannot change hands
  // between this check and the commit.
  void check_fence() {
    auto q = cached("SELECT 1 FROM leases WHERE name = ?1 AND holder = ?2 AND epoch = ?3");
    q.bind(1, fence_->lease).bind(2, fence_->holder).bind(3, fence_->epoch);
    bool held = q.next();
    if (held) {
      while (q.next()) {
      }
      return;
    }
    quiet_rollback();
    throw LeaseLost("another process holds the " + fence_->lease +
                    " lease now; this transaction was rolled back");
  }

  void quiet_rollback() {
    try {
      sql_ << "ROLLBACK";
    } catch (const soci::soci_error&) {
      // Nothing to roll back (the failure ended the transaction already).
    }
  }

  int changes() {
    auto* backend = static_cast<soci::sqlite3_session_backend*>(sql_.get_backend());
    return sqlite3_changes(backend->conn_);
  }

  // Before the session: it outlives the connection, so that no other store of this process
  // counts as the file's first (and opens it outside SQLite) while this one still closes.
  std::shared_ptr<std::mutex> writer_;
  soci::session sql_;
  std::unordered_map<const char*, std::unique_ptr<Cached>> cached_;  // before the session closes
  int depth_ = 0;
  bool poisoned_ = false;
  std::optional<Fence> fence_;
  std::unique_lock<std::mutex> turn_;  // held from BEGIN to COMMIT or ROLLBACK
};

}  // namespace

std::string_view to_string(ReportKind kind) {
  switch (kind) {
    case ReportKind::error:
      return "error";
    case ReportKind::retry:
      return "retry";
    case ReportKind::slow:
      return "slow";
    case ReportKind::notice:
      return "notice";
  }
  return "error";
}

std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

struct WalCheckpointer::State {
  WalCheckpointing checkpointing;
  std::unique_ptr<SqliteStore> store;
  std::int64_t limit_frames = 0;
  int last_frames = -1;
  int completed_at = -1;  // the WAL's frames after the last pass under the turn copied all
  std::atomic<std::int64_t> completed{0};
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  int failures = 0;
  std::thread thread;

  // Passes off the turn while the writers add more than this during one: the pass under
  // the turn copies at most about this many frames (most of them the same few pages).
  static constexpr int kLeftForTheTurn = 1024;

  // false when the WAL has not changed since the last round.
  bool round() {
    auto [frames, copied] = store->checkpoint_pass(false);
    bool changed = frames != last_frames;
    last_frames = frames;
    // Below the limit; or copied to its end under the turn already, with nothing written
    // since (the next write restarts it).
    if (frames < limit_frames || frames == completed_at) return changed;
    for (int i = 0; i < 3 && frames - copied > kLeftForTheTurn; ++i) {
      std::tie(frames, copied) = store->checkpoint_pass(false);
    }
    // Writers outrun the passes (a slow disk), or a reader holds frames back: the next
    // round tries again, until the WAL is four times its limit; then the turn is taken
    // whatever is left to copy, which bounds the WAL at the cost of a longer wait.
    if (frames - copied > kLeftForTheTurn && frames < 4 * limit_frames) return true;
    std::tie(frames, copied) = store->checkpoint_pass(true);
    if (frames >= 0 && copied == frames) {
      ++completed;
      completed_at = frames;
    }
    return true;
  }

  void run() {
    auto every = checkpointing.every;
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, every, [&] { return stopping; })) {
      lock.unlock();
      try {
        every = round()
                    ? checkpointing.every
                    : std::min(2 * every, std::max(checkpointing.every, checkpointing.idle_every));
        failures = 0;
      } catch (const std::exception& e) {
        // Logged the first time and every hundredth after, not every round (and a log
        // that fails cannot end the process from this thread).
        if (failures++ % 100 == 0) {
          try {
            log::warn("store", "checkpointing the WAL failed; trying again",
                      {{"error", e.what()}, {"failures", failures}});
          } catch (...) {
          }
        }
        every = std::max(checkpointing.every, checkpointing.idle_every);
      }
      lock.lock();
    }
  }
};

WalCheckpointer::WalCheckpointer(const SqliteOptions& options, WalCheckpointing checkpointing)
    : state_(std::make_unique<State>()) {
  auto own = options;
  own.checkpoints = false;
  state_->checkpointing = checkpointing;
  state_->store = std::make_unique<SqliteStore>(own);
  auto page = std::max<std::int64_t>(512, state_->store->page_size());
  state_->limit_frames = std::max<std::int64_t>(1, checkpointing.limit_bytes / page);
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
}

std::int64_t WalCheckpointer::completed() const {
  return state_->completed.load();
}

}  // namespace rapport
