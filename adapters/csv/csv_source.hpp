#pragma once
// The CSV source: watches a directory for exports (one file pattern per entity, columns
// mapped in YAML like the SQL source). Each file is read once, recorded by the hash of its
// content, in one store transaction with the events it produced; a file still being
// written is left alone (a size that has not changed for `settle`, or a `.done` marker).
// A malformed record is quarantined to a rejects file with its line and reason, never
// dropped silently, and the rest of the file goes on.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/common/ingest.hpp"
#include "engine/registry.hpp"
#include "engine/source.hpp"

namespace rapport::adapters {

struct FilePattern : FieldMapping {
  std::string pattern;  // file name with * and ? wildcards
  std::vector<std::string> key;
};

struct CsvSourceOptions {
  std::string directory;
  std::string rejects;  // directory for quarantined records
  std::uintmax_t max_file_size = 0;
  std::chrono::milliseconds poll_interval{60'000};
  char delimiter = ',';
  char quote = '"';
  bool header = true;
  bool done_marker = false;  // else: a stable size
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds team_wait{24 * 3'600'000};  // for rotations a team file names
  std::map<std::string, FilePattern> files;             // entity -> pattern
};

class CsvSource final : public Source {
 public:
  CsvSource(std::string name, CsvSourceOptions options);
  const std::string& name() const override { return name_; }
  std::chrono::milliseconds poll_interval() const override { return options_.poll_interval; }
  std::size_t poll(Store& store, TimePoint now) override;

 private:
  bool ready(const std::string& path);
  std::size_t read_file(Store& store, const std::string& entity, const FilePattern& p,
                        const std::string& path, TimePoint now);

  std::string name_;
  CsvSourceOptions options_;
  RowIngest ingest_;
  struct Seen {
    std::uintmax_t size;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, Seen> sizes_;  // stable-size watch
  std::set<std::string> refused_;      // exports refused (logged once until they change)
};

SourceKind csv_source_kind();
bool matches(const std::string& pattern, const std::string& name);

}  // namespace rapport::adapters
