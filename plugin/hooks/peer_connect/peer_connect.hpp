#pragma once
// Before a rotation starts (`lead` ahead of its start, or when it is scheduled if that is
// later; or when it starts), connect the student with peers who rotated at the same site
// and specialty before: the unwritten rules of a site travel student to student. Schools
// publish a year's schedule months ahead; judged when it is scheduled, nobody would have
// rotated there yet, so the suggestion waits for a timer `lead` before the start. Ranked by 0.5 ^
// (days since the peer's rotation ended / 365), plus 0.5 when they share the student's declared
// interest; at most `max_peers`, chosen among the 20 x max_peers most recent peers.

#include <chrono>
#include <optional>
#include <string>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

struct PeerConnectOptions {
  std::optional<std::chrono::seconds> max_lateness;  // none: no expiry (HookKind::max_lateness)
  EventType trigger;
  std::chrono::days lead{0};  // trigger scheduled: this long before the start
  std::chrono::days window;
  int max_peers;
  std::chrono::seconds due_after;
};

class PeerConnect final : public Hook {
 public:
  PeerConnect(std::string name, PeerConnectOptions options)
      : name_(std::move(name)), options_(options) {}
  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override {
    return {options_.trigger, EventType::followup_due};
  }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

 private:
  std::string name_;
  PeerConnectOptions options_;
};

HookKind peer_connect_kind();

}  // namespace rapport::hooks
