#pragma once
// The schema keys every mapped source shares (SQL queries, CSV file patterns): how the
// institution's columns become rapport/v1 fields. Declared once here.

#include <string>
#include <vector>

#include "adapters/common/ingest.hpp"
#include "config/schema.hpp"

namespace rapport::adapters {

// The fields of each entity, in the order the README lists them.
const std::vector<std::string>& entity_fields(const std::string& entity);

// key, columns, constants, values, date_format, time_format.
std::vector<config::Key> mapping_keys(const std::string& entity, const std::string& unit);
// The optional `interests` and `sites` entities of a source, with their schemas.
config::Key interests_key(const config::Schema* schema);
config::Key sites_key(const config::Schema* schema);

// What is wrong with `value` as our value of `field` in a value table ("" when nothing):
// roles, kinds and statuses must be names of the vocabulary, flags yes or no.
std::string vocabulary_problem(const std::string& field, const std::string& value);

void read_mapping(const config::Section& section, FieldMapping& mapping,
                  std::vector<std::string>& key);

}  // namespace rapport::adapters
