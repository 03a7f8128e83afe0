#include "adapters/common/mapping_schema.hpp"
#include "adapters/sql/sql_source.hpp"

#include <soci/soci.h>

#include <cctype>
#include <set>

namespace rapport::adapters {
namespace {

using config::Key;
using config::Schema;
using config::Section;
using config::Type;

Schema query_schema(const std::string& entity) {
  Schema schema{
      "sources (sql) queries." + entity,
      "A SELECT for " + entity + " and how its columns map onto rapport/v1 fields.",
      {
          {.name = "sql",
           .type = Type::string,
           .description = "the SELECT to run",
           .required = true},
          {.name = "cursor",
           .type = Type::string,
           .description = "column holding the row's last-change time; only rows between the "
                          "watermark and now minus `lag` are read (empty: every row, every poll)",
           .default_value = ""},
      }};
  for (auto& k : mapping_keys(entity, "query")) schema.keys.push_back(std::move(k));
  return schema;
}

const Schema& queries_schema() {
  static const Schema people = query_schema("people");
  static const Schema rotations = query_schema("rotations");
  static const Schema team = query_schema("team");
  static const Schema evaluations = query_schema("evaluations");
  static const Schema interests = query_schema("interests");
  static const Schema sites = query_schema("sites");
  static const Schema queries{
      "sources (sql) queries",
      "One mapped SELECT per entity; `rotations` is required, the others optional.",
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
           .description = "team members of each rotation",
           .schema = &team},
          {.name = "evaluations",
           .type = Type::section,
           .description = "evaluations of students",
           .schema = &evaluations},
          interests_key(&interests),
          sites_key(&sites),
      }};
  return queries;
}

const std::vector<std::pair<std::string, std::vector<std::string>>>& required_fields() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> fields{
      {"people", {"id", "role"}},
      {"rotations", {"id", "student", "site", "specialty", "start", "end"}},
      {"team", {"rotation", "person", "role"}},
      {"evaluations", {"id", "rotation", "evaluator", "student", "submitted", "score"}},
      {"interests", {"person", "specialty"}},
      {"sites", {"site", "timezone"}}};
  return fields;
}

std::optional<QueryMapping> mapping_of(const Section& queries, const char* entity);

SqlSourceOptions sql_source_options(const Section& s) {
  SqlSourceOptions options;
  options.backend = s.str("backend");
  options.connection = s.str("connection");
  options.database_clock = s.str("clock") == "database";
  options.poll_interval = s.duration("poll_interval");
  options.lag = s.duration("lag");
  options.batch = std::size_t(s.integer("batch"));
  options.paging = s.str("paging");
  Section queries = s.section("queries");
  options.people = mapping_of(queries, "people");
  options.rotations = mapping_of(queries, "rotations");
  options.team = mapping_of(queries, "team");
  options.evaluations = mapping_of(queries, "evaluations");
  options.interests = mapping_of(queries, "interests");
  options.sites = mapping_of(queries, "sites");
  return options;
}

std::optional<QueryMapping> mapping_of(const Section& queries, const char* entity) {
  if (!queries.node() || !queries.node()->get(entity)) return std::nullopt;
  Section s = queries.section(entity);
  QueryMapping m;
  m.sql = s.str("sql");
  m.cursor = s.str("cursor");
  read_mapping(s, m, m.key);
  return m;
}

