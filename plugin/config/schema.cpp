#include "config/schema.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <stdexcept>

namespace rapport::config {
namespace {

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string quoted(const Node& n) {
  if (n.kind == Node::Kind::null) return "nothing";
  if (n.kind == Node::Kind::sequence) return "a list";
  if (n.kind == Node::Kind::map) return "a mapping";
  return "\"" + n.scalar + "\"";
}

std::string list_of(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string type_name(const Key& k) {
  switch (k.type) {
    case Type::string:
      return "string";
    case Type::integer:
      return "integer";
    case Type::number:
      return "number";
    case Type::boolean:
      return "boolean";
    case Type::duration:
      return "duration";
    case Type::enumeration:
      return "one of " + list_of(k.choices);
    case Type::path:
      return "path";
    case Type::secret:
      return "secret (or `" + k.name + "_file`)";
    case Type::string_list:
      return "list of strings";
    case Type::string_map:
      return "map of strings";
    case Type::value_maps:
      return "map of value tables";
    case Type::section:
      return "section";
    case Type::sections:
      return "named sections";
    case Type::any:
      return "any YAML";
  }
  return "?";
}

bool check_bounds(double v, const Key& k, const Node& n, const std::string& path, ParseContext& ctx,
                  const std::string& unit = "") {
  if (v < k.min || v > k.max) {
    std::ostringstream os;
    os << quoted(n) << " is out of range (";
    if (std::isfinite(k.min)) os << "at least " << k.min << unit;
    if (std::isfinite(k.min) && std::isfinite(k.max)) os << ", ";
    if (std::isfinite(k.max)) os << "at most " << k.max << unit;
    os << ")";
    ctx.error(n.mark, path, os.str());
    return false;
  }
  return true;
}

Node check_value(const Node& n, const Key& k, const std::string& path, ParseContext& ctx);

bool need_scalar(const Node& n, const Key& k, const std::string& path, ParseContext& ctx) {
  if (n.is_scalar()) return true;
  ctx.error(n.mark, path, "expected " + type_name(k) + ", found " + quoted(n));
  return false;
}

Node check_map_of_scalars(const Node& n, const Key& k, const std::string& path, ParseContext& ctx) {
  if (!n.is_map()) {
    ctx.error(n.mark, path, "expected a mapping, found " + quoted(n));
    return n;
  }
  for (std::size_t i = 0; i < n.entries.size(); ++i) {
    const auto& [key, value] = n.entries[i];
    if (!k.choices.empty() &&
        std::find(k.choices.begin(), k.choices.end(), key) == k.choices.end()) {
      ctx.error(n.key_marks[i], join(path, key),
                "unknown field \"" + key + "\"" + suggestion(key, k.choices) +
                    " (expected one of " + list_of(k.choices) + ")");
    }
    if (k.type == Type::string_map && !value.is_scalar()) {
      ctx.error(value.mark, join(path, key), "expected a string, found " + quoted(value));
    } else if (k.type == Type::string_map && k.check) {
      if (auto problem = k.check(value.scalar); !problem.empty()) {
        ctx.error(value.mark, join(path, key), problem);
      }
    }
    if (k.type == Type::value_maps) {
      if (!value.is_map()) {
        ctx.error(value.mark, join(path, key),
                  "expected a table of values (their value: our value), found " + quoted(value));
        continue;
      }
      for (const auto& [from, to] : value.entries) {
        if (!to.is_scalar()) {
          ctx.error(to.mark, join(join(path, key), from), "expected a string, found " + quoted(to));
        } else if (k.check_entry) {
          if (auto problem = k.check_entry(key, to.scalar); !problem.empty()) {
            ctx.error(to.mark, join(join(path, key), from), problem);
          }
        }
      }
    }
  }
  return n;
}

Node check_value(const Node& n, const Key& k, const std::string& path, ParseContext& ctx) {
  switch (k.type) {
    case Type::string:
    case Type::path:
    case Type::secret:
      if (need_scalar(n, k, path, ctx) && k.check) {
        if (auto problem = k.check(n.scalar); !problem.empty()) ctx.error(n.mark, path, problem);
      }
      return n;
    case Type::integer: {
      if (!need_scalar(n, k, path, ctx)) return n;
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(n.scalar.data(), n.scalar.data() + n.scalar.size(), v);
      if (ec != std::errc{} || p != n.scalar.data() + n.scalar.size()) {
        ctx.error(n.mark, path, quoted(n) + " is not an integer");
      } else {
        check_bounds(double(v), k, n, path, ctx);
      }
      return n;
    }
    case Type::number: {
      if (!need_scalar(n, k, path, ctx)) return n;
      char* end = nullptr;
      double v = std::strtod(n.scalar.c_str(), &end);
      if (n.scalar.empty() || *end != '\0') {
        ctx.error(n.mark, path, quoted(n) + " is not a number");
      } else {
        check_bounds(v, k, n, path, ctx);
      }
      return n;
    }
    case Type::boolean:
      if (need_scalar(n, k, path, ctx) && !parse_bool(n.scalar)) {
        ctx.error(n.mark, path, quoted(n) + " is not a boolean (expected true or false)");
      }
      return n;
    case Type::duration: {
      if (!need_scalar(n, k, path, ctx)) return n;
      auto d = parse_duration(n.scalar);
      if (!d) {
        ctx.error(n.mark, path,
                  quoted(n) +
                      " is not a duration (expected a number and a unit: 500ms, 30s, "
                      "5m, 1h, 2d)");
      } else {
        check_bounds(double(d->count()), k, n, path, ctx, " ms");
      }
      return n;
    }
    case Type::enumeration:
      if (need_scalar(n, k, path, ctx) &&
          std::find(k.choices.begin(), k.choices.end(), n.scalar) == k.choices.end()) {
        ctx.error(
            n.mark, path,
            quoted(n) + " is not one of " + list_of(k.choices) + suggestion(n.scalar, k.choices));
      }
      return n;
    case Type::string_list:
      if (n.kind != Node::Kind::sequence) {
        ctx.error(n.mark, path, "expected a list of strings, found " + quoted(n));
        return n;
      }
      for (std::size_t i = 0; i < n.items.size(); ++i) {
        if (!n.items[i].is_scalar()) {
          ctx.error(n.items[i].mark, path + "[" + std::to_string(i) + "]",
                    "expected a string, found " + quoted(n.items[i]));
        } else if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(),
                                                   n.items[i].scalar) == k.choices.end()) {
          ctx.error(n.items[i].mark, path + "[" + std::to_string(i) + "]",
                    quoted(n.items[i]) + " is not one of " + list_of(k.choices) +
                        suggestion(n.items[i].scalar, k.choices));
        } else if (k.check) {
          if (auto problem = k.check(n.items[i].scalar); !problem.empty()) {
            ctx.error(n.items[i].mark, path + "[" + std::to_string(i) + "]", problem);
          }
        }
      }
      return n;
    case Type::string_map:
    case Type::value_maps:
      return check_map_of_scalars(n, k, path, ctx);
    case Type::section:
      return validate(n, *k.schema, path, ctx);
    case Type::any:
      return n;
    case Type::sections: {
      if (n.kind == Node::Kind::null) {
        Node empty;
        empty.kind = Node::Kind::map;
        empty.mark = n.mark;
        return empty;
      }
      if (!n.is_map()) {
        ctx.error(n.mark, path, "expected a mapping of names to sections, found " + quoted(n));
        return n;
      }
      Node out = n;
      for (auto& [name, entry] : out.entries) {
        std::string error;
        const Schema* schema = k.resolve(name, entry, error);
        if (!schema) {
          ctx.error(entry.mark, join(path, name), error);
          continue;
        }
        entry = validate(entry, *schema, join(path, name), ctx);
      }
      return out;
    }
  }
  return n;
}

std::optional<std::string> read_secret_file(const Node& n, const std::string& path,
                                            ParseContext& ctx) {
  if (!n.is_scalar()) {
    ctx.error(n.mark, path, "expected a file path, found " + quoted(n));
    return std::nullopt;
  }
  std::ifstream in(n.scalar, std::ios::binary);
  if (!in) {
    ctx.error(n.mark, path, "cannot read secret file \"" + n.scalar + "\"");
    return std::nullopt;
  }
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.find('\n') != std::string::npos) {
    ctx.error(n.mark, path, "secret file \"" + n.scalar + "\" holds more than one line");
    return std::nullopt;
  }
  return value;
}

