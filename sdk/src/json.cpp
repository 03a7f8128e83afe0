#include "rapport/json.hpp"

#include "json_value.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <tuple>

namespace rapport {
namespace json = boost::json;
namespace {

// Reads fields of one JSON object and names the full path of whatever is wrong. A reader
// of a nested object names its place by its parent (which must outlive it) and is spelled
// out only for an error: a rotation's team is read at every event, and its paths were a
// few allocations per member.
class Reader {
 public:
  Reader(const json::value& v, std::string path) : path_(std::move(path)) { open(v); }
  // The object at `key` of `parent`, or at `key[index]` when `index` is given. The parent
  // and the key's text must outlive this reader.
  Reader(const json::value& v, const Reader& parent, std::string_view key,
         std::optional<std::size_t> index = std::nullopt)
      : parent_(&parent), key_(key), index_(index) {
    open(v);
  }
  Reader(const json::value&, const Reader&&, std::string_view,
         std::optional<std::size_t> = std::nullopt) = delete;

  const json::value* find(std::string_view key) const { return obj_->if_contains(key); }

  std::string str(std::string_view key) const {
    auto s = opt_str(key);
    if (!s) throw JsonError(where(key) + "is required");
    return *s;
  }
  std::optional<std::string> opt_str(std::string_view key) const {
    const auto* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) throw JsonError(where(key) + "expected a string");
    return std::string(v->as_string());
  }
  double number(std::string_view key) const {
    const auto* v = find(key);
    if (!v) throw JsonError(where(key) + "is required");
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return double(v->as_int64());
    if (v->is_uint64()) return double(v->as_uint64());
    throw JsonError(where(key) + "expected a number");
  }
  std::optional<bool> opt_bool(std::string_view key) const {
    const auto* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_bool()) throw JsonError(where(key) + "expected true or false");
    return v->as_bool();
  }
  // A flag that decides disclosure (opt-out, anonymity): absent or null is false, true is
  // true, and anything else fails closed, as true.
  bool restrictive_bool(std::string_view key) const {
    const auto* v = find(key);
    if (!v || v->is_null()) return false;
    return !v->is_bool() || v->as_bool();
  }
  Date date(std::string_view key) const {
    auto d = parse_date(str(key));
    if (!d) throw JsonError(where(key) + "expected a date YYYY-MM-DD");
    return *d;
  }
  TimePoint time(std::string_view key) const {
    auto t = parse_time(str(key));
    if (!t) throw JsonError(where(key) + "expected an RFC 3339 time such as 2026-03-02T08:00:00Z");
    return *t;
  }
  template <typename E>
  E enumeration(std::string_view key, std::optional<E> (*parse)(std::string_view)) const {
    auto text = str(key);
    auto e = parse(text);
    if (!e) throw JsonError(where(key) + "unknown value \"" + text + "\"");
    return *e;
  }
  Reader child(std::string_view key) const {
    const auto* v = find(key);
    if (!v) throw JsonError(where(key) + "is required");
    return Reader(*v, *this, key);
  }
  const json::array& array(std::string_view key) const {
    const auto* v = find(key);
    if (!v || !v->is_array()) throw JsonError(where(key) + "expected an array");
    return v->as_array();
  }
  std::string sub(std::string_view key) const {
    std::string path = this->path();
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

 private:
  void open(const json::value& v) {
    if (!v.is_object()) throw JsonError(where("") + "expected an object");
    obj_ = &v.as_object();
  }
  std::string path() const {
    if (!parent_) return path_;
    std::string key(key_);
    if (index_) key += "[" + std::to_string(*index_) + "]";
    return parent_->sub(key);
  }
  std::string where(std::string_view key) const {
    std::string p = key.empty() ? path() : sub(key);
    return p.empty() ? std::string() : "field '" + p + "': ";
  }

  const json::object* obj_ = nullptr;
  std::string path_;
  const Reader* parent_ = nullptr;
  std::string_view key_;
  std::optional<std::size_t> index_;
};

json::value parse_text(const std::string& text, json::storage_ptr storage = {}) {
  json::error_code ec;
  auto v = json::parse(text, ec, std::move(storage));
  if (ec) throw JsonError("malformed JSON: " + ec.message());
  return v;
}

// What `read` makes of the text's tree, the tree built in an arena on the stack instead
// of a malloc a node (a rotation with its team fits in 4 KB; a larger text spills to the
// heap): it lives only while it is read, and a rotation event is read at every dispatch.
template <typename Read>
auto read_text(const std::string& text, Read read) {
  unsigned char buffer[4096];
  json::monotonic_resource arena(buffer);
  return read(parse_text(text, &arena));
}

void put_opt(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o[key] = *v;
}

json::object person_object(const Person& p) {
  json::object o;
  o["schema"] = kSchema;
  o["id"] = p.id;
  o["role"] = to_string(p.role);
  o["name"] = p.name;
  put_opt(o, "email", p.email);
  put_opt(o, "specialty", p.specialty);
  put_opt(o, "subspecialty", p.subspecialty);
  put_opt(o, "program", p.program);
  if (p.program_role) o["program_role"] = to_string(*p.program_role);
  if (!p.interests.empty()) o["interests"] = json::array(p.interests.begin(), p.interests.end());
  o["opted_out"] = p.opted_out;
  if (p.email_opted_out) o["email_opted_out"] = true;
  return o;
}

Person person_from(const Reader& r) {
  Person p;
  p.id = r.str("id");
  p.role = r.enumeration("role", parse_role);
  p.name = r.opt_str("name").value_or("");
  p.email = r.opt_str("email");
  p.specialty = r.opt_str("specialty");
  p.subspecialty = r.opt_str("subspecialty");
  p.program = r.opt_str("program");
  if (r.opt_str("program_role")) p.program_role = r.enumeration("program_role", parse_program_role);
  if (const auto* interests = r.find("interests"); interests && !interests->is_null()) {
    const auto& list = r.array("interests");
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) {
        throw JsonError("field '" + r.sub("interests[" + std::to_string(i) + "]") +
                        "': expected a string");
      }
      p.interests.emplace_back(list[i].as_string());
    }
  }
  p.opted_out = r.restrictive_bool("opted_out");
  p.email_opted_out = r.restrictive_bool("email_opted_out");
  return p;
}

