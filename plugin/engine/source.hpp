#pragma once
// Where events come from. A source reads what changed since its cursor and appends the
// resulting events and its new cursor to the store in one transaction.

#include <chrono>
#include <cstddef>
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
};

}  // namespace rapport
