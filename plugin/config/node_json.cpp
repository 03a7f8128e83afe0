#include <boost/json.hpp>

#include <cstdlib>

#include "config/node.hpp"
#include "config/schema.hpp"

namespace rapport::config {
namespace {

boost::json::value to_value(const Node& n) {
  switch (n.kind) {
    case Node::Kind::null:
      return nullptr;
    case Node::Kind::scalar: {
      if (!n.plain) return boost::json::string(n.scalar);
      if (n.scalar == "null" || n.scalar == "~") return nullptr;
      if (auto b = parse_bool(n.scalar)) return *b;
      char* end = nullptr;
      long long i = std::strtoll(n.scalar.c_str(), &end, 10);
      if (!n.scalar.empty() && *end == '\0') return i;
      double d = std::strtod(n.scalar.c_str(), &end);
      if (!n.scalar.empty() && *end == '\0') return d;
      return boost::json::string(n.scalar);
    }
    case Node::Kind::sequence: {
      boost::json::array a;
      for (const auto& item : n.items) a.push_back(to_value(item));
      return a;
    }
    case Node::Kind::map: {
      boost::json::object o;
      for (const auto& [k, v] : n.entries) o[k] = to_value(v);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::string to_json_text(const Node& node) {
  return boost::json::serialize(to_value(node));
}

}  // namespace rapport::config