// Everything in `storage` (to_json passes a buffer on the stack: a rotation with its team
// is a hundred-odd small allocations otherwise); keys in the order the schema lists them.
json::object rotation_object(const Rotation& r, json::storage_ptr storage = {}) {
  json::object o(12, storage);
  o.emplace("schema", kSchema);
  o.emplace("id", r.id);
  o.emplace("student", r.student_id);
  o.emplace("site", r.site);
  o.emplace("specialty", r.specialty);
  if (r.subspecialty) o.emplace("subspecialty", *r.subspecialty);
  o.emplace("kind", to_string(r.kind));
  o.emplace("start", format_date(r.start));
  o.emplace("end", format_date(r.end));
  o.emplace("status", to_string(r.status));
  json::array team(storage);
  team.reserve(r.team.size());
  for (const auto& m : r.team) {
    const auto ranges = m.spans_or_dates();
    json::array spans(storage);
    spans.reserve(ranges.size());
    for (const auto& range : ranges) {
      json::object span(2, storage);
      span.emplace("start", format_date(range.start));
      span.emplace("end", format_date(range.end));
      spans.emplace_back(std::move(span));
    }
    json::object member(5, storage);
    member.emplace("person", m.person_id);
    member.emplace("role", to_string(m.role));
    member.emplace("start", format_date(m.start));
    member.emplace("end", format_date(m.end));
    member.emplace("spans", std::move(spans));
    team.emplace_back(std::move(member));
  }
  o.emplace("team", std::move(team));
  return o;
}

