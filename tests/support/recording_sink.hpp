#pragma once
// A sink that records the ids it is given, and refuses (RETRY) while `accept` is false.

#include <string>
#include <vector>

#include "engine/sink.hpp"

namespace rapport::test {

class RecordingSink : public Sink {
 public:
  bool accept = true;
  std::vector<std::string> received;
  const std::string& name() const override { return name_; }
  std::string destination() const override { return "host callback"; }
  Delivery deliver(const std::vector<Outgoing>& batch) override {
    if (!accept) return Delivery::retry;
    for (const auto& o : batch) received.push_back(o.action_id);
    return Delivery::ok;
  }

 private:
  std::string name_ = "recorder";
};

}  // namespace rapport::test
