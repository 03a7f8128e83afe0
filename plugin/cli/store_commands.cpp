// `rapport store copy`: a school's whole state from one store to another.
#include <chrono>
#include <cstdio>

#include "cli/commands.hpp"
#include "store/copy.hpp"

namespace rapport::cli {

int store_command(const Args& args) {
  if (args.words != std::vector<std::string>{"copy"} || !args.options.count("-c") ||
      !args.options.count("--to")) {
    std::fputs("usage: rapport store copy -c FILE --to FILE\n", stderr);
    return 2;
  }
  try {
    auto from_config = load_running(args.get("-c"));
    auto to_config = load_running(args.get("--to"));
    auto from = open_store(*from_config->config);
    auto to = open_store(*to_config->config);
    // Offline only: a process that writes either store while it is copied would leave the
    // copy behind (or the target half someone else's).
    for (auto [store, config] : {std::pair{from.get(), from_config->config.get()},
                                 std::pair{to.get(), to_config->config.get()}}) {
      const auto lease = std::chrono::duration_cast<std::chrono::seconds>(
          config->section("store").duration("lease"));
      auto live = store->live_processes(2 * lease);
      if (!live.empty()) {
        std::string names;
        for (const auto& p : live) names += (names.empty() ? "" : ", ") + p.instance;
        std::fprintf(stderr,
                     "rapport store copy: the %s store %s is in use by %zu running process(es) "
                     "(%s); stop them first (a stopped process's row stays %lld s)\n",
                     std::string(store->backend()).c_str(), store_name(*config).c_str(),
                     live.size(), names.c_str(), static_cast<long long>(2 * lease.count()));
        return 1;
      }
    }
    std::fprintf(stderr, "copying the %s store %s into the %s store %s\n",
                 std::string(from->backend()).c_str(), store_name(*from_config->config).c_str(),
                 std::string(to->backend()).c_str(), store_name(*to_config->config).c_str());
    auto started = std::chrono::steady_clock::now();
    auto copied = copy_store(*from, *to, [](const std::string& table, std::int64_t rows) {
      std::fprintf(stderr, "  %-18s %lld rows\n", table.c_str(), static_cast<long long>(rows));
    });
    std::int64_t total = 0;
    for (const auto& [table, rows] : copied) total += rows;
    std::printf("copied %lld rows in %zu tables in %.1f s\n", static_cast<long long>(total),
                copied.size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return 0;
  } catch (...) {
    return failed("store copy");
  }
}

}  // namespace rapport::cli
