// rapport deliveries (list, replay, enable) and rapport audit: the operator's view of
// what left and what did not. They work on the store while `serve` runs (SQLite WAL): a
// replay is picked up at the daemon's next tick.
#include <cstdio>

#include "cli/commands.hpp"

namespace rapport::cli {
namespace {

constexpr const char* kDeliveriesUsage =
    "usage: rapport deliveries list -c FILE [--failed] [--endpoint SINK]\n"
    "       rapport deliveries replay -c FILE (--id ACTION_ID | --since TIME) [--endpoint SINK]\n"
    "       rapport deliveries enable -c FILE --endpoint SINK\n";

int list(Store& store, const Args& args) {
  auto all = store.deliveries(args.get("--endpoint"), args.flag("--failed"), 100'000);
  for (const auto& d : all) {
    std::printf("%s  sink=%s  state=%s  attempts=%d  last_status=%d", d.action_id.c_str(),
                d.sink.c_str(), d.state.c_str(), d.attempts, d.last_status);
    if (d.state == "pending") std::printf("  next=%s", format_time(d.next_at).c_str());
    // The process that took it last (as `rapport status` names it): on a shared store,
    // the one that sent it or has it under way.
    if (!d.claimed_by.empty()) std::printf("  by=%s", d.claimed_by.c_str());
    std::printf("\n");
    for (const auto& a : store.attempts_of(d.id)) {
      std::printf("    #%d %s  status=%d  %lldms  %s  %s\n", a.attempt, format_time(a.at).c_str(),
                  a.status, static_cast<long long>(a.duration_ms), a.result.c_str(),
                  a.snippet.c_str());
    }
  }
  std::printf("%zu deliver%s\n", all.size(), all.size() == 1 ? "y" : "ies");
  return 0;
}

}  // namespace

int deliveries(const Args& args) {
  std::string what = args.words.empty() ? "" : args.words.front();
  if (!args.options.count("-c") || (what != "list" && what != "replay" && what != "enable")) {
    std::fputs(kDeliveriesUsage, stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    auto store = open_store(*loaded->config);
    auto now = wall_clock();
    if (what == "list") return list(*store, args);
    if (what == "enable") {
      if (!args.options.count("--endpoint")) {
        std::fputs(kDeliveriesUsage, stderr);
        return 2;
      }
      Transaction tx(*store);
      store->set_sink_disabled(args.get("--endpoint"), false, "enabled by an operator", now);
      tx.commit();
      std::printf("sink %s enabled\n", args.get("--endpoint").c_str());
      return 0;
    }
    std::optional<TimePoint> since;
    if (args.options.count("--since")) {
      since = parse_time(args.get("--since"));
      if (!since) since = parse_time(args.get("--since") + "T00:00:00Z");
      if (!since) {
        std::fprintf(stderr, "rapport: --since \"%s\" is not a date or an RFC 3339 time\n",
                     args.get("--since").c_str());
        return 2;
      }
    }
    if (!since && !args.options.count("--id")) {
      std::fputs(kDeliveriesUsage, stderr);
      return 2;
    }
    Transaction tx(*store);
    auto count = store->replay_deliveries(args.get("--endpoint"), args.get("--id"), since, now);
    tx.commit();
    std::printf("%zu deliver%s queued to be sent again\n", count, count == 1 ? "y" : "ies");
    return count == 0 && args.options.count("--id") ? 1 : 0;
  } catch (...) {
    return failed("deliveries");
  }
}

int audit(const Args& args) {
  if (!args.options.count("-c") || !args.options.count("--student")) {
    std::fputs("usage: rapport audit -c FILE --student ID\n", stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    auto store = open_store(*loaded->config);
    auto rows = store->disclosures_of(args.get("--student"));
    for (const auto& d : rows) {
      std::printf("%s  action=%s  contact=%s  sink=%s  endpoint=%s  basis=%s  fields=%s\n",
                  format_time(d.at).c_str(), d.action_id.c_str(), d.contact_id.c_str(),
                  d.sink.c_str(), d.endpoint.c_str(), d.basis.c_str(), d.fields.c_str());
    }
    std::printf("%zu disclosure%s\n", rows.size(), rows.size() == 1 ? "" : "s");
    return 0;
  } catch (...) {
    return failed("audit");
  }
}

}  // namespace rapport::cli
