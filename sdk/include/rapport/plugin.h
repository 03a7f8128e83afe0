/* Rapport plugin ABI: a hook built as a shared library and loaded at run time.
 *
 * A plugin exports one symbol, `rapport_plugin_entry`, returning a static table. Only C
 * types cross this boundary: events, context and actions travel as rapport/v1 JSON text.
 *
 * Buffers: every string the engine passes in is owned by the engine and valid only during
 * the call. Every string the plugin hands back (actions, error messages) is owned by the
 * plugin and released by the engine through the table's `free_string`.
 *
 * Threads: the engine calls one instance from one thread at a time (its dispatcher).
 * This header compiles as C89 and as C++. */
#ifndef RAPPORT_PLUGIN_H
#define RAPPORT_PLUGIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. The engine refuses any other value. */
#define RAPPORT_PLUGIN_ABI_VERSION 1
#define RAPPORT_PLUGIN_ENTRY_SYMBOL "rapport_plugin_entry"

typedef enum rapport_status {
  RAPPORT_STATUS_OK = 0,    /* done; `out` holds a JSON array of actions (may be "[]") */
  RAPPORT_STATUS_RETRY = 1, /* transient: the engine hands the same event again later,
                               with backoff; `out` may hold a message */
  RAPPORT_STATUS_ERROR = 2  /* permanent for this event: recorded, the engine moves on;
                               `out` may hold a message */
} rapport_status;

typedef struct rapport_plugin {
  unsigned int abi_version; /* RAPPORT_PLUGIN_ABI_VERSION */
  const char* name;         /* the hook's kind, e.g. "research_openings" */
  const char* version;      /* the plugin's own version, e.g. "1.2.0" */
  /* NULL-terminated list of event types wanted, e.g. {"rotation.started", NULL}. */
  const char* const* event_types;

  /* Creates an instance from the hook's `config:` section (as JSON text). Returns NULL
   * on failure and may set *error to a message (freed with free_string). */
  void* (*init)(const char* config_json, char** error);

  /* Handles one event. `event_json` is a CloudEvents 1.0 object (rapport/v1 data);
   * `context_json` is the student's context: {"now", "people": [...], "rotations": [...],
   * "evaluations": [...]}. On OK, *out is a JSON array of actions: CloudEvents as
   * rapport writes them, or just their `data` objects ({"type", "contact", "due",
   * "reason", "evidence"}). The engine assigns ids, the student (the event's subject),
   * the hook and the time, so reprocessing stays deterministic. */
  rapport_status (*handle)(void* instance, const char* event_json, const char* context_json,
                           char** out);

  void (*free_string)(char* text);
  void (*destroy)(void* instance);
} rapport_plugin;

typedef const rapport_plugin* (*rapport_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* RAPPORT_PLUGIN_H */
