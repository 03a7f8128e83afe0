#include "adapters/callback/callback_sink.hpp"

namespace rapport::adapters {

Delivery CallbackSink::deliver(const std::vector<Outgoing>& batch) {
  std::lock_guard lock(mutex_);
  if (!callback_) return Delivery::retry;
  // The batch is all or nothing for the engine; a host that declines one action gets the
  // whole batch again, so it must take repeated ids calmly (they are deterministic).
  for (const auto& out : batch) {
    if (callback_(out.body.c_str(), user_data_) != 0) return Delivery::retry;
  }
  return Delivery::ok;
}

void CallbackSink::set(HostCallback callback, void* user_data) {
  std::lock_guard lock(mutex_);
  callback_ = callback;
  user_data_ = user_data;
}

SinkKind callback_sink_kind() {
  SinkKind kind;
  kind.type = "callback";
  kind.schema = {"sinks (type: callback)",
                 "Hands each action to the embedding host's function (rapport/embed.h).",
                 {}};
  kind.create = [](const std::string& name, const config::Section&) -> std::unique_ptr<Sink> {
    return std::make_unique<CallbackSink>(name);
  };
  return kind;
}

}  // namespace rapport::adapters
