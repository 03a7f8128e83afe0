// rapport backfill: history in bulk, with progress, resumable.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.hpp"
#include "log/log.hpp"
#include "store/open_store.hpp"

namespace rapport::cli {

int backfill(const Args& args) {
  std::optional<Date> since;
  if (args.options.count("--since")) {
    since = parse_date(args.get("--since"));
    if (!since) {
      std::fputs("rapport backfill: --since takes a date YYYY-MM-DD\n", stderr);
      return 2;
    }
  }
  std::optional<TimePoint> until;
  if (args.options.count("--until")) {
    auto d = parse_date(args.get("--until"));
    if (!d) {
      std::fputs("rapport backfill: --until takes a date YYYY-MM-DD\n", stderr);
      return 2;
    }
    until = TimePoint{*d};
  }
  if (!args.options.count("-c") || !args.options.count("--source")) {
    std::fputs("usage: rapport backfill -c FILE --source NAME [--since DATE] [--until DATE]\n",
               stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    const auto& config = loaded->config;
    // SQLite: the WAL checkpointed by a thread of its own (as under `rapport serve`), not
    // inside a page's commit, so that reading and storing go on meanwhile.
    auto checkpointer = start_wal_checkpointer(*config);
    auto engine = Engine::build(*config, loaded->registry, {.checkpoints = !checkpointer});
    Source* source = engine->source(args.get("--source"));
    if (!source) {
      std::fprintf(stderr, "rapport backfill: no source named \"%s\" in %s\n",
                   args.get("--source").c_str(), config->file.c_str());
      return 1;
    }
    // The as-of bound: --until; else, for a source on the engine's clock (a simulation),
    // the engine's last step, not the machine's date (which would make the whole simulated
    // year history, and give it no action); else the source's own clock.
    if (!until && source->reads_engine_clock()) {
      auto last = engine->store().cursor(kEngineState, kLastStep);
      until = last ? parse_time(*last) : std::nullopt;
      if (!until) {
        std::fprintf(stderr,
                     "rapport backfill: source \"%s\" reads by the engine's clock (clock: "
                     "engine), and the engine has not run yet: give --until DATE, the day the "
                     "history ends and the run begins\n",
                     args.get("--source").c_str());
        return 2;
      }
    }
    if (until) {
      std::fprintf(stderr, "backfill: history is what the source holds before %s\n",
                   format_time(*until).c_str());
    }
    install_stop_signals();
    const bool terminal = ::isatty(STDERR_FILENO);
    auto started = std::chrono::steady_clock::now();
    auto last_line = started;
    std::string current;
    std::size_t done_before = 0;  // rows of the entities already finished
    auto report = [&](const Source::Progress& p, bool final) {
      auto now = std::chrono::steady_clock::now();
      double seconds = std::chrono::duration<double>(now - started).count();
      double rate = seconds > 0 ? double(done_before + p.rows) / seconds : 0;
      double eta = rate > 0 && p.total > p.rows ? double(p.total - p.rows) / rate : 0;
      const char* unit = p.entity == "mirror" ? "events" : "rows";
      if (terminal) {
        int width = 30;
        int filled = p.total ? int(double(width) * double(p.rows) / double(p.total)) : width;
        std::fprintf(stderr, "\r%-12s [%s%s] %zu/%zu %s, %.0f %s/s, ETA %.0fs   ", p.entity.c_str(),
                     std::string(std::size_t(std::min(filled, width)), '#').c_str(),
                     std::string(std::size_t(width - std::min(filled, width)), '.').c_str(), p.rows,
                     p.total, unit, rate, unit, eta);
        if (final) std::fputc('\n', stderr);
      } else if (final || now - last_line >= std::chrono::seconds(5)) {
        std::fprintf(stderr, "backfill: %s %zu/%zu %s, %.0f %s/s, ETA %.0fs\n", p.entity.c_str(),
                     p.rows, p.total, unit, rate, unit, eta);
        last_line = now;
      }
    };
    Source::Progress last;
    auto now = wall_clock();
    auto& store = engine->store();
    // Indexes cheaper built once than kept up to date row by row go for the load, and
    // come back at its end, however it ends (after a crash: when erasure or retention
    // next needs them, or at the next backfill's end).
    store.begin_bulk_load();
    struct EndBulkLoad {
      Store& store;
      bool ended = false;
      void end() {
        ended = true;
        store.end_bulk_load();
      }
      ~EndBulkLoad() {
        if (ended) return;
        try {
          store.end_bulk_load();
        } catch (const std::exception& e) {
          log::warn("backfill",
                    "cannot build the indexes left out; erasure and retention build them when they "
                    "need them",
                    {{"error", e.what()}});
        }
      }
    } bulk_load{store};
    std::size_t direct = 0;
    // Each page's history goes straight into the mirror, in the page's transaction
    // (unless the inbox holds events the mirror has not had yet: then through the inbox,
    // after them, and the mirror is built from it below).
    std::size_t events = source->backfill(
        store, now, since, until,
        [&](const Source::Progress& p) {
          if (!current.empty() && p.entity != current) {
            report(last, true);
            done_before += last.rows;
          }
          current = p.entity;
          last = p;
          report(p, false);
          return !stop_requested();
        },
        [&](const std::vector<Event>& page) {
          if (!engine->apply_history(page, now)) return false;
          direct += page.size();
          return true;
        });
    if (!current.empty()) report(last, true);
    if (stop_requested()) {
      std::fprintf(stderr, "backfill interrupted; run the same command again to resume\n");
      return 1;
    }
    std::fprintf(stderr,
                 "backfill: %zu events imported as history in %.1f s (%zu of them straight into "
                 "the mirror); building the mirror from the inbox...\n",
                 events,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                 direct);
    // The mirror only: live work (polls, hooks, timers, deliveries) is the daemon's.
    Source::Progress building{
        "mirror", 0, std::size_t(store.last_event_seq() - store.progress(kMirrorConsumer))};
    const auto begun = started;
    started = std::chrono::steady_clock::now();
    done_before = 0;
    struct Stopped {};
    try {
      engine->build_mirror(now, [&](std::size_t applied) {
        building.rows = applied;
        report(building, false);
        if (stop_requested()) throw Stopped{};  // what is applied stays applied
      });
    } catch (const Stopped&) {
      report(building, true);
      std::fprintf(stderr,
                   "backfill interrupted while building the mirror; run the same command again "
                   "(or start the daemon) to finish it\n");
      return 1;
    }
    report(building, true);
    const auto indexing = std::chrono::steady_clock::now();
    bulk_load.end();
    std::fprintf(
        stderr, "backfill: indexes built in %.1f s\n",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - indexing).count());
    std::fprintf(stderr, "backfill: done in %.1f s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - begun).count());
    return 0;
  } catch (...) {
    return failed("backfill");
  }
}

}  // namespace rapport::cli
