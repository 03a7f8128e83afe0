#pragma once
// Loading the one YAML file: parse, interpolate, validate everything, then hand out an
// immutable Config. Nothing is built before the whole file is known to be valid.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/node.hpp"
#include "config/schema.hpp"

namespace rapport {
class Registry;
}

namespace rapport::config {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

struct Config {
  std::string file;
  Node root;  // validated, defaults filled in
  const Schema* schema = nullptr;
  std::vector<Diagnostic> warnings;

  Section section() const { return Section(&root, schema, ""); }
  Section section(std::string_view key) const { return section().section(key); }
};

// Throws ConfigError with every problem found.
std::shared_ptr<const Config> load_config_text(const std::string& text, const std::string& file,
                                               const Registry& registry, EnvLookup env = nullptr);
std::shared_ptr<const Config> load_config_file(const std::string& path, const Registry& registry,
                                               EnvLookup env = nullptr);

// The schemas of the fixed top-level sections.
const Schema& store_schema();
const Schema& listener_schema();
const Schema& log_schema();
const Schema& engine_schema();
const Schema& retention_schema();
const Schema& status_page_schema();

}  // namespace rapport::config
