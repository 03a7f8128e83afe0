#pragma once
// The SQL source: admin-written SELECT queries for people, rotations, team members and
// evaluations, their columns mapped onto rapport/v1, polled with a watermark. Rows are
// compared with what was read before (a content hash per row), so only changes become
// events: rotation.scheduled / updated / cancelled, team.changed, evaluation.submitted,
// person.updated. Events, hashes and cursors commit in one store transaction.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/common/ingest.hpp"
#include "engine/registry.hpp"
#include "engine/source.hpp"

namespace soci {
class session;
}

namespace rapport::adapters {

// One mapped query: its SELECT, and how its columns map onto our fields.
struct QueryMapping : FieldMapping {
  std::string sql;
  std::string cursor;            // column compared against the watermark; empty: read everything
  std::vector<std::string> key;  // columns unique per row (default: the id's, or team's pair)
};

struct SqlSourceOptions {
  std::string backend = "sqlite";  // sqlite, postgresql, mysql, odbc
  std::string connection;
  bool database_clock = true;  // the upper bound from the database's clock, else the engine's
  std::chrono::milliseconds poll_interval{60'000};
  std::chrono::milliseconds lag{0};
  std::size_t batch = 1000;  // rows per page, each page one store transaction
  // How a page is asked for: "limit" (LIMIT n, row values) or "standard" (OFFSET 0 ROWS
  // FETCH NEXT n ROWS ONLY, the comparison with the position written out).
  std::string paging = "limit";
  std::optional<QueryMapping> people, rotations, team, evaluations, interests, sites;
};

class SqlSource final : public Source {
 public:
  SqlSource(std::string name, SqlSourceOptions options);
  ~SqlSource() override;

  const std::string& name() const override { return name_; }
  std::chrono::milliseconds poll_interval() const override { return options_.poll_interval; }
  std::size_t poll(Store& store, TimePoint now) override;
  bool reads_engine_clock() const override { return !options_.database_clock; }
  std::size_t backfill(Store& store, TimePoint now, std::optional<Date> since,
                       std::optional<TimePoint> until,
                       const std::function<bool(const Progress&)>& progress,
                       const HistoryWriter& write = {}) override;

 private:
  soci::session& session();
  bool reachable();
  TimePoint database_now();
  std::string quoted(const std::string& column) const;
  std::vector<std::string> key_columns(const std::string& entity, const QueryMapping& m) const;
  std::size_t read_changes(Store& store, TimePoint until, TimePoint now);
  std::size_t read_entity(Store& store, const std::string& entity, const QueryMapping& m,
                          TimePoint until, TimePoint now);
  std::size_t count_rows(const QueryMapping& m, TimePoint until);
  const std::optional<QueryMapping>& mapping_of(const std::string& entity) const;

  std::string name_;
  SqlSourceOptions options_;
  RowIngest ingest_;
  // Set while a backfill runs.
  std::function<bool(const Progress&)> progress_;
  HistoryWriter write_history_;
  std::unique_ptr<soci::session> session_;
  // When the database is away: one log line when it goes and one when it is back, and
  // attempts spaced out with backoff and jitter (wall clock) in between.
  bool down_ = false;
  bool state_written_ = false;  // up/down recorded at least once by this process
  int failures_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
};

SourceKind sql_source_kind();

// A session on the source's database (SQLite files must exist). Throws soci_error or
// runtime_error.
std::unique_ptr<soci::session> open_session(const SqlSourceOptions& options);

}  // namespace rapport::adapters
