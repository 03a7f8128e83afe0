#include "support/fixture.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <boost/json.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace rapport::test {

void execute_sqlite(const std::string& path, const std::string& statements) {
  soci::session sql(soci::sqlite3, "db=\"" + path + "\"");
  execute_sql(sql, statements);
}

void execute_sql(soci::session& sql, const std::string& statements) {
  std::size_t start = 0;
  while (start < statements.size()) {
    auto end = statements.find(";\n", start);
    if (end == std::string::npos) end = statements.size();
    std::string statement = statements.substr(start, end - start);
    start = end + 2;
    // Drop comment lines.
    std::string clean;
    std::size_t pos = 0;
    while (pos < statement.size()) {
      auto nl = statement.find('\n', pos);
      if (nl == std::string::npos) nl = statement.size();
      std::string line = statement.substr(pos, nl - pos);
      if (!line.starts_with("--")) clean += line + "\n";
      pos = nl + 1;
    }
    if (clean.find_first_not_of(" \n\t") != std::string::npos) sql << clean;
  }
}

void write_small_institution(const std::string& path) {
  execute_sqlite(path, read_text(source_dir() + "/tests/support/small_institution.sql"));
}

std::string demo_config_path() { return source_dir() + "/deploy/examples/demo.yaml"; }

std::multiset<ActionKey> expected_small_institution_actions() {
  return {
      // B0001: L0001 at Test General, the whole team on its first day...
      {"introduce", "L0001", "E0001", "2027-01-04T00:00:00Z"},
      {"introduce", "L0001", "E0002", "2027-01-04T00:00:00Z"},
      {"introduce", "L0001", "E0003", "2027-01-04T00:00:00Z"},
      {"introduce", "L0001", "E0004", "2027-01-04T00:00:00Z"},
      {"introduce", "L0001", "E0005", "2027-01-04T00:00:00Z"},
      // ...and thanks to its supervisors, due three days after the end.
      {"thank_you", "L0001", "E0001", "2027-02-04T00:00:00Z"},
      {"thank_you", "L0001", "E0002", "2027-02-04T00:00:00Z"},
      // B0002: L0002 at Test Children's, two weeks.
      {"introduce", "L0002", "E0006", "2027-01-04T00:00:00Z"},
      {"introduce", "L0002", "E0007", "2027-01-04T00:00:00Z"},
      {"thank_you", "L0002", "E0006", "2027-01-21T00:00:00Z"},
      // The opening listed for each one's declared interest, a week after the start. L0002's
      // names E0058, whom this institution's staff directory does not know: held, never
      // sent, and expired a week after the start (engine.unknown_people: auto).
      {"opportunity", "L0001", "E0001", "2027-01-11T00:00:00Z"},
      // A mentor in their target specialty, assigned across students.
      {"mentor_suggest", "L0001", "E0001", "2027-01-11T00:00:00Z"},
      {"mentor_suggest", "L0002", "E0006", "2027-01-11T00:00:00Z"},
      // Letter writers when the rotation ends (L0001's strong evaluation on Feb 3 offers
      // the same attending again: the same action, not a second one).
      {"letter_candidate", "L0001", "E0001", "2027-02-15T00:00:00Z"},
      {"letter_candidate", "L0002", "E0006", "2027-02-01T00:00:00Z"},
      // The 30-day stay-in-touch reminder of L0002's attending (L0001's falls after Feb 20).
      {"follow_up", "L0002", "E0006", "2027-02-24T00:00:00Z"},
      // B0003: L0003 opted out: nothing. B0004 was cancelled: nothing. No peers rotated
      // there before, and no rotation is a sub-internship or away.
  };
}

std::multiset<ActionKey> action_keys_of_file(const std::string& path) {
  std::multiset<ActionKey> keys;
  for (const auto& line : read_lines(path)) {
    auto v = boost::json::parse(line);
    const auto& data = v.at("data");
    keys.insert({std::string(data.at("type").as_string()),
                  std::string(data.at("student").as_string()),
                  std::string(data.at("contact").as_string()),
                  std::string(data.at("due").as_string())});
  }
  return keys;
}

}  // namespace rapport::test
