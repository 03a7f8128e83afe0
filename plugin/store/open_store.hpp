#pragma once
// The store a configuration names (`store:`), opened: the one place that turns the
// section into a store, for the engine, the commands, the listener and the status page.

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"

namespace rapport {

struct StoreOpening {
  // A SQLite file instead of the configured store, whatever its type (a simulation's copy).
  std::optional<std::string> path;
  // false: this connection never checkpoints the WAL (another connection of the process
  // does: for readers and the listener's committer beside the engine).
  bool checkpoints = true;
};

std::unique_ptr<Store> open_store(const config::Config& config, const StoreOpening& opening = {});

// A SQLite store's WAL checkpointed from a thread of its own (see WalCheckpointer), for a
// process whose connections are all opened with `checkpoints = false`; nullptr for a
// PostgreSQL store.
std::unique_ptr<WalCheckpointer> start_wal_checkpointer(const config::Config& config);

// What `rapport status` calls the configured store: a SQLite store's path, or
// "postgresql" (never the connection string, which may hold a password).
std::string store_name(const config::Config& config);

}  // namespace rapport
