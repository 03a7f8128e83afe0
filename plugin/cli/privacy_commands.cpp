// rapport forget, rapport export: what a school's privacy office asks of a student's record.
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "adapters/common/ingest.hpp"
#include "cli/commands.hpp"
#include "engine/network.hpp"
#include "engine/source.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"

namespace rapport::cli {
namespace {

// Files outside the store that may mention the person: JSON-lines outputs, and the CSV
// sources' rejects. Rewriting them is the school's call (a host may have read them
// already); they are listed with the lines that mention the id.
std::vector<std::pair<std::string, std::size_t>> files_mentioning(const config::Config& config,
                                                                  const std::string& id) {
  std::vector<std::string> files;
  for (const auto& [name, section] : config.section().sections("sinks")) {
    if (section.str("type") == "jsonl") files.push_back(section.str("path"));
  }
  for (const auto& [name, section] : config.section().sections("sources")) {
    if (section.str("type") != "csv") continue;
    std::string rejects = section.str("rejects");
    if (rejects.empty()) rejects = section.str("directory") + "/rejects";
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(rejects, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(it->path().string());
    }
  }
  std::vector<std::pair<std::string, std::size_t>> out;
  const std::string quoted = "\"" + id + "\"";
  for (const auto& file : files) {
    std::ifstream in(file);
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line);) {
      // JSON lines name the id as a string; CSV rows as a field.
      if (line.find(quoted) != std::string::npos ||
          line.find("," + id + ",") != std::string::npos || line.starts_with(id + ",") ||
          line.ends_with("," + id)) {
        ++lines;
      }
    }
    if (lines) out.emplace_back(file, lines);
  }
  return out;
}

}  // namespace

