#pragma once
// A plugin library answering calls, wherever it runs: loaded into this process (the
// default), or isolated in a child process of its own (`isolation: process`).

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rapport/plugin.h"

namespace rapport::hooks {

struct PluginInfo {
  std::string kind, version;
  std::vector<std::string> event_types;
};

class PluginCalls {
 public:
  virtual ~PluginCalls() = default;
  virtual const PluginInfo& info() const = 0;
  // The plugin's status and text for one event. Throws RetryLater when the plugin could
  // not answer (its process crashed, hung or is waiting to be restarted).
  virtual std::pair<rapport_status, std::string> handle(const std::string& event_json,
                                                        const std::string& context_json) = 0;
};

// Both throw std::runtime_error naming the library when it cannot be loaded, speaks
// another ABI version or rejects its config.
std::unique_ptr<PluginCalls> load_in_process(const std::string& path,
                                             const std::string& config_json);

struct IsolationOptions {
  std::size_t memory_limit = 0;  // address space of the child, bytes (0: none)
  std::chrono::milliseconds call_timeout{10'000};
  std::string host;  // the rapport-plugin-host executable (empty: found beside rapport)
};
std::unique_ptr<PluginCalls> load_isolated(const std::string& path, const std::string& config_json,
                                           IsolationOptions options);

// Where rapport-plugin-host is: $RAPPORT_PLUGIN_HOST, else beside the library or program
// this code is in (or ../libexec/rapport from it), else the installed libexec folder.
std::string plugin_host_path();

}  // namespace rapport::hooks
