#include "config/node.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

namespace rapport::config {

const Node* Node::get(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

Node* Node::get(std::string_view key) {
  return const_cast<Node*>(static_cast<const Node*>(this)->get(key));
}

Node Node::of_scalar(std::string value, Mark mark) {
  Node n;
  n.kind = Kind::scalar;
  n.scalar = std::move(value);
  n.mark = mark;
  return n;
}

std::string Diagnostic::str() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  }
  out += warning ? ": warning: " : ": error: ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

void ParseContext::error(Mark mark, std::string path, std::string message) {
  diagnostics.push_back({file, mark, std::move(path), std::move(message), false});
}

void ParseContext::warn(Mark mark, std::string path, std::string message) {
  diagnostics.push_back({file, mark, std::move(path), std::move(message), true});
}

bool ParseContext::failed() const {
  for (const auto& d : diagnostics) {
    if (!d.warning) return true;
  }
  return false;
}

std::string interpolate(std::string_view text, Mark mark, const std::string& path,
                        ParseContext& ctx) {
  EnvLookup env = ctx.env ? ctx.env : [](const char* n) -> const char* { return std::getenv(n); };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      out += '$';
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      ctx.error(mark, path, "unterminated ${...} in \"" + std::string(text) + "\"");
      return out;
    }
    std::string_view expr = text.substr(i + 2, close - i - 2);
    std::string_view name = expr;
    std::string_view op, arg;
    if (auto colon = expr.find(':'); colon != std::string_view::npos) {
      name = expr.substr(0, colon);
      op = expr.substr(colon, 2);
      arg = expr.substr(std::min(expr.size(), colon + 2));
    }
    bool valid_name = !name.empty();
    for (char c : name) {
      valid_name = valid_name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    }
    if (!valid_name || (!op.empty() && op != ":-" && op != ":?")) {
      ctx.error(mark, path,
                "\"${" + std::string(expr) +
                    "}\" is not an interpolation (expected ${VAR}, ${VAR:-default} or "
                    "${VAR:?message})");
      i = close;
      continue;
    }
    const char* value = env(std::string(name).c_str());
    std::string replacement;
    if (value && *value) {
      replacement = value;
    } else if (op == ":-") {
      replacement = arg;
    } else if (op == ":?") {
      ctx.error(mark, path,
                "environment variable " + std::string(name) + " is not set: " + std::string(arg));
    } else if (!value) {
      ctx.error(mark, path,
                "environment variable " + std::string(name) +
                    " is not set (give a default with ${" + std::string(name) + ":-value})");
    }
    if (replacement.find('\n') != std::string::npos ||
        replacement.find('\r') != std::string::npos) {
      ctx.error(mark, path,
                "environment variable " + std::string(name) +
                    " contains a newline, which is "
                    "not allowed in a value");
      replacement.clear();
    }
    out += replacement;
    i = close;
  }
  return out;
}

namespace {

Mark mark_of(const YAML::Node& n) {
  auto m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

Node convert(const YAML::Node& in, const std::string& path, ParseContext& ctx) {
  Node out;
  out.mark = mark_of(in);
  switch (in.Type()) {
    case YAML::NodeType::Scalar:
      out.kind = Node::Kind::scalar;
      out.plain = in.Tag() == "?";
      // Quoted "${X}" and plain ${X} are both interpolated; '!' tagged strings too.
      out.scalar = interpolate(in.Scalar(), out.mark, path, ctx);
      break;
    case YAML::NodeType::Sequence: {
      out.kind = Node::Kind::sequence;
      std::size_t index = 0;
      for (const auto& item : in) {
        out.items.push_back(convert(item, path + "[" + std::to_string(index++) + "]", ctx));
      }
      break;
    }
    case YAML::NodeType::Map:
      out.kind = Node::Kind::map;
      for (const auto& kv : in) {
        if (!kv.first.IsScalar()) {
          ctx.error(mark_of(kv.first), path, "keys must be plain strings");
          continue;
        }
        std::string key = kv.first.Scalar();
        if (out.get(key)) {
          ctx.error(mark_of(kv.first), join(path, key), "duplicate key");
          continue;
        }
        out.key_marks.push_back(mark_of(kv.first));
        out.entries.emplace_back(key, convert(kv.second, join(path, key), ctx));
      }
      break;
    default:
      out.kind = Node::Kind::null;
  }
  return out;
}

}  // namespace

Node parse_yaml(const std::string& text, ParseContext& ctx) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) {
      Node empty;
      empty.kind = Node::Kind::map;
      return empty;
    }
    return convert(root, "", ctx);
  } catch (const YAML::Exception& e) {
    ctx.error({e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax: " + e.msg);
    return {};
  }
}

}  // namespace rapport::config
