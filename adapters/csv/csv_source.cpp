#include "adapters/csv/csv_source.hpp"

#include <filesystem>

#include "adapters/csv/csv_reader.hpp"
#include "files/private_files.hpp"
#include "log/log.hpp"
#include "rapport/json.hpp"
#include "store/store.hpp"

namespace rapport::adapters {
namespace fs = std::filesystem;

bool matches(const std::string& pattern, const std::string& name) {
  // * and ? wildcards, iteratively with backtracking to the last *.
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

CsvSource::CsvSource(std::string name, CsvSourceOptions options)
    : name_(std::move(name)), options_(std::move(options)), ingest_(name_) {
  if (options_.rejects.empty()) options_.rejects = options_.directory + "/rejects";
}

bool CsvSource::ready(const std::string& path) {
  if (options_.done_marker) return fs::exists(path + ".done");
  // A stable size: the same at two looks at least `settle` apart.
  auto size = fs::file_size(path);
  auto now = std::chrono::steady_clock::now();
  auto [it, added] = sizes_.try_emplace(path, Seen{size, now});
  if (added || it->second.size != size) {
    it->second = Seen{size, now};
    return false;
  }
  return now - it->second.since >= options_.settle;
}

std::size_t CsvSource::poll(Store& store, TimePoint now) {
  if (!fs::is_directory(options_.directory)) {
    throw std::runtime_error("sources." + name_ + ": directory not found");
  }
  std::size_t added = 0;
  for (const auto& entity : RowIngest::entities()) {
    auto pattern = options_.files.find(entity);
    if (pattern == options_.files.end()) continue;
    std::vector<std::string> paths;
    for (const auto& e : fs::directory_iterator(options_.directory)) {
      std::string file = e.path().filename().string();
      // A link is never read, even one named like an export: it could point anywhere the
      // daemon can read, and its lines would be copied into a rejects file.
      if (!e.is_symlink() && e.is_regular_file() && !file.ends_with(".done") &&
          matches(pattern->second.pattern, file)) {
        paths.push_back(e.path().string());
      }
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      if (!ready(path)) continue;
      added += read_file(store, entity, pattern->second, path, now);
    }
  }
  return added;
}

std::size_t CsvSource::read_file(Store& store, const std::string& entity, const FilePattern& p,
                                 const std::string& path, TimePoint now) {
  std::string text;
  try {
    text = files::read_regular_file(path, options_.max_file_size);
  } catch (const std::runtime_error& e) {
    if (refused_.insert(path).second) {
      log::error(
          "source.csv", "export not read",
          {{"source", name_}, {"file", fs::path(path).filename().string()}, {"error", e.what()}});
    }
    sizes_.erase(path);
    return 0;
  }
  refused_.erase(path);
  if (!options_.done_marker) {
    auto seen = sizes_.find(path);
    if (seen == sizes_.end() || seen->second.size != text.size()) {
      sizes_.erase(path);  // it grew after it looked complete: wait again
      return 0;
    }
  }
  std::string file = fs::path(path).filename().string();
  // Name and content: the same export dropped twice is read once, while a file with the
  // same content as an older one under a new name (a state that came back) is read.
  std::string hash = content_hash(file + '\x1f' + text);
  if (store.row_hash(name_, "file", hash)) {
    sizes_.erase(path);
    return 0;  // this very content was read before (the same export dropped twice)
  }
  auto records = read_csv(text, options_.delimiter, options_.quote);
  std::vector<std::string> header;
  std::size_t first = 0;
  if (options_.header && !records.empty()) {
    for (const auto& h : records[0].fields) header.push_back(lower(h));
    first = 1;
  } else if (!records.empty()) {
    for (std::size_t i = 0; i < records[0].fields.size(); ++i) {
      header.push_back("c" + std::to_string(i + 1));
    }
  }
  std::vector<std::string> rejects;
  auto reject = [&](const CsvRecord& r, const std::string& reason) {
    rejects.push_back("line " + std::to_string(r.line) + ": " + reason + "\t" + r.raw);
    log::warn("source.csv", "record quarantined",
              {{"source", name_}, {"file", file}, {"line", r.line}, {"reason", reason}});
  };
  // Team rows naming rotations not read yet wait for them (the rotations export may come
  // later), up to team_wait after this content was first seen (kept in the store, so a
  // restart does not start the wait again).
  Transaction tx(store);
  const std::string wait_key = "team_wait:" + hash;
  auto first_seen =
      std::min(now, parse_time(store.cursor(name_, wait_key).value_or("")).value_or(now));
  bool may_wait = now - first_seen < options_.team_wait;
  std::size_t held = 0;
  PageEvents page;
  RowColumns columns;
  std::size_t read = 0;
  for (std::size_t i = first; i < records.size(); ++i) {
    const auto& r = records[i];
    if (!r.problem.empty()) {
      reject(r, r.problem);
      continue;
    }
    if (r.fields.size() != header.size()) {
      reject(r, "expected " + std::to_string(header.size()) + " fields, found " +
                    std::to_string(r.fields.size()));
      continue;
    }
    columns.clear();
    for (std::size_t c = 0; c < header.size(); ++c) {
      columns.emplace_back(
          header[c], r.fields[c].empty() ? std::nullopt : std::optional<std::string>(r.fields[c]));
    }
    MappedRow mapped(columns, p, "sources." + name_ + ".files." + entity + " (" + file + ")");
    try {
      auto outcome = ingest_.row(entity, mapped, store, page);
      if (outcome.hold) {
        ++held;
        if (!may_wait) reject(r, "its rotation is not known to this source");
        continue;
      }
      ++read;
    } catch (const JsonError& e) {
      reject(r, e.what());
    } catch (const std::runtime_error& e) {
      reject(r, e.what());
    }
  }
  std::size_t added = ingest_.flush(store, page, now);
  bool wait = held > 0 && may_wait;
  if (wait) {
    store.set_cursor(name_, wait_key, format_time(first_seen));  // read again next poll
  } else {
    store.set_row_hash(name_, "file", hash, file);
    store.delete_cursor(name_, wait_key);
  }
  tx.commit();
  if (wait) {
    log::info("source.csv", "team rows wait for their rotations; the file is read again next poll",
              {{"source", name_}, {"file", file}, {"waiting_rows", held}});
  }
  if (!rejects.empty()) {
    // After the commit, and whole (truncated, not appended): a file read again after a
    // failed commit does not list its rejects twice.
    // They hold raw rows (names): owner-only, and never written through a planted link.
    std::string content;
    for (const auto& line : rejects) content += line + "\n";
    try {
      files::create_private_directories(options_.rejects);
      files::write_private_file(options_.rejects + "/" + file + ".rejects", content);
    } catch (const std::exception& e) {
      log::error("source.csv", "cannot write the rejects file",
                 {{"source", name_}, {"file", file}, {"error", e.what()}});
    }
  }
  sizes_.erase(path);
  log::info("source.csv", "file read",
            {{"source", name_},
             {"file", file},
             {"records", read},
             {"rejected", rejects.size()},
             {"events", added}});
  return added;
}

}  // namespace rapport::adapters
