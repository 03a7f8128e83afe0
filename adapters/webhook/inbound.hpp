#pragma once
// Sources of `type: webhook`: what the listener needs to know about each (how to verify
// a request, how to read its body into events). Polling such a source does nothing: its
// events arrive through the listener.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "engine/registry.hpp"
#include "rapport/types.hpp"

namespace rapport::webhook {

enum class Verification { standard_webhooks, github, bearer, none };

// A platform's own payload read into ours: JSON pointers to our fields, value tables.
struct PayloadMapping {
  std::string type, id, time, team;  // JSON pointers into one item of the body
  // Looked up by a view at every event (std::less<>): no key copied to find one.
  std::map<std::string, std::string, std::less<>> types;  // their event name -> ours
  std::map<std::string, std::string> fields;              // our data field (dots nest) -> pointer
  std::map<std::string, std::map<std::string, std::string>, std::less<>>
      fields_by_type;                              // ours -> fields
  std::map<std::string, std::string> team_fields;  // person, role, start, end -> pointer
  std::map<std::string, std::string> constants;    // our data field -> value
  std::map<std::string, std::map<std::string, std::string>> values;  // field -> their -> ours
};

struct InboundSource {
  std::string name;
  Verification verification = Verification::standard_webhooks;
  std::vector<std::string> keys;  // decoded Standard Webhooks keys, GitHub secrets or tokens
  std::chrono::seconds tolerance{300};
  std::shared_ptr<const PayloadMapping> mapping;  // null: bodies speak rapport/v1
};

// A request body that cannot become events; the message names the field.
struct BadBody : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a body (one item or an array of them) into events of `source`. `message_id` and
// `message_time` stand in for an id and a time the body does not carry.
std::vector<Event> read_body(const InboundSource& source, std::string_view body,
                             const std::string& message_id, TimePoint message_time);

// From a validated `type: webhook` section; throws std::invalid_argument on a bad secret.
InboundSource inbound_source(const std::string& name, const config::Section& section);

SourceKind webhook_source_kind();

}  // namespace rapport::webhook