// A team entry: its spans (or start..end, each defaulting to the rotation's), merged.
TeamMember team_member_from(const Reader& m, DateRange rotation) {
  TeamMember member;
  member.person_id = m.str("person");
  member.role = m.enumeration("role", parse_role);
  if (const auto* spans = m.find("spans"); spans && !spans->is_null()) {
    const auto& list = m.array("spans");
    for (std::size_t i = 0; i < list.size(); ++i) {
      Reader s(list[i], m, "spans", i);
      DateRange span{s.date("start"), s.date("end")};
      if (span.end < span.start)
        throw JsonError("field '" + s.sub("end") + "': ends before it starts");
      member.spans.push_back(span);
    }
  }
  if (member.spans.empty()) {
    DateRange span{m.find("start") ? m.date("start") : rotation.start,
                   m.find("end") ? m.date("end") : rotation.end};
    if (span.end < span.start)
      throw JsonError("field '" + m.sub("end") + "': ends before it starts");
    member.spans.push_back(span);
  }
  // A single span is merged already (one that ends before it starts was refused above).
  if (member.spans.size() > 1) member.spans = merged(std::move(member.spans));
  member.start = member.spans.front().start;
  member.end = member.spans.back().end;
  return member;
}

Rotation rotation_from(const Reader& r) {
  Rotation rot;
  rot.id = r.str("id");
  rot.student_id = r.str("student");
  rot.site = r.str("site");
  rot.specialty = r.str("specialty");
  rot.subspecialty = r.opt_str("subspecialty");
  rot.kind = r.enumeration("kind", parse_rotation_kind);
  rot.start = r.date("start");
  rot.end = r.date("end");
  if (rot.end < rot.start) throw JsonError("field '" + r.sub("end") + "': ends before it starts");
  rot.status =
      r.find("status") ? r.enumeration("status", parse_rotation_status) : RotationStatus::scheduled;
  if (r.find("team")) {
    const auto& team = r.array("team");
    rot.team.reserve(team.size());
    for (std::size_t i = 0; i < team.size(); ++i) {
      rot.team.push_back(team_member_from(Reader(team[i], r, "team", i), {rot.start, rot.end}));
    }
    // One member per person: several entries of one person (a split roster) are joined
    // into the first, in the order they came. Found by sorting positions, not through a
    // map of names (every rotation event is read this way, at intake and at dispatch).
    std::vector<std::size_t> order(rot.team.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return std::tie(rot.team[a].person_id, a) < std::tie(rot.team[b].person_id, b);
    });
    std::vector<char> joined(rot.team.size(), 0);
    for (std::size_t k = 0; k < order.size();) {
      std::size_t end = k + 1;
      auto& first = rot.team[order[k]];
      for (; end < order.size() && rot.team[order[end]].person_id == first.person_id; ++end) {
        const auto& again = rot.team[order[end]].spans;
        first.spans.insert(first.spans.end(), again.begin(), again.end());
        joined[order[end]] = 1;
      }
      if (end > k + 1) {
        first.spans = merged(std::move(first.spans));
        first.start = first.spans.front().start;
        first.end = first.spans.back().end;
      }
      k = end;
    }
    std::size_t kept = 0;
    for (std::size_t i = 0; i < rot.team.size(); ++i) {
      if (joined[i]) continue;
      if (kept != i) rot.team[kept] = std::move(rot.team[i]);
      ++kept;
    }
    rot.team.erase(rot.team.begin() + std::ptrdiff_t(kept), rot.team.end());
  }
  return rot;
}

json::object evaluation_object(const Evaluation& e) {
  json::object o;
  o["schema"] = kSchema;
  o["id"] = e.id;
  o["rotation"] = e.rotation_id;
  o["evaluator"] = e.evaluator_id;
  o["student"] = e.student_id;
  o["submitted"] = format_time(e.submitted);
  o["score"] = e.score;
  o["scale"] = json::object{{"min", e.scale_min}, {"max", e.scale_max}};
  if (e.would_recommend) o["would_recommend"] = *e.would_recommend;
  o["anonymous"] = e.anonymous;
  return o;
}

