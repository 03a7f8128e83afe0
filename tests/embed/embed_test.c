/* Embedding from C: the scenario of a host, with the error paths. Exit 0 when every
 * check holds; each failed check is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rapport/embed.h"
#include "rapport/plugin.h" /* compiles as C too */

static int failed = 0, passed = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

typedef struct host {
  int received, decline;
  char last[4096];
  rapport_engine* engine;
  int reentry_result;
} host;

static int on_action(const char* json, void* user) {
  host* h = user;
  char* error = NULL;
  /* Calling back into the engine from its own callback is refused, not deadlocked. */
  h->reentry_result = rapport_step(h->engine, NULL, &error);
  rapport_free(error);
  if (h->decline) return 1;
  h->received++;
  strncpy(h->last, json, sizeof h->last - 1);
  return 0;
}

/* Two engines whose callbacks step each other: A's callback steps B, and B's callback
 * steps A, which this thread is already inside. That call is refused, not deadlocked. */
typedef struct cross {
  rapport_engine* other;
  int calls, refused, other_result;
} cross;

static int on_cross(const char* json, void* user) {
  cross* c = user;
  int result = rapport_step(c->other, "2027-01-04T00:00:00Z", NULL);
  (void)json;
  c->calls++;
  if (result == RAPPORT_ERR_STATE) c->refused++;
  if (result != RAPPORT_OK && result != RAPPORT_ERR_STATE) c->other_result = result;
  return 0;
}

static const char* kPerson =
    "{\"specversion\":\"1.0\",\"id\":\"p-n1\",\"source\":\"platform\",\"type\":\"person.updated\","
    "\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"N1\",\"data\":{\"id\":\"N1\","
    "\"role\":\"nurse\",\"name\":\"Cy Example\"}}";
static const char* kRotation =
    "{\"specversion\":\"1.0\",\"id\":\"r-1\",\"source\":\"platform\",\"type\":\"rotation."
    "scheduled\","
    "\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"S1\",\"data\":{\"id\":\"R1\",\"student\":"
    "\"S1\","
    "\"site\":\"Test "
    "General\",\"specialty\":\"Surgery\",\"kind\":\"core\",\"start\":\"2027-01-04\","
    "\"end\":\"2027-01-31\",\"team\":[{\"person\":\"A1\",\"role\":\"attending\"},"
    "{\"person\":\"N1\",\"role\":\"nurse\"}]}}";

