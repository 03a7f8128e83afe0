#include "support/test_store.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "store/postgresql/postgresql_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fixture.hpp"

namespace rapport::test {
namespace {

std::string server() {
  const char* url = std::getenv("RAPPORT_TEST_PG");
  return url ? url : "";
}

void run_on(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::unique_ptr<PGconn, void (*)(PGconn*)> guard(conn, PQfinish);
  if (PQstatus(conn) != CONNECTION_OK) {
    throw std::runtime_error(std::string("test database: ") + PQerrorMessage(conn));
  }
  PGresult* r = PQexec(conn, sql.c_str());
  auto status = PQresultStatus(r);
  std::string error = PQresultErrorMessage(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("test database: " + error);
  }
}

}  // namespace

bool postgresql_available() {
  if (!server().empty()) return true;
  // Under CTest (the test command starts PostgreSQL) its absence is a failure, not a skip.
  if (std::getenv("RAPPORT_TEST")) {
    throw std::runtime_error("RAPPORT_TEST_PG is not set: the test command starts PostgreSQL");
  }
  return false;
}

std::vector<std::string> store_backends() {
  if (!postgresql_available()) return {"sqlite"};
  return {"sqlite", "postgresql"};
}

std::string default_backend() {
  const char* backend = std::getenv("RAPPORT_TEST_STORE");
  return backend && std::string(backend) == "postgresql" ? "postgresql" : "sqlite";
}

std::string postgresql_url(const TempDir& dir) {
  if (server().empty()) throw std::runtime_error("RAPPORT_TEST_PG is not set");
  if (dir.postgresql_database.empty()) {
    static std::atomic<int> next{0};
    dir.postgresql_database =
        "rapport_t" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    run_on(server(), "CREATE DATABASE " + dir.postgresql_database);
    std::string name = dir.postgresql_database;
    dir.on_cleanup(
        [name] { run_on(server(), "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); });
  }
  // The store itself through PgBouncer when the run asks for it (the database is made and
  // dropped on the server directly).
  const char* through = std::getenv("RAPPORT_TEST_PG_THROUGH");
  const char* bouncer = std::getenv("RAPPORT_TEST_PGBOUNCER");
  if (through && std::string(through) == "pgbouncer") {
    if (!bouncer) throw std::runtime_error("RAPPORT_TEST_PGBOUNCER is not set");
    return std::string(bouncer) + " dbname=" + dir.postgresql_database;
  }
  return server() + " dbname=" + dir.postgresql_database;
}

bool prepared_statements() {
  const char* prepared = std::getenv("RAPPORT_TEST_PG_PREPARED");
  return prepared && std::string(prepared) == "1";
}

std::unique_ptr<Store> open_test_store(const TempDir& dir, const std::string& backend,
                                       bool synchronous_full) {
  if (backend == "postgresql") {
    PostgresqlOptions options{postgresql_url(dir)};
    options.prepare = prepared_statements();
    return open_postgresql_store(options);
  }
  return open_sqlite_store({dir.file("rapport.db"), synchronous_full, 1000});
}

std::string store_yaml(const TempDir& dir, const std::string& backend) {
  if (backend == "postgresql") {
    return "store: {type: postgresql, url: \"" + postgresql_url(dir) + "\"" +
           (prepared_statements() ? ", prepared_statements: true" : "") + "}";
  }
  return "store: {path: " + dir.file("rapport.db") + ", synchronous: normal}";
}

void execute_in_store(const TempDir& dir, const std::string& backend, const std::string& sql) {
  if (backend == "postgresql") {
    run_on(postgresql_url(dir), sql);
  } else {
    execute_sqlite(dir.file("rapport.db"), sql);
  }
}

}  // namespace rapport::test
