#pragma once
// The store a configuration names (`store:`), opened: the one place that turns the
// section into a store, for the engine, the commands, the listener and the status page.

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
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

// What `rapport status` calls the configured store: a SQLite store's path, or
// "postgresql" (never the connection string, which may hold a password).
std::string store_name(const config::Config& config);

}  // namespace rapport
