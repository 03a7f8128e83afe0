// Benchmark of dispatch: what the engine spends on one rotation event with its team, its
// timers and the hooks of deploy/examples/webhooks.yaml, apart from taking it in.
//   dispatch_bench [rotations] [rounds]      (default: 5000 3)
// On SQLite in a temporary directory; with RAPPORT_BENCH_PG set to a PostgreSQL server's
// libpq keywords ("host=/tmp/pg port=5432 user=postgres"), on a database made there for
// each store and dropped after. Each round takes new stores through the same steps:
//   people    the students and staff as person.updated events, dispatched (not measured);
//   append    the rotations appended to the inbox, 64 to a transaction (the listener's
//             group commit): the baseline;
//   mirror    the rotations dispatched into the mirror with no hook (a second engine);
//   hooks     the same rotations dispatched by an engine running the hooks;
//   again     the mirror-only engine handed every rotation again, unchanged
//             (rotation.updated);
//   moments   the mirror-only engine a year later: every rotation's start, midpoint and
//             end fired from their timers and dispatched (per rotation, three events).
// It prints CPU per rotation event (this process's user + system time; on PostgreSQL the
// server's CPU is not counted) and each figure against the baseline, medians over the
// rounds. RAPPORT_BENCH_BATCH_TIME sets engine.batch_time (default: the shipped one). It
// prints figures; it never fails.
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "store/store.hpp"

using namespace rapport;

