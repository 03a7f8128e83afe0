#pragma once
// Where events come from. A source reads what changed since its cursor and appends the
// resulting events and its new cursor to the store in one transaction.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "rapport/types.hpp"

namespace rapport {

class Store;

class Source {
 public:
  virtual ~Source() = default;
  virtual const std::string& name() const = 0;
  virtual std::chrono::milliseconds poll_interval() const = 0;
  // Reads changes visible up to `now`; returns how many new events entered the inbox.
  // Throws on failure; nothing is committed then, and the next poll starts where this
  // one did.
  virtual std::size_t poll(Store& store, TimePoint now) = 0;

  struct Progress {
    std::string entity;
    std::size_t rows = 0, total = 0;  // total: an estimate, 0 when unknown
  };
  // Imports history in bulk: every row up to now, as history events (the relationship
  // memory is built from them; hooks meant for live events are not fired). Committed page
  // by page, so an interrupted backfill resumes where it stopped. `progress` is called
  // after each page; returning false stops (resumably). `until`: the as-of bound, given
  // by the admin: history is what the source held before it, and the history events
  // happen then (rotations still to come, or under way, keep their moments after it);
  // without it, the source's own clock less its lag.
  // `write`, when given, takes a page's history events instead of the inbox (it applies
  // them to the mirror in the page's transaction: Dispatcher::apply_history), or returns
  // false to have them stored in the inbox as usual.
  using HistoryWriter = std::function<bool(const std::vector<Event>&)>;
  virtual std::size_t backfill(Store& store, TimePoint now, std::optional<Date> since,
                               std::optional<TimePoint> until,
                               const std::function<bool(const Progress&)>& progress,
                               const HistoryWriter& write = {}) {
    (void)store, (void)now, (void)since, (void)until, (void)progress, (void)write;
    throw std::runtime_error("source " + name() + " cannot backfill (only SQL sources can)");
  }
  // True when the source reads up to the engine's clock (a simulation), not a database's.
  virtual bool reads_engine_clock() const { return false; }
};

// Events a backfill imports carry this suffix on their source.
inline constexpr const char* kHistorySuffix = "/history";

}  // namespace rapport
