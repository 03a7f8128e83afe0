// rapport validate, rapport config
#include <cstdio>

#include "cli/commands.hpp"

namespace rapport::cli {

int validate(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport validate -c FILE\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    for (const auto& w : config->warnings) std::fprintf(stderr, "%s\n", w.str().c_str());
    std::printf("%s: valid\n", args.get("-c").c_str());
    return 0;
  } catch (const config::ConfigError& e) {
    std::fputs(e.what(), stderr);
    std::fprintf(stderr, "%zu error%s\n", e.diagnostics().size(),
                 e.diagnostics().size() == 1 ? "" : "s");
    return 1;
  }
}

int print_config(const Args& args) {
  Registry registry;
  register_builtins(registry);
  if (args.flag("--reference")) {
    std::fputs(config::render_reference(registry.root(), registry.component_schemas()).c_str(),
               stdout);
    return 0;
  }
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport config -c FILE | rapport config --reference\n", stderr);
    return 2;
  }
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    std::fputs(config::render_effective(config->root, registry.root()).c_str(), stdout);
    return 0;
  } catch (const config::ConfigError& e) {
    std::fputs(e.what(), stderr);
    return 1;
  }
}

}  // namespace rapport::cli
