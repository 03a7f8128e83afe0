/* Footprint of the embedded library with a small school: how long rapport_open_yaml takes
 * (on a new store, and again on the school's store once it holds a term), and the host
 * process's resident memory before opening, with the engine open and idle after a term of
 * work, and after closing. A figure, not a test: it never fails on size or time.
 *   footprint_bench DIR [STUDENTS]    (DIR: a scratch directory; STUDENTS default 200)
 * The school: STUDENTS students, one attending per 5 students, a resident and a nurse per
 * 10, each student in 3 consecutive 4-week rotations with a team of 3, an evaluation at
 * each rotation's end; every built-in hook on; the engine stepped day by day through the
 * 12 weeks, actions taken by a callback. */
#define _DEFAULT_SOURCE /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rapport/embed.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* VmRSS of this process, in KiB. */
static long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  }
  fclose(f);
  return kib;
}

static long actions = 0;
static int on_action(const char* json, void* user) {
  (void)json;
  (void)user;
  actions++;
  return 0;
}

static void must(rapport_result r, char** error, const char* what) {
  if (r == RAPPORT_OK) return;
  fprintf(stderr, "%s failed (%d): %s\n", what, (int)r, *error ? *error : "");
  exit(1);
}

static rapport_engine* open_engine(const char* yaml, double* took_ms) {
  rapport_engine* engine = NULL;
  char* error = NULL;
  double started = now_ms();
  must(rapport_open_yaml(yaml, &engine, &error), &error, "rapport_open_yaml");
  *took_ms = now_ms() - started;
  must(rapport_set_action_callback(engine, on_action, NULL, &error), &error, "callback");
  return engine;
}

static void submit(rapport_engine* engine, const char* json) {
  char* error = NULL;
  if (rapport_submit_event(engine, json, NULL, &error) != RAPPORT_OK) {
    fprintf(stderr, "event refused: %s\n%s\n", error ? error : "", json);
    exit(1);
  }
}

