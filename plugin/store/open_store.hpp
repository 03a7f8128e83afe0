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
  std::optional<std::string> path;  // instead of the config's (a simulation's copy)
  // false: this connection never checkpoints the WAL (another connection of the process
  // does: for readers and the listener's committer beside the engine).
  bool checkpoints = true;
};

std::unique_ptr<Store> open_store(const config::Config& config, const StoreOpening& opening = {});

}  // namespace rapport
