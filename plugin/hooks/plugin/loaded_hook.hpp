#pragma once
// A hook from a shared library, through the C ABI of rapport/plugin.h. The library is
// loaded, its ABI version checked and an instance created when the engine is built; a
// library that cannot be loaded or speaks another ABI version stops the start with a
// clear message. Errors and RETRY from the plugin become the dispatcher's usual
// failure and retry handling.

#include <string>
#include <vector>

#include "engine/registry.hpp"
#include "rapport/hook.hpp"
#include "rapport/plugin.h"

namespace rapport::hooks {

class LoadedHook final : public Hook {
 public:
  LoadedHook(std::string name, const std::string& path, const std::string& config_json);
  ~LoadedHook() override;
  LoadedHook(const LoadedHook&) = delete;
  LoadedHook& operator=(const LoadedHook&) = delete;

  std::string name() const override { return name_; }
  std::vector<EventType> subscribed() const override { return types_; }
  std::vector<Action> handle(const Event& event, const HookContext& context) override;

  const std::string& kind() const { return kind_; }
  const std::string& version() const { return version_; }

 private:
  std::string name_, kind_, version_;
  void* library_ = nullptr;
  const rapport_plugin* table_ = nullptr;
  void* instance_ = nullptr;
  std::vector<EventType> types_;
};

HookKind plugin_hook_kind();

}  // namespace rapport::hooks
