#include <dlfcn.h>

#include <memory>
#include <stdexcept>

#include "hooks/plugin/plugin_calls.hpp"

namespace rapport::hooks {
namespace {

std::string error_of(const std::string& what, const std::string& path) {
  return "plugin \"" + path + "\": " + what;
}

class InProcess final : public PluginCalls {
 public:
  InProcess(const std::string& path, const std::string& config_json) {
    library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library_) {
      throw std::runtime_error(error_of(std::string("cannot load: ") + dlerror(), path));
    }
    try {
      open(path, config_json);
    } catch (...) {
      dlclose(library_);
      throw;
    }
  }
  ~InProcess() override {
    if (instance_) table_->destroy(instance_);
    dlclose(library_);
  }
  InProcess(const InProcess&) = delete;
  InProcess& operator=(const InProcess&) = delete;

  const PluginInfo& info() const override { return info_; }

  std::pair<rapport_status, std::string> handle(const std::string& event_json,
                                                const std::string& context_json) override {
    char* out = nullptr;
    rapport_status status =
        table_->handle(instance_, event_json.c_str(), context_json.c_str(), &out);
    std::unique_ptr<char, void (*)(char*)> owned(out, table_->free_string);
    return {status, out ? out : ""};
  }

 private:
  void open(const std::string& path, const std::string& config_json) {
    auto entry =
        reinterpret_cast<rapport_plugin_entry_fn>(dlsym(library_, RAPPORT_PLUGIN_ENTRY_SYMBOL));
    if (!entry) {
      throw std::runtime_error(
          error_of("exports no " + std::string(RAPPORT_PLUGIN_ENTRY_SYMBOL) + " symbol", path));
    }
    table_ = entry();
    if (!table_ || table_->abi_version != RAPPORT_PLUGIN_ABI_VERSION) {
      unsigned version = table_ ? table_->abi_version : 0;
      throw std::runtime_error(error_of("speaks plugin ABI version " + std::to_string(version) +
                                            "; this rapport knows only " +
                                            std::to_string(RAPPORT_PLUGIN_ABI_VERSION),
                                        path));
    }
    if (!table_->init || !table_->handle || !table_->free_string || !table_->destroy) {
      throw std::runtime_error(error_of("has a table with a missing function", path));
    }
    info_.kind = table_->name ? table_->name : "";
    info_.version = table_->version ? table_->version : "";
    for (const char* const* t = table_->event_types; t && *t; ++t) info_.event_types.push_back(*t);
    char* error = nullptr;
    instance_ = table_->init(config_json.c_str(), &error);
    if (!instance_) {
      std::string message = error ? error : "init returned no instance";
      if (error) table_->free_string(error);
      throw std::runtime_error(error_of("rejected its config: " + message, path));
    }
  }

  void* library_ = nullptr;
  const rapport_plugin* table_ = nullptr;
  void* instance_ = nullptr;
  PluginInfo info_;
};

}  // namespace

std::unique_ptr<PluginCalls> load_in_process(const std::string& path,
                                             const std::string& config_json) {
  return std::make_unique<InProcess>(path, config_json);
}

}  // namespace rapport::hooks
