// rapport status, rapport explain: read-only views of the store.
#include <boost/json.hpp>

#include <cstdio>

#include "cli/commands.hpp"
#include "engine/network.hpp"

namespace rapport::cli {
namespace {

std::unique_ptr<Store> open_store(const config::Config& config) {
  auto s = config.section("store");
  return open_sqlite_store(
      {s.str("path"), s.str("synchronous") == "full", int(s.duration("busy_timeout").count())});
}

std::string text_of(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return boost::json::serialize(v);
}

}  // namespace

int status(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport status -c FILE\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    auto store = open_store(*config);
    auto progress = store->all_progress();
    auto last = store->last_event_seq();
    auto counts = store->counts();
    std::printf("store    %s (schema %d)\n", config->section("store").str("path").c_str(),
                store->schema_version());
    std::printf("inbox    %lld events\noutbox   %lld actions\ntimers   %lld pending\n\n",
                static_cast<long long>(counts.events), static_cast<long long>(counts.actions),
                static_cast<long long>(counts.timers));
    std::printf("%-28s %10s %10s\n", "consumer", "at", "behind");
    auto row = [&](const std::string& label, const std::string& consumer, std::int64_t end) {
      auto seq = progress.count(consumer) ? progress.at(consumer) : 0;
      std::printf("%-28s %10lld %10lld\n", label.c_str(), static_cast<long long>(seq),
                  static_cast<long long>(end - seq));
    };
    row("mirror", kMirrorConsumer, last);
    for (const auto& [name, section] : config->section().sections("hooks")) {
      if (section.boolean("enabled")) row("hook " + name, name, last);
    }
    for (const auto& [name, section] : config->section().sections("sinks")) {
      auto seq = progress.count("sink:" + name) ? progress.at("sink:" + name) : 0;
      auto pending = store->actions_after(seq, 1'000'000).size();
      std::printf("%-28s %10lld %10zu\n", ("sink " + name).c_str(), static_cast<long long>(seq),
                  pending);
    }
    auto reports = store->reports();
    std::printf("\n%s\n", reports.empty() ? "no failures, retries or slow hooks recorded"
                                          : "reports (errors, retries, over-budget runs):");
    for (const auto& r : reports) {
      std::printf("  %-20s %-6s %6lld  last at %s: %s\n", r.consumer.c_str(), r.kind.c_str(),
                  static_cast<long long>(r.count), r.last_at.c_str(), r.last_message.c_str());
    }
    return 0;
  } catch (const config::ConfigError& e) {
    std::fputs(e.what(), stderr);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rapport status: %s\n", e.what());
    return 1;
  }
}

int explain(const Args& args) {
  if (!args.options.count("-c") || !args.options.count("--student")) {
    std::fputs("usage: rapport explain -c FILE --student ID [--json]\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    auto store = open_store(*config);
    auto text = network_json(*store, args.get("--student"));
    if (args.flag("--json")) {
      std::printf("%s\n", text.c_str());
      return 0;
    }
    auto network = boost::json::parse(text).as_object();
    std::printf("Student %s: %zu rotations\n\n", args.get("--student").c_str(),
                network["rotations"].as_array().size());
    std::printf("Contacts, strongest first\n  %5s  %-30s %-14s %-22s %s\n", "days", "who",
                "role", "rotations", "evaluations (0-1)");
    for (const auto& c : network["contacts"].as_array()) {
      const auto& o = c.as_object();
      std::string who = (o.contains("name") ? text_of(o.at("name")) + " " : "") + "(" +
                        text_of(o.at("id")) + ")";
      std::string rots, evals;
      for (const auto& r : o.at("rotations").as_array()) rots += (rots.empty() ? "" : ",") + text_of(r);
      for (const auto& e : o.at("evaluations").as_array()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", e.at("score").to_number<double>());
        evals += (evals.empty() ? "" : " ") + std::string(buf);
      }
      std::printf("  %5lld  %-30s %-14s %-22s %s\n",
                  static_cast<long long>(o.at("days_together").to_number<double>()), who.c_str(),
                  o.contains("role") ? text_of(o.at("role")).c_str() : "?", rots.c_str(),
                  evals.c_str());
    }
    std::printf("\nActions\n");
    for (const auto& a : network["actions"].as_array()) {
      std::printf("  %s  %-12s %-8s %s\n", text_of(a.at("due")).substr(0, 10).c_str(),
                  text_of(a.at("type")).c_str(), text_of(a.at("contact")).c_str(),
                  text_of(a.at("reason")).c_str());
    }
    return 0;
  } catch (const config::ConfigError& e) {
    std::fputs(e.what(), stderr);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rapport explain: %s\n", e.what());
    return 1;
  }
}

}  // namespace rapport::cli
