#pragma once
// What the SQL and CSV sources share: mapping a row of the institution's own columns onto
// rapport/v1 fields, and turning rows into events only when they changed (a content hash
// per row), team members after their rotations, deletions seen by full reads.

#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace rapport::adapters {

// How one entity's columns map onto our fields. Field values come from `constants`, else
// the column named in `columns` (default: the field's own name), then through `values`
// (their code -> ours).
struct FieldMapping {
  std::map<std::string, std::string> columns, constants;
  std::map<std::string, std::map<std::string, std::string>> values;
  std::string date_format = "%Y-%m-%d";
  std::string time_format = "%Y-%m-%d %H:%M:%S";
  bool trim = true;  // stray spaces off, value tables without regard to case
};

// One row: its columns (names lower-cased) and their text (nullopt for NULL).
using RowColumns = std::vector<std::pair<std::string, std::optional<std::string>>>;

class MappedRow {
 public:
  MappedRow(const RowColumns& columns, const FieldMapping& mapping, std::string where);

  std::optional<std::string> get(const std::string& field) const;  // mapped, NULL -> nullopt
  std::string need(const std::string& field) const;                // throws JsonError if empty
  std::string date(const std::string& field) const;
  std::optional<std::string> opt_date(const std::string& field) const;
  std::string time(const std::string& field) const;
  // A column as it is (throws when the row has no such column).
  std::optional<std::string> raw(const std::string& column) const;
  bool has(const std::string& column) const;
  // Whether the mapping names a column or a constant for the field.
  bool mapped(const std::string& field) const {
    return mapping_.columns.count(field) || mapping_.constants.count(field);
  }

 private:
  // The column of that name, compared without case; nullptr when there is none.
  const std::optional<std::string>* find(std::string_view column) const;

  const RowColumns& columns_;
  const FieldMapping& mapping_;
  std::string where_;
};

// Events, row hashes and team changes made by one batch of rows, stored together.
struct PageEvents {
  bool history = false;  // events of a backfill (no hook fires for them)
  // Rows never read before (a backfill's first read by cursor): stored without being
  // compared with what is stored. A row read twice, because it changed meanwhile, is
  // stored twice (the mirror keeps the last).
  bool unseen = false;
  std::string known_rotation;  // the last rotation a team row was found to belong to
  struct Pending {
    EventType type;
    std::string subject, key, payload;
  };
  std::vector<Pending> events;
  std::vector<std::tuple<std::string, std::string, std::string>> hashes;  // entity, key, hash
  std::unordered_set<std::string> hashed;  // entity \x1f key \x1f hash, of `hashes`
  std::map<std::string, std::vector<std::string>> team_added;         // rotation -> member JSON
  std::map<std::string, std::vector<std::string>> team_removed;       // rotation -> row JSON
  std::map<std::string, std::vector<std::string>> interests_added;    // person -> row JSON
  std::map<std::string, std::vector<std::string>> interests_removed;  // person -> row JSON
  // Stored hashes read ahead for the page's rows (RowIngest::read_ahead), by entity \x1f
  // key; nullopt when none is stored. A key not here is asked of the store.
  std::unordered_map<std::string, std::optional<std::string>> stored;
  // People forgotten on request (Store::suppressed_ids), read once per page.
  std::optional<std::set<std::string>> suppressed;
};

struct RowOutcome {
  bool hold = false;      // read this row again later (its rotation is not known yet)
  std::string stored_as;  // the key its hash is kept under
};

// The end of a stored key that stands for every row with the key before it (see
// RowIngest::stored_key).
inline constexpr const char* kAnyRow = "\x1f*";

// What mapping a row finds worth saying without refusing it (a flag neither yes nor no,
// counted as yes; a program role no value table maps, left out), by the row's id.
struct MappingNote {
  std::string message;
  const char* what;  // "person", "evaluation"
  std::string id;
};