void emit(YAML::Emitter& out, const Node& n, const Schema* schema) {
  switch (n.kind) {
    case Node::Kind::null:
      out << YAML::Null;
      return;
    case Node::Kind::scalar:
      out << n.scalar;
      return;
    case Node::Kind::sequence:
      out << YAML::BeginSeq;
      for (const auto& i : n.items) emit(out, i, nullptr);
      out << YAML::EndSeq;
      return;
    case Node::Kind::map:
      out << YAML::BeginMap;
      for (const auto& [key, value] : n.entries) {
        out << YAML::Key << key << YAML::Value;
        const Key* k = schema ? schema->find(key) : nullptr;
        if (k && k->type == Type::secret) {
          out << "********";
        } else if (k && k->type == Type::any) {
          emit(out, value, nullptr);
        } else if (k && k->type == Type::section) {
          emit(out, value, k->schema);
        } else if (k && k->type == Type::sections) {
          out << YAML::BeginMap;
          for (const auto& [name, entry] : value.entries) {
            std::string error;
            out << YAML::Key << name << YAML::Value;
            emit(out, entry, k->resolve(name, entry, error));
          }
          out << YAML::EndMap;
        } else {
          emit(out, value, nullptr);
        }
      }
      out << YAML::EndMap;
      return;
  }
}

