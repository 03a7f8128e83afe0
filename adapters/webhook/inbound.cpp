#include "adapters/webhook/inbound.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include "adapters/common/mapping_schema.hpp"
#include "adapters/webhook/signature.hpp"
#include "engine/mirror.hpp"
#include "engine/source.hpp"
#include "rapport/json.hpp"
#include "sdk/src/json_value.hpp"

namespace rapport::webhook {
namespace json = boost::json;

namespace {

// Views, not C strings: every mapped field of every event is looked up here, and comparing
// with a C string measures it first.
constexpr std::string_view kNumeric[] = {"score", "scale.min", "scale.max"};
constexpr std::string_view kBoolean[] = {"would_recommend", "anonymous", "opted_out",
                                         "email_opted_out"};

template <std::size_t N>
bool in(const std::string_view (&list)[N], std::string_view field) {
  for (auto f : list) {
    if (field == f) return true;
  }
  return false;
}

const json::value* at(const json::value& item, const std::string& pointer) {
  if (pointer.empty()) return nullptr;
  json::error_code ec;
  const json::value* v = item.find_pointer(pointer, ec);
  return ec ? nullptr : v;
}

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return json::serialize(v);
}

// A yes/no field given as text ("true", "N", "1"...) becomes a JSON boolean; anything else
// is left as it is, which the vocabulary reads restrictively for opted_out and anonymous.
json::value boolean_of(const json::value& v, const json::storage_ptr& storage) {
  if (!v.is_string() && !v.is_number()) return json::value(v, storage);
  std::string t;
  for (char c : text_of(v)) t += char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "true" || t == "t" || t == "yes" || t == "y" || t == "1") return true;
  if (t == "false" || t == "f" || t == "no" || t == "n" || t == "0") return false;
  return json::value(v, storage);
}

// Their value for one of our fields: value tables applied, ids made text, numbers and
// booleans typed the way our schema wants them. `where()` names their field, for errors.
template <typename Where>
json::value convert(const PayloadMapping& m, const std::string& field, const json::value& v,
                    const Where& where, const json::storage_ptr& storage) {
  auto table = m.values.end();
  if (!m.values.empty()) {
    table = m.values.find(field.substr(field.rfind('.') + 1));
    if (table == m.values.end()) table = m.values.find(field);
  }
  if (table != m.values.end() && !v.is_null()) {
    auto key = text_of(v);
    auto hit = table->second.find(key);
    if (hit == table->second.end()) {
      throw BadBody("field '" + where() + "': value \"" + key +
                    "\" is not in the value table of '" + field + "'");
    }
    return in(kBoolean, field) ? boolean_of(json::value(hit->second), storage)
                               : json::value(hit->second, storage);
  }
  if (in(kBoolean, field)) return boolean_of(v, storage);
  if (in(kNumeric, field) || v.is_null() || v.is_bool()) return json::value(v, storage);
  if (v.is_number()) return json::value(text_of(v), storage);
  return json::value(v, storage);
}

json::value typed_constant(const std::string& field, const std::string& text) {
  if (in(kNumeric, field)) {
    try {
      const double number = std::stod(text);
      if (!std::isfinite(number)) throw std::out_of_range(text);
      return json::value(number);
    } catch (const std::exception&) {
      throw BadBody("constant '" + field + "': \"" + text + "\" is not a number");
    }
  }
  if (in(kBoolean, field)) return json::value(text == "true");
  return json::value(text);
}

void put(json::object& data, const std::string& field, json::value v) {
  auto dot = field.find('.');
  if (dot == std::string::npos) {
    data[field] = std::move(v);
    return;
  }
  auto& child = data[field.substr(0, dot)];
  if (!child.is_object()) child = json::object{};
  put(child.as_object(), field.substr(dot + 1), std::move(v));
}

// Boost.JSON reads a number beyond a double's range as infinity, and would write it as
// `Infinity`, which is not JSON: such a payload is refused as the text's check refused it.
bool finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return std::isfinite(v.get_double());
    case json::kind::array:
      return std::all_of(v.get_array().begin(), v.get_array().end(), finite);
    case json::kind::object:
      return std::all_of(v.get_object().begin(), v.get_object().end(),
                         [](const json::key_value_pair& p) { return finite(p.value()); });
    default:
      return true;
  }
}

