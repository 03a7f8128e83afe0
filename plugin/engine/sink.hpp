#pragma once
// Where actions go. The engine hands a sink actions in outbox order and advances the
// sink's progress only after the sink says OK (at-least-once; ids let receivers dedupe).

#include <cstdint>
#include <string>
#include <vector>

namespace rapport {

enum class Delivery { ok, retry, error };

struct Outgoing {
  std::int64_t seq = 0;
  std::string action_id;
  std::string body;  // the action as a CloudEvent, with the contact's details from the store
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& name() const = 0;
  // All of the batch or none of it: on anything but ok, the same batch comes again.
  virtual Delivery deliver(const std::vector<Outgoing>& batch) = 0;
};

}  // namespace rapport
