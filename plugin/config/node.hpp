#pragma once
// A YAML document as a small tree that remembers where each value came from, with
// ${VAR} interpolation already applied to its scalars.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rapport::config {

struct Mark {
  int line = 0;  // 1-based; 0 when unknown (a default)
  int column = 0;
};

struct NodeEntry;  // key and value, complete below

struct Node {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  Mark mark;
  std::string scalar;
  bool plain = true;               // an unquoted scalar (typed when converted to JSON)
  std::vector<Node> items;         // sequence
  std::vector<NodeEntry> entries;  // map, in file order
  std::vector<Mark> key_marks;     // map: where each key is

  const Node* get(std::string_view key) const;
  Node* get(std::string_view key);
  bool is_map() const { return kind == Kind::map; }
  bool is_scalar() const { return kind == Kind::scalar; }
  static Node of_scalar(std::string value, Mark mark = {});
};

// A map entry: key and value. Not a std::pair<std::string, Node>: instantiating that inside
// Node's own definition needs Node complete, which clang (the fuzz build) refuses.
struct NodeEntry {
  NodeEntry(std::string key, Node value) : first(std::move(key)), second(std::move(value)) {}
  std::string first;
  Node second;
};

struct Diagnostic {
  std::string file;
  Mark mark;
  std::string path;  // sources.registrar.poll_interval
  std::string message;
  bool warning = false;

  std::string str() const;  // file:line:col: path: message
};

// Looks up environment variables; tests inject their own.
using EnvLookup = const char* (*)(const char*);

struct ParseContext {
  std::string file;
  EnvLookup env = nullptr;
  std::vector<Diagnostic> diagnostics;

  void error(Mark mark, std::string path, std::string message);
  void warn(Mark mark, std::string path, std::string message);
  bool failed() const;
};

// Parses YAML text. Syntax errors and interpolation errors go to ctx.diagnostics.
Node parse_yaml(const std::string& text, ParseContext& ctx);

// The node as JSON text: maps become objects, sequences arrays, plain scalars true/false,
// numbers or null where they read as such, everything else strings.
std::string to_json_text(const Node& node);

// ${VAR}, ${VAR:-default}, ${VAR:?message}; $$ is a literal $. Errors go to ctx.
std::string interpolate(std::string_view text, Mark mark, const std::string& path,
                        ParseContext& ctx);

}  // namespace rapport::config
