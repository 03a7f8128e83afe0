// The listener's body reader: rapport/v1 CloudEvents and a platform's own payload through
// a mapping (JSON pointers, value tables, constants, team arrays). Any input is read into
// events or refused with BadBody; every event it returns parses again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/webhook/inbound.hpp"
#include "config/config.hpp"
#include "engine/mirror.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"

using namespace rapport;

namespace {

const char* kConfig = R"(
sources:
  platform:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  native:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    format: mapped
    mapping:
      type: /event
      types: {placement.created: rotation.scheduled, eval.done: evaluation.submitted}
      id: /uuid
      time: /sent_at
      fields:
        id: /placement/id
        student: /placement/learner/id
        site: /placement/location
        specialty: /placement/discipline
        kind: /placement/type
        start: /placement/begins
        end: /placement/ends
        rotation: /evaluation/placement_id
        evaluator: /evaluation/by
        submitted: /sent_at
        score: /evaluation/score
        anonymous: /evaluation/anon
      fields_by_type:
        evaluation.submitted: {id: /evaluation/id}
      constants: {scale.min: "1", scale.max: "9"}
      team: /placement/staff
      team_fields: {person: /user, role: /code}
      values:
        role: {ATT: attending, RES: resident, RN: nurse}
        kind: {CORE: core, ELEC: elective}
)";

struct Sources {
  webhook::InboundSource plain, mapped;
  Sources() {
    Registry registry;
    register_builtins(registry);
    auto config = config::load_config_text(kConfig, "fuzz.yaml", registry);
    plain = webhook::inbound_source("platform", config->section("sources").section("platform"));
    mapped = webhook::inbound_source("native", config->section("sources").section("native"));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Sources sources;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (const auto* source : {&sources.plain, &sources.mapped}) {
    try {
      auto events = webhook::read_body(*source, body, "fallback", TimePoint{});
      for (const auto& e : events) {
        check_payload(e);  // what the listener accepts, the mirror can read
        auto again = event_from_json(to_json(e));
        if (again.id != e.id || again.type != e.type || again.payload != e.payload)
          __builtin_trap();
      }
    } catch (const webhook::BadBody&) {
    } catch (const JsonError&) {
      __builtin_trap();  // read_body must say BadBody for anything it refuses
    }
  }
  return 0;
}
