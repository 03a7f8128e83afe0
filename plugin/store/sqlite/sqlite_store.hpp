#pragma once
// The SQLite store: one file, WAL, one writer at a time. The embedded default.

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
};

// Opens (creating if needed) and migrates. Throws StoreError when the file's schema is
// newer than this build knows, or the file cannot be opened.
std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options);

// The schema version this build migrates a SQLite store to.
inline constexpr int kStoreSchemaVersion = 16;

}  // namespace rapport
