#pragma once
// Actions to a function of the embedding host (rapport/embed.h): a sink like any other,
// with the same guarantees. Until the host registers its function, actions wait in the
// outbox.

#include <mutex>
#include <string>

#include "engine/registry.hpp"
#include "engine/sink.hpp"

namespace rapport::adapters {

// Returns 0 when the host took the action; anything else means "not now".
using HostCallback = int (*)(const char* action_json, void* user_data);

class CallbackSink final : public Sink {
 public:
  explicit CallbackSink(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string destination() const override { return "host callback"; }
  Delivery deliver(const std::vector<Outgoing>& batch) override;
  void set(HostCallback callback, void* user_data);

 private:
  std::string name_;
  std::mutex mutex_;
  HostCallback callback_ = nullptr;
  void* user_data_ = nullptr;
};

SinkKind callback_sink_kind();

}  // namespace rapport::adapters
