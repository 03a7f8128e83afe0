#include "cli/commands.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

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
  return loaded;
}

void install_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

void run_simulated(Engine& engine, TimePoint from, TimePoint to, std::chrono::seconds step,
                   int pace_ms) {
  for (TimePoint now = from; now <= to && !stop_requested(); now += step) {
    engine.step(now);
    if (pace_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
  }
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
    log::info("cli", "simulated run starting",
              {{"from", format_time(*from)}, {"to", format_time(*to)}});
    run_simulated(*engine, *from, *to, std::chrono::duration_cast<std::chrono::seconds>(*step),
                  int(pace->count()));
    log::info("cli", stop_requested() ? "stopped by signal" : "simulated run finished");
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
