#pragma once
// The C++ side of the plugin ABI, header-only: write a class against rapport::Hook (the
// interface the built-in hooks use), give it a constructor taking the hook's `config:`
// as JSON text, and export it with one macro:
//
//   RAPPORT_EXPORT_HOOK(ResearchOpenings, "research_openings", "1.0.0", "rotation.started")
//
// Exceptions never cross the ABI: RetryLater becomes RAPPORT_STATUS_RETRY, any other
// exception RAPPORT_STATUS_ERROR with its message. Link the plugin with rapport::sdk.

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "rapport/hook.hpp"
#include "rapport/json.hpp"
#include "rapport/plugin.h"

namespace rapport::plugin {

inline char* copy_string(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

template <typename HookClass>
struct Adapter {
  static void* init(const char* config_json, char** error) {
    try {
      return new HookClass(std::string(config_json ? config_json : "{}"));
    } catch (const std::exception& e) {
      if (error) *error = copy_string(e.what());
    } catch (...) {
      if (error) *error = copy_string("unknown exception in the plugin's constructor");
    }
    return nullptr;
  }

  static rapport_status handle(void* instance, const char* event_json, const char* context_json,
                               char** out) {
    try {
      Event event = event_from_json(event_json);
      SnapshotContext context(snapshot_from_json(context_json));
      std::string actions = "[";
      for (const auto& action : static_cast<HookClass*>(instance)->handle(event, context)) {
        if (actions.size() > 1) actions += ",";
        actions += to_json(action);
      }
      *out = copy_string(actions + "]");
      return RAPPORT_STATUS_OK;
    } catch (const RetryLater& e) {
      *out = copy_string(e.what());
      return RAPPORT_STATUS_RETRY;
    } catch (const std::exception& e) {
      *out = copy_string(e.what());
    } catch (...) {
      *out = copy_string("unknown exception in the plugin");
    }
    return RAPPORT_STATUS_ERROR;
  }

  static void free_string(char* text) { std::free(text); }
  static void destroy(void* instance) { delete static_cast<HookClass*>(instance); }
};

}  // namespace rapport::plugin

#define RAPPORT_EXPORT_HOOK(HookClass, kind_name, version_text, ...)                       \
  extern "C" __attribute__((visibility("default"))) const rapport_plugin*                  \
  rapport_plugin_entry(void) {                                                             \
    static const char* const event_types[] = {__VA_ARGS__, nullptr};                       \
    static const rapport_plugin table = {                                                  \
        RAPPORT_PLUGIN_ABI_VERSION,                 kind_name,                             \
        version_text,                               event_types,                           \
        &::rapport::plugin::Adapter<HookClass>::init, &::rapport::plugin::Adapter<HookClass>::handle, \
        &::rapport::plugin::Adapter<HookClass>::free_string,                               \
        &::rapport::plugin::Adapter<HookClass>::destroy};                                  \
    return &table;                                                                         \
  }
