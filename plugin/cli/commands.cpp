#include "cli/commands.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "log/log.hpp"
#include "store/soci_util.hpp"

namespace rapport::cli {
namespace {

std::atomic<bool> stop_flag{false};

void on_signal(int) {
  stop_flag = true;
}

std::optional<TimePoint> parse_moment(const std::string& text) {
  if (auto d = parse_date(text)) return TimePoint{*d};
  return parse_time(text);
}

}  // namespace

bool Args::flag(const std::string& f) const {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

bool stop_requested() {
  return stop_flag;
}

std::unique_ptr<Loaded> load_running(const std::string& file) {
  auto loaded = std::make_unique<Loaded>();
  register_builtins(loaded->registry);
  loaded->config = config::load_config_file(file, loaded->registry);
  auto log = loaded->config->section("log");
  log::configure(log.str("level"), log.str("file"));
  for (const auto& warning : loaded->config->warnings) {
    log::warn("config", warning.message, {{"at", warning.str()}});
  }
  return loaded;
}

void install_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

void run_simulated(Engine& engine, TimePoint from, TimePoint to, std::chrono::seconds step,
                   int pace_ms) {
  // On a terminal, where the simulated clock is, at most every 200 ms of real time.
  const bool terminal = ::isatty(STDERR_FILENO);
  auto shown = std::chrono::steady_clock::now();
  TimePoint last = from;
  // The engine lease, when it took one, goes back at once, however this ends.
  struct Leave {
    Engine& engine;
    ~Leave() { engine.leave(); }
  } leave{engine};
  // Its clock is not the other processes': if one holds the lease, this run fires and
  // sends nothing before it stops.
  engine.work_standing_by(false);
  for (TimePoint now = from; now <= to && !stop_requested(); now += step) {
    if (engine.step(now).standby) {
      throw std::runtime_error(
          "another process runs the engine on this store (it holds the engine lease; see "
          "rapport status): stop it first, or wait store.lease if it has died");
    }
    last = now;
    if (terminal && std::chrono::steady_clock::now() - shown >= std::chrono::milliseconds(200)) {
      shown = std::chrono::steady_clock::now();
      double done = to > from ? double((now - from).count()) / double((to - from).count()) : 1;
      std::fprintf(stderr, "\r%s  %3.0f%%  ", format_time(now).c_str(), 100 * done);
    }
    if (pace_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
  }
  // Webhook deliveries under way when the period ends are waited for (a minute at most),
  // stepping at the period's last step, so that the run ends with their answers recorded
  // (and what was due by then sent) rather than left for the next start.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (engine.deliveries_in_flight() > 0 && !stop_requested() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (engine.step(last).standby) break;  // another process has the lease: its to record
  }
  if (terminal) std::fprintf(stderr, "\r%40s\r", "");
}

void print_run_summary(const char* what, Store& store, const StoreCounts& before,
                       const std::map<std::string, std::int64_t>& expired_before, TimePoint from,
                       TimePoint to, std::chrono::steady_clock::time_point started) {
  auto after = store.counts();
  auto by_type = [](const std::map<std::string, std::int64_t>& now,
                    const std::map<std::string, std::int64_t>& then) {
    std::int64_t total = 0;
    std::string parts;
    for (const auto& [type, n] : now) {
      auto was = then.count(type) ? then.at(type) : 0;
      if (n == was) continue;
      total += n - was;
      parts += (parts.empty() ? "" : ", ") + type + " " + std::to_string(n - was);
    }
    return std::to_string(total) + (parts.empty() ? "" : " (" + parts + ")");
  };
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "rapport %s: %s to %s%s in %.1f s\n", what, format_time(from).c_str(),
               format_time(to).c_str(), stop_requested() ? " (stopped by a signal)" : "", seconds);
  std::fprintf(stderr, "  events   %s\n",
               by_type(after.events_by_type, before.events_by_type).c_str());
  std::fprintf(stderr, "  actions  %s\n",
               by_type(after.actions_by_type, before.actions_by_type).c_str());
  auto expired = store.expired_counts(), expired_then = expired_before;
  auto withdrawn = [](std::map<std::string, std::int64_t>& stages) {
    auto n = stages.count("withdrawn") ? stages.at("withdrawn") : 0;
    stages.erase("withdrawn");
    return n;
  };
  auto withdrawn_now = withdrawn(expired), withdrawn_then = withdrawn(expired_then);
  std::fprintf(stderr, "  expired  %s; withdrawn %lld; held now %lld\n",
               by_type(expired, expired_then).c_str(),
               static_cast<long long>(withdrawn_now - withdrawn_then),
               static_cast<long long>(store.held_count()));
}

int run(const Args& args) {
  auto from = parse_moment(args.get("--from")), to = parse_moment(args.get("--to"));
  auto step = config::parse_duration(args.get("--step", "1d"));
  auto pace = config::parse_duration(args.get("--pace", "0ms"));
  if (!args.options.count("-c") || !from || !to || !step || step->count() < 1000 || !pace) {
    std::fputs(
        "usage: rapport run -c FILE --from DATE --to DATE [--step DURATION] [--pace DURATION]\n"
        "  DATE is YYYY-MM-DD or RFC 3339; step at least 1s (default 1d)\n",
        stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    const auto& config = loaded->config;
    auto engine = Engine::build(*config, loaded->registry);
    install_stop_signals();
    auto before = engine->store().counts();
    auto expired_before = engine->store().expired_counts();
    auto started = std::chrono::steady_clock::now();
    log::info("cli", "simulated run starting",
              {{"from", format_time(*from)}, {"to", format_time(*to)}});
    run_simulated(*engine, *from, *to, std::chrono::duration_cast<std::chrono::seconds>(*step),
                  int(pace->count()));
    log::info("cli", stop_requested() ? "stopped by signal" : "simulated run finished");
    print_run_summary("run", engine->store(), before, expired_before, *from, *to, started);
    return 0;
  } catch (const config::ConfigError&) {
    return failed("run");
  } catch (const std::exception& e) {
    // Logged (maybe to log.file) and said on the terminal too.
    log::error("cli", "run failed", {{"error", soci_util::message_of(e)}});
    return failed("run");
  }
}

}  // namespace rapport::cli