// Checks an event's payload against its type, over the value the payload was serialized
// from (not parsed again); the message names the field as the sender wrote it.
void check_data(const InboundSource& source, const Event& e, const json::value& data) {
  try {
    if (!finite(data)) throw JsonError("malformed JSON: a number out of a double's range");
    check_payload(e, data);
  } catch (const std::exception& bad) {
    // Our readers name the field within the data: the full path is data.<field>.
    std::string message = bad.what();
    if (!source.mapping && message.starts_with("field '") && !message.starts_with("field 'data.")) {
      message.insert(7, "data.");
    }
    throw BadBody(source.mapping ? "mapped data: " + message : message);
  }
}

Event mapped_event(const InboundSource& source, const json::value& item, const std::string& id,
                   TimePoint time, const std::string& where, const json::storage_ptr& storage) {
  const PayloadMapping& m = *source.mapping;
  Event e;
  e.source = source.name;
  const auto* type = at(item, m.type);
  if (!type || !type->is_string()) {
    throw BadBody("field '" + where + m.type + "': expected the event's type");
  }
  std::string_view theirs = type->as_string();
  auto mapped = m.types.find(theirs);
  auto ours = parse_event_type(mapped != m.types.end() ? std::string_view(mapped->second) : theirs);
  if (!ours) {
    throw BadBody("field '" + where + m.type + "': event type \"" + std::string(theirs) +
                  "\" is neither in mapping.types nor one of ours");
  }
  e.type = *ours;
  const auto* their_id = at(item, m.id);
  e.id = their_id ? text_of(*their_id) : id;
  if (e.id.empty()) {
    throw BadBody("no event id: map `id` or send a webhook-id header");
  }
  e.occurred = time;
  if (const auto* t = at(item, m.time)) {
    auto parsed = t->is_string() ? parse_time(t->as_string()) : std::nullopt;
    if (!parsed) throw BadBody("field '" + where + m.time + "': expected an RFC 3339 time");
    e.occurred = *parsed;
  }
  json::value whole(json::object_kind, storage);
  auto& data = whole.get_object();
  std::string subject;
  // The type's own fields where it has them (fields_by_type), the common ones otherwise;
  // merged only for such a type (copying the map for every event cost a microsecond).
  std::map<std::string, std::string> merged;
  const auto* fields = &m.fields;
  if (auto special = m.fields_by_type.find(to_string(e.type)); special != m.fields_by_type.end()) {
    merged = m.fields;
    for (const auto& [field, pointer] : special->second) merged[field] = pointer;
    fields = &merged;
  }
  for (const auto& [field, pointer] : *fields) {
    const auto* v = at(item, pointer);
    if (!v) continue;  // optional in their payload; ours is checked below
    if (field == "subject") {
      subject = text_of(*v);
      continue;
    }
    // (A lambda takes the binding through a plain reference: clang 15 cannot capture one.)
    const std::string& their = pointer;
    put(data, field,
        convert(
            m, field, *v, [&] { return where + their; }, storage));
  }
  for (const auto& [field, value] : m.constants) put(data, field, typed_constant(field, value));
  if (const auto* team = at(item, m.team)) {
    if (!team->is_array()) throw BadBody("field '" + where + m.team + "': expected an array");
    json::array members(storage);
    members.reserve(team->as_array().size());
    std::size_t i = 0;
    for (const auto& member : team->as_array()) {
      json::object ours_member(m.team_fields.size(), storage);
      for (const auto& [field, pointer] : m.team_fields) {
        if (const auto* v = at(member, pointer)) {
          const std::string& their = pointer;
          auto at_member = [&] { return where + m.team + "/" + std::to_string(i) + their; };
          ours_member[field] = convert(m, field, *v, at_member, storage);
        }
      }
      members.push_back(std::move(ours_member));
      ++i;
    }
    data["team"] = std::move(members);
  }
  if (subject.empty()) {
    const char* key = e.type == EventType::person_updated ? "id" : "student";
    if (const auto* s = data.if_contains(key); s && s->is_string()) subject = s->as_string();
  }
  e.subject = subject;
  e.payload = json::serialize(data);
  check_data(source, e, whole);
  return e;
}