Evaluation evaluation_from(const Reader& r) {
  Evaluation e;
  e.id = r.str("id");
  e.rotation_id = r.str("rotation");
  e.evaluator_id = r.str("evaluator");
  e.student_id = r.str("student");
  e.submitted = r.time("submitted");
  e.score = r.number("score");
  auto scale = r.child("scale");
  e.scale_min = scale.number("min");
  e.scale_max = scale.number("max");
  if (e.scale_max <= e.scale_min) {
    throw JsonError("field '" + r.sub("scale") + "': max must be greater than min");
  }
  e.would_recommend = r.opt_bool("would_recommend");
  e.anonymous = r.restrictive_bool("anonymous");
  return e;
}

template <typename T, typename F>
json::array array_of(const std::vector<T>& items, F to_object) {
  json::array out;
  for (const auto& item : items) out.push_back(to_object(item));
  return out;
}

}  // namespace

std::string to_json(const ContextSnapshot& s) {
  json::object o;
  o["schema"] = kSchema;
  o["now"] = format_time(s.now);
  o["people"] = array_of(s.people, person_object);
  o["rotations"] = array_of(s.rotations, [](const Rotation& r) { return rotation_object(r); });
  o["evaluations"] = array_of(s.evaluations, evaluation_object);
  return json::serialize(o);
}

ContextSnapshot snapshot_from_json(const std::string& text) {
  auto v = parse_text(text);
  Reader r(v, "");
  ContextSnapshot s;
  s.now = r.time("now");
  auto each = [&](const char* key, auto read) {
    const auto& items = r.array(key);
    for (std::size_t i = 0; i < items.size(); ++i) {
      read(Reader(items[i], std::string(key) + "[" + std::to_string(i) + "]"));
    }
  };
  each("people", [&](const Reader& item) { s.people.push_back(person_from(item)); });
  each("rotations", [&](const Reader& item) { s.rotations.push_back(rotation_from(item)); });
  each("evaluations", [&](const Reader& item) { s.evaluations.push_back(evaluation_from(item)); });
  return s;
}

std::string to_json(const Person& p) {
  return json::serialize(person_object(p));
}
std::string to_json(const Rotation& r) {
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer);
  return json::serialize(rotation_object(r, &arena));
}
std::string to_json(const Evaluation& e) {
  return json::serialize(evaluation_object(e));
}

