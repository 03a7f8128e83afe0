#pragma once
// Test data: the small synthetic institution and the configs that read it.

#include <map>

namespace soci {
class session;
}
#include <set>
#include <string>
#include <tuple>

namespace rapport::test {

// Creates the small institution (tests/support/small_institution.sql) at `path`.
void write_small_institution(const std::string& path);
// Runs SQL statements (separated by ";\n", "--" comment lines dropped).
void execute_sql(soci::session& session, const std::string& statements);
void execute_sqlite(const std::string& path, const std::string& statements);

// deploy/examples/demo.yaml, which the end-to-end tests run unchanged.
std::string demo_config_path();

// (type, student, contact, due) of every action the small institution must produce
// when run from 2027-01-01 to 2027-02-20 with the demo config.
using ActionKey = std::tuple<std::string, std::string, std::string, std::string>;
std::multiset<ActionKey> expected_small_institution_actions();
// The same, read from a JSON-lines file of delivered actions.
std::multiset<ActionKey> action_keys_of_file(const std::string& path);

}  // namespace rapport::test
