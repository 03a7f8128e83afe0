// Row mapping as the SQL and CSV sources do it: columns named by the config, value tables,
// constants, dates and times through strptime formats, numbers and yes/no flags. A row
// maps (and its JSON is then valid rapport/v1) or is refused with JsonError.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/common/ingest.hpp"
#include "rapport/json.hpp"

using namespace rapport;
using namespace rapport::adapters;

namespace {

FieldMapping mapping(std::uint8_t selector) {
  FieldMapping m;
  m.columns = {{"id", "Code"}, {"role", "Kind"}, {"start", "From"}, {"end", "To"}};
  m.values = {{"role", {{"ATT", "attending"}, {"RN", "nurse"}, {"X", "wizard"}}},
              {"kind", {{"CORE", "core"}, {"AWAY", "away"}}},
              {"opted_out", {{"Y", "true"}, {"N", "false"}}}};
  if (selector & 1) m.constants = {{"scale_min", "1"}, {"scale_max", "9"}};
  m.date_format = (selector & 2) ? "%m/%d/%Y" : "%Y-%m-%d";
  m.time_format = (selector & 4) ? "%d.%m.%Y %H:%M" : "%Y-%m-%d %H:%M:%S";
  return m;
}

const char* kNames[] = {
    "code",     "kind",      "from",      "to",        "student",         "site",
    "name",     "specialty", "score",     "opted_out", "anonymous",       "submitted",
    "rotation", "person",    "evaluator", "status",    "would_recommend", "email"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Values separated by 0x1e, in the order of kNames; 0x00 alone is NULL.
  RowColumns columns;
  std::string value;
  std::size_t n = 0;
  auto push = [&] {
    if (n < std::size(kNames)) {
      columns.emplace_back(kNames[n], value == std::string(1, '\0')
                                          ? std::nullopt
                                          : std::optional<std::string>(value));
    }
    ++n;
    value.clear();
  };
  for (std::size_t i = 1; i < size; ++i) {
    if (data[i] == 0x1e) {
      push();
    } else {
      value += char(data[i]);
    }
  }
  push();
  auto m = mapping(data[0]);
  MappedRow row(columns, m, "fuzz");
  for (const char* entity : {"people", "rotations", "team", "evaluations"}) {
    try {
      auto text = mapped_json(entity, row);
      std::string e(entity);
      try {
        if (e == "people") person_from_json(text);
        if (e == "rotations") rotation_from_json(text);
        if (e == "evaluations") evaluation_from_json(text);
      } catch (const JsonError&) {
        // The mapping may pass through a value the vocabulary refuses (a role "wizard"):
        // the sources check it the same way and quarantine the row.
      }
    } catch (const std::runtime_error&) {
      // JsonError, or a column the row lacks (the sources check the query's columns
      // before they read, and quarantine such a row).
    }
  }
  return 0;
}
