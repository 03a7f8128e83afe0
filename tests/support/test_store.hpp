#pragma once
// The store a test runs on, of either backend. The store's contract (every Store method)
// runs on both; whole-engine tests run on the backend RAPPORT_TEST_STORE names (sqlite
// unless it says postgresql), and CTest runs them once more on PostgreSQL.

#include <memory>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "support/temp_dir.hpp"

namespace rapport::test {

// "sqlite", and "postgresql" when RAPPORT_TEST_PG names a server (the test command
// starts one; without it, the PostgreSQL cases are skipped with a warning).
std::vector<std::string> store_backends();
// Whether RAPPORT_TEST_PG names a server; under CTest (RAPPORT_TEST set) throws when it
// does not, so that a PostgreSQL case cannot pass by skipping.
bool postgresql_available();
// At the top of a test case that needs PostgreSQL: outside CTest, without a server, the
// rest of the case is skipped with a warning (under CTest postgresql_available() throws).
#define RAPPORT_SKIP_WITHOUT_POSTGRESQL()                                    \
  do {                                                                       \
    if (!::rapport::test::postgresql_available()) {                          \
      WARN("RAPPORT_TEST_PG is not set: no PostgreSQL server to test with"); \
      return;                                                                \
    }                                                                        \
  } while (false)
// RAPPORT_TEST_STORE, or "sqlite".
std::string default_backend();

// A store of `backend` for the test that owns `dir`: SQLite at dir/rapport.db, or a
// PostgreSQL database of its own, created on first use and dropped when `dir` goes.
// Opening again gives another connection to the same store.
std::unique_ptr<Store> open_test_store(const TempDir& dir, const std::string& backend,
                                       bool synchronous_full = false);
// The `store:` section of a config for the same store (one line of YAML flow mapping).
std::string store_yaml(const TempDir& dir, const std::string& backend);
// The PostgreSQL connection string of the test's database: through PgBouncer
// (RAPPORT_TEST_PGBOUNCER, transaction pooling) when RAPPORT_TEST_PG_THROUGH is "pgbouncer".
std::string postgresql_url(const TempDir& dir);
// Whether the PostgreSQL stores of tests prepare their statements (RAPPORT_TEST_PG_PREPARED
// is "1"; CTest runs the store's contract and the engine's tests once so).
bool prepared_statements();
// Runs SQL on the test's store directly (statements separated by ";\n").
void execute_in_store(const TempDir& dir, const std::string& backend, const std::string& sql);

}  // namespace rapport::test
