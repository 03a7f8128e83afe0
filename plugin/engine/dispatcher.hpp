#pragma once
// Takes inbox events in order, applies each to the mirror, runs every subscribed hook,
// and writes the actions to the outbox in the same transaction that records each
// consumer's progress. Killed at any point and restarted, it neither loses nor
// duplicates an action (action ids are deterministic; the outbox is unique on them).

#include <cstddef>
#include <memory>
#include <vector>

#include "rapport/hook.hpp"
#include "store/store.hpp"

namespace rapport {

struct DispatchStats {
  std::size_t events = 0, actions = 0, failures = 0, suppressed = 0;
};

inline constexpr const char* kMirrorConsumer = "mirror";

class Dispatcher {
 public:
  Dispatcher(Store& store, const std::vector<std::unique_ptr<Hook>>& hooks, std::size_t batch);

  // Dispatches until the inbox is drained.
  DispatchStats run(TimePoint now);

 private:
  Store& store_;
  const std::vector<std::unique_ptr<Hook>>& hooks_;
  std::size_t batch_;
};

// The one place the opt-out rule lives: no action about a student who opted out, and
// nobody who opted out is suggested as a contact.
bool permitted(Store& store, const Action& action);

}  // namespace rapport