// What a row maps to, worked out without the store (RowIngest::prepare): the SQL source
// prepares a page's rows on its read-ahead thread while the page before is stored.
// Nothing of it is said or thrown until the row is read (RowIngest::row): a forgotten
// person's row says nothing, and a row prepared but not read (a page read ahead for
// nothing) says nothing either.
struct PreparedRow {
  std::exception_ptr failure;  // what mapping the row threw, thrown again when it is read
  // team: what working out its key threw, thrown only once its rotation is known to be read
  // (a row of a rotation not read yet is held, whatever its key)
  std::exception_ptr held_failure;
  std::vector<MappingNote> notes;  // logged when it is read
  std::string key;                 // the key its hash is kept under
  std::string text;                // what is hashed: its JSON (a team row: the member)
  std::string hash;                // content_hash(text)
  std::string subject;             // its event's subject (people, sites, rotations, evaluations)
  std::string payload;             // its event's payload (the same)
  std::string owner;       // team: the rotation; interests: the person; evaluations: the evaluator
  bool cancelled = false;  // a rotation's status
};

class RowIngest {
 public:
  explicit RowIngest(std::string source) : source_(std::move(source)) {}

  // One row of `entity` (people, rotations, team, evaluations). Throws JsonError when
  // the row does not map.
  RowOutcome row(const std::string& entity, const MappedRow& row, Store& store,
                 PageEvents& page) const;
  // The same, for a row prepared already: prepare() is pure, row() asks and writes the
  // store. What prepare() caught is thrown here, after the checks that skip a forgotten
  // person's row (whose mapping errors are not reported).
  PreparedRow prepare(const std::string& entity, const MappedRow& row) const;
  RowOutcome row(const std::string& entity, const MappedRow& row, PreparedRow prepared,
                 Store& store, PageEvents& page) const;
  // A row a full read no longer finds: a cancelled rotation, a member who left.
  void removed(const std::string& entity, const std::string& key, Store& store,
               PageEvents& page) const;
  // Appends the page's events (ids unique per change and time; history events marked as
  // such) and stores its hashes. `write`, when given, takes a history page's events
  // instead of the inbox, unless it returns false (Source::backfill).
  std::size_t flush(Store& store, PageEvents& page, TimePoint now,
                    const std::function<bool(const std::vector<Event>&)>& write = {}) const;

  static const std::vector<std::string>& entities();  // in the order they must be read
  // The key a row's hash is kept under: its id; for team, rotation and person.
  std::string stored_key(const std::string& entity, const MappedRow& row,
                         const std::string& fallback) const;
  // Reads at once what a page's rows will ask of the store, given the rows' stored keys
  // and, for team rows, their rotations: their stored hashes, and whether each rotation
  // was read (on PostgreSQL a statement each time, a round trip per row otherwise).
  void read_ahead(const std::string& entity, const std::vector<std::string>& keys,
                  const std::vector<std::string>& rotations, Store& store, PageEvents& page) const;

 private:
  // A row's stored hash: read ahead, or asked of the store.
  std::optional<std::string> stored_hash(Store& store, PageEvents& page, const std::string& entity,
                                         const std::string& key) const;
  std::optional<bool> changed(Store& store, PageEvents& page, const std::string& entity,
                              const std::string& key, const std::string& hash) const;

  std::string source_;
};

std::string lower(std::string text);

// A row of `entity` mapped onto our vocabulary, as the JSON its event would carry (a team
// row: the member). Throws JsonError when the row does not map. What the fuzzer drives,
// and what RowIngest::prepare reads rows with. What the mapping says without refusing the
// row goes into `notes` when given (pure then), else to the log.
std::string mapped_json(const std::string& entity, const MappedRow& row,
                        std::vector<MappingNote>* notes = nullptr);
// The columns that identify a row of `entity` when the config names none: the column of
// id; for team, those of rotation and person.
std::vector<std::string> default_key(const std::string& entity, const FieldMapping& m);

}  // namespace rapport::adapters