// A rapport/v1 CloudEvent. What CloudEvents allows and our vocabulary can take is taken:
// no `time` (the message's time, the receive time where nothing signs one), and the data
// as `data_base64` when it is JSON. An event without data is valid CloudEvents, but none of
// our types means anything without it: refused, saying so.
Event rapport_event(const InboundSource& source, const json::value& item, TimePoint received) {
  const auto& o = item.as_object();
  const bool has_time = o.contains("time");
  const auto* base64 = o.if_contains("data_base64");
  if (!o.contains("data") && !base64) {
    throw BadBody(
        "field 'data' is required: a CloudEvent without data is valid, but every "
        "rapport/v1 event type carries its data");
  }
  Event e;
  if (has_time && !base64) {
    e = event_from_value(item);
    check_data(source, e, o.at("data"));
  } else {
    json::object copy = o;
    if (!has_time) copy["time"] = format_time(received);
    if (base64) {
      const auto* type = o.if_contains("datacontenttype");
      std::string media = type && type->is_string() ? std::string(type->as_string()) : "";
      if (!media.empty() && media.rfind("application/json", 0) != 0) {
        throw BadBody("field 'data_base64': holds " + media +
                      "; rapport/v1 data is a JSON object (datacontenttype application/json)");
      }
      auto decoded = base64->is_string() ? base64_decode(base64->as_string()) : std::nullopt;
      if (!decoded) throw BadBody("field 'data_base64': not base64");
      json::error_code ec;
      auto data = json::parse(*decoded, ec);
      if (ec || !data.is_object()) {
        throw BadBody("field 'data_base64': does not decode to a JSON object");
      }
      copy["data"] = std::move(data);
      copy.erase("data_base64");
    }
    e = event_from_value(copy);
    check_data(source, e, copy.at("data"));
  }
  e.source = source.name;  // the URL names the source; the body cannot speak for another
  return e;
}

}  // namespace

std::vector<Event> read_body(const InboundSource& source, std::string_view body,
                             const std::string& message_id, TimePoint message_time) {
  json::error_code ec;
  // The parsed body lives only here: one arena for all of it instead of a malloc a node.
  unsigned char arena[8192];
  json::monotonic_resource resource(arena, sizeof arena);
  json::value v = json::parse(body, ec, &resource);
  if (ec) throw BadBody("the body is not JSON: " + ec.message());
  std::vector<const json::value*> items;
  if (v.is_array()) {
    for (const auto& item : v.as_array()) items.push_back(&item);
    if (items.empty()) throw BadBody("the body is an empty array");
  } else {
    items.push_back(&v);
  }
  std::vector<Event> events;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string where = v.is_array() ? "[" + std::to_string(i) + "]" : "";
    try {
      if (!items[i]->is_object()) throw BadBody("expected an object");
      std::string id = message_id.empty() || items.size() == 1
                           ? message_id
                           : message_id + "#" + std::to_string(i);
      events.push_back(source.mapping
                           ? mapped_event(source, *items[i], id, message_time, where, &resource)
                           : rapport_event(source, *items[i], message_time));
    } catch (const BadBody& e) {
      throw BadBody(where.empty() ? e.what() : "event " + where + ": " + e.what());
    } catch (const std::exception& e) {
      std::string message = e.what();
      // Our readers name the field within the event or its data.
      if (source.mapping) message = "mapped data: " + message;
      throw BadBody(where.empty() ? message : "event " + where + ": " + message);
    }
  }
  return events;
}