int main(int argc, char** argv) {
  char yaml[1024];
  char* error = NULL;
  char* json = NULL;
  int duplicate = -1;
  host h;
  rapport_engine* engine = NULL;
  memset(&h, 0, sizeof h);
  if (argc != 2) return 2;

  /* A bad config comes back as a code and a message with line and column. */
  CHECK(rapport_open_yaml("store: {pth: x}\n", &engine, &error) == RAPPORT_ERR_CONFIG);
  CHECK(engine == NULL);
  CHECK(error && strstr(error, "1:9") && strstr(error, "did you mean \"path\""));
  rapport_free(error);
  CHECK(rapport_open_file("/nonexistent.yaml", &engine, NULL) == RAPPORT_ERR_CONFIG);

  snprintf(yaml, sizeof yaml,
           "store: {path: %s}\nhooks: {introductions: {}}\nsinks: {host: {type: callback}}\n",
           argv[1]);
  CHECK(rapport_open_yaml(yaml, &engine, &error) == RAPPORT_OK);
  if (!engine) return 1;
  h.engine = engine;
  CHECK(rapport_set_action_callback(engine, on_action, &h, NULL) == RAPPORT_OK);

  CHECK(rapport_submit_event(engine, kPerson, &duplicate, NULL) == RAPPORT_OK);
  CHECK(duplicate == 0);
  CHECK(rapport_submit_event(engine, kPerson, &duplicate, NULL) == RAPPORT_OK);
  CHECK(duplicate == 1);
  CHECK(rapport_submit_event(engine, kRotation, NULL, NULL) == RAPPORT_OK);

  /* Malformed events are refused with the field named. */
  CHECK(rapport_submit_event(engine, "{not json", NULL, &error) == RAPPORT_ERR_INVALID);
  rapport_free(error);
  CHECK(rapport_submit_event(engine,
                             "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"p\",\"type\":"
                             "\"rotation.scheduled\",\"time\":\"2027-01-01T00:00:00Z\","
                             "\"data\":{\"id\":\"R2\"}}",
                             NULL, &error) == RAPPORT_ERR_INVALID);
  CHECK(error && strstr(error, "field 'student'"));
  rapport_free(error);
  CHECK(rapport_step(engine, "yesterday", &error) == RAPPORT_ERR_INVALID);
  rapport_free(error);

  /* The host declines: nothing is lost, the actions come again at the next step. */
  h.decline = 1;
  CHECK(rapport_step(engine, "2027-01-04T00:00:00Z", NULL) == RAPPORT_OK);
  CHECK(h.received == 0);
  CHECK(h.reentry_result == RAPPORT_ERR_STATE);
  h.decline = 0;
  CHECK(rapport_step(engine, "2027-01-04T00:00:01Z", NULL) == RAPPORT_OK);
  CHECK(h.received == 2);
  CHECK(strstr(h.last, "\"contact\":\"N1\"") != NULL);
  CHECK(strstr(h.last, "\"name\":\"Cy Example\"") != NULL);

  CHECK(rapport_query_network(engine, "S1", "2027-02-01T00:00:00Z", &json, NULL) == RAPPORT_OK);
  CHECK(json && strstr(json, "\"days_together\":28"));
  rapport_free(json);
  CHECK(rapport_query_network(engine, "NOBODY", NULL, &json, &error) == RAPPORT_ERR_INVALID);
  rapport_free(error);
  rapport_close(engine);

  /* Reopened on the same store: nothing is delivered twice. */
  engine = NULL;
  CHECK(rapport_open_yaml(yaml, &engine, NULL) == RAPPORT_OK);
  h.engine = engine;
  rapport_set_action_callback(engine, on_action, &h, NULL);
  CHECK(rapport_step(engine, "2027-01-05T00:00:00Z", NULL) == RAPPORT_OK);
  CHECK(h.received == 2);
  rapport_close(engine);

  {
    rapport_engine *a = NULL, *b = NULL;
    cross for_a = {NULL, 0, 0, 0}, for_b = {NULL, 0, 0, 0};
    char second[4096];
    snprintf(second, sizeof second,
             "store: {path: %s.second}\nhooks: {introductions: {}}\n"
             "sinks: {host: {type: callback}}\n",
             argv[1]);
    CHECK(rapport_open_yaml(yaml, &a, NULL) == RAPPORT_OK);
    CHECK(rapport_open_yaml(second, &b, NULL) == RAPPORT_OK);
    if (!a || !b) return 1;
    for_a.other = b;
    for_b.other = a;
    rapport_set_action_callback(a, on_cross, &for_a, NULL);
    rapport_set_action_callback(b, on_cross, &for_b, NULL);
    CHECK(rapport_submit_event(b, kPerson, NULL, NULL) == RAPPORT_OK);
    CHECK(rapport_submit_event(b, kRotation, NULL, NULL) == RAPPORT_OK);
    CHECK(rapport_submit_event(a,
                               "{\"specversion\":\"1.0\",\"id\":\"r-9\",\"source\":\"p\","
                               "\"type\":\"rotation.scheduled\",\"time\":"
                               "\"2027-01-01T00:00:00Z\",\"subject\":\"S9\",\"data\":{\"id\":"
                               "\"R9\",\"student\":\"S9\",\"site\":\"Test General\","
                               "\"specialty\":\"Surgery\",\"kind\":\"core\",\"start\":"
                               "\"2027-01-04\",\"end\":\"2027-01-31\",\"team\":[{\"person\":"
                               "\"A9\",\"role\":\"attending\"}]}}",
                               NULL, NULL) == RAPPORT_OK);
    CHECK(rapport_step(a, "2027-01-04T00:00:00Z", NULL) == RAPPORT_OK);
    CHECK(for_a.calls > 0);              /* A's callback ran, and stepped B */
    CHECK(for_b.calls > 0);              /* B's callback ran inside it, and called A */
    CHECK(for_b.refused == for_b.calls); /* ...which was refused every time */
    CHECK(for_a.other_result == 0 && for_b.other_result == 0);
    rapport_close(a);
    rapport_close(b);
  }

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