void reference_of(const Schema& s, std::ostringstream& os, std::set<const Schema*>& seen,
                  std::vector<const Schema*>& queue) {
  if (!seen.insert(&s).second) return;
  os << "#### `" << s.name << "`\n\n" << s.description << "\n\n";
  os << "| key | type | default | description |\n|---|---|---|---|\n";
  for (const auto& k : s.keys) {
    std::string def =
        k.default_value ? "`" + *k.default_value + "`" : (k.required ? "required" : "—");
    if (k.default_value && k.default_value->empty()) def = "`\"\"`";
    if (k.type == Type::section || k.type == Type::sections) def = "—";
    std::string bounds;
    if (std::isfinite(k.min) || std::isfinite(k.max)) {
      std::ostringstream b;
      b << " (";
      if (k.type == Type::duration) {
        if (std::isfinite(k.min))
          b << "≥ " << format_duration(std::chrono::milliseconds(std::int64_t(k.min)));
        if (std::isfinite(k.min) && std::isfinite(k.max)) b << ", ";
        if (std::isfinite(k.max))
          b << "≤ " << format_duration(std::chrono::milliseconds(std::int64_t(k.max)));
      } else {
        // Whole numbers written out (67108864, not 6.71089e+07).
        auto number = [](double v) {
          std::ostringstream n;
          if (v == std::floor(v) && std::abs(v) < 1e18) {
            n << static_cast<long long>(v);
          } else {
            n << std::setprecision(15) << v;
          }
          return n.str();
        };
        if (std::isfinite(k.min)) b << "≥ " << number(k.min);
        if (std::isfinite(k.min) && std::isfinite(k.max)) b << ", ";
        if (std::isfinite(k.max)) b << "≤ " << number(k.max);
      }
      b << ")";
      bounds = b.str();
    }
    std::string type = type_name(k);
    if (k.type == Type::section && k.schema) type = "section `" + k.schema->name + "`";
    if ((k.type == Type::string_map || k.type == Type::value_maps) && !k.choices.empty()) {
      type += " (keys: " + list_of(k.choices) + ")";
    }
    if (k.type == Type::string_list && !k.choices.empty()) {
      type += " (each one of " + list_of(k.choices) + ")";
    }
    os << "| `" << k.name << "` | " << type << bounds << " | " << def << " | " << k.description
       << " |\n";
    if (k.type == Type::section && k.schema) queue.push_back(k.schema);
  }
  os << "\n";
}

