// The SQLite store, through SOCI. WAL, foreign keys on, versioned migrations.
#include <soci/soci.h>

#include <soci/sqlite3/soci-sqlite3.h>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "rapport/json.hpp"
#include "store/soci_util.hpp"
#include "store/store.hpp"

namespace rapport {
namespace {

using soci_util::integer;
using soci_util::text;

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
};

std::string opt_text(const soci::row& r, std::size_t i) {
  return text(r, i).value_or("");
}

std::optional<std::string> nonempty(const std::optional<std::string>& s) {
  return s && !s->empty() ? s : std::nullopt;
}

// Connections of one process to one file take turns writing through this mutex: a
// waiting writer wakes the moment the other commits, where SQLite's busy handler would
// sleep and poll (seen as latencies of a second when the listener's committer and the
// engine wrote at the same time). Other processes still meet busy_timeout.
std::shared_ptr<std::mutex> writer_mutex(const std::string& path) {
  static std::mutex guard;
  static std::map<std::string, std::weak_ptr<std::mutex>> by_file;
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) key = path;
  std::lock_guard lock(guard);
  auto& slot = by_file[key];
  auto mutex = slot.lock();
  if (!mutex) {
    mutex = std::make_shared<std::mutex>();
    slot = mutex;
  }
  return mutex;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const SqliteOptions& options) : writer_(writer_mutex(options.path)) {
    try {
      sql_.open(soci::sqlite3, "db=\"" + options.path + "\" timeout=" +
                                   std::to_string(std::max(1, options.busy_timeout_ms / 1000)));
      sql_ << "PRAGMA journal_mode=WAL";
      sql_ << "PRAGMA foreign_keys=ON";
      sql_ << (options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      sql_ << "PRAGMA busy_timeout=" + std::to_string(options.busy_timeout_ms);
      if (!options.checkpoints) sql_ << "PRAGMA wal_autocheckpoint=0";
    } catch (const soci::soci_error& e) {
      throw StoreError("cannot open store \"" + options.path + "\": " + e.what());
    }
    migrate();
  }

  // Counted only once BEGIN succeeded; a failed COMMIT ends the transaction (rolled back)
  // and leaves the count at zero, so one error never leaves the store half in a
  // transaction.
  void begin() override {
    if (depth_ == 0) {
      poisoned_ = false;
      std::unique_lock turn(*writer_);
      sql_ << "BEGIN IMMEDIATE";
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
    try {
      sql_ << "COMMIT";
    } catch (const soci::soci_error& e) {
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
    auto& p = hot();
    p.event = e;
    p.type = to_string(e.type);
    p.occurred = format_time(e.occurred);
    p.received = format_time(received);
    p.append_event.execute(true);
    return changes() > 0;
  }

  std::vector<InboxEvent> events_after(std::int64_t seq, std::size_t limit) override {
    long long after = seq, n = static_cast<long long>(limit);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT seq, source, event_id, type, subject, occurred_at, payload"
                         " FROM inbox WHERE seq > :a ORDER BY seq LIMIT :n",
         soci::use(after), soci::use(n));
    std::vector<InboxEvent> out;
    for (const auto& r : rows) {
      InboxEvent ie;
      ie.seq = *integer(r, 0);
      ie.event.source = opt_text(r, 1);
      ie.event.id = opt_text(r, 2);
      ie.event.type = parse_event_type(opt_text(r, 3)).value_or(EventType::person_updated);
      ie.event.subject = opt_text(r, 4);
      ie.event.occurred = parse_time(opt_text(r, 5)).value_or(TimePoint{});
      ie.event.payload = opt_text(r, 6);
      out.push_back(std::move(ie));
    }
    return out;
  }

  std::int64_t last_action_seq() override {
    long long seq = 0;
    soci::indicator ind;
    sql_ << "SELECT MAX(seq) FROM outbox", soci::into(seq, ind);
    return ind == soci::i_ok ? seq : 0;
  }

  std::int64_t last_event_seq() override {
    long long seq = 0;
    soci::indicator ind;
    sql_ << "SELECT MAX(seq) FROM inbox", soci::into(seq, ind);
    return ind == soci::i_ok ? seq : 0;
  }

  std::int64_t progress(const std::string& consumer) override {
    long long seq = 0;
    sql_ << "SELECT seq FROM progress WHERE consumer = :c", soci::use(consumer), soci::into(seq);
    return sql_.got_data() ? seq : 0;
  }

  void set_progress(const std::string& consumer, std::int64_t seq) override {
    long long s = seq;
    sql_ << "INSERT INTO progress (consumer, seq) VALUES (:c, :s)"
            " ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq",
        soci::use(consumer), soci::use(s);
  }

  std::map<std::string, std::int64_t> all_progress() override {
    std::map<std::string, std::int64_t> out;
    soci::rowset<soci::row> rows = sql_.prepare << "SELECT consumer, seq FROM progress";
    for (const auto& r : rows) out[opt_text(r, 0)] = integer(r, 1).value_or(0);
    return out;
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

  bool add_action(const Action& a) override {
    std::string type(to_string(a.type)), due = format_time(a.due), body = to_json(a);
    sql_ << "INSERT INTO outbox (action_id, hook, type, student_id, contact_id, due_at, body)"
            " VALUES (:i, :h, :t, :s, :c, :d, :b) ON CONFLICT (action_id) DO NOTHING",
        soci::use(a.id), soci::use(a.hook), soci::use(type), soci::use(a.student_id),
        soci::use(a.contact_id), soci::use(due), soci::use(body);
    return changes() > 0;
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

  std::vector<Action> actions_of(const std::string& student_id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT body FROM outbox WHERE student_id = :s ORDER BY seq",
         soci::use(student_id));
    std::vector<Action> out;
    for (const auto& r : rows) out.push_back(action_from_json(opt_text(r, 0)));
    return out;
  }

  void put_timer(const Timer& t) override {
    std::string due = format_time(t.due), event = to_json(t.event);
    sql_ << "INSERT INTO timers (id, due_at, event) VALUES (:i, :d, :e)"
            " ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, event = excluded.event",
        soci::use(t.id), soci::use(due), soci::use(event);
  }

  void delete_timers_with_prefix(const std::string& prefix) override {
    std::string lo = prefix, hi = prefix + "\xff";
    sql_ << "DELETE FROM timers WHERE id >= :lo AND id < :hi", soci::use(lo), soci::use(hi);
  }

  std::vector<Timer> due_timers(TimePoint now, std::size_t limit) override {
    std::string until = format_time(now);
    long long n = static_cast<long long>(limit);
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT id, due_at, event FROM timers WHERE due_at <= :u"
                         " ORDER BY due_at, id LIMIT :n",
         soci::use(until), soci::use(n));
    std::vector<Timer> out;
    for (const auto& r : rows) {
      out.push_back({opt_text(r, 0), parse_time(opt_text(r, 1)).value_or(TimePoint{}),
                     event_from_json(opt_text(r, 2))});
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
    sql_ << "DELETE FROM timers WHERE id = :i", soci::use(id);
  }

  std::optional<std::string> cursor(const std::string& source, const std::string& entity) override {
    std::string value;
    sql_ << "SELECT value FROM source_cursors WHERE source = :s AND entity = :e", soci::use(source),
        soci::use(entity), soci::into(value);
    return sql_.got_data() ? std::optional<std::string>(value) : std::nullopt;
  }

  void set_cursor(const std::string& source, const std::string& entity,
                  const std::string& value) override {
    sql_ << "INSERT INTO source_cursors (source, entity, value) VALUES (:s, :e, :v)"
            " ON CONFLICT (source, entity) DO UPDATE SET value = excluded.value",
        soci::use(source), soci::use(entity), soci::use(value);
  }

  std::optional<std::string> row_hash(const std::string& source, const std::string& entity,
                                      const std::string& key) override {
    auto& p = hot();
    p.source = source;
    p.entity = entity;
    p.key = key;
    bool found = p.row_hash.execute(true);
    if (found) p.row_hash.fetch();  // step to the end: no read left open on the store
    return found ? std::optional<std::string>(p.hash) : std::nullopt;
  }

  void set_row_hash(const std::string& source, const std::string& entity, const std::string& key,
                    const std::string& hash) override {
    auto& p = hot();
    p.source = source;
    p.entity = entity;
    p.key = key;
    p.hash = hash;
    p.set_row_hash.execute(true);
  }

  void mark_row_seen(const std::string& source, const std::string& entity, const std::string& key,
                     std::int64_t generation) override {
    long long g = generation;
    sql_ << "UPDATE source_rows SET seen = :g WHERE source = :s AND entity = :e AND row_key = :k",
        soci::use(g), soci::use(source), soci::use(entity), soci::use(key);
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
    std::string role(to_string(p.role));
    soci::indicator ie = p.email ? soci::i_ok : soci::i_null,
                    is = p.specialty ? soci::i_ok : soci::i_null,
                    iss = p.subspecialty ? soci::i_ok : soci::i_null,
                    ip = p.program ? soci::i_ok : soci::i_null;
    std::string email = p.email.value_or(""), spec = p.specialty.value_or(""),
                sub = p.subspecialty.value_or(""), program = p.program.value_or("");
    int opted = p.opted_out ? 1 : 0;
    sql_ << "INSERT INTO people (id, role, name, email, specialty, subspecialty, program,"
            " opted_out) VALUES (:i, :r, :n, :e, :s, :ss, :p, :o) ON CONFLICT (id) DO UPDATE SET"
            " role = excluded.role, name = excluded.name, email = excluded.email,"
            " specialty = excluded.specialty, subspecialty = excluded.subspecialty,"
            " program = excluded.program, opted_out = excluded.opted_out",
        soci::use(p.id), soci::use(role), soci::use(p.name), soci::use(email, ie),
        soci::use(spec, is), soci::use(sub, iss), soci::use(program, ip), soci::use(opted);
  }

  std::optional<Person> person(const std::string& id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT id, role, name, email, specialty, subspecialty, program,"
                         " opted_out FROM people WHERE id = :i",
         soci::use(id));
    for (const auto& r : rows) return person_of(r);
    return std::nullopt;
  }

  void for_each_person(const std::function<void(const Person&)>& each) override {
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT id, role, name, email, specialty, subspecialty, program,"
                        " opted_out FROM people ORDER BY id";
    for (const auto& r : rows) each(person_of(r));
  }

  void put_rotation(const Rotation& r) override {
    std::string kind(to_string(r.kind)), status(to_string(r.status)),
        start = format_date(r.start), end = format_date(r.end), sub = r.subspecialty.value_or("");
    soci::indicator isub = r.subspecialty ? soci::i_ok : soci::i_null;
    sql_ << "INSERT INTO rotations (id, student_id, site, specialty, subspecialty, kind,"
            " start_date, end_date, status) VALUES (:i, :st, :si, :sp, :ss, :k, :b, :e, :s)"
            " ON CONFLICT (id) DO UPDATE SET student_id = excluded.student_id,"
            " site = excluded.site, specialty = excluded.specialty,"
            " subspecialty = excluded.subspecialty, kind = excluded.kind,"
            " start_date = excluded.start_date, end_date = excluded.end_date,"
            " status = excluded.status",
        soci::use(r.id), soci::use(r.student_id), soci::use(r.site), soci::use(r.specialty),
        soci::use(sub, isub), soci::use(kind), soci::use(start), soci::use(end), soci::use(status);
  }

  void put_team_member(const std::string& rotation_id, const TeamMember& m) override {
    auto& p = hot();
    p.key = rotation_id;
    p.source = m.person_id;
    p.type = to_string(m.role);
    p.occurred = format_date(m.start);
    p.received = format_date(m.end);
    p.put_member.execute(true);
  }

  void remove_team_member(const std::string& rotation_id, const std::string& person_id) override {
    sql_ << "DELETE FROM team_members WHERE rotation_id = :r AND person_id = :p",
        soci::use(rotation_id), soci::use(person_id);
  }

  std::optional<Rotation> rotation(const std::string& id) override {
    auto& p = hot();
    p.key = id;
    if (!p.rotation_by_id.execute(true)) return std::nullopt;
    Rotation rot = rotation_of(p.row);
    p.rotation_by_id.fetch();  // finish the statement
    for (bool more = p.team_of.execute(true); more; more = p.team_of.fetch()) {
      rot.team.push_back({opt_text(p.member, 0),
                          parse_role(opt_text(p.member, 1)).value_or(Role::other),
                          parse_date(opt_text(p.member, 2)).value_or(rot.start),
                          parse_date(opt_text(p.member, 3)).value_or(rot.end)});
    }
    return rot;
  }

  std::vector<Rotation> rotations_of(const std::string& student_id) override {
    return rotations_where("student_id = :v", student_id);
  }

  void for_each_rotation(const std::function<void(const Rotation&)>& each) override {
    soci::rowset<soci::row> rows =
        sql_.prepare << "SELECT r.id, r.student_id, r.site, r.specialty, r.subspecialty, r.kind,"
                        " r.start_date, r.end_date, r.status, t.person_id, t.role, t.start_date,"
                        " t.end_date FROM rotations r LEFT JOIN team_members t"
                        " ON t.rotation_id = r.id ORDER BY r.id, t.person_id";
    std::optional<Rotation> current;
    for (const auto& r : rows) {
      std::string id = opt_text(r, 0);
      if (current && current->id != id) {
        each(*current);
        current.reset();
      }
      if (!current) current = rotation_of(r);
      if (auto person = text(r, 9)) {
        current->team.push_back({*person, parse_role(opt_text(r, 10)).value_or(Role::other),
                                 parse_date(opt_text(r, 11)).value_or(current->start),
                                 parse_date(opt_text(r, 12)).value_or(current->end)});
      }
    }
    if (current) each(*current);
  }

  void put_touch(const std::string& student, const std::string& contact, TimePoint at) override {
    std::string when = format_time(at);
    sql_ << "INSERT INTO touches (student_id, contact_id, at) VALUES (:s, :c, :a)"
            " ON CONFLICT (student_id, contact_id) DO UPDATE SET at = MAX(at, excluded.at)",
        soci::use(student), soci::use(contact), soci::use(when);
  }

  void for_each_touch(
      const std::function<void(const std::string&, const std::string&, TimePoint)>& each) override {
    soci::rowset<soci::row> rows = sql_.prepare << "SELECT student_id, contact_id, at FROM touches";
    for (const auto& r : rows) {
      each(opt_text(r, 0), opt_text(r, 1), parse_time(opt_text(r, 2)).value_or(TimePoint{}));
    }
  }

  void put_evaluation(const Evaluation& e) override {
    std::string submitted = format_time(e.submitted);
    int recommend = e.would_recommend.value_or(false) ? 1 : 0, anonymous = e.anonymous ? 1 : 0;
    soci::indicator irec = e.would_recommend ? soci::i_ok : soci::i_null;
    double score = e.score, lo = e.scale_min, hi = e.scale_max;
    sql_ << "INSERT INTO evaluations (id, rotation_id, evaluator_id, student_id, submitted_at,"
            " score, scale_min, scale_max, would_recommend, anonymous) VALUES (:i, :r, :ev, :st,"
            " :su, :sc, :lo, :hi, :wr, :an) ON CONFLICT (id) DO UPDATE SET"
            " rotation_id = excluded.rotation_id, evaluator_id = excluded.evaluator_id,"
            " student_id = excluded.student_id, submitted_at = excluded.submitted_at,"
            " score = excluded.score, scale_min = excluded.scale_min,"
            " scale_max = excluded.scale_max, would_recommend = excluded.would_recommend,"
            " anonymous = excluded.anonymous",
        soci::use(e.id), soci::use(e.rotation_id), soci::use(e.evaluator_id),
        soci::use(e.student_id), soci::use(submitted), soci::use(score), soci::use(lo),
        soci::use(hi), soci::use(recommend, irec), soci::use(anonymous);
  }

  std::vector<Evaluation> evaluations_of(const std::string& student_id) override {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT id, rotation_id, evaluator_id, student_id, submitted_at, score,"
                         " scale_min, scale_max, would_recommend, anonymous FROM evaluations"
                         " WHERE student_id = :s ORDER BY submitted_at, id",
         soci::use(student_id));
    std::vector<Evaluation> out;
    for (const auto& r : rows) {
      Evaluation e;
      e.id = opt_text(r, 0);
      e.rotation_id = opt_text(r, 1);
      e.evaluator_id = opt_text(r, 2);
      e.student_id = opt_text(r, 3);
      e.submitted = parse_time(opt_text(r, 4)).value_or(TimePoint{});
      e.score = soci_util::number(r, 5).value_or(0);
      e.scale_min = soci_util::number(r, 6).value_or(0);
      e.scale_max = soci_util::number(r, 7).value_or(1);
      if (auto rec = integer(r, 8)) e.would_recommend = *rec != 0;
      e.anonymous = integer(r, 9).value_or(0) != 0;
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

  void copy_to(const std::string& path) override { sql_ << "VACUUM INTO :p", soci::use(path); }

  bool remember_message(const std::string& source, const std::string& id,
                        TimePoint received) override {
    auto& p = hot();
    p.source = source;
    p.key = id;
    p.received = format_time(received);
    p.remember.execute(true);
    return changes() > 0;
  }

  std::size_t forget_messages_before(TimePoint before) override {
    std::string at = format_time(before);
    sql_ << "DELETE FROM inbound_messages WHERE received_at < :a", soci::use(at);
    return std::size_t(changes());
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
    return d;
  }
  static constexpr const char* kDeliveryColumns =
      "SELECT id, sink, action_seq, action_id, state, attempts, next_at, last_status,"
      " last_error FROM deliveries ";

  std::vector<DeliveryRecord> due_deliveries(const std::string& sink, TimePoint now,
                                             std::size_t limit) override {
    std::string until = format_time(now);
    long long n = static_cast<long long>(limit);
    soci::rowset<soci::row> rows =
        (sql_.prepare << std::string(kDeliveryColumns) +
                             "WHERE sink = :s AND state = 'pending' AND next_at <= :u"
                             " ORDER BY next_at, id LIMIT :n",
         soci::use(sink), soci::use(until), soci::use(n));
    std::vector<DeliveryRecord> out;
    for (const auto& r : rows) out.push_back(delivery_from(r));
    return out;
  }

  std::optional<DeliveryRecord> delivery(std::int64_t id) override {
    long long key = id;
    soci::rowset<soci::row> rows =
        (sql_.prepare << std::string(kDeliveryColumns) + "WHERE id = :i", soci::use(key));
    for (const auto& r : rows) return delivery_from(r);
    return std::nullopt;
  }

  void update_delivery(const DeliveryRecord& d) override {
    long long id = d.id;
    std::string at = format_time(d.next_at);
    sql_ << "UPDATE deliveries SET state = :s, attempts = :a, next_at = :n, last_status = :l,"
            " last_error = :e WHERE id = :i",
        soci::use(d.state), soci::use(d.attempts), soci::use(at), soci::use(d.last_status),
        soci::use(d.last_error), soci::use(id);
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
            " (:f <> '' AND action_seq IN (SELECT seq FROM outbox o WHERE"
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
  void migrate() {
    sql_ << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
    int version = 0;
    sql_ << "SELECT version FROM schema_version", soci::into(version);
    if (!sql_.got_data()) sql_ << "INSERT INTO schema_version (version) VALUES (0)";
    if (version > kStoreSchemaVersion) {
      throw StoreError("the store's schema is version " + std::to_string(version) +
                       ", newer than this rapport knows (" + std::to_string(kStoreSchemaVersion) +
                       "); upgrade rapport");
    }
    for (int v = version; v < kStoreSchemaVersion; ++v) {
      Transaction tx(*this);
      for (const char* statement : kMigrations[v]) sql_ << statement;
      int next = v + 1;
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
          (sql_.prepare << "SELECT person_id, role, start_date, end_date FROM team_members"
                           " WHERE rotation_id = :r ORDER BY person_id",
           soci::use(rot.id));
      for (const auto& r : rows) {
        rot.team.push_back({opt_text(r, 0), parse_role(opt_text(r, 1)).value_or(Role::other),
                            parse_date(opt_text(r, 2)).value_or(rot.start),
                            parse_date(opt_text(r, 3)).value_or(rot.end)});
      }
    }
    return out;
  }

  static Person person_of(const soci::row& r) {
    Person p;
    p.id = opt_text(r, 0);
    p.role = parse_role(opt_text(r, 1)).value_or(Role::other);
    p.name = opt_text(r, 2);
    p.email = nonempty(text(r, 3));
    p.specialty = nonempty(text(r, 4));
    p.subspecialty = nonempty(text(r, 5));
    p.program = nonempty(text(r, 6));
    p.opted_out = integer(r, 7).value_or(0) != 0;
    return p;
  }

  static Rotation rotation_of(const soci::row& r) {
    Rotation rot;
    rot.id = opt_text(r, 0);
    rot.student_id = opt_text(r, 1);
    rot.site = opt_text(r, 2);
    rot.specialty = opt_text(r, 3);
    rot.subspecialty = nonempty(text(r, 4));
    rot.kind = parse_rotation_kind(opt_text(r, 5)).value_or(RotationKind::core);
    rot.start = parse_date(opt_text(r, 6)).value_or(Date{});
    rot.end = parse_date(opt_text(r, 7)).value_or(Date{});
    rot.status = parse_rotation_status(opt_text(r, 8)).value_or(RotationStatus::scheduled);
    return rot;
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

  // The statements of the ingest path, prepared once (SOCI would prepare each `<<` anew).
  struct Prepared {
    Event event;
    std::string type, occurred, received, source, entity, key, hash;
    soci::row row, member;
    soci::statement append_event, row_hash, set_row_hash, put_member, rotation_by_id, team_of,
        remember;
    explicit Prepared(soci::session& sql)
        : append_event(sql),
          row_hash(sql),
          set_row_hash(sql),
          put_member(sql),
          rotation_by_id(sql),
          team_of(sql),
          remember(sql) {
      // The mirror's hottest paths (one rotation and its team; a team member).
      put_member = (sql.prepare << "INSERT INTO team_members (rotation_id, person_id, role,"
                                   " start_date, end_date) VALUES (:r, :p, :ro, :s, :e)"
                                   " ON CONFLICT (rotation_id, person_id) DO UPDATE SET"
                                   " role = excluded.role, start_date = excluded.start_date,"
                                   " end_date = excluded.end_date",
                    soci::use(key), soci::use(source), soci::use(type), soci::use(occurred),
                    soci::use(received));
      rotation_by_id = (sql.prepare << "SELECT id, student_id, site, specialty, subspecialty,"
                                       " kind, start_date, end_date, status FROM rotations"
                                       " WHERE id = :v",
                        soci::use(key), soci::into(row));
      team_of = (sql.prepare << "SELECT person_id, role, start_date, end_date FROM team_members"
                                " WHERE rotation_id = :r ORDER BY person_id",
                 soci::use(key), soci::into(member));
      append_event =
          (sql.prepare << "INSERT INTO inbox (source, event_id, type, subject,"
                          " occurred_at, received_at, payload) VALUES (:s, :i, :t,"
                          " :sub, :o, :r, :p) ON CONFLICT (source, event_id) DO NOTHING",
           soci::use(event.source), soci::use(event.id), soci::use(type), soci::use(event.subject),
           soci::use(occurred), soci::use(received), soci::use(event.payload));
      remember = (sql.prepare << "INSERT INTO inbound_messages (source, message_id, received_at)"
                                 " VALUES (:s, :i, :r) ON CONFLICT DO NOTHING",
                  soci::use(source), soci::use(key), soci::use(received));
      row_hash = (sql.prepare << "SELECT hash FROM source_rows WHERE source = :s AND entity = :e"
                                 " AND row_key = :k",
                  soci::use(source), soci::use(entity), soci::use(key), soci::into(hash));
      set_row_hash =
          (sql.prepare << "INSERT INTO source_rows (source, entity, row_key, hash)"
                          " VALUES (:s, :e, :k, :h) ON CONFLICT (source, entity, row_key)"
                          " DO UPDATE SET hash = excluded.hash",
           soci::use(source), soci::use(entity), soci::use(key), soci::use(hash));
    }
  };
  Prepared& hot() {
    if (!prepared_) prepared_ = std::make_unique<Prepared>(sql_);
    return *prepared_;
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

  soci::session sql_;
  std::unique_ptr<Prepared> prepared_;  // after sql_: destroyed before the session
  int depth_ = 0;
  bool poisoned_ = false;
  std::shared_ptr<std::mutex> writer_;
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

}  // namespace rapport
