/* Plugins written in plain C against rapport/plugin.h, for the loader's tests. One
 * library, several entry points chosen at build time by -DVARIANT=... */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rapport/plugin.h"

static char* dup_text(const char* text) {
  char* out = malloc(strlen(text) + 1);
  strcpy(out, text);
  return out;
}

typedef struct state {
  int calls;
} state;

static void* init(const char* config_json, char** error) {
  state* s;
  if (strstr(config_json, "\"reject\":true")) {
    *error = dup_text("config.reject is set");
    return NULL;
  }
  s = calloc(1, sizeof(state));
  return s;
}

#ifdef MISBEHAVING
/* misbehaving: one introduce action per event, except for rotations whose id names a way
 * to fail: R-SEGV (segmentation fault), R-ABORT, R-HANG (never answers), R-LEAK (allocates
 * until the memory limit stops it, then aborts), R-PRINT (writes to standard output). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static rapport_status handle(void* instance, const char* event_json, const char* context_json,
                             char** out) {
  (void)instance;
  (void)context_json;
  if (strstr(event_json, "\"id\":\"R-SEGV\"")) raise(SIGSEGV);
  if (strstr(event_json, "\"id\":\"R-ABORT\"")) abort();
  if (strstr(event_json, "\"id\":\"R-HANG\"")) {
    for (;;) pause();
  }
  if (strstr(event_json, "\"id\":\"R-LEAK\"")) {
    for (;;) {
      char* block = malloc(1 << 20);
      if (!block) abort();
      memset(block, 1, 1 << 20);
    }
  }
  if (strstr(event_json, "\"id\":\"R-PRINT\"")) {
    /* What would read as a frame header, were stdout the wire. */
    static const char noise[] = "\0\0\0\5hello from a plugin\n";
    fwrite(noise, 1, sizeof noise - 1, stdout);
    fflush(stdout);
  }
  *out = dup_text(
      "[{\"type\":\"introduce\",\"contact\":\"P1\",\"due\":\"2027-01-05T00:00:00Z\","
      "\"reason\":\"Say hello.\"}]");
  return RAPPORT_STATUS_OK;
}
#else
/* flaky: RETRY twice, then one introduce action to the rotation's first team member;
 * ERROR for a rotation whose id is "R-BAD"; sleeps 30 ms on "R-SLOW". */
static rapport_status handle(void* instance, const char* event_json, const char* context_json,
                             char** out) {
  state* s = instance;
  (void)context_json;
  if (strstr(event_json, "\"id\":\"R-BAD\"")) {
    *out = dup_text("cannot handle R-BAD");
    return RAPPORT_STATUS_ERROR;
  }
  if (strstr(event_json, "\"id\":\"R-SLOW\"")) {
    struct timespec t = {0, 30 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  if (++s->calls <= 2) {
    *out = dup_text("registry busy");
    return RAPPORT_STATUS_RETRY;
  }
  *out = dup_text(
      "[{\"type\":\"introduce\",\"contact\":\"P1\",\"due\":\"2027-01-05T00:00:00Z\","
      "\"reason\":\"Say hello.\",\"evidence\":{\"from\":\"c\"}}]");
  return RAPPORT_STATUS_OK;
}

#endif

static void free_string(char* text) {
  free(text);
}
static void destroy(void* instance) {
  free(instance);
}

static const char* const event_types[] = {"rotation.started", NULL};

#ifndef ABI
#define ABI RAPPORT_PLUGIN_ABI_VERSION
#endif

#ifdef MISBEHAVING
#define KIND "misbehaving"
#else
#define KIND "flaky"
#endif

static const rapport_plugin table = {ABI,  KIND,   "0.1",       event_types,
                                     init, handle, free_string, destroy};

__attribute__((visibility("default"))) const rapport_plugin* rapport_plugin_entry(void) {
  return &table;
}
