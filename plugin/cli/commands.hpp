#pragma once
// The `rapport` command's subcommands. Each returns the process exit code:
// 0 success, 1 failure (invalid config, runtime error), 2 usage.

#include <map>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "store/open_store.hpp"

namespace rapport::cli {

struct Args {
  std::string command;
  std::map<std::string, std::string> options;  // "--from" -> "2027-01-01", "-c" -> path
  std::vector<std::string> flags;              // "--reference"
  std::vector<std::string> words;              // "list" in `rapport deliveries list`

  bool flag(const std::string& f) const;
  std::string get(const std::string& key, const std::string& fallback = "") const;
};

// The built-in registry and a config file loaded with it, its log settings applied: what
// every command that runs the engine starts from. Throws ConfigError.
struct Loaded {
  Registry registry;
  std::shared_ptr<const config::Config> config;
};
std::unique_ptr<Loaded> load_running(const std::string& file);

// For a command's catch (...): prints a configuration error as the loader wrote it, and
// anything else as "rapport COMMAND: message". Returns the exit code, 1.
int failed(const char* command);

int validate(const Args& args);
int print_config(const Args& args);
int serve(const Args& args);
int run(const Args& args);
int demo(const Args& args);
int status(const Args& args);
int explain(const Args& args);
int simulate(const Args& args);
int preview(const Args& args);
int backfill(const Args& args);
int deliveries(const Args& args);
int audit(const Args& args);
int forget(const Args& args);
int export_record(const Args& args);
int purge(const Args& args);
int store_command(const Args& args);  // `rapport store copy`
int hash_password(const Args& args);
// What retention: says may go, purged in transactions of 1,000 rows per kind (or
// counted, dry_run), CSV rejects files included, at most `max_batches` of them (the
// daemon's step waits meanwhile): `finished` false when more is left. Where several
// processes share the store, one purges at a time (the `purge` lease): nullopt when
// another holds it; `finished` false when it was lost between batches.
struct Purged {
  std::map<std::string, std::int64_t> counts;
  bool finished = true;
};
std::optional<Purged> purge_store(
    Store& store, const config::Config& config, TimePoint now, bool dry_run,
    std::size_t max_batches = std::numeric_limits<std::size_t>::max());

// Steps the engine on a simulated clock from `from` to `to`; stops early when
// stop_requested() turns true. `pace_ms` sleeps between steps (for watching, and tests).
// What a run (or a simulation) did, on standard error (standard output may carry a
// stdout sink's actions): the period, events by type, actions by type, expired, withdrawn
// and held, and how long it took.
void print_run_summary(const char* what, Store& store, const StoreCounts& before,
                       const std::map<std::string, std::int64_t>& expired_before, TimePoint from,
                       TimePoint to, std::chrono::steady_clock::time_point started);
void run_simulated(Engine& engine, TimePoint from, TimePoint to, std::chrono::seconds step,
                   int pace_ms);
bool stop_requested();
void install_stop_signals();

}  // namespace rapport::cli