// A default is written as it would be in the file ("5s", "[attending, resident]").
Node default_node(const Key& k, const std::string& path, ParseContext& ctx) {
  switch (k.type) {
    case Type::section:
      return validate(Node{}, *k.schema, path, ctx);
    case Type::sections:
    case Type::string_list:
    case Type::string_map:
    case Type::value_maps:
    case Type::any: {
      ParseContext inner{"(default of " + path + ")", ctx.env, {}};
      Node n = parse_yaml(*k.default_value, inner);
      if (n.kind == Node::Kind::null) {
        n.kind = k.type == Type::string_list ? Node::Kind::sequence : Node::Kind::map;
      }
      return n;
    }
    default:
      return Node::of_scalar(*k.default_value);
  }
}

}  // namespace

const Key* Schema::find(std::string_view key) const {
  for (const auto& k : keys) {
    if (k.name == key) return &k;
  }
  return nullptr;
}

std::vector<std::chrono::milliseconds> schedule_of(const std::vector<std::string>& steps,
                                                   const std::string& key) {
  std::vector<std::chrono::milliseconds> out;
  for (const auto& step : steps) {
    auto d = parse_duration(step);
    if (!d) {
      throw std::invalid_argument(key + ": \"" + step +
                                  "\" is not a duration (such as 0s, 5s, 5m, 2h)");
    }
    out.push_back(*d);
  }
  if (out.empty()) throw std::invalid_argument(key + ": needs one attempt at least");
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0 || i == s.size()) return std::nullopt;
  std::int64_t n = 0;
  std::from_chars(s.data(), s.data() + i, n);
  std::string_view unit = s.substr(i);
  using namespace std::chrono;
  if (unit == "ms") return milliseconds(n);
  if (unit == "s") return duration_cast<milliseconds>(seconds(n));
  if (unit == "m") return duration_cast<milliseconds>(minutes(n));
  if (unit == "h") return duration_cast<milliseconds>(hours(n));
  if (unit == "d") return duration_cast<milliseconds>(hours(24 * n));
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

Node validate(const Node& in, const Schema& schema, const std::string& path, ParseContext& ctx) {
  Node out;
  out.kind = Node::Kind::map;
  out.mark = in.mark;
  if (in.kind != Node::Kind::map && in.kind != Node::Kind::null) {
    ctx.error(in.mark, path, "expected a mapping, found " + quoted(in));
    return out;
  }
  std::vector<std::string> names;
  for (const auto& k : schema.keys) names.push_back(k.name);

  for (std::size_t i = 0; i < in.entries.size(); ++i) {
    const auto& [key, value] = in.entries[i];
    Mark key_mark = in.key_marks[i];
    std::string key_path = join(path, key);
    if (const Key* k = schema.find(key)) {
      if (value.kind == Node::Kind::null && k->type != Type::sections && k->type != Type::section) {
        ctx.error(value.mark.line ? value.mark : key_mark, key_path,
                  "expected " + type_name(*k) + ", found nothing");
        continue;
      }
      if (!k->replaced_by.empty()) {
        ctx.warn(key_mark, key_path, "deprecated: write " + k->replaced_by + " instead");
      }
      out.entries.emplace_back(key, check_value(value, *k, key_path, ctx));
      out.key_marks.push_back(key_mark);
      continue;
    }
    if (key.size() > 5 && key.ends_with("_file")) {
      std::string base = key.substr(0, key.size() - 5);
      if (const Key* k = schema.find(base); k && k->type == Type::secret) {
        if (in.get(base)) {
          ctx.error(key_mark, key_path, "give either " + base + " or " + key + ", not both");
          continue;
        }
        if (auto secret = read_secret_file(value, key_path, ctx)) {
          out.entries.emplace_back(base, Node::of_scalar(*secret, value.mark));
          out.key_marks.push_back(key_mark);
        }
        continue;
      }
    }
    ctx.error(key_mark, key_path,
              "unknown key \"" + key + "\"" + suggestion(key, names) + " (" + schema.name +
                  " accepts " + list_of(names) + ")");
  }

  for (const auto& k : schema.keys) {
    if (out.get(k.name) || in.get(k.name) || in.get(k.name + "_file")) continue;
    if (k.default_value) {
      out.entries.emplace_back(k.name, default_node(k, join(path, k.name), ctx));
      out.key_marks.push_back({});
    } else if (k.required) {
      ctx.error(in.mark, path.empty() ? k.name : path,
                "missing required key \"" + k.name + "\" (" + k.description + ")");
    }
  }
  return out;
}

