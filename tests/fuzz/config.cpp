// The YAML config: parsing with line and column, ${VAR} interpolation (from a fixed
// environment) and every component's schema. Any input loads or is refused with a
// ConfigError; nothing else escapes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "config/config.hpp"
#include "engine/registry.hpp"

using namespace rapport;

namespace {

const char* environment(const char* name) {
  if (std::strcmp(name, "RAPPORT_HOME") == 0) return "/tmp/rapport-fuzz";
  if (std::strcmp(name, "RAPPORT_SECRET") == 0) return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  if (std::strcmp(name, "EMPTY") == 0) return "";
  return nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Registry registry;
  static const bool registered = (register_builtins(registry), true);
  (void)registered;
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    config::load_config_text(text, "fuzz.yaml", registry, environment);
  } catch (const config::ConfigError&) {
  }
  return 0;
}
