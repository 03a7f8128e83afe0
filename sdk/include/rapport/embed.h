/* Embedding Rapport in a host platform, from C or any language with a C FFI (PHP FFI,
 * Java Panama/JNA, .NET P/Invoke, Python ctypes). Link with -lrapport.
 *
 * Errors come back as a result code and, where a `char** error` is given, a message the
 * host frees with rapport_free. Nothing aborts the host.
 *
 * Threads: every function may be called from any thread; calls on one engine are
 * serialized by a lock inside it. The one exception is rapport_close, which must not
 * overlap any other call on the same engine (close it once every other thread is done
 * with it). Action callbacks run on the thread that called rapport_step, during that
 * call. A callback must not call into an engine whose call it runs inside: its own, or
 * one that stepped the engine whose callback it is (such a call returns RAPPORT_ERR_STATE
 * instead of deadlocking).
 *
 * Delivery: actions reach the callback at least once, in order, with deterministic ids
 * (the CloudEvent "id"); an action the callback declines (non-zero return) is offered
 * again at the next step. The engine's state lives in the store named in the config, so
 * closing and reopening an engine loses nothing.
 *
 * This header compiles as C89 and as C++. */
#ifndef RAPPORT_EMBED_H
#define RAPPORT_EMBED_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rapport_engine rapport_engine;

typedef enum rapport_result {
  RAPPORT_OK = 0,
  RAPPORT_ERR_CONFIG = 1,  /* the configuration is invalid (message has file:line:column) */
  RAPPORT_ERR_INVALID = 2, /* an argument or an event is malformed (message names the field) */
  RAPPORT_ERR_STORE = 3,   /* the store cannot be opened or written */
  RAPPORT_ERR_STATE = 4,   /* the call is not allowed now (for example from a callback) */
  RAPPORT_ERR_INTERNAL = 5
} rapport_result;

/* Receives one action as a CloudEvents 1.0 JSON object (valid during the call).
 * Return 0 when the host took it; anything else offers it again at the next step. */
typedef int (*rapport_action_fn)(const char* action_json, void* user_data);

const char* rapport_version(void);

/* Opens an engine from a YAML file, or from YAML text. `error` may be NULL. */
rapport_result rapport_open_file(const char* path, rapport_engine** engine, char** error);
rapport_result rapport_open_yaml(const char* yaml, rapport_engine** engine, char** error);

/* Registers the host's function for the config's sink of type `callback`. */
rapport_result rapport_set_action_callback(rapport_engine* engine, rapport_action_fn fn,
                                           void* user_data, char** error);

/* Submits one event: a CloudEvents 1.0 JSON object with a rapport/v1 `data`. It is durable
 * when this returns RAPPORT_OK; *duplicate (may be NULL) is set to 1 when the same source
 * and id were submitted before, in which case nothing changes. */
rapport_result rapport_submit_event(rapport_engine* engine, const char* event_json, int* duplicate,
                                    char** error);

/* Polls sources, fires due timers, runs hooks and delivers actions, at `now` (RFC 3339,
 * e.g. "2027-01-04T00:00:00Z") or at the wall clock when `now` is NULL. */
rapport_result rapport_step(rapport_engine* engine, const char* now, char** error);

/* A student's network as JSON (the data `rapport explain` shows) as of `now` (RFC 3339,
 * or NULL for the wall clock); free with rapport_free. */
rapport_result rapport_query_network(rapport_engine* engine, const char* student_id,
                                     const char* now, char** json, char** error);

/* Everything the engine holds about one student, as one JSON document (for a records
 * request; the same as `rapport export`); free with rapport_free. */
rapport_result rapport_export_student(rapport_engine* engine, const char* student_id, char** json,
                                      char** error);

void rapport_free(char* text);
void rapport_close(rapport_engine* engine);

#ifdef __cplusplus
}
#endif

#endif /* RAPPORT_EMBED_H */
