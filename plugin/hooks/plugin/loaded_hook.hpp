#pragma once
// A hook from a shared library, through the C ABI of rapport/plugin.h. The library is
// loaded, its ABI version checked and an instance created when the engine is built; a
// library that cannot be loaded or speaks another ABI version stops the start with a
// clear message. Errors and RETRY from the plugin become the dispatcher's usual
// failure and retry handling. With `isolation: process` the library runs in a child
// process (rapport-plugin-host): a crash or a hang there is a RETRY of the event, and the
// process is started again with backoff.

#include <string>
#include <vector>

#include "engine/registry.hpp"
#include "hooks/plugin/plugin_calls.hpp"
#include "rapport/hook.hpp"

namespace rapport::hooks {

class LoadedHook final : public Hook {
 public:
  // Loaded into this process.
  LoadedHook(std::string name, const std::string& path, const std::string& config_json);
  // Wherever `calls` runs it (isolated: in a child process).
  LoadedHook(std::string name, std::unique_ptr<PluginCalls> calls);

  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return types_; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

  const std::string& kind() const { return calls_->info().kind; }
  const std::string& version() const { return calls_->info().version; }

 private:
  std::string name_;
  std::unique_ptr<PluginCalls> calls_;
  std::vector<EventType> types_;
};

HookKind plugin_hook_kind();

}  // namespace rapport::hooks
