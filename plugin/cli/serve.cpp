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
    // Retention, hourly, between steps: a few batches at a time (each a short write
    // transaction), and while more is left, the next few a second later, so that ticks,
    // the listener's commits and a SIGTERM are never held up for long.
    std::function<void(std::chrono::milliseconds)> purge_later =
        [&](std::chrono::milliseconds after) {
          purge_timer.expires_after(after);
          purge_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping) return;
            std::chrono::milliseconds next = std::chrono::hours(1);
            try {
              auto done = purge_store(engine->store(), *config, wall_clock(), false, 5);
              std::int64_t n = 0;
              if (!done) log::info("serve", "another process holds the purge lease; skipped");
              if (done) {
                for (const auto& [kind, count] : done->counts) n += count;
                if (!done->finished) next = std::chrono::seconds(1);
              }
              if (n) log::info("serve", "purged what retention: says may go", {{"rows", n}});
            } catch (const std::exception& e) {
              log::warn("serve", "purge failed; trying again in an hour",
                        {{"error", soci_util::message_of(e)}});
            }
            purge_later(next);
          });
        };
    log::info("serve", "started", {{"config", config->file}});
    step();
    schedule();
    purge_later(std::chrono::hours(1));
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