int forget(const Args& args) {
  const bool lift = args.options.count("--lift") > 0;
  const std::string id = lift                              ? args.get("--lift")
                         : args.options.count("--student") ? args.get("--student")
                                                           : args.get("--staff");
  if (!args.options.count("-c") || id.empty() ||
      (!lift && (!args.options.count("--requested-by") || !args.options.count("--reason")))) {
    std::fputs(
        "usage: rapport forget -c FILE (--student ID | --staff ID) --requested-by WHO "
        "--reason TEXT\n       rapport forget -c FILE --lift ID\n",
        stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    auto store = open_store(*loaded->config);
    auto now = wall_clock();
    if (lift) {
      Transaction tx(*store);
      if (!store->lift_suppression(id, now)) {
        std::fprintf(stderr, "rapport forget: %s is not kept out; nothing to lift\n", id.c_str());
        return 1;
      }
      // The sources read again from the start: rows stored already change nothing, the
      // person's rows (never stored while kept out) come in as new.
      for (const auto& [name, section] : loaded->config->section().sections("sources")) {
        if (section.str("type") != "sql") continue;
        for (const auto& entity : adapters::RowIngest::entities()) {
          store->delete_cursor(name, entity);
        }
      }
      tx.commit();
      std::printf("%s may come back: the sources read them again at their next poll\n", id.c_str());
      return 0;
    }
    std::map<std::string, std::int64_t> removed;
    {
      Transaction tx(*store);
      removed = store->erase_person(id, now, args.options.count("--student") ? "student" : "staff",
                                    args.get("--requested-by"), args.get("--reason"));
      tx.commit();
    }
    store->scrub();
    std::printf("forgot %s (%s), on the request of %s; kept out until `rapport forget --lift`\n",
                id.c_str(), args.options.count("--student") ? "student" : "staff",
                args.get("--requested-by").c_str());
    for (const auto& [what, n] : removed) {
      std::printf("  %-26s %lld\n", what.c_str(), static_cast<long long>(n));
    }
    if (removed.empty()) std::printf("  (the store held nothing about them)\n");
    for (const auto& [file, lines] : files_mentioning(*loaded->config, id)) {
      std::printf("  outside the store: %s: %zu line%s mention them; rewrite or remove them\n",
                  file.c_str(), lines, lines == 1 ? "" : "s");
    }
    std::printf(
        "kept: the disclosure log and expiry records (ids only). Backups taken before now "
        "still hold them.\n");
    return 0;
  } catch (...) {
    return failed("forget");
  }
}

namespace {

// CSV rejects files last written before `before`: deleted (or counted, dry_run).
std::int64_t purge_rejects(const config::Config& config, TimePoint before, bool dry_run) {
  std::int64_t n = 0;
  for (const auto& [name, section] : config.section().sections("sources")) {
    if (section.str("type") != "csv") continue;
    std::string rejects = section.str("rejects");
    if (rejects.empty()) rejects = section.str("directory") + "/rejects";
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(rejects, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->path().extension() != ".rejects") continue;
      auto written = std::chrono::file_clock::to_sys(it->last_write_time(ec));
      if (ec || written >= before) continue;
      if (dry_run || std::filesystem::remove(it->path(), ec)) ++n;
    }
  }
  return n;
}

constexpr std::chrono::minutes kLease{10};

std::string lease_holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace

std::optional<Purged> purge_store(Store& store, const config::Config& config, TimePoint now,
                                  bool dry_run, std::size_t max_batches) {
  auto section = config.section("retention");
  auto before = [&](std::string_view key) {
    return now - std::chrono::duration_cast<std::chrono::seconds>(section.duration(key));
  };
  Store::PurgeBefore cutoffs{.now = now,
                             .inbox_payloads = before("inbox_payloads"),
                             .delivery_attempts = before("delivery_attempts"),
                             .rotations = before("rotations"),
                             .people = before("people"),
                             .actions = before("actions"),
                             .ids = before("ids"),
                             .reports = before("reports"),
                             .disclosures = std::nullopt,
                             .sinks = {}};
  if (section.duration("disclosures").count() > 0) cutoffs.disclosures = before("disclosures");
  for (const auto& [name, sink] : config.section().sections("sinks")) {
    if (!reads_actions(sink)) continue;
    cutoffs.sinks.push_back(name);
    if (sink.str("audience") == "student") cutoffs.student_sinks.push_back(name);
  }
  constexpr std::size_t kBatch = 1000;
  Purged out;
  if (dry_run) {
    out.counts = store.purge(cutoffs, std::size_t(-1) / 2, true);
    out.counts["rejects files"] = purge_rejects(config, before("rejects"), true);
    return out;
  }
  // The lease is short and renewed at every batch: a purge that died holds up the next
  // one for minutes, not hours.
  const std::string holder = lease_holder();
  const auto started = std::chrono::steady_clock::now();
  auto take = [&] {
    auto at = now + std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::steady_clock::now() - started);
    return store.take_lease("purge", holder, at, at + kLease);
  };
  {
    Transaction tx(store);
    if (!take()) return std::nullopt;
    tx.commit();
  }
  struct Release {
    Store& store;
    const std::string& holder;
    ~Release() {
      try {
        Transaction tx(store);
        store.release_lease("purge", holder);
        tx.commit();
      } catch (const std::exception& e) {
        log::warn("purge", "cannot give the purge lease back; it ends by itself",
                  {{"error", e.what()}});
      }
    }
  } release{store, holder};
  // One short transaction per batch: a running daemon's other writers are not held up.
  for (std::size_t batches = 0;; ++batches) {
    if (batches == max_batches) {
      out.finished = false;
      break;
    }
    Transaction tx(store);
    if (!take()) {
      // Lost (a batch outlived the lease, and another process took it): it purges now.
      log::warn("purge", "the purge lease went to another process; stopping here");
      out.finished = false;
      break;
    }
    auto done = store.purge(cutoffs, kBatch, false);
    tx.commit();
    std::int64_t most = 0;
    for (const auto& [kind, n] : done) {
      out.counts[kind] += n;
      most = std::max(most, n);
    }
    if (most < std::int64_t(kBatch)) break;
  }
  std::int64_t purged = 0;
  for (const auto& [kind, n] : out.counts) purged += n;
  // What the deleted rows left in the write-ahead log, once the whole purge is done (a
  // truncating checkpoint waits for readers: not after every round of a long purge).
  if (purged && out.finished) store.scrub();
  out.counts["rejects files"] = purge_rejects(config, before("rejects"), false);
  return out;
}

int purge(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport purge -c FILE [--dry-run]\n", stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    auto store = open_store(*loaded->config);
    const bool dry_run = args.flag("--dry-run");
    auto done = purge_store(*store, *loaded->config, wall_clock(), dry_run);
    if (!done) {
      std::fputs(
          "another process sharing the store is purging now (it holds the purge lease, which "
          "ends by itself 10 minutes after its holder stops); nothing done\n",
          stderr);
      return 1;
    }
    std::printf("%s, as retention: says:\n", dry_run ? "would purge" : "purged");
    for (const auto& [kind, n] : done->counts) {
      std::printf("  %-20s %lld\n", kind.c_str(), static_cast<long long>(n));
    }
    if (!done->finished) {
      std::fputs("stopped before the end: another process took the purge lease over\n", stderr);
      return 1;
    }
    return 0;
  } catch (...) {
    return failed("purge");
  }
}

int export_record(const Args& args) {
  if (!args.options.count("-c") || !args.options.count("--student")) {
    std::fputs("usage: rapport export -c FILE --student ID\n", stderr);
    return 2;
  }
  try {
    auto loaded = load_running(args.get("-c"));
    auto store = open_store(*loaded->config);
    std::printf("%s\n", student_record_json(*store, args.get("--student")).c_str());
    return 0;
  } catch (...) {
    return failed("export");
  }
}

}  // namespace rapport::cli