namespace {
// Reads JSON text and keeps nothing: a check that it is well formed, without the DOM.
struct Discard {
  constexpr static std::size_t max_object_size = std::size_t(-1);
  constexpr static std::size_t max_array_size = std::size_t(-1);
  constexpr static std::size_t max_key_size = std::size_t(-1);
  constexpr static std::size_t max_string_size = std::size_t(-1);
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_key_part(std::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(std::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string_part(std::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(std::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, std::string_view, json::error_code&) { return true; }
  bool on_double(double, std::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(std::string_view, json::error_code&) { return true; }
  bool on_comment(std::string_view, json::error_code&) { return true; }
};

void check_well_formed(std::string_view text) {
  json::basic_parser<Discard> parser(json::parse_options{});
  json::error_code ec;
  auto read = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) throw JsonError("malformed JSON: " + ec.message());
  // What follows the value, other than white space, is not part of it.
  if (text.find_first_not_of(" \t\r\n", read) != std::string_view::npos) {
    throw JsonError("malformed JSON: extra data");
  }
}

// `text` as a JSON string, escaped as Boost.JSON's serializer escapes it (the short forms
// of \b \f \n \r \t, \u00xx for the other control characters, nothing else), so that
// an envelope is the same text it was when it was written as a tree.
void put_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // the start of the characters not yet copied
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text, run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '\b':
        out += 'b';
        break;
      case '\f':
        out += 'f';
        break;
      case '\n':
        out += 'n';
        break;
      case '\r':
        out += 'r';
        break;
      case '\t':
        out += 't';
        break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(text, run, text.size() - run);
  out += '"';
}
}  // namespace

// Written member by member rather than built as a tree and serialized (a rotation's three
// timers are written, or compared with what is stored, at every rotation event). The
// payload is JSON text already: checked and spliced in as `data`, the last member.
std::string to_json(const Event& e) {
  std::string out;
  out.reserve(256 + e.id.size() + e.source.size() + e.subject.size() + e.payload.size());
  out += "{\"specversion\":\"1.0\",\"id\":";
  put_string(out, e.id);
  out += ",\"source\":";
  put_string(out, e.source);
  out += ",\"type\":";
  put_string(out, to_string(e.type));
  out += ",\"time\":";
  put_string(out, format_time(e.occurred));
  out += ",\"subject\":";
  put_string(out, e.subject);
  out += ",\"datacontenttype\":\"application/json\",\"dataschema\":";
  put_string(out, kDataSchemaUri);
  if (e.payload.empty()) {
    out += ",\"data\":{}}";
  } else {
    check_well_formed(e.payload);
    out += ",\"data\":";
    out += e.payload;
    out += '}';
  }
  return out;
}

std::string to_json(const Action& a) {
  json::object data;
  data["schema"] = kSchema;
  data["type"] = to_string(a.type);
  data["student"] = a.student_id;
  data["contact"] = a.contact_id;
  data["due"] = format_time(a.due);
  if (a.expires) data["expires"] = format_time(*a.expires);
  data["reason"] = a.reason;
  json::object evidence;
  for (const auto& [k, v] : a.evidence) evidence[k] = v;
  data["evidence"] = std::move(evidence);
  data["hook"] = a.hook;
  data["event"] = a.event_id;

  json::object o;
  o["specversion"] = "1.0";
  o["id"] = a.id;
  o["source"] = "rapport/hooks/" + a.hook;
  o["type"] = "rapport.action." + std::string(to_string(a.type));
  o["time"] = format_time(a.created);
  o["subject"] = a.student_id;
  o["datacontenttype"] = "application/json";
  o["dataschema"] = kDataSchemaUri;
  o["data"] = std::move(data);
  return json::serialize(o);
}

Person person_from_value(const json::value& v) {
  return person_from(Reader(v, ""));
}
Rotation rotation_from_value(const json::value& v) {
  return rotation_from(Reader(v, ""));
}
Evaluation evaluation_from_value(const json::value& v) {
  return evaluation_from(Reader(v, ""));
}

Event event_from_value(const json::value& v) {
  Reader r(v, "");
  if (r.str("specversion") != "1.0") throw JsonError("field 'specversion': expected \"1.0\"");
  Event e;
  e.id = r.str("id");
  e.source = r.str("source");
  e.type = r.enumeration("type", parse_event_type);
  e.occurred = r.time("time");
  e.subject = r.opt_str("subject").value_or("");
  const auto* data = r.find("data");
  if (!data || !data->is_object()) throw JsonError("field 'data': expected an object");
  e.payload = json::serialize(*data);
  return e;
}

Person person_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return person_from_value(v); });
}
Rotation rotation_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return rotation_from_value(v); });
}
std::string rotation_id_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return Reader(v, "").str("id"); });
}
Evaluation evaluation_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return evaluation_from_value(v); });
}
Event event_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return event_from_value(v); });
}

namespace {
Action action_from_value(const json::value& v) {
  Reader r(v, "");
  auto d = r.child("data");
  Action a;
  a.id = r.str("id");
  a.created = r.time("time");
  a.type = d.enumeration("type", parse_action_type);
  a.student_id = d.str("student");
  a.contact_id = d.str("contact");
  a.due = d.time("due");
  if (auto expires = d.opt_str("expires")) {
    a.expires = parse_time(*expires);
    if (!a.expires)
      throw JsonError("field 'data.expires': expected a time like 2027-01-04T00:00:00Z");
  }
  a.reason = d.str("reason");
  if (const auto* ev = d.find("evidence")) {
    Reader evidence(*ev, "data.evidence");
    for (const auto& [k, val] : ev->as_object()) {
      a.evidence[std::string(k)] = evidence.str(k);
    }
  }
  a.hook = d.str("hook");
  a.event_id = d.str("event");
  return a;
}
}  // namespace

Action action_from_json(const std::string& text) {
  return read_text(text, [](const json::value& v) { return action_from_value(v); });
}

}  // namespace rapport
