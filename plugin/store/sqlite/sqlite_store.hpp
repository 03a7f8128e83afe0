#pragma once
// The SQLite store: one file, WAL, one writer at a time. The embedded default.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace rapport {

struct SqliteOptions {
  std::string path;
  bool synchronous_full = true;
  int busy_timeout_ms = 5000;
  // false: this connection never checkpoints the WAL (another connection of the process
  // does, off the latency-sensitive path; the listener's committer uses this).
  bool checkpoints = true;
  // With checkpoints false: the size the WAL file is cut back to when it starts again from
  // its beginning, should a burst or a long reader have grown it past this. Four times
  // store.wal_limit under `rapport serve`, so that a file of its usual size is not cut and
  // grown again at every restart (which measured no slower, but is work for nothing).
  std::int64_t wal_file_limit = 64 << 20;
};

// Opens (creating if needed) and migrates. Throws StoreError when the file's schema is
// newer than this build knows, or the file cannot be opened.
std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options);

// How `rapport serve` keeps a SQLite store's write-ahead log in bounds. Its connections do
// not checkpoint (SqliteOptions::checkpoints = false): a checkpoint inside a commit held
// that group's requests for 20 to 200 ms. This thread does, on a connection of its own:
// - every `every` while the WAL grows (backing off to `idle_every` while it does not), a
//   passive checkpoint copies what the WAL holds into the database, off the write turn, so
//   writers go on meanwhile. Small passes often delay the commits' own fsyncs least: under
//   the listener benchmark's load, p99 was 4.2-4.8 ms with a pass every 20 ms, 7.7-9.7 ms
//   every 100 ms, 12-18 ms every second;
// - once the WAL holds `limit_bytes` (and passes off the turn have left little behind), one
//   last short pass under the process's write turn copies the rest, so that the next
//   write starts the WAL again from its beginning. Without it the WAL grew for as long as
//   writes went on (1.36 GB in 30 s of the listener's load).
// A reader holding an old snapshot (another process's, say) can hold the restart back,
// and writers faster than the passes (a slow disk) can keep the last pass from being
// short: tried again at the next round, and once the WAL holds four times the limit the
// turn is taken whatever is left to copy. Errors are logged, and the next round tries
// again.
struct WalCheckpointing {
  std::chrono::milliseconds every{20};
  // Not longer: the listener's load can come at once, and at 45 MB of WAL a second a
  // backoff to a second let the WAL reach 46 MB before the first pass.
  std::chrono::milliseconds idle_every{100};
  std::int64_t limit_bytes = 16 << 20;
};

class WalCheckpointer {
 public:
  WalCheckpointer(const SqliteOptions& options, WalCheckpointing checkpointing);
  ~WalCheckpointer();  // stops the thread; a pass in progress finishes first
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Passes under the write turn that copied the WAL to its end (after each, the next write
  // starts the WAL again from its beginning).
  std::int64_t completed() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The schema version this build migrates a SQLite store to.
inline constexpr int kStoreSchemaVersion = 16;

}  // namespace rapport
