#include <stdexcept>

#include "adapters/common/mapping_schema.hpp"
#include "adapters/csv/csv_source.hpp"

namespace rapport::adapters {
namespace {

using config::Schema;
using config::Section;
using config::Type;

Schema file_schema(const std::string& entity) {
  Schema schema{"sources (csv) files." + entity,
                "Which files hold " + entity + " and how their columns map onto rapport/v1 fields.",
                {
                    {.name = "pattern",
                     .type = Type::string,
                     .description = "file names to read, with * and ? (e.g. rotations_*.csv)",
                     .required = true},
                }};
  for (auto& k : mapping_keys(entity, "file")) schema.keys.push_back(std::move(k));
  return schema;
}

const Schema& files_schema() {
  static const Schema people = file_schema("people");
  static const Schema rotations = file_schema("rotations");
  static const Schema team = file_schema("team");
  static const Schema evaluations = file_schema("evaluations");
  static const Schema interests = file_schema("interests");
  static const Schema sites = file_schema("sites");
  static const Schema files{
      "sources (csv) files",
      "One file pattern per entity; `rotations` is required, the others optional.",
      {
          {.name = "people",
           .type = Type::section,
           .description = "directory of people",
           .schema = &people},
          {.name = "rotations",
           .type = Type::section,
           .description = "the rotation schedule",
           .required = true,
           .schema = &rotations},
          {.name = "team",
           .type = Type::section,
           .description = "team members of rotations",
           .schema = &team},
          {.name = "evaluations",
           .type = Type::section,
           .description = "evaluations",
           .schema = &evaluations},
          interests_key(&interests),
          sites_key(&sites),
      }};
  return files;
}

char single(const Section& s, const char* key) {
  std::string v = s.str(key);
  if (v == "\\t") return '\t';
  if (v.size() != 1) {
    throw std::runtime_error(s.path() + "." + key + ": expected one character");
  }
  return v[0];
}

}  // namespace

SourceKind csv_source_kind() {
  SourceKind kind;
  kind.type = "csv";
  kind.schema = {
      "sources (type: csv)",
      "Reads CSV exports dropped into a directory, each file once.",
      {
          {.name = "directory",
           .type = Type::path,
           .description = "where exports arrive",
           .required = true},
          {.name = "poll_interval",
           .type = Type::duration,
           .description = "time between looks at the directory",
           .default_value = "1m",
           .min = 100,
           .max = 86'400'000},
          {.name = "delimiter",
           .type = Type::string,
           .description = "field separator (one character, or \\t)",
           .default_value = ","},
          {.name = "quote",
           .type = Type::string,
           .description = "quote character",
           .default_value = "\""},
          {.name = "header",
           .type = Type::boolean,
           .description = "the first record names the columns (else they are c1, c2, ...)",
           .default_value = "true"},
          {.name = "ready",
           .type = Type::enumeration,
           .description = "when a file is complete: its size stayed the same for `settle`, or "
                          "a <file>.done marker exists",
           .default_value = "stable",
           .choices = {"stable", "done_marker"}},
          {.name = "settle",
           .type = Type::duration,
           .description = "how long a size must hold still (ready: stable)",
           .default_value = "2s",
           .min = 0,
           .max = 3'600'000},
          {.name = "team_wait",
           .type = Type::duration,
           .description = "how long a team export whose rows name rotations not read yet is "
                          "read again at each poll (the rotations export may come later) before "
                          "those rows are quarantined",
           .default_value = "24h",
           .min = 0,
           .max = 604'800'000},
          {.name = "rejects",
           .type = Type::path,
           .description = "directory for quarantined records, written 0600 and never through a "
                          "link; may live outside the drop folder (default: <directory>/rejects)",
           .default_value = ""},
          {.name = "max_file_size",
           .type = Type::integer,
           .description = "bytes: a larger export is refused (logged as an error) and not read",
           .default_value = "268435456",
           .min = 1,
           .max = 68'719'476'736},
          {.name = "files",
           .type = Type::section,
           .description = "file patterns per entity",
           .required = true,
           .schema = &files_schema()},
      }};
  kind.create = [](const std::string& name, const Section& s) -> std::unique_ptr<Source> {
    CsvSourceOptions o;
    o.directory = s.str("directory");
    o.rejects = s.str("rejects");
    o.max_file_size = std::uintmax_t(s.integer("max_file_size"));
    o.poll_interval = s.duration("poll_interval");
    o.delimiter = single(s, "delimiter");
    o.quote = single(s, "quote");
    o.header = s.boolean("header");
    o.done_marker = s.str("ready") == "done_marker";
    o.settle = s.duration("settle");
    o.team_wait = s.duration("team_wait");
    Section files = s.section("files");
    for (const auto& entity : RowIngest::entities()) {
      if (!files.node() || !files.node()->get(entity)) continue;
      Section f = files.section(entity);
      FilePattern p;
      p.pattern = f.str("pattern");
      read_mapping(f, p, p.key);
      o.files[entity] = p;
    }
    return std::make_unique<CsvSource>(name, std::move(o));
  };
  return kind;
}

}  // namespace rapport::adapters
