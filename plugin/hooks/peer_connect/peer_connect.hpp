#pragma once
// When a rotation is scheduled (or starts), connect the student with peers who rotated at
// the same site and specialty before: the unwritten rules of a site travel student to
// student. Ranked by recency, then shared interest; at most `max_peers`.

#include <chrono>
#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct PeerConnectOptions {
  EventType trigger;
  std::chrono::days window;
  int max_peers;
  std::chrono::seconds due_after;
};

class PeerConnect final : public Hook {
 public:
  PeerConnect(std::string name, PeerConnectOptions options)
      : name_(std::move(name)), options_(options) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return {options_.trigger}; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  PeerConnectOptions options_;
};

HookKind peer_connect_kind();

}  // namespace rapport::hooks
