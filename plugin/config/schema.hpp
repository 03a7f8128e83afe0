#pragma once
// One schema per component: each key with its type, default, bounds and description.
// The same table drives validation, defaults, unknown-key errors ("did you mean"),
// `rapport config` (secrets masked) and the README's configuration reference.

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/node.hpp"

namespace rapport::config {

enum class Type {
  string,
  integer,
  number,
  boolean,
  duration,     // 500ms, 30s, 5m, 1h, 2d
  enumeration,  // one of `choices`
  path,
  secret,  // a string that is masked when printed; `<key>_file` reads it from a file
  string_list,
  string_map,  // key -> string; keys limited to `choices` when given
  value_maps,  // field -> {their value -> our value}; fields limited to `choices`
  section,     // a nested schema
  sections,    // name -> nested schema chosen by `resolve`
  any,         // any YAML, passed on as it is (a plugin's own config)
};

struct Schema;

// Chooses the schema of one entry of a `sections` map (for example by its `type:` key).
// Returns nullptr and sets `error` when it cannot.
using SchemaResolver =
    std::function<const Schema*(const std::string& name, const Node& entry, std::string& error)>;

struct Key {
  std::string name;
  Type type = Type::string;
  std::string description;
  std::optional<std::string> default_value;  // textual, parsed like a file value
  bool required = false;
  std::vector<std::string> choices;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  const Schema* schema = nullptr;  // section
  SchemaResolver resolve;          // sections
  // Strings, string lists' items and string maps' values: "" when fine, else what is
  // wrong (after "path: ").
  std::function<std::string(const std::string&)> check;
  // Value tables: (field, our value) -> "" when fine, else what is wrong.
  std::function<std::string(const std::string&, const std::string&)> check_entry;
  // A key kept for old files: still read, with a warning naming the key that replaced it.
  std::string replaced_by;
};

struct Schema {
  std::string name;         // "sources (type: sql)"
  std::string description;  // one line
  std::vector<Key> keys;

  const Key* find(std::string_view key) const;
};

std::optional<std::chrono::milliseconds> parse_duration(std::string_view);
// A retry schedule (`key`'s list of durations, one attempt at least); throws
// std::invalid_argument as "key: what is wrong".
std::vector<std::chrono::milliseconds> schedule_of(const std::vector<std::string>& steps,
                                                   const std::string& key);
std::string format_duration(std::chrono::milliseconds);
std::optional<bool> parse_bool(std::string_view);

// Checks `in` against `schema`, adds defaults, reads `*_file` secrets. Errors (with
// file, line and column) go to ctx; the result is usable for whatever was valid.
Node validate(const Node& in, const Schema& schema, const std::string& path, ParseContext& ctx);

// Typed, read-only access to a validated section. Keys are known to be valid.
class Section {
 public:
  Section() = default;
  Section(const Node* node, const Schema* schema, std::string path)
      : node_(node), schema_(schema), path_(std::move(path)) {}

  bool has(std::string_view key) const;
  std::string str(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::chrono::milliseconds duration(std::string_view key) const;
  std::vector<std::string> strings(std::string_view key) const;
  std::map<std::string, std::string> string_map(std::string_view key) const;
  std::map<std::string, std::map<std::string, std::string>> value_maps(std::string_view) const;
  Section section(std::string_view key) const;
  // Entries of a `sections` key, in file order, each with its own schema.
  std::vector<std::pair<std::string, Section>> sections(std::string_view key) const;

  const std::string& path() const { return path_; }
  const Schema* schema() const { return schema_; }
  const Node* node() const { return node_; }
  Mark mark() const { return node_ ? node_->mark : Mark{}; }

 private:
  const Node* child(std::string_view key) const;

  const Node* node_ = nullptr;
  const Schema* schema_ = nullptr;
  std::string path_;
};

// The effective configuration as YAML, secrets replaced by "********".
std::string render_effective(const Node& validated, const Schema& schema);

// Markdown tables, one per schema reachable from `root`.
std::string render_reference(const Schema& root, const std::vector<const Schema*>& extra);

std::size_t edit_distance(std::string_view a, std::string_view b);
// "did you mean ...?" for the closest candidate, or "" when none is close.
std::string suggestion(std::string_view wrong, const std::vector<std::string>& candidates);

// "" for an IANA time zone tzdata knows (or UTC), else the error with "did you mean".
std::string time_zone_problem(const std::string& zone);

}  // namespace rapport::config
