// rapport serve: the engine on the real clock, on an Asio event loop, until SIGTERM/SIGINT.
// A signal is handled between steps, so the transaction in flight finishes first.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>

#include "adapters/webhook/listener.hpp"
#include "cli/commands.hpp"
#include "log/log.hpp"
#include "store/soci_util.hpp"

namespace rapport::cli {
namespace asio = boost::asio;

int serve(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport serve -c FILE\n", stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    const auto& config = loaded->config;
    auto engine = Engine::build(*config, loaded->registry);
    auto tick = config->section("engine").duration("tick");
    auto telemetry = std::make_shared<Telemetry>();
    engine->set_telemetry(telemetry);

    asio::io_context io;
    // Events pushed by webhook are dispatched at the next tick, in batches: dispatching
    // after every group commit cost the listener a third of its throughput.
    std::unique_ptr<webhook::Listener> listener;
    auto root = config->section();
    if (webhook::listener_wanted(root.section("listener"))) {
      std::vector<webhook::InboundSource> inbound;
      for (const auto& [name, section] : root.sections("sources")) {
        if (section.str("type") == "webhook")
          inbound.push_back(webhook::inbound_source(name, section));
      }
      auto store_section = root.section("store");
      SqliteOptions store_options{store_section.str("path"),
                                  store_section.str("synchronous") == "full",
                                  int(store_section.duration("busy_timeout").count()),
                                  /*checkpoints=*/false};  // the engine's commits checkpoint
      listener = std::make_unique<webhook::Listener>(
          webhook::listener_options(root.section("listener"), root.section("retention")),
          std::move(inbound), [store_options] { return open_sqlite_store(store_options); },
          telemetry);
    }
    asio::steady_timer timer(io), purge_timer(io);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    bool stopping = false;
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      log::info("serve", "stopping", {{"signal", signal}});
      stopping = true;
      timer.cancel();
      purge_timer.cancel();
      if (listener) listener->stop();
    });
    auto step = [&] {
      try {
        engine->step(wall_clock());
      } catch (const std::exception& e) {
        log::error("serve", "step failed; retrying at the next tick",
                   {{"error", soci_util::message_of(e)}});
      }
    };
    std::function<void()> schedule = [&] {
      timer.expires_after(tick);
      timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec || stopping) return;
        step();
        schedule();
      });
    };
    // Retention, hourly, between steps, in short transactions.
    std::function<void()> purge_hourly = [&] {
      purge_timer.expires_after(std::chrono::hours(1));
      purge_timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec || stopping) return;
        try {
          auto done = purge_store(engine->store(), *config, wall_clock(), false);
          std::int64_t n = 0;
          if (!done) log::info("serve", "another process holds the purge lease; skipped");
          for (const auto& [kind, count] : done.value_or(decltype(done)::value_type{})) n += count;
          if (n) log::info("serve", "purged what retention: says may go", {{"rows", n}});
        } catch (const std::exception& e) {
          log::warn("serve", "purge failed; trying again in an hour",
                    {{"error", soci_util::message_of(e)}});
        }
        purge_hourly();
      });
    };
    log::info("serve", "started", {{"config", config->file}});
    step();
    schedule();
    purge_hourly();
    io.run();
    log::info("serve", "stopped cleanly");
    return 0;
  } catch (const config::ConfigError&) {
    return failed("serve");
  } catch (const std::exception& e) {
    // Logged (maybe to log.file) and said on the terminal too.
    log::error("serve", "cannot start", {{"error", e.what()}});
    return failed("serve");
  }
}

}  // namespace rapport::cli
