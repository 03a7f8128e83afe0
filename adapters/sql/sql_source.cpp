#include "adapters/sql/sql_source.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <set>

#include "adapters/common/ingest.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/soci_util.hpp"
#include "store/store.hpp"

namespace rapport::adapters {
namespace json = boost::json;
namespace {

struct Interrupted {};  // a backfill asked to stop; what it committed stays

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
    : name_(std::move(name)), options_(std::move(options)), ingest_(name_) {}

SqlSource::~SqlSource() = default;

std::unique_ptr<soci::session> open_session(const SqlSourceOptions& options) {
  const auto& b = options.backend;
  const auto& c = options.connection;
  if (b == "sqlite") {
    if (!std::filesystem::exists(c)) {
      // Taken for the database being unreachable (a mount gone, say): down, retried.
      throw soci::soci_error("database file not found (the source's connection)");
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

bool SqlSource::reachable() {
  try {
    soci::row row;
    *session_ << "SELECT 1", soci::into(row);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string SqlSource::quoted(const std::string& column) const {
  return options_.backend == "mysql" ? "`" + column + "`" : "\"" + column + "\"";
}

TimePoint SqlSource::database_now() {
  const char* sql = options_.backend == "sqlite" ? "SELECT strftime('%Y-%m-%d %H:%M:%S','now')"
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
    if (down_ || !state_written_) {
      log::info("source.sql", "database reachable again; polling resumes where it stopped",
                {{"source", name_}, {"failed_attempts", failures_}});
      Transaction tx(store);
      store.set_source_state(name_, true, "reachable", now);
      tx.commit();
      state_written_ = true;
    }
    down_ = false;
    failures_ = 0;
    return added;
  } catch (const soci::soci_error& e) {
    // A store error (its own SQLite) is not the institution's database going away.
    if (session_ && reachable()) throw std::runtime_error(e.get_error_message());
    // The session is broken: reconnect at the next attempt. The store's transaction was
    // rolled back, so the next poll starts from the same position.
    session_.reset();
    if (!down_) {
      log::warn("source.sql", "database unreachable; retrying with backoff",
                {{"source", name_}, {"error", e.get_error_message()}});
      try {
        Transaction tx(store);
        store.set_source_state(name_, false, "unreachable: " + e.get_error_message(), now);
        tx.commit();
        state_written_ = true;
      } catch (const std::exception&) {
        // The state is for `rapport status`; the backoff below matters more.
      }
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
// Where a query's reading stands: the cursor's text and the key of the last row read, and
// how many rows of that same (cursor and) key were read. A key need not be unique (a
// person's several roster rows on one rotation share one), so the next page starts at
// that key, not after it, skipping the rows already read, in an order that tells them
// apart: a page that ends among one key's rows loses none of them.
struct Position {
  std::string at;
  std::vector<std::string> key;
  // The rows of this place already read, by content (a hash of their values): a page
  // starting here drops exactly those, so a row read here that moved or went meanwhile
  // does not make the reader drop one it has not read.
  std::vector<std::string> read;

  bool same_place(const Position& other) const { return at == other.at && key == other.key; }
};

std::optional<Position> position_of(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  boost::json::error_code ec;
  auto v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return Position{*text, {}};  // a cursor stored before keys
  Position p;
  p.at = std::string(v.at("at").as_string());
  for (const auto& k : v.at("key").as_array()) p.key.emplace_back(k.as_string());
  if (const auto* read = v.as_object().if_contains("read"); read && read->is_array()) {
    for (const auto& h : read->as_array()) {
      if (h.is_string()) p.read.emplace_back(h.as_string());
    }
  }
  return p;
}

// The mark a backfill leaves on each query it reads as history, until that query has been
// read to the backfill's bound: what came after the bound is live, whoever reads it.
struct HistoryMark {
  std::optional<TimePoint> until;
  std::optional<Date> since;  // --since: where a query not read at all starts
};

std::optional<HistoryMark> mark_of(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  HistoryMark mark;
  boost::json::error_code ec;
  auto v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return mark;
  if (const auto* u = v.as_object().if_contains("until"); u && u->is_string()) {
    mark.until = parse_time(u->as_string());
  }
  if (const auto* s = v.as_object().if_contains("since"); s && s->is_string()) {
    mark.since = parse_date(s->as_string());
  }
  return mark;
}

std::string text_of(const HistoryMark& mark) {
  boost::json::object o;
  if (mark.until) o["until"] = format_time(*mark.until);
  if (mark.since) o["since"] = format_date(*mark.since);
  return boost::json::serialize(o);
}

std::string text_of(const Position& p) {
  boost::json::array key;
  for (const auto& k : p.key) key.emplace_back(k);
  return boost::json::serialize(boost::json::object{
      {"at", p.at}, {"key", key}, {"read", boost::json::array(p.read.begin(), p.read.end())}});
}

// One page's SQL and its parameters, bound in the order their placeholders appear; where
// it starts, and how many rows it asks for (a page asks for its rows and the rows of its
// starting place that were read already, which the reader drops).
struct PageQuery {
  std::string sql;
  std::vector<std::string> values;
  std::optional<Position> from;
  std::size_t limit = 0;
};

// The SQL of a query's pages: the rows from a position on, in (cursor, key) order, at most
// `batch` of them. (A query without a cursor is not paged: see FullScan.)
class PageSql {
 public:
  // `select` names the columns; `then` orders the rows of one key (see Position); `bound` is the
  // upper bound's text (rows strictly older). `standard`: OFFSET ... FETCH NEXT and the comparison
  // written out, for databases without LIMIT or row values.
  PageSql(std::string select, std::string cursor, std::vector<std::string> keys,
          std::vector<std::string> then, std::string bound, bool standard, std::size_t batch)
      : select_(std::move(select)),
        cursor_(std::move(cursor)),
        keys_(std::move(keys)),
        then_(std::move(then)),
        bound_(std::move(bound)),
        standard_(standard),
        batch_(batch) {}

  // `from`: the position (nullopt: from the start).
  // `batch`: rows past those read already at `from` (0: the query's own batch).
  PageQuery after(const std::optional<Position>& from, std::size_t batch = 0) const {
    PageQuery q{select_, {}, from, 0};
    std::size_t skip = 0;
    std::vector<std::string> order = keys_;
    {
      // Strictly older than now - lag: a row of the bound's own second may still commit.
      q.sql += " AND " + cursor_ + " < " + param(q, bound_);
      if (from && from->key.size() == keys_.size()) {
        std::vector<std::string> columns{cursor_}, at{from->at};
        columns.insert(columns.end(), keys_.begin(), keys_.end());
        at.insert(at.end(), from->key.begin(), from->key.end());
        q.sql += " AND " + at_or_after(q, columns, at);
        skip = from->read.size();
      } else if (from) {  // --since, or a position saved before keys: from that moment
        q.sql += " AND " + cursor_ + " >= " + param(q, from->at);
      }
      order.insert(order.begin(), cursor_);
    }
    order.insert(order.end(), then_.begin(), then_.end());
    q.sql += " ORDER BY " + join(order);
    // Not OFFSET: the rows to skip are those of the starting place only, and a row read
    // there may have moved on since (an update moves its cursor).
    q.limit = (batch ? batch : batch_) + skip;
    q.sql += standard_ ? " OFFSET 0 ROWS FETCH NEXT " + std::to_string(q.limit) + " ROWS ONLY"
                       : " LIMIT " + std::to_string(q.limit);
    return q;
  }

 private:
  static std::string param(PageQuery& q, const std::string& value) {
    q.values.push_back(value);
    return ":p" + std::to_string(q.values.size());
  }
  static std::string join(const std::vector<std::string>& columns) {
    std::string out;
    for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c;
    return out;
  }
  // Rows at or after `at` in the order of `columns`: one row-value comparison "(a, b) >=
  // (x, y)", which the database can start an index range scan at (the same written out,
  // "a > x OR (a = x AND b >= y)", made PostgreSQL scan from the start on every page,
  // which made a backfill quadratic); written out where there are no row values.
  std::string at_or_after(PageQuery& q, const std::vector<std::string>& columns,
                          const std::vector<std::string>& at, std::size_t from = 0) const {
    if (!standard_) {
      std::string right;
      for (std::size_t i = 0; i < columns.size(); ++i) {
        right += (i ? ", " : "") + param(q, at[i]);
      }
      return "(" + join(columns) + ") >= (" + right + ")";
    }
    if (from + 1 == columns.size()) return columns[from] + " >= " + param(q, at[from]);
    std::string after_this = columns[from] + " > " + param(q, at[from]);
    std::string equal = columns[from] + " = " + param(q, at[from]);
    return "(" + after_this + " OR (" + equal + " AND " + at_or_after(q, columns, at, from + 1) +
           "))";
  }

  std::string select_, cursor_;
  std::vector<std::string> keys_, then_;
  std::string bound_;
  bool standard_;
  std::size_t batch_;
};

// A page read whole: the column names (lower case) and each row's values; once read
// ahead, each row as it maps (RowIngest::prepare).
struct FetchedPage {
  std::vector<std::string> names;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::vector<PreparedRow> prepared;
};

FetchedPage fetch_page(soci::session& session, const PageQuery& query) {
  soci::statement st(session);
  soci::row row;
  st.exchange(soci::into(row));
  for (const auto& v : query.values) st.exchange(soci::use(v));
  st.alloc();
  st.prepare(query.sql);
  st.define_and_bind();
  FetchedPage page;
  for (bool more = st.execute(true); more; more = st.fetch()) {
    if (page.names.empty()) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        page.names.push_back(lower(row.get_properties(i).get_name()));
      }
    }
    auto& values = page.rows.emplace_back();
    values.reserve(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) values.push_back(soci_util::text(row, i));
  }
  return page;
}

// A full scan: the admin's query run once and its rows streamed in batches. Paged by key,
// a view-like SELECT (joins, date clean-up, GROUP BY merging duplicate rows) that the
// database cannot filter by key before computing it ran again for every page, so a full
// read cost pages x the query. SQLite steps through the one result (its read lasts the
// poll); PostgreSQL reads it through a cursor (libpq would otherwise hold the whole result
// in memory), in a read transaction that also gives the scan one snapshot; MySQL's client
// library holds the result (SOCI's MySQL backend stores it) while it is read, and so may
// an ODBC driver (psqlODBC does unless UseDeclareFetch is set).
class FullScan {
 public:
  FullScan(soci::session& session, const std::string& select, bool postgresql, std::size_t batch)
      : session_(session), postgresql_(postgresql), batch_(batch) {
    if (postgresql_) {
      session_.begin();
      open_ = true;
      try {
        session_ << "DECLARE rapport_scan NO SCROLL CURSOR FOR " + select;
      } catch (...) {
        // No destructor runs for an object whose constructor throws: the transaction
        // ends here, so the session stays usable and the query's own error is reported.
        open_ = false;
        try {
          session_.rollback();
        } catch (...) {
        }
        throw;
      }
      return;
    }
    statement_ = std::make_unique<soci::statement>(session_);
    statement_->exchange(soci::into(row_));
    statement_->alloc();
    statement_->prepare(select);
    statement_->define_and_bind();
    more_ = statement_->execute(true);
  }
  FullScan(const FullScan&) = delete;
  FullScan& operator=(const FullScan&) = delete;
  ~FullScan() {
    if (!open_) return;
    try {
      session_.rollback();  // the cursor goes with it
    } catch (...) {
    }
  }

  // At most `batch` rows; fewer only at the end.
  FetchedPage next() {
    if (postgresql_) {
      return fetch_page(session_, {"FETCH FORWARD " + std::to_string(batch_) + " FROM rapport_scan",
                                   {},
                                   std::nullopt,
                                   batch_});
    }
    FetchedPage page;
    while (more_ && page.rows.size() < batch_) {
      if (page.names.empty()) {
        for (std::size_t i = 0; i < row_.size(); ++i) {
          page.names.push_back(lower(row_.get_properties(i).get_name()));
        }
      }
      auto& values = page.rows.emplace_back();
      values.reserve(row_.size());
      for (std::size_t i = 0; i < row_.size(); ++i) values.push_back(soci_util::text(row_, i));
      more_ = statement_->fetch();
    }
    return page;
  }

  // Read to the end: the cursor closed and the read transaction ended.
  void finish() {
    statement_.reset();
    if (!open_) return;
    session_ << "CLOSE rapport_scan";
    open_ = false;
    session_.commit();
  }

 private:
  soci::session& session_;
  bool postgresql_;
  std::size_t batch_;
  bool open_ = false, more_ = false;
  soci::row row_;  // before statement_: the statement goes first
  std::unique_ptr<soci::statement> statement_;
};

}  // namespace

std::vector<std::string> SqlSource::key_columns(const std::string& entity,
                                                const QueryMapping& m) const {
  return m.key.empty() ? default_key(entity, m) : m.key;
}

std::size_t SqlSource::read_entity(Store& store, const std::string& entity, const QueryMapping& m,
                                   TimePoint until, TimePoint now) {
  const std::string where = "sources." + name_ + ".queries." + entity;
  const auto keys = key_columns(entity, m);
  const bool full_scan = m.cursor.empty();
  // A full scan sees every row, so it also sees which rows are gone (rotations, team).
  const bool sweep =
      full_scan && (entity == "rotations" || entity == "team" || entity == "interests");
  std::int64_t generation = 0;
  if (sweep) {
    generation = std::stoll(store.cursor(name_, entity + "#scan").value_or("0")) + 1;
  }
  std::optional<Position> position =
      full_scan ? std::nullopt : position_of(store.cursor(name_, entity));
  // History while the backfill's mark is there (see backfill()): the next backfill, or
  // the next poll, finishes an interrupted one as history, up to the backfill's bound,
  // and then removes the mark; what comes after is live.
  const std::string mark_key = entity + "#history";
  const auto mark = mark_of(store.cursor(name_, mark_key));
  const bool history = mark.has_value();
  if (mark && mark->until && *mark->until < until) until = *mark->until;
  if (!position && !full_scan && mark && mark->since) {
    position = Position{format_bound(TimePoint{*mark->since}, m.time_format), {}};
  }
  // Column names as the database reports them (PostgreSQL folds unquoted names).
  std::map<std::string, std::string> actual;
  {
    soci::row probe;
    session() << "SELECT * FROM (" + m.sql + ") rapport_q WHERE 1 = 0", soci::into(probe);
    for (std::size_t i = 0; i < probe.size(); ++i) {
      actual[lower(probe.get_properties(i).get_name())] = probe.get_properties(i).get_name();
    }
  }
  auto column = [&](const std::string& name) {
    auto it = actual.find(lower(name));
    if (it == actual.end()) {
      throw std::runtime_error(where + ": column \"" + name + "\" is not in the query's result");
    }
    return quoted(it->second);
  };
  const std::string text_type = options_.backend == "postgresql" ? "text"
                                : options_.backend == "mysql"    ? "CHAR"
                                : options_.backend == "sqlite"   ? "TEXT"
                                                                 : "VARCHAR(64)";
  std::string bound = format_bound(until, m.time_format);
  bool held = false;  // a row asked to be read again: the position stays before it
  std::size_t added = 0;
  Progress progress{entity, 0, progress_ ? count_rows(m, until) : 0};

  std::vector<std::string> quoted_keys, then;
  for (const auto& k : keys) quoted_keys.push_back(column(k));
  if (entity == "team" || entity == "interests") {
    // A person's roster rows on one rotation, or interest rows of one specialty, share the
    // default key: their other fields, where the query has them, order them (see
    // Position; PostgreSQL keeps no order among ties from one LIMIT to the next).
    const std::vector<const char*> others = entity == "team"
                                                ? std::vector<const char*>{"start", "end", "role"}
                                                : std::vector<const char*>{"rank"};
    for (const char* field : others) {
      auto mapped = m.columns.find(field);
      std::string name = mapped == m.columns.end() ? field : mapped->second;
      if (actual.count(lower(name)) && !std::count(keys.begin(), keys.end(), name)) {
        then.push_back(column(name));
      }
    }
  }
  // Cursor reads only (a full scan is one statement, below).
  std::optional<PageSql> pages;
  if (!full_scan) {
    pages.emplace("SELECT rapport_q.*, CAST(" + column(m.cursor) + " AS " + text_type +
                      ") AS rapport_cursor FROM (" + m.sql + ") rapport_q WHERE 1 = 1",
                  column(m.cursor), quoted_keys, then, bound, options_.paging == "standard",
                  options_.batch);
  }
  // Where a page's row leaves the reading: its key, and the cursor's text.
  auto key_of = [&](const MappedRow& row) {
    std::vector<std::string> key;
    for (const auto& k : keys) key.push_back(row.raw(k).value_or(""));
    return key;
  };
  auto place_of = [&](const MappedRow& row) {
    return Position{full_scan ? "" : row.raw("rapport_cursor").value_or(""), key_of(row), {}};
  };
  auto digest_of = [](const RowColumns& row) {
    std::string content;
    for (const auto& [name, value] : row)
      content += name + '\x1f' + value.value_or("\x1e") + '\x1f';
    return content_hash(content);
  };
  // The reading moves on by one row: a row of the same place joins those read there.
  auto advance = [](std::optional<Position>& at, Position row, std::string digest) {
    if (at && at->same_place(row)) row.read = std::move(at->read);
    if (std::find(row.read.begin(), row.read.end(), digest) == row.read.end()) {
      row.read.push_back(std::move(digest));
    }
    at = std::move(row);
  };

  // The next page is read (on another thread) while this one is stored; it starts after
  // this page's last row, which is where the reading goes on unless a row is held (then
  // the page read ahead is dropped). The session is used by one thread at a time. Not for
  // MySQL: its client library wants each thread that uses a connection set up for it.
  // Its rows are mapped and hashed there too (RowIngest::prepare, which does not touch
  // the store), beside the storing of this page.
  const auto read_ahead = options_.backend == "mysql" ? std::launch::deferred : std::launch::async;
  auto prepared = [this, &entity, &m, &where](FetchedPage page) {
    RowColumns columns;
    for (const auto& name : page.names) columns.emplace_back(name, std::nullopt);
    page.prepared.reserve(page.rows.size());
    for (auto& values : page.rows) {
      for (std::size_t i = 0; i < columns.size(); ++i) columns[i].second = std::move(values[i]);
      page.prepared.push_back(ingest_.prepare(entity, MappedRow(columns, m, where)));
      for (std::size_t i = 0; i < columns.size(); ++i) values[i] = std::move(columns[i].second);
    }
    return page;
  };
  soci::session& reading = session();
  // The page stored last is freed there too, off this thread: a reading thread made its
  // strings (each page's is a new thread, which takes up the arena the last one left), and
  // freeing them here, into another thread's malloc arena, cost this thread a tenth of its
  // time. So three pages are held at most: the one stored, the one read and the one freed.
  FetchedPage spent;
  auto fetch_ahead = [&](PageQuery query) {
    return std::async(read_ahead, [&reading, &prepared, query = std::move(query),
                                   old = std::move(spent)]() mutable {
      old = {};
      return prepared(fetch_page(reading, query));
    });
  };
  std::unique_ptr<FullScan> scan;
  auto scan_ahead = [&] {
    return std::async(read_ahead, [&scan, &prepared, old = std::move(spent)]() mutable {
      old = {};
      return prepared(scan->next());
    });
  };
  PageQuery asked;
  std::future<FetchedPage> next;
  if (full_scan) {
    scan = std::make_unique<FullScan>(reading, "SELECT * FROM (" + m.sql + ") rapport_q",
                                      options_.backend == "postgresql", options_.batch);
    asked.limit = options_.batch;
    next = scan_ahead();
  } else {
    asked = pages->after(position);
    next = fetch_ahead(asked);
  }
  for (;;) {
    FetchedPage fetched = next.get();
    const bool more = fetched.rows.size() == asked.limit;
    RowColumns columns;
    for (const auto& name : fetched.names) columns.emplace_back(name, std::nullopt);
    auto place_at = [&](std::size_t row) {
      for (std::size_t i = 0; i < columns.size(); ++i) columns[i].second = fetched.rows[row][i];
      return place_of(MappedRow(columns, m, where));
    };
    auto digest_at = [&](std::size_t row) {
      for (std::size_t i = 0; i < columns.size(); ++i) columns[i].second = fetched.rows[row][i];
      return digest_of(columns);
    };
    // The page starts at the place the reading stopped at: its rows there that were read
    // already (by content) go; a row there not read yet stays, wherever it sorts.
    const auto from = asked.from;
    if (from && !from->read.empty()) {
      std::vector<std::vector<std::optional<std::string>>> kept;
      std::vector<PreparedRow> kept_prepared;
      kept.reserve(fetched.rows.size());
      for (std::size_t i = 0; i < fetched.rows.size(); ++i) {
        bool read_already =
            place_at(i).same_place(*from) &&
            std::find(from->read.begin(), from->read.end(), digest_at(i)) != from->read.end();
        if (!read_already) {
          kept.push_back(std::move(fetched.rows[i]));
          kept_prepared.push_back(std::move(fetched.prepared[i]));
        }
      }
      fetched.rows = std::move(kept);
      fetched.prepared = std::move(kept_prepared);
      if (fetched.rows.empty() && more) {
        // A full page of rows read already: exact duplicates of them at that place took
        // the places of the rows after them. Asked again for twice as many (and again),
        // so that what comes after the duplicates is reached.
        asked = pages->after(from, 2 * asked.limit);
        next = fetch_ahead(asked);
        continue;
      }
    }
    const std::size_t rows = fetched.rows.size();
    // Where the reading stands once the page's first `count` rows are read: at the last
    // one's place, with the rows of that place read (and those read there before, if the
    // page never left it). Only the run of rows at that place is looked at: advancing
    // through the rows before it would end the same.
    auto leave_at = [&](std::optional<Position> at, std::size_t count) {
      if (count == 0) return at;
      const Position last = place_at(count - 1);
      std::size_t first = count - 1;
      while (first > 0 && place_at(first - 1).same_place(last)) --first;
      if (first > 0) at.reset();  // the page left the place it started at
      for (std::size_t i = first; i < count; ++i) advance(at, place_at(i), digest_at(i));
      return at;
    };
    std::optional<Position> ahead;  // where the page leaves the reading, all of it read
    if (more && rows > 0 && full_scan) {
      next = scan_ahead();
    } else if (more && rows > 0) {
      ahead = leave_at(from, rows);
      asked = pages->after(ahead);
      next = fetch_ahead(asked);
    }

    Transaction tx(store);
    PageEvents page{history, history && !full_scan};
    if (store.reads_pay_by_statement() && (!page.unseen || entity == "team")) {
      // What the rows will ask of the store, asked at once (PostgreSQL: one round trip
      // instead of one per row), from the rows as they were prepared. A row that does not
      // map asks nothing: its error is reported first. (A key missed here is asked alone.)
      std::vector<std::string> stored_keys, rotations;
      for (const auto& prepared_row : fetched.prepared) {
        if (prepared_row.failure) continue;
        // A first read does not compare (PageEvents::unseen): only its rotations are asked.
        if (!page.unseen && !prepared_row.key.empty()) stored_keys.push_back(prepared_row.key);
        if (entity == "team" && (rotations.empty() || rotations.back() != prepared_row.owner)) {
          rotations.push_back(prepared_row.owner);
        }
      }
      ingest_.read_ahead(entity, stored_keys, rotations, store, page);
    }
    std::vector<std::string> seen;  // marked once the page's hashes are stored
    std::size_t read_to = rows;     // the rows read before the first held one
    for (std::size_t at = 0; at < rows; ++at) {
      auto& values = fetched.rows[at];
      for (std::size_t i = 0; i < columns.size(); ++i) columns[i].second = std::move(values[i]);
      MappedRow mapped(columns, m, where);
      RowOutcome outcome;
      try {
        outcome = ingest_.row(entity, mapped, std::move(fetched.prepared[at]), store, page);
      } catch (const JsonError& e) {
        std::string key_text;  // (worked out here only: most rows map)
        for (const auto& k : key_of(mapped)) key_text += (key_text.empty() ? "" : "/") + k;
        // Said once per row and content, not at every poll of a query read whole.
        const std::string hash = digest_of(columns), marker = entity + "#skipped";
        if (store.row_hash(name_, marker, key_text) != hash) {
          log::warn(
              "source.sql", "row skipped: it does not map onto rapport/v1",
              {{"source", name_}, {"entity", entity}, {"key", key_text}, {"error", e.what()}});
          store.set_row_hash(name_, marker, key_text, hash);
        }
        // Still there, only unreadable: a full scan must not take it for deleted.
        outcome.stored_as = ingest_.stored_key(entity, mapped, key_text);
      }
      if (outcome.hold && !held) {
        held = true;
        read_to = at;
      }
      if (sweep && !outcome.hold && !outcome.stored_as.empty()) seen.push_back(outcome.stored_as);
      // The values back in the page, for where it leaves the reading (below).
      for (std::size_t i = 0; i < columns.size(); ++i) values[i] = std::move(columns[i].second);
    }
    // The reading moves on to the row before the first held one (a held row, a team
    // member of a rotation not read yet, is read again from there).
    if (!full_scan)
      position = read_to == rows && ahead ? std::move(ahead) : leave_at(from, read_to);
    added += ingest_.flush(store, page, now, write_history_);
    std::vector<std::string> plain;  // marked at once
    for (const auto& key : seen) {
      if (key.ends_with(kAnyRow)) {
        // "rotation \x1f person \x1f*": the rows whose keys start "rotation \x1f person \x1f"
        store.mark_rows_seen_with_prefix(name_, entity, key.substr(0, key.size() - 1), generation);
      } else {
        plain.push_back(key);
      }
    }
    store.mark_rows_seen(name_, entity, plain, generation);
    if (!full_scan && position) store.set_cursor(name_, entity, text_of(*position));
    // A held row (a team member of a rotation not read yet) pins the position: go on at
    // the next poll rather than fetch the same page again. A full scan reads on (the held
    // row is read again at the next one), so that what comes after it is read, and its
    // sweep does not take the rows it did not reach for deleted.
    const bool last = !more || rows == 0 || (held && !full_scan);
    if (history && last && !held) store.delete_cursor(name_, mark_key);
    tx.commit();
    progress.rows += rows;
    if (progress_ && !progress_(progress)) throw Interrupted{};
    if (last) break;
    spent = std::move(fetched);
  }
  // A page read ahead for nothing (a held row): wait for it before the session is used
  // again (a deferred read is never made).
  if (next.valid() && read_ahead == std::launch::async) next.wait();
  if (scan) scan->finish();
  if (sweep) {
    Transaction tx(store);
    PageEvents page{history, false};
    for (const auto& key : store.rows_not_seen(name_, entity, generation)) {
      ingest_.removed(entity, key, store, page);
      store.forget_row(name_, entity, key);
    }
    added += ingest_.flush(store, page, now, write_history_);
    store.set_cursor(name_, entity + "#scan", std::to_string(generation));
    tx.commit();
  }
  return added;
}

const std::optional<QueryMapping>& SqlSource::mapping_of(const std::string& entity) const {
  return entity == "people"      ? options_.people
         : entity == "rotations" ? options_.rotations
         : entity == "team"      ? options_.team
         : entity == "interests" ? options_.interests
         : entity == "sites"     ? options_.sites
                                 : options_.evaluations;
}

std::size_t SqlSource::count_rows(const QueryMapping& m, TimePoint until) {
  std::string sql = "SELECT COUNT(*) FROM (" + m.sql + ") rapport_q";
  long long n = 0;
  if (m.cursor.empty()) {
    session() << sql, soci::into(n);
  } else {
    std::string bound = format_bound(until, m.time_format);
    session() << sql + " WHERE " + quoted(m.cursor) + " < :until", soci::use(bound), soci::into(n);
  }
  return std::size_t(n);
}

std::size_t SqlSource::backfill(Store& store, TimePoint now, std::optional<Date> since,
                                std::optional<TimePoint> as_of,
                                const std::function<bool(const Progress&)>& progress,
                                const HistoryWriter& write) {
  progress_ = progress;
  write_history_ = write;
  struct Reset {
    SqlSource& s;
    ~Reset() {
      s.progress_ = nullptr;
      s.write_history_ = nullptr;
    }
  } reset{*this};
  TimePoint clock = options_.database_clock ? database_now() : now;
  const TimePoint latest = clock - std::chrono::duration_cast<std::chrono::seconds>(options_.lag);
  if (as_of && options_.database_clock && *as_of > latest) {
    // History cannot run ahead of what the database has committed for certain.
    throw std::runtime_error("--until " + format_time(*as_of) +
                             " is after the database's clock less the lag (" + format_time(latest) +
                             ")");
  }
  TimePoint until = as_of ? *as_of : latest;
  if (as_of) now = *as_of;  // history happens at the bound: what comes after is live
  {
    // A backfill reads history only where nothing was read yet (or an interrupted
    // backfill left off): a query already polled live goes on as live, so none of its new
    // rows is mistaken for history. Each such query is marked, with this backfill's
    // bound, before its first row is read, so that whatever stops this run, its rows stay
    // history.
    Transaction tx(store);
    for (const auto& entity : RowIngest::entities()) {
      auto before = mark_of(store.cursor(name_, entity + "#history"));
      if (!mapping_of(entity) ||
          (!before && (store.cursor(name_, entity) || store.cursor(name_, entity + "#scan")))) {
        continue;
      }
      HistoryMark mark{until, since ? since : before ? before->since : std::nullopt};
      store.set_cursor(name_, entity + "#history", text_of(mark));
    }
    tx.commit();
  }
  try {
    return read_changes(store, until, now);
  } catch (const Interrupted&) {
    return 0;
  }
}

std::size_t SqlSource::read_changes(Store& store, TimePoint until, TimePoint now) {
  std::size_t added = 0;
  for (const auto& entity : RowIngest::entities()) {
    if (const auto& mapping = mapping_of(entity)) {
      added += read_entity(store, entity, *mapping, until, now);
    }
  }
  if (added) log::debug("source.sql", "poll", {{"source", name_}, {"events", added}});
  return added;
}

}  // namespace rapport::adapters
