// rapport validate, rapport config
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "status/password.hpp"
#include "status/status_page.hpp"

namespace rapport::cli {

int validate(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport validate -c FILE [--no-connect]\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    std::vector<config::Diagnostic> found = config->warnings;
    // What the schema cannot tell (a secret's encoding), and what only the real systems
    // can (the columns the queries really return; skipped with --no-connect).
    for (const auto& [name, section] : config->section().sections("sources")) {
      const auto* kind = registry.source(section.str("type"));
      if (!kind || !kind->check) continue;
      if (kind->check_connects && args.flag("--no-connect")) continue;
      kind->check(name, section, found);
    }
    for (const auto& [name, section] : config->section().sections("sinks")) {
      const auto* kind = registry.sink(section.str("type"));
      if (kind && kind->check) kind->check(name, section, found);
    }
    // What only building them tells (a plugin that does not load or refuses its config, a
    // parameter a hook refuses): each hook is built as a start would build it.
    for (const auto& [name, section] : config->section().sections("hooks")) {
      if (!section.boolean("enabled")) continue;
      std::string type = section.has("type")     ? section.str("type")
                         : section.has("plugin") ? std::string("plugin")
                                                 : name;
      const auto* kind = registry.hook(type);
      if (!kind) continue;  // the schema said so already
      try {
        kind->create(name, section);
      } catch (const std::exception& e) {
        std::string message = e.what();
        if (message.starts_with(section.path() + ".")) {
          // "hooks.x.key: ..." is said at the section, with its path
          message = message.substr(section.path().size() + 1);
        }
        found.push_back({"", section.mark(), section.path(), message, false});
      }
    }
    if (auto why = status::StatusPage::problem(*config); !why.empty()) {
      auto page = config->section("status_page");
      found.push_back({"", page.mark(), page.path(), why, false});
    }
    std::size_t errors = 0;
    for (auto& d : found) {
      if (d.file.empty()) d.file = config->file;  // a template names its own
      std::fprintf(stderr, "%s\n", d.str().c_str());
      errors += d.warning ? 0 : 1;
    }
    if (errors) {
      std::fprintf(stderr, "%zu error%s\n", errors, errors == 1 ? "" : "s");
      return 1;
    }
    std::printf("%s: valid%s\n", args.get("-c").c_str(),
                args.flag("--no-connect") ? " (file only, not checked against the databases)" : "");
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

int hash_password(const Args&) {
  // From a terminal: asked for, without echo. From a pipe: the first line.
  termios was{};
  bool terminal = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &was) == 0;
  if (terminal) {
    std::fputs("password: ", stderr);
    termios quiet = was;
    quiet.c_lflag &= ~tcflag_t(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string password;
  bool read = bool(std::getline(std::cin, password));
  if (terminal) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &was);
    std::fputs("\n", stderr);
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (!read || password.size() < 12) {
    std::fputs(
        "rapport hash-password: give a password of 12 characters or more on standard "
        "input\n",
        stderr);
    return 2;
  }
  std::printf("%s\n", status::hash_password(password).c_str());
  return 0;
}

}  // namespace rapport::cli