namespace {

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

constexpr int kStaffPerSite = 20;
constexpr int kSites = 40;

std::string staff_id(int site, int i) {
  char id[16];
  std::snprintf(id, sizeof id, "E%02d%03d", site, i);
  return id;
}

std::string student_id(int i) {
  char id[16];
  std::snprintf(id, sizeof id, "S%05d", i);
  return id;
}

Role staff_role(int i) {
  return i < 4    ? Role::attending
         : i < 10 ? Role::resident
         : i < 16 ? Role::nurse
                  : Role::pharmacist;
}

std::vector<Event> people(int students) {
  std::vector<Event> out;
  auto add = [&](const Person& p) {
    Event e;
    e.id = "person-" + p.id;
    e.type = EventType::person_updated;
    e.source = "platform";
    e.occurred = *parse_time("2029-12-01T00:00:00Z");
    e.subject = p.id;
    e.payload = to_json(p);
    out.push_back(std::move(e));
  };
  for (int s = 0; s < kSites; ++s) {
    for (int i = 0; i < kStaffPerSite; ++i) {
      Person p;
      p.id = staff_id(s, i);
      p.role = staff_role(i);
      p.name = "Staff";
      p.specialty = "Internal Medicine";
      add(p);
    }
  }
  for (int i = 0; i < students; ++i) {
    Person p;
    p.id = student_id(i);
    p.role = Role::student;
    p.name = "Student";
    add(p);
  }
  return out;
}

// One rotation per student, a team of seven from one site's staff (an attending, residents
// and nurses), starting within the term ahead.
std::vector<Event> rotations(int count) {
  std::mt19937 rng(7);
  std::vector<Event> out;
  const Date term = *parse_date("2030-01-07");
  for (int i = 0; i < count; ++i) {
    Rotation r;
    r.id = "R" + std::to_string(i);
    r.student_id = student_id(i);
    int site = int(rng() % kSites);
    r.site = "Site " + std::to_string(site);
    r.specialty = "Internal Medicine";
    r.start = term + std::chrono::days(7 * int(rng() % 12));
    r.end = r.start + std::chrono::days(27);
    std::vector<int> members{int(rng() % 4)};
    while (members.size() < 7) {
      int m = 4 + int(rng() % (kStaffPerSite - 4));
      if (std::find(members.begin(), members.end(), m) == members.end()) members.push_back(m);
    }
    for (int m : members) r.team.push_back({staff_id(site, m), staff_role(m), r.start, r.end});
    Event e;
    e.id = "rotation-" + r.id;
    e.type = EventType::rotation_scheduled;
    e.source = "platform";
    e.occurred = *parse_time("2029-12-15T00:00:00Z") + std::chrono::seconds(i);
    e.subject = r.student_id;
    e.payload = to_json(r);
    out.push_back(std::move(e));
  }
  return out;
}

std::string config_text(const std::string& store, bool hooks) {
  std::string text = store +
                     "sources:\n  platform:\n    type: webhook\n    secret: "
                     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
  // The shipped defaults of engine.batch and engine.batch_time unless asked otherwise.
  const char* batch_time = std::getenv("RAPPORT_BENCH_BATCH_TIME");
  text += "engine:\n  batch: 200\n";
  if (batch_time && *batch_time) text += std::string("  batch_time: ") + batch_time + "\n";
  if (hooks) {
    text +=
        "hooks:\n  introductions: {}\n  interprofessional: {}\n  peer_connect: {}\n"
        "  thank_you: {}\n  follow_up: {}\n  letter_candidates: {}\n  program_contacts: {}\n";
  } else {
    // No hook at all: every built-in one is switched off.
    text += "hooks:\n";
    for (const char* name :
         {"introductions", "interprofessional", "peer_connect", "thank_you", "follow_up",
          "letter_candidates", "program_contacts", "specialty_contacts", "mentor_suggest"}) {
      text += std::string("  ") + name + ": {enabled: false}\n";
    }
  }
  return text;
}

struct Round {
  double append = 0, mirror = 0, hooks = 0;  // CPU seconds per event
  double again = 0;                          // the same rotations sent again, unchanged
  double moments = 0;                        // CPU seconds per rotation
  std::size_t actions = 0;
};

void run_on(const std::string& server, const std::string& sql) {
  PGconn* conn = PQconnectdb(server.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "dispatch_bench: %s", PQerrorMessage(conn));
    std::exit(2);
  }
  PQclear(PQexec(conn, sql.c_str()));
  PQfinish(conn);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Steps until the inbox is drained; the CPU it took.
double drain(Engine& engine, TimePoint now, std::size_t* actions) {
  double begin = cpu_seconds();
  for (;;) {
    auto stats = engine.step(now);
    if (actions) *actions += stats.dispatch.actions;
    if (stats.dispatch.events == 0) break;
  }
  return cpu_seconds() - begin;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const char* server = std::getenv("RAPPORT_BENCH_PG");
  Registry registry;
  register_builtins(registry);
  const auto people_events = people(count);
  const auto rotation_events = rotations(count);
  const TimePoint now = *parse_time("2029-12-20T00:00:00Z");

  std::vector<Round> results;
  for (int round = 0; round < rounds; ++round) {
    auto dir = std::filesystem::temp_directory_path() /
               ("rapport-dispatch-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Round result;
    // Two stores: the mirror-only engine's and the hooks' (on PostgreSQL one after the other).
    for (bool hooks : {false, true}) {
      const std::string database = "rapport_bench_" + std::to_string(::getpid());
      std::string store;
      if (server) {
        run_on(server, "DROP DATABASE IF EXISTS " + database);
        run_on(server, "CREATE DATABASE " + database);
        store = "store:\n  type: postgresql\n  url: \"" + std::string(server) +
                " dbname=" + database + "\"\n";
      } else {
        store = "store:\n  path: " + (dir / (hooks ? "hooks.db" : "mirror.db")).string() + "\n";
      }
      auto config =
          config::load_config_text(config_text(store, hooks), "dispatch_bench.yaml", registry);
      auto engine = Engine::build(*config, registry, {.sinks = false});
      Store& s = engine->store();
      {
        Transaction tx(s);
        for (const auto& e : people_events) s.append_event(e, now);
        tx.commit();
      }
      drain(*engine, now, nullptr);
      double begin = cpu_seconds();
      for (std::size_t i = 0; i < rotation_events.size(); i += 64) {
        Transaction tx(s);
        for (std::size_t j = i; j < std::min(rotation_events.size(), i + 64); ++j) {
          s.append_event(rotation_events[j], now);
        }
        tx.commit();
      }
      double append = (cpu_seconds() - begin) / count;
      double dispatch = drain(*engine, now, hooks ? &result.actions : nullptr) / count;
      if (!hooks) {
        // Every rotation sent again unchanged, as a platform sends a placement again after an
        // edit of fields the mirror does not keep.
        {
          Transaction tx(s);
          for (auto e : rotation_events) {
            e.id = "again-" + e.id;
            e.type = EventType::rotation_updated;
            s.append_event(e, now);
          }
          tx.commit();
        }
        result.again = drain(*engine, now, nullptr) / count;
        result.moments = drain(*engine, now + std::chrono::days(730), nullptr) / count;
      }
      engine.reset();
      if (server) run_on(server, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      if (hooks) {
        result.hooks = dispatch;
        result.append = append;
      } else {
        result.mirror = dispatch;
      }
    }
    std::filesystem::remove_all(dir);
    results.push_back(result);
    std::printf(
        "round %d: append %.1f us, mirror %.1f us, hooks %.1f us, sent again %.1f us per "
        "event, %zu actions; moments %.1f us per rotation\n",
        round + 1, result.append * 1e6, result.mirror * 1e6, result.hooks * 1e6, result.again * 1e6,
        result.actions, result.moments * 1e6);
  }
  auto pick = [&](double Round::*field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(r.*field);
    return median(v);
  };
  double append = pick(&Round::append), mirror = pick(&Round::mirror), hooks = pick(&Round::hooks);
  std::printf("\n%d rotation events (teams of 7), %s store, medians of %d rounds:\n", count,
              server ? "PostgreSQL" : "SQLite", rounds);
  std::printf("| step | CPU per event | vs append |\n|---|---:|---:|\n");
  std::printf("| append to the inbox (baseline) | %.1f us | 1.0x |\n", append * 1e6);
  std::printf("| dispatch into the mirror, no hook | %.1f us | %.1fx |\n", mirror * 1e6,
              mirror / append);
  std::printf("| dispatch with the webhook example's hooks | %.1f us | %.1fx |\n", hooks * 1e6,
              hooks / append);
  const double again = pick(&Round::again);
  std::printf("| the same rotations sent again unchanged, no hook | %.1f us | %.1fx |\n",
              again * 1e6, again / append);
  const double moments = pick(&Round::moments);
  std::printf(
      "| a rotation's three moments fired and dispatched, no hook (per rotation) | %.1f us "
      "| %.1fx |\n",
      moments * 1e6, moments / append);
  return 0;
}