// Connects and compares each query's real columns with its mapping.
void check_against_database(const std::string& /*name*/, const Section& s,
                            std::vector<config::Diagnostic>& out) {
  // The caller fills in the file name.
  auto add = [&](config::Mark mark, const std::string& path, const std::string& message,
                 bool warning) {
    out.push_back({"", mark, path, message, warning});
  };
  Section queries = s.section("queries");
  if (s.str("backend") == "sqlite" && s.str("paging") == "standard") {
    const config::Node* paging = s.node()->get("paging");
    add(paging ? paging->mark : s.mark(), s.path() + ".paging",
        "SQLite has no OFFSET ... FETCH NEXT: use paging: limit", false);
  }
  // Whether each query can see updates and deletions, from the config alone.
  for (const auto& entity : RowIngest::entities()) {
    if (!queries.node() || !queries.node()->get(entity)) continue;
    Section q = queries.section(entity);
    if (q.str("cursor").empty()) {
      if (entity == "people" || entity == "evaluations" || entity == "sites") {
        add(q.mark(), q.path(), "reads every row on every poll; rows deleted here are ignored",
            true);
      }
    } else {
      add(q.node()->get("cursor")->mark, q.path() + ".cursor",
          "a cursor sees only rows that still exist: deletions here are never seen, and an "
          "update is seen only if it changes \"" +
              q.str("cursor") + "\"",
          true);
    }
  }
  std::unique_ptr<soci::session> db;
  try {
    auto options = sql_source_options(s);
    db = open_session(options);
  } catch (const std::exception& e) {
    add(s.mark(), s.path(),
        std::string("could not connect to check the queries' columns (") +
            (dynamic_cast<const soci::soci_error*>(&e)
                 ? dynamic_cast<const soci::soci_error*>(&e)->get_error_message()
                 : std::string(e.what())) +
            "); use --no-connect to check the file alone",
        true);
    return;
  }
  for (const auto& [entity, required] : required_fields()) {
    if (!queries.node() || !queries.node()->get(entity)) continue;
    Section q = queries.section(entity);
    std::set<std::string> columns;
    try {
      soci::row row;
      *db << "SELECT * FROM (" + q.str("sql") + ") rapport_q WHERE 1 = 0", soci::into(row);
      for (std::size_t i = 0; i < row.size(); ++i)
        columns.insert(lower(row.get_properties(i).get_name()));
    } catch (const soci::soci_error& e) {
      add(q.node()->get("sql")->mark, q.path() + ".sql",
          "the database rejects this query: " + e.get_error_message(), false);
      continue;
    }
    std::string all;
    for (const auto& c : columns) all += (all.empty() ? "" : ", ") + c;
    auto mapped = q.string_map("columns");
    auto constants = q.string_map("constants");
    const config::Node* columns_node = q.node()->get("columns");
    for (const auto& [field, column] : mapped) {
      if (columns.count(lower(column)) || constants.count(field)) continue;
      const config::Node* at = columns_node ? columns_node->get(field) : nullptr;
      add(at ? at->mark : q.mark(), q.path() + ".columns." + field,
          "no column \"" + column + "\" in the query's result (it has: " + all + ")", false);
    }
    if (!q.str("cursor").empty() && !columns.count(lower(q.str("cursor")))) {
      add(q.node()->get("cursor")->mark, q.path() + ".cursor",
          "no column \"" + q.str("cursor") + "\" in the query's result (it has: " + all + ")",
          false);
    }
    for (const auto& field : required) {
      if (mapped.count(field) || constants.count(field) || columns.count(field)) continue;
      add(q.node()->get("sql")->mark, q.path(),
          "field " + field + " has no column: the result has no \"" + field +
              "\" and columns maps none (it has: " + all + ")",
          false);
    }
  }
}

}  // namespace

SourceKind sql_source_kind() {
  SourceKind kind;
  kind.type = "sql";
  kind.schema = {
      "sources (type: sql)",
      "Polls an institutional database with admin-written, mapped SELECT queries.",
      {
          {.name = "backend",
           .type = Type::enumeration,
           .description = "database kind",
           .default_value = "sqlite",
           .choices = {"sqlite", "postgresql", "mysql", "odbc"}},
          {.name = "connection",
           .type = Type::secret,
           .description = "connection string: for sqlite the database file; for postgresql "
                          "libpq's (host=... dbname=... user=...); for mysql SOCI's (db=... "
                          "host=... user=... password=...); for odbc the ODBC one. Never logged",
           .required = true},
          {.name = "clock",
           .type = Type::enumeration,
           .description = "whose clock sets the upper bound of a poll: the database's (use "
                          "this in production) or the engine's (simulations, the demo)",
           .default_value = "database",
           .choices = {"database", "engine"}},
          {.name = "poll_interval",
           .type = Type::duration,
           .description = "time between polls",
           .default_value = "1m",
           .min = 100,
           .max = 86'400'000},
          {.name = "batch",
           .type = Type::integer,
           .description = "rows read per page; each page is one store transaction, so memory "
                          "stays flat whatever the table size",
           .default_value = "1000",
           .min = 1,
           .max = 1'000'000},
          {.name = "paging",
           .type = Type::enumeration,
           .description = "how a page is asked for: `limit` (LIMIT n, and the position "
                          "compared as one row value (cursor, key) > (...): SQLite, PostgreSQL, "
                          "MySQL, MariaDB) or `standard` (OFFSET 0 ROWS FETCH NEXT n ROWS ONLY, "
                          "and the comparison written out with AND and OR: SQL Server, Oracle "
                          "12c+, Db2 through ODBC, MariaDB too but not MySQL; slower on large "
                          "tables where row values exist)",
           .default_value = "limit",
           .choices = {"limit", "standard"}},
          {.name = "lag",
           .type = Type::duration,
           .description = "rows are read only once their cursor is this much in the past, so "
                          "transactions committing late are still seen",
           .default_value = "0s",
           .min = 0,
           .max = 86'400'000},
          {.name = "queries",
           .type = Type::section,
           .description = "the mapped SELECTs",
           .required = true,
           .schema = &queries_schema()},
      }};
  kind.create = [](const std::string& name, const Section& s) -> std::unique_ptr<Source> {
    return std::make_unique<SqlSource>(name, sql_source_options(s));
  };
  kind.check = check_against_database;
  return kind;
}

}  // namespace rapport::adapters
