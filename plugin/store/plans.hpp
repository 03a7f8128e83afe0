#pragma once
// The statements of an erasure and of a retention purge, written once for both backends
// in SQLite's spelling: the PostgreSQL store translates the few words that differ
// (postgresql/dialect.hpp). Named parameters: an erasure's :id (the person), :q (the id as
// a JSON string), :p (the pseudonym of an evaluator) and :s (the last inbox event every
// consumer passed); a purge's :t (the cutoff) and :n (at most this many rows).

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace rapport::store_plans {

struct EraseStep {
  std::string what;  // counted under this name in what went
  std::string sql;
};
// A fresh name for an erased evaluator ("erased-" and 12 random hex digits).
std::string new_pseudonym();
// In order; the erasure's own record and the suppression are written after them.
const std::vector<EraseStep>& erase_steps();

struct PurgeKind {
  const char* name;
  std::string rows;    // SELECT of keys, with :t (cutoff) and :n
  std::string cutoff;  // :t
  // Each deletes the rows whose keys the purge keeps in %rows% (a SELECT of them).
  std::vector<std::string> statements;
  bool numeric = false;  // the keys are numbers (sequence numbers, row ids)
};
// What each kind may remove (see Store::purge). `consumed`: the last inbox event every
// inbox consumer passed. A row of delivery_attempts and of touches is named `rowid`
// (the PostgreSQL tables have an `id` column for it).
std::vector<PurgeKind> purge_kinds(const AuditStore::PurgeBefore& before, std::int64_t consumed);

// Kinds whose removal changes the mirror (a running daemon rebuilds its memory).
bool changes_mirror(const std::string& kind);

// The smallest progress of the consumers that passes SQL `condition` over `consumer` (0
// when there is none): the last inbox event every inbox consumer passed.
inline constexpr const char* kInboxConsumed =
    "SELECT coalesce(MIN(seq), 0) FROM progress WHERE consumer NOT LIKE 'sink:%'"
    " AND consumer NOT LIKE 'engine:%'";

// Tables in an order that keeps references whole, with the columns a copy carries.
const std::vector<TableShape>& tables();

}  // namespace rapport::store_plans
