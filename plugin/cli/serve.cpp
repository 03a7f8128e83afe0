// rapport serve: the engine on the real clock, on an Asio event loop, until SIGTERM/SIGINT.
// A signal is handled between steps, so the transaction in flight finishes first.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <cstdio>
#include <thread>

#include "adapters/webhook/listener.hpp"
#include "cli/commands.hpp"
#include "log/log.hpp"
#include "status/status_page.hpp"
#include "store/open_store.hpp"
#include "store/soci_util.hpp"

namespace rapport::cli {
namespace asio = boost::asio;

int serve(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport serve -c FILE\n", stderr);
    return 2;
  }
  // A SIGHUP before the handler below exists would end the process (its default), and
  // systemd counts that as a clean exit: ignored until then.
  std::signal(SIGHUP, SIG_IGN);
  try {
    auto loaded = load_running(args.get("-c"));
    const auto& config = loaded->config;  // follows a reload
    // SQLite: no connection of this process checkpoints the WAL inside a commit, where it
    // held the listener's requests for tens of milliseconds; this thread does.
    auto checkpointer = start_wal_checkpointer(*config);
    const Engine::BuildOptions building{.checkpoints = !checkpointer};
    auto engine = Engine::build(*config, loaded->registry, building);
    engine->announce_process();
    auto tick = config->section("engine").duration("tick");
    auto telemetry = std::make_shared<Telemetry>();
    engine->set_telemetry(telemetry);

    asio::io_context io;
    // Events pushed by webhook are dispatched at the next tick, in batches: dispatching
    // after every group commit cost the listener a third of its throughput.
    std::unique_ptr<webhook::Listener> listener;
    auto root = config->section();
    auto inbound_of = [](const config::Config& c) {
      std::vector<webhook::InboundSource> inbound;
      for (const auto& [name, section] : c.section().sections("sources")) {
        if (section.str("type") == "webhook")
          inbound.push_back(webhook::inbound_source(name, section));
      }
      return inbound;
    };
    if (auto why = status::StatusPage::problem(*config); !why.empty()) {
      throw std::runtime_error("status_page: " + why);
    }
    // The status page, wherever operations are served on their own address (with no
    // account it answers 404; accounts may come and go with a reload).
    std::shared_ptr<status::StatusPage> pages;
    if (!root.section("listener").str("ops_listen").empty()) {
      pages = std::make_shared<status::StatusPage>(config, telemetry);
    }
    if (webhook::listener_wanted(root.section("listener"))) {
      auto inbound = inbound_of(*config);
      auto options = webhook::listener_options(root.section("listener"), root.section("retention"));
      if (root.section("store").str("type") == "postgresql") {
        options.commit_connections = int(root.section("store").integer("pool"));
      }
      if (pages) options.pages = [pages](const status::PageRequest& r) { return pages->handle(r); };
      listener = std::make_unique<webhook::Listener>(
          std::move(options), std::move(inbound),
          [config] {
            return open_store(*config, {.checkpoints = false});  // the checkpointer does
          },
          telemetry);
    }
    asio::steady_timer timer(io), purge_timer(io);
    asio::signal_set signals(io, SIGINT, SIGTERM), reloads(io, SIGHUP);
    bool stopping = false;
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      log::info("serve", "stopping", {{"signal", signal}});
      stopping = true;
      timer.cancel();
      purge_timer.cancel();
      reloads.cancel();
      if (listener) listener->stop();
    });
    auto step = [&] {
      try {
        engine->step(wall_clock());
        telemetry->set_component("store", true);
      } catch (const LeaseLost& e) {
        // Another process runs the engine now: this one stands by from the next step.
        engine->lost_lease();
        log::warn("serve",
                  "the engine lease went to another process mid-step; its work there "
                  "was rolled back",
                  {{"error", e.what()}});
      } catch (const StoreError& e) {
        // /readyz names the store until a step gets through again (PostgreSQL: a lost
        // connection is tried again, with backoff, within store.retry first).
        telemetry->set_component("store", false, soci_util::message_of(e));
        log::error("serve", "step failed; retrying at the next tick",
                   {{"error", soci_util::message_of(e)}});
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
            if (engine->standing_by()) {
              // Purging is the engine's work: the process that holds its lease does it
              // (through the engine's fenced connection).
              purge_later(std::chrono::minutes(1));
              return;
            }
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
    // SIGHUP: the file read and validated again; if valid, sources, hooks and sinks are
    // built anew and take over between two ticks (the listener's connections stay, and its
    // webhook sources and TLS certificates are replaced); if not, the running configuration
    // stays and the errors are logged with file:line:column. `store` and `listener` need a
    // restart: a reload that changes them says so and keeps the running ones.
    auto reload = [&] {
      const std::string file = config->file;  // a copy: the running config goes below
      log::info("serve", "reloading the configuration", {{"config", file}});
      std::shared_ptr<const config::Config> read;
      try {
        read = config::load_config_file(file, loaded->registry);
        for (const auto& warning : read->warnings) {
          log::warn("config", warning.message, {{"at", warning.str()}});
        }
      } catch (const config::ConfigError& e) {
        for (const auto& d : e.diagnostics()) {
          if (!d.warning) log::error("config", d.message, {{"at", d.str()}});
        }
        log::error("serve", "the configuration is not valid; the running one stays",
                   {{"errors", e.diagnostics().size()}});
        return;
      }
      if (auto why = status::StatusPage::problem(*read); !why.empty()) {
        log::error("serve", "the configuration is not valid; the running one stays",
                   {{"status_page", why}});
        return;
      }
      auto next = std::make_shared<config::Config>(*read);
      std::string kept;
      for (const char* key : {"store", "listener"}) {
        const config::Node* was = config->root.get(key);
        const config::Node* now = next->root.get(key);
        if (!was || !now || config::to_json_text(*was) == config::to_json_text(*now)) continue;
        for (auto& [name, node] : next->root.entries) {
          if (name == key) node = *was;
        }
        kept += (kept.empty() ? "" : ", ") + std::string(key);
        log::warn("serve", "this section changed and needs a restart; the running one stays",
                  {{"section", key}});
      }
      if (listener && next->section("retention").str("webhook_ids") !=
                          config->section("retention").str("webhook_ids")) {
        log::warn("serve", "this key changed and needs a restart; the running one stays",
                  {{"key", "retention.webhook_ids"}});
      }
      std::unique_ptr<Engine> rebuilt;
      try {
        rebuilt = Engine::build(*next, loaded->registry, building);
        if (listener) listener->reload(inbound_of(*next));
      } catch (const std::exception& e) {
        log::error("serve", "the new configuration cannot be built; the running one stays",
                   {{"error", soci_util::message_of(e)}});
        return;
      }
      // Deliveries under way finish with the engine that sent them (10 s at most; what
      // is left is sent again, with the same webhook-id, by the new one).
      if (auto left = engine->drain(std::chrono::seconds(10))) {
        log::warn("serve", "deliveries still under way at the reload go again", {{"count", left}});
      }
      rebuilt->set_telemetry(telemetry);
      rebuilt->announce_process();
      if (pages) pages->reload(next);
      engine = std::move(rebuilt);
      loaded->config = next;
      tick = config->section("engine").duration("tick");
      auto log_section = config->section("log");
      log::configure(log_section.str("level"), log_section.str("file"));
      log::info("serve", "configuration reloaded",
                {{"config", file}, {"kept_until_restart", kept.empty() ? "none" : kept}});
    };
    std::function<void()> await_reload = [&] {
      reloads.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec || stopping) return;
        reload();
        await_reload();
      });
    };
    log::info("serve", "started", {{"config", config->file}});
    step();
    schedule();
    purge_later(std::chrono::hours(1));
    await_reload();
    io.run();
    engine->leave();
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
