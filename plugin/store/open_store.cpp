#include "store/open_store.hpp"

#include <algorithm>

#include "store/postgresql/postgresql_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rapport {

namespace {

// The store section's SQLite options; a WAL file grown past four times wal_limit is cut
// back (SqliteOptions::wal_file_limit says why four).
SqliteOptions sqlite_options(const config::Section& s, std::string path, bool checkpoints) {
  return {std::move(path), s.str("synchronous") == "full", int(s.duration("busy_timeout").count()),
          checkpoints, 4 * s.integer("wal_limit")};
}

}  // namespace

std::unique_ptr<Store> open_store(const config::Config& config, const StoreOpening& opening) {
  auto s = config.section("store");
  if (s.str("type") == "postgresql" && !opening.path) {
    // A transaction idle past this is ended by the server (its process paused): twice the
    // lease, and at least a minute, so that a slow hook inside a batch is not cut short.
    auto idle = std::max(2 * s.duration("lease"), std::chrono::milliseconds(60'000));
    return open_postgresql_store({s.str("url"), s.duration("retry"), idle, s.duration("lease"),
                                  s.boolean("prepared_statements")});
  }
  return open_sqlite_store(
      sqlite_options(s, opening.path.value_or(s.str("path")), opening.checkpoints));
}

std::unique_ptr<WalCheckpointer> start_wal_checkpointer(const config::Config& config) {
  auto s = config.section("store");
  if (s.str("type") == "postgresql") return nullptr;
  return std::make_unique<WalCheckpointer>(sqlite_options(s, s.str("path"), false),
                                           WalCheckpointing{.limit_bytes = s.integer("wal_limit")});
}

std::string store_name(const config::Config& config) {
  auto s = config.section("store");
  if (s.str("type") != "postgresql") return s.str("path");
  return "postgresql";
}

}  // namespace rapport
