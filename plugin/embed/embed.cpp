// The C ABI for hosts (rapport/embed.h) over the engine. No exception crosses it.
#include "rapport/embed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "adapters/callback/callback_sink.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/mirror.hpp"
#include "engine/network.hpp"
#include "rapport/json.hpp"

#define RAPPORT_API extern "C" __attribute__((visibility("default")))

struct rapport_engine;

namespace {
// What a callback sink calls: marks the calling thread so that re-entry is refused.
struct CallbackContext {
  rapport_engine* engine;
  rapport_action_fn fn;
  void* user_data;
};
}  // namespace

struct rapport_engine {
  std::vector<std::unique_ptr<CallbackContext>> callbacks;
  rapport::Registry registry;
  std::shared_ptr<const rapport::config::Config> config;
  std::unique_ptr<rapport::Engine> engine;
  std::mutex mutex;
};

namespace {

// The engines whose lock this thread holds, innermost last: a call into one of them from
// this thread (a callback of it, or of another engine it stepped) would lock it twice.
thread_local std::vector<const rapport_engine*> held_by_this_thread;

bool held(const rapport_engine* e) {
  return std::find(held_by_this_thread.begin(), held_by_this_thread.end(), e) !=
         held_by_this_thread.end();
}

// Holds an engine's lock for this thread, and remembers that it does.
struct Hold {
  explicit Hold(rapport_engine* e) : lock(e->mutex) { held_by_this_thread.push_back(e); }
  ~Hold() { held_by_this_thread.pop_back(); }
  std::lock_guard<std::mutex> lock;
};

char* copy(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

rapport_result fail(char** error, rapport_result code, const std::string& message) {
  if (error) *error = copy(message);
  return code;
}

// Runs `body` under the engine's lock, turning every exception into a result code.
template <typename Body>
rapport_result guarded(rapport_engine* e, char** error, Body body) {
  if (error) *error = nullptr;
  if (!e) return fail(error, RAPPORT_ERR_INVALID, "engine is NULL");
  if (held(e)) {
    return fail(error, RAPPORT_ERR_STATE,
                "called from inside an action callback while this thread is in a call on this "
                "engine (its own callback, or that of another engine it stepped)");
  }
  try {
    Hold hold(e);
    return body();
  } catch (const rapport::JsonError& x) {
    return fail(error, RAPPORT_ERR_INVALID, x.what());
  } catch (const std::invalid_argument& x) {
    return fail(error, RAPPORT_ERR_INVALID, x.what());
  } catch (const rapport::StoreError& x) {
    return fail(error, RAPPORT_ERR_STORE, x.what());
  } catch (const std::exception& x) {
    return fail(error, RAPPORT_ERR_INTERNAL, x.what());
  } catch (...) {
    return fail(error, RAPPORT_ERR_INTERNAL, "unknown error");
  }
}

template <typename Load>
rapport_result open(rapport_engine** out, char** error, Load load) {
  if (error) *error = nullptr;
  if (!out) return fail(error, RAPPORT_ERR_INVALID, "engine pointer is NULL");
  *out = nullptr;
  std::unique_ptr<rapport_engine> e;
  try {
    e = std::make_unique<rapport_engine>();
    rapport::register_builtins(e->registry);
    e->config = load(e->registry);
    e->engine = rapport::Engine::build(*e->config, e->registry);
  } catch (const rapport::config::ConfigError& x) {
    return fail(error, RAPPORT_ERR_CONFIG, x.what());
  } catch (const rapport::StoreError& x) {
    return fail(error, RAPPORT_ERR_STORE, x.what());
  } catch (const std::exception& x) {
    return fail(error, RAPPORT_ERR_CONFIG, x.what());
  } catch (...) {
    return fail(error, RAPPORT_ERR_INTERNAL, "unknown error");
  }
  *out = e.release();
  return RAPPORT_OK;
}

int trampoline(const char* json, void* user) {
  // Runs under the engine's lock (held_by_this_thread names it), during rapport_step.
  auto* ctx = static_cast<CallbackContext*>(user);
  return ctx->fn(json, ctx->user_data);
}

// `now` as given by the host (RFC 3339), or the wall clock for NULL.
std::optional<rapport::TimePoint> moment(const char* now) {
  if (!now) {
    return rapport::wall_clock();
  }
  return rapport::parse_time(now);
}

}  // namespace

RAPPORT_API const char* rapport_version(void) {
  return "0.1.0";
}

RAPPORT_API rapport_result rapport_open_file(const char* path, rapport_engine** engine,
                                             char** error) {
  if (!path) return fail(error, RAPPORT_ERR_INVALID, "path is NULL");
  return open(engine, error, [&](const rapport::Registry& r) {
    return rapport::config::load_config_file(path, r);
  });
}

RAPPORT_API rapport_result rapport_open_yaml(const char* yaml, rapport_engine** engine,
                                             char** error) {
  if (!yaml) return fail(error, RAPPORT_ERR_INVALID, "yaml is NULL");
  return open(engine, error, [&](const rapport::Registry& r) {
    return rapport::config::load_config_text(yaml, "(yaml text)", r);
  });
}

RAPPORT_API rapport_result rapport_set_action_callback(rapport_engine* engine, rapport_action_fn fn,
                                                       void* user_data, char** error) {
  return guarded(engine, error, [&] {
    bool found = false;
    engine->callbacks.push_back(
        std::make_unique<CallbackContext>(CallbackContext{engine, fn, user_data}));
    for (const auto& sink : engine->engine->sinks()) {
      if (auto* callback = dynamic_cast<rapport::adapters::CallbackSink*>(sink.get())) {
        callback->set(fn ? trampoline : nullptr, engine->callbacks.back().get());
        found = true;
      }
    }
    if (!found) {
      return fail(error, RAPPORT_ERR_CONFIG,
                  "the configuration declares no sink of type callback (add sinks: {host: "
                  "{type: callback}})");
    }
    return RAPPORT_OK;
  });
}

RAPPORT_API rapport_result rapport_submit_event(rapport_engine* engine, const char* event_json,
                                                int* duplicate, char** error) {
  if (duplicate) *duplicate = 0;
  if (!event_json) return fail(error, RAPPORT_ERR_INVALID, "event_json is NULL");
  return guarded(engine, error, [&] {
    rapport::Event event = rapport::event_from_json(event_json);
    rapport::check_payload(event);  // a malformed payload is refused now, not at dispatch
    auto now = rapport::wall_clock();
    auto& store = engine->engine->store();
    rapport::Transaction tx(store);
    bool added = store.append_event(event, now);
    tx.commit();
    if (duplicate) *duplicate = added ? 0 : 1;
    return RAPPORT_OK;
  });
}

RAPPORT_API rapport_result rapport_step(rapport_engine* engine, const char* now, char** error) {
  return guarded(engine, error, [&] {
    auto at = moment(now);
    if (!at) {
      return fail(error, RAPPORT_ERR_INVALID,
                  std::string("now: \"") + now + "\" is not an RFC 3339 time");
    }
    engine->engine->step(*at);
    return RAPPORT_OK;
  });
}

RAPPORT_API rapport_result rapport_query_network(rapport_engine* engine, const char* student_id,
                                                 const char* now, char** json, char** error) {
  if (!student_id || !json) return fail(error, RAPPORT_ERR_INVALID, "student_id or json is NULL");
  *json = nullptr;
  return guarded(engine, error, [&] {
    auto at = moment(now);
    if (!at) {
      return fail(error, RAPPORT_ERR_INVALID,
                  std::string("now: \"") + now + "\" is not an RFC 3339 time");
    }
    auto context = engine->engine->context(*at);
    *json = copy(rapport::network_json(engine->engine->store(), *context, student_id,
                                       engine->engine->letters()));
    return RAPPORT_OK;
  });
}

RAPPORT_API rapport_result rapport_export_student(rapport_engine* engine, const char* student_id,
                                                  char** json, char** error) {
  if (!student_id || !json) return fail(error, RAPPORT_ERR_INVALID, "student_id or json is NULL");
  *json = nullptr;
  return guarded(engine, error, [&] {
    *json = copy(rapport::student_record_json(engine->engine->store(), student_id));
    return RAPPORT_OK;
  });
}

RAPPORT_API void rapport_free(char* text) {
  std::free(text);
}

RAPPORT_API void rapport_close(rapport_engine* engine) {
  if (!engine || held(engine)) return;
  {
    Hold hold(engine);
    engine->engine.reset();
  }
  delete engine;
}