const Node* Section::child(std::string_view key) const {
  const Node* n = node_ ? node_->get(key) : nullptr;
  return n;
}

bool Section::has(std::string_view key) const {
  const Node* n = child(key);
  return n && n->kind != Node::Kind::null && !(n->is_scalar() && n->scalar.empty());
}

std::string Section::str(std::string_view key) const {
  const Node* n = child(key);
  return n && n->is_scalar() ? n->scalar : std::string();
}

std::int64_t Section::integer(std::string_view key) const {
  return std::strtoll(str(key).c_str(), nullptr, 10);
}

double Section::number(std::string_view key) const {
  return std::strtod(str(key).c_str(), nullptr);
}

bool Section::boolean(std::string_view key) const {
  return parse_bool(str(key)).value_or(false);
}

std::chrono::milliseconds Section::duration(std::string_view key) const {
  return parse_duration(str(key)).value_or(std::chrono::milliseconds(0));
}

std::vector<std::string> Section::strings(std::string_view key) const {
  std::vector<std::string> out;
  if (const Node* n = child(key)) {
    for (const auto& i : n->items) out.push_back(i.scalar);
  }
  return out;
}

std::map<std::string, std::string> Section::string_map(std::string_view key) const {
  std::map<std::string, std::string> out;
  if (const Node* n = child(key)) {
    for (const auto& [k, v] : n->entries) out[k] = v.scalar;
  }
  return out;
}

std::map<std::string, std::map<std::string, std::string>> Section::value_maps(
    std::string_view key) const {
  std::map<std::string, std::map<std::string, std::string>> out;
  if (const Node* n = child(key)) {
    for (const auto& [field, table] : n->entries) {
      for (const auto& [from, to] : table.entries) out[field][from] = to.scalar;
    }
  }
  return out;
}

Section Section::section(std::string_view key) const {
  const Key* k = schema_ ? schema_->find(key) : nullptr;
  return Section(child(key), k ? k->schema : nullptr, join(path_, key));
}

std::vector<std::pair<std::string, Section>> Section::sections(std::string_view key) const {
  std::vector<std::pair<std::string, Section>> out;
  const Key* k = schema_ ? schema_->find(key) : nullptr;
  const Node* n = child(key);
  if (!k || !n) return out;
  for (const auto& [name, entry] : n->entries) {
    std::string error;
    out.emplace_back(name,
                     Section(&entry, k->resolve(name, entry, error), join(join(path_, key), name)));
  }
  return out;
}

std::string render_effective(const Node& validated, const Schema& schema) {
  YAML::Emitter out;
  emit(out, validated, &schema);
  return std::string(out.c_str()) + "\n";
}

std::string render_reference(const Schema& root, const std::vector<const Schema*>& extra) {
  std::ostringstream os;
  std::set<const Schema*> seen;
  std::vector<const Schema*> queue{&root};
  queue.insert(queue.end(), extra.begin(), extra.end());
  for (std::size_t i = 0; i < queue.size(); ++i) reference_of(*queue[i], os, seen, queue);
  return os.str();
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view wrong, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, wrong.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(wrong, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best.empty() ? "" : "; did you mean \"" + best + "\"?";
}

}  // namespace rapport::config