namespace {

class PushedSource final : public Source {
 public:
  explicit PushedSource(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::chrono::milliseconds poll_interval() const override { return std::chrono::hours(24); }
  std::size_t poll(Store&, TimePoint) override { return 0; }

 private:
  std::string name_;
};

const config::Schema& mapping_schema() {
  using config::Type;
  static const config::Schema s{
      "sources (type: webhook) mapping",
      "Reads a platform's own payload: JSON pointers (RFC 6901) into each event of the body.",
      {
          {.name = "type",
           .type = Type::string,
           .description = "pointer to the platform's event name",
           .default_value = ""},
          {.name = "types",
           .type = Type::string_map,
           .description = "their event name -> ours (rotation.started, ...)",
           .default_value = ""},
          {.name = "id",
           .type = Type::string,
           .description = "pointer to the event's id (default: the webhook-id header)",
           .default_value = ""},
          {.name = "time",
           .type = Type::string,
           .description = "pointer to when it happened (default: the webhook-timestamp)",
           .default_value = ""},
          {.name = "fields",
           .type = Type::string_map,
           .description = "our data field (dots nest: scale.min; `subject` for the student "
                          "when no student field says it) -> pointer",
           .default_value = ""},
          {.name = "fields_by_type",
           .type = Type::value_maps,
           .description = "our event type -> fields that differ for it (evaluation.submitted: "
                          "{id: /evaluation/id})",
           .default_value = ""},
          {.name = "team",
           .type = Type::string,
           .description = "pointer to the team array of a rotation",
           .default_value = ""},
          {.name = "team_fields",
           .type = Type::string_map,
           .description = "person, role, start, end -> pointer within one team member",
           .default_value = "",
           .choices = {"person", "role", "start", "end"}},
          {.name = "constants",
           .type = Type::string_map,
           .description = "our data field -> a fixed value (scale.min: 1)",
           .default_value = ""},
          {.name = "values",
           .type = Type::value_maps,
           .description = "our field -> {their value: ours} (role codes, kinds, statuses)",
           .default_value = "",
           .check_entry = adapters::vocabulary_problem},
      }};
  return s;
}

}  // namespace

InboundSource inbound_source(const std::string& name, const config::Section& s) {
  InboundSource in;
  in.name = name;
  auto how = s.str("verify");
  in.verification = how == "github"   ? Verification::github
                    : how == "bearer" ? Verification::bearer
                    : how == "none"   ? Verification::none
                                      : Verification::standard_webhooks;
  in.tolerance = std::chrono::duration_cast<std::chrono::seconds>(s.duration("tolerance"));
  std::string where = "secret";
  if (in.verification == Verification::none) {
    if (!s.boolean("insecure")) {
      throw std::invalid_argument("verify: none needs `insecure: true` as well");
    }
  } else if (s.str("secret").empty()) {
    throw std::invalid_argument(where + ": required with verify: " + how);
  } else if (in.verification == Verification::standard_webhooks) {
    try {
      in.keys = decode_secrets(s.str("secret"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": " + e.what());
    }
  } else {
    std::string list = s.str("secret");
    std::size_t i = 0;
    while (i < list.size()) {
      auto j = list.find(' ', i);
      if (j == std::string::npos) j = list.size();
      if (j > i) in.keys.push_back(list.substr(i, j - i));
      i = j + 1;
    }
  }
  if (s.str("format") == "mapped") {
    auto m = std::make_shared<PayloadMapping>();
    auto ms = s.section("mapping");
    m->type = ms.str("type");
    m->id = ms.str("id");
    m->time = ms.str("time");
    m->team = ms.str("team");
    auto types = ms.string_map("types");
    m->types.insert(types.begin(), types.end());
    m->fields = ms.string_map("fields");
    auto by_type = ms.value_maps("fields_by_type");
    m->fields_by_type.insert(by_type.begin(), by_type.end());
    for (const auto& [type, unused] : m->fields_by_type) {
      if (!parse_event_type(type)) {
        throw std::invalid_argument("mapping.fields_by_type: \"" + type +
                                    "\" is not one of our event types");
      }
    }
    m->team_fields = ms.string_map("team_fields");
    m->constants = ms.string_map("constants");
    m->values = ms.value_maps("values");
    if (m->type.empty() || m->fields.empty()) {
      throw std::invalid_argument("mapping: format: mapped needs `type` and `fields`");
    }
    in.mapping = std::move(m);
  }
  return in;
}

SourceKind webhook_source_kind() {
  using config::Type;
  SourceKind kind;
  kind.type = "webhook";
  kind.schema = {
      "sources (type: webhook)",
      "Events pushed to the listener at POST /v1/sources/<name>/events.",
      {
          {.name = "verify",
           .type = Type::enumeration,
           .description = "how requests prove they come from the platform: Standard Webhooks "
                          "v1, GitHub's X-Hub-Signature-256, a bearer token, or none",
           .default_value = "standard_webhooks",
           .choices = {"standard_webhooks", "github", "bearer", "none"}},
          {.name = "secret",
           .type = Type::secret,
           .description = "whsec_... (standard_webhooks), the shared secret (github) or the "
                          "token (bearer); several separated by spaces while rotating",
           .default_value = ""},
          {.name = "tolerance",
           .type = Type::duration,
           .description = "how far webhook-timestamp may be from our clock",
           .default_value = "5m",
           .min = 1000,
           .max = 86'400'000},
          {.name = "insecure",
           .type = Type::boolean,
           .description = "must be true to accept unverified requests (verify: none)",
           .default_value = "false"},
          {.name = "format",
           .type = Type::enumeration,
           .description = "`rapport`: CloudEvents of rapport/v1; `mapped`: the platform's own "
                          "payload, read through `mapping`",
           .default_value = "rapport",
           .choices = {"rapport", "mapped"}},
          {.name = "mapping",
           .type = Type::section,
           .description = "for format: mapped",
           .default_value = "",
           .schema = &mapping_schema()},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Source> {
    try {
      inbound_source(name, s);  // refuses a bad secret or mapping when the engine is built
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(s.path() + "." + e.what());
    }
    return std::make_unique<PushedSource>(name);
  };
  kind.check = [](const std::string& name, const config::Section& s,
                  std::vector<config::Diagnostic>& out) {
    try {
      inbound_source(name, s);
    } catch (const std::invalid_argument& e) {
      out.push_back({"", s.mark(), s.path(), e.what(), false});
    }
  };
  kind.check_connects = false;
  return kind;
}

}  // namespace rapport::webhook
