#include "hooks/peer_connect/peer_connect.hpp"

namespace rapport::hooks {

HookKind peer_connect_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "peer_connect";
  kind.per_student = true;
  kind.max_lateness = "7d";
  kind.lateness_from = "the rotation's start";
  kind.schema = {
      "hooks (peer_connect)",
      "Connect the student with peers who rotated at the same site and specialty before.",
      {
          {.name = "trigger",
           .type = Type::enumeration,
           .description = "when to connect: once the rotation is scheduled, or when it starts",
           .default_value = "scheduled",
           .choices = {"scheduled", "started"}},
          {.name = "lead",
           .type = Type::duration,
           .description = "trigger scheduled: connect this long before the rotation starts "
                          "(at once for a rotation scheduled later than that)",
           .default_value = "14d",
           .min = 0,
           .max = 365.0 * 86'400'000},
          {.name = "window",
           .type = Type::duration,
           .description = "how far back a peer's rotation may have ended",
           .default_value = "730d",
           .min = 86'400'000,
           .max = 3650.0 * 86'400'000},
          {.name = "max_peers",
           .type = Type::integer,
           .description = "peers per rotation",
           .default_value = "3",
           .min = 1,
           .max = 20},
          {.name = "due_after",
           .type = Type::duration,
           .description = "when the suggestion falls due, after the trigger",
           .default_value = "2d",
           .min = 0,
           .max = 60.0 * 86'400'000},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    PeerConnectOptions o;
    o.max_lateness = max_lateness_of(s);
    o.trigger =
        s.str("trigger") == "started" ? EventType::rotation_started : EventType::rotation_scheduled;
    o.window = std::chrono::duration_cast<std::chrono::days>(s.duration("window"));
    o.lead = std::chrono::duration_cast<std::chrono::days>(s.duration("lead"));
    o.max_peers = int(s.integer("max_peers"));
    o.due_after = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_after"));
    return std::make_unique<PeerConnect>(name, o);
  };
  return kind;
}

}  // namespace rapport::hooks
