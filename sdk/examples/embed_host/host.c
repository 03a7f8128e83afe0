/* A host embedding Rapport through rapport/embed.h: the scheduling platform submits
 * events from its own code and receives actions through a callback.
 *   cc host.c $(pkg-config --cflags --libs rapport) -o host && ./host /tmp/host-store.db */
#include <stdio.h>
#include <string.h>

#include "rapport/embed.h"

static int received = 0;

/* The host's sink: a real platform would queue a notification for the student here. */
static int on_action(const char* action_json, void* user_data) {
  (void)user_data;
  received++;
  printf("action %s\n", action_json);
  return 0; /* taken; non-zero would mean "offer it again at the next step" */
}

static int submit(rapport_engine* engine, const char* event_json) {
  char* error = NULL;
  int duplicate = 0;
  if (rapport_submit_event(engine, event_json, &duplicate, &error) != RAPPORT_OK) {
    fprintf(stderr, "submit: %s\n", error);
    rapport_free(error);
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  char yaml[1024];
  char* error = NULL;
  char* network = NULL;
  rapport_engine* engine = NULL;
  int failures = 0;
  if (argc != 2) {
    fprintf(stderr, "usage: host STORE_FILE\n");
    return 2;
  }
  snprintf(yaml, sizeof yaml,
           "store: {path: %s}\n"
           "hooks: {introductions: {}, thank_you: {due_within: 3d}}\n"
           "sinks: {platform: {type: callback}}\n",
           argv[1]);
  if (rapport_open_yaml(yaml, &engine, &error) != RAPPORT_OK) {
    fprintf(stderr, "open: %s\n", error);
    rapport_free(error);
    return 1;
  }
  rapport_set_action_callback(engine, on_action, NULL, NULL);

  failures += submit(engine,
      "{\"specversion\":\"1.0\",\"id\":\"p-a1\",\"source\":\"platform\",\"type\":\"person.updated\","
      "\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"A1\",\"data\":{\"id\":\"A1\","
      "\"role\":\"attending\",\"name\":\"Dr. Ada Example\"}}");
  failures += submit(engine,
      "{\"specversion\":\"1.0\",\"id\":\"r-1\",\"source\":\"platform\",\"type\":\"rotation.scheduled\","
      "\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"S1\",\"data\":{\"id\":\"R1\",\"student\":\"S1\","
      "\"site\":\"Test General\",\"specialty\":\"Surgery\",\"kind\":\"core\",\"start\":\"2027-01-04\","
      "\"end\":\"2027-01-31\",\"team\":[{\"person\":\"A1\",\"role\":\"attending\"},"
      "{\"person\":\"N1\",\"role\":\"nurse\"}]}}");

  rapport_step(engine, "2027-01-04T00:00:00Z", NULL); /* the rotation starts: 2 introductions */
  rapport_step(engine, "2027-02-01T00:00:00Z", NULL); /* it ended: 1 thank-you */

  if (rapport_query_network(engine, "S1", "2027-02-01T00:00:00Z", &network, &error) ==
      RAPPORT_OK) {
    printf("network %s\n", network);
    rapport_free(network);
  }
  rapport_close(engine);
  printf("%d actions received\n", received);
  return failures == 0 && received == 3 ? 0 : 1;
}