/* 2027-01-04 plus `days`, as YYYY-MM-DD. */
static void date_after(int days, char* out, size_t size) {
  struct tm t = {0};
  t.tm_year = 127;
  t.tm_mon = 0;
  t.tm_mday = 4 + days;
  t.tm_hour = 12;
  time_t when = timegm(&t);
  gmtime_r(&when, &t);
  strftime(out, size, "%Y-%m-%d", &t);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: footprint_bench DIR [STUDENTS]\n");
    return 2;
  }
  const int students = argc > 2 ? atoi(argv[2]) : 200;
  char yaml[2048], event[2048], start[16], end[16], now[32];
  snprintf(yaml, sizeof yaml,
           "store: {path: %s/footprint.db}\n"
           "hooks: {introductions: {}, interprofessional: {}, peer_connect: {}, "
           "thank_you: {}, follow_up: {}, letter_candidates: {}, program_contacts: {}, "
           "specialty_contacts: {}, mentor_suggest: {}}\n"
           "sinks: {host: {type: callback}}\n",
           argv[1]);
  const long before = rss_kib();
  double open_new = 0, open_again = 0;
  rapport_engine* engine = open_engine(yaml, &open_new);
  const long opened = rss_kib();

  /* The staff, then each student's three rotations and their evaluations. */
  const int attendings = students / 5 + 1, others = students / 10 + 1;
  for (int i = 0; i < attendings + 2 * others; i++) {
    const char* role = i < attendings            ? "attending"
                       : i < attendings + others ? "resident"
                                                 : "nurse";
    snprintf(event, sizeof event,
             "{\"specversion\":\"1.0\",\"id\":\"p-%d\",\"source\":\"sis\",\"type\":"
             "\"person.updated\",\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"F%d\","
             "\"data\":{\"id\":\"F%d\",\"role\":\"%s\",\"name\":\"Staff %d\","
             "\"specialty\":\"Internal Medicine\"}}",
             i, i, i, role, i);
    submit(engine, event);
  }
  for (int s = 0; s < students; s++) {
    snprintf(event, sizeof event,
             "{\"specversion\":\"1.0\",\"id\":\"s-%d\",\"source\":\"sis\",\"type\":"
             "\"person.updated\",\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"S%d\","
             "\"data\":{\"id\":\"S%d\",\"role\":\"student\",\"name\":\"Student %d\","
             "\"specialty\":\"Internal Medicine\"}}",
             s, s, s, s);
    submit(engine, event);
    for (int k = 0; k < 3; k++) {
      date_after(28 * k, start, sizeof start);
      date_after(28 * k + 25, end, sizeof end);
      const int a = (s + k) % attendings, r = attendings + (s + k) % others,
                n = attendings + others + (s + 2 * k) % others;
      snprintf(event, sizeof event,
               "{\"specversion\":\"1.0\",\"id\":\"r-%d-%d\",\"source\":\"sis\",\"type\":"
               "\"rotation.scheduled\",\"time\":\"2027-01-01T00:00:00Z\",\"subject\":\"S%d\","
               "\"data\":{\"id\":\"R%d-%d\",\"student\":\"S%d\",\"site\":\"General\","
               "\"specialty\":\"Internal Medicine\",\"kind\":\"core\",\"start\":\"%s\","
               "\"end\":\"%s\",\"team\":[{\"person\":\"F%d\",\"role\":\"attending\"},"
               "{\"person\":\"F%d\",\"role\":\"resident\"},{\"person\":\"F%d\","
               "\"role\":\"nurse\"}]}}",
               s, k, s, s, k, s, start, end, a, r, n);
      submit(engine, event);
      snprintf(event, sizeof event,
               "{\"specversion\":\"1.0\",\"id\":\"e-%d-%d\",\"source\":\"sis\",\"type\":"
               "\"evaluation.submitted\",\"time\":\"%sT12:00:00Z\",\"subject\":\"S%d\","
               "\"data\":{\"id\":\"E%d-%d\",\"rotation\":\"R%d-%d\",\"evaluator\":\"F%d\","
               "\"student\":\"S%d\",\"submitted\":\"%sT12:00:00Z\",\"score\":%d,"
               "\"scale\":{\"min\":1,\"max\":5},\"would_recommend\":true}}",
               s, k, end, s, s, k, s, k, a, s, end, 3 + (s + k) % 3);
      submit(engine, event);
    }
  }
  double stepping = now_ms();
  for (int day = -3; day <= 84; day++) {
    char* error = NULL;
    date_after(day, start, sizeof start);
    snprintf(now, sizeof now, "%sT13:00:00Z", start);
    must(rapport_step(engine, now, &error), &error, "rapport_step");
  }
  stepping = now_ms() - stepping;
  const long worked = rss_kib();
  struct timespec second = {1, 0};
  nanosleep(&second, NULL);
  const long idle = rss_kib();
  rapport_close(engine);
  const long closed = rss_kib();

  /* Opened again on the school's store, as a host starting up the next day. */
  engine = open_engine(yaml, &open_again);
  /* Its first step builds the relationship memory from the store. */
  double first_step = now_ms();
  {
    char* error = NULL;
    must(rapport_step(engine, "2027-04-01T13:00:00Z", &error), &error, "rapport_step");
  }
  first_step = now_ms() - first_step;
  const long reopened = rss_kib();
  rapport_close(engine);

  printf(
      "small school: %d students, %d staff, %d rotations; %ld actions in %.0f ms of "
      "stepping 88 days\n",
      students, attendings + 2 * others, 3 * students, actions, stepping);
  printf("| measure | figure |\n|---|---:|\n");
  printf("| rapport_open_yaml, new store | %.1f ms |\n", open_new);
  printf("| rapport_open_yaml, the school's store after the term | %.1f ms |\n", open_again);
  printf("| its first step (the memory built from the store) | %.1f ms |\n", first_step);
  printf("| RSS of the host before opening (library loaded) | %.1f MB |\n", before / 1024.0);
  printf("| RSS, engine open on a new store | %.1f MB |\n", opened / 1024.0);
  printf("| RSS, engine open and idle after the term | %.1f MB |\n", idle / 1024.0);
  printf("| RSS, right after the term's last step | %.1f MB |\n", worked / 1024.0);
  printf("| RSS after rapport_close | %.1f MB |\n", closed / 1024.0);
  printf("| RSS, opened again on the school's store, after its first step | %.1f MB |\n",
         reopened / 1024.0);
  return 0;
}
