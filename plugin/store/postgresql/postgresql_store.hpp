#pragma once
// The PostgreSQL store: the state in a PostgreSQL database that several Rapport processes
// may share, directly or through PgBouncer in transaction pooling mode.

#include <chrono>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace rapport {

struct PostgresqlOptions {
  // A libpq connection string ("host=... dbname=...") or URI ("postgresql://...").
  std::string url;
  // How long a lost connection is tried again (with backoff) before a call fails.
  std::chrono::milliseconds retry{30'000};
  // A transaction of this connection left idle longer than this (its process paused or
  // hung) is ended by the server, which frees its locks (open_store: twice the engine
  // lease, at least a minute).
  std::chrono::milliseconds idle_in_transaction{30'000};
  // A statement of this connection that waits longer than this for a row another
  // transaction locked gives up (the work is retried later) instead of holding its pooled
  // server connection until that transaction ends: the holder may be a paused process,
  // and through PgBouncer every other process would wait behind it (open_store: the
  // engine lease).
  std::chrono::milliseconds lock_wait{30'000};
  // Statements prepared once per connection, their plans kept (store.prepared_statements):
  // a third less CPU per event in tests/bench/cluster_bench.sh. Only when connected to PostgreSQL
  // directly: a transaction pooler (PgBouncer 1.18) hands a later transaction another
  // server connection, where the statement does not exist.
  bool prepare = false;
};

// Connects and migrates (under a lock: processes starting at once migrate once). Throws
// StoreError when the database cannot be reached, holds another application's tables, or
// its schema is newer than this build knows.
std::unique_ptr<Store> open_postgresql_store(const PostgresqlOptions& options);

// The schema version this build migrates a PostgreSQL store to.
inline constexpr int kPostgresqlSchemaVersion = 5;

}  // namespace rapport
