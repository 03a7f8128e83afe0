#include "adapters/common/mapping_schema.hpp"

#include <algorithm>
#include <map>

namespace rapport::adapters {

const std::vector<std::string>& entity_fields(const std::string& entity) {
  static const std::map<std::string, std::vector<std::string>> fields{
      {"people",
       {"id", "role", "name", "email", "specialty", "subspecialty", "program", "program_role",
        "opted_out", "email_opted_out"}},
      {"rotations",
       {"id", "student", "site", "specialty", "subspecialty", "kind", "start", "end", "status"}},
      {"team", {"rotation", "person", "role", "start", "end", "id"}},
      {"interests", {"person", "specialty", "rank"}},
      {"sites", {"site", "timezone"}},
      {"evaluations",
       {"id", "rotation", "evaluator", "student", "submitted", "score", "scale_min", "scale_max",
        "would_recommend", "anonymous"}}};
  return fields.at(entity);
}

std::vector<config::Key> mapping_keys(const std::string& entity, const std::string& unit) {
  using config::Type;
  const auto& fields = entity_fields(entity);
  return {
      {.name = "key",
       .type = Type::string_list,
       .description = "columns that identify a row (default: the column of id; for team, of "
                      "rotation and person)",
       .default_value = "[]"},
      {.name = "columns",
       .type = Type::string_map,
       .description =
           "field: column, where the " + unit + "'s column name differs from the field's",
       .default_value = "{}",
       .choices = fields},
      {.name = "constants",
       .type = Type::string_map,
       .description = "field: value, for fields the " + unit + " does not provide",
       .default_value = "{}",
       .choices = fields},
      {.name = "values",
       .type = Type::value_maps,
       .description = "field: {their value: ours}, e.g. role: {ATT: attending, RN: nurse}",
       .default_value = "{}",
       .choices = fields,
       .check_entry = vocabulary_problem},
      {.name = "date_format",
       .type = Type::string,
       .description = "strptime format of date columns",
       .default_value = "%Y-%m-%d"},
      {.name = "time_format",
       .type = Type::string,
       .description = "strptime format of timestamp columns, read as UTC",
       .default_value = "%Y-%m-%d %H:%M:%S"},
      {.name = "trim",
       .type = Type::boolean,
       .description = "take stray spaces off every value, and match value tables without "
                      "regard to case or spaces; false keeps values as the " +
                      unit +
                      " gives them (a store whose ids came padded from CHAR(n) columns "
                      "before this was the default keeps its keys)",
       .default_value = "true"},
  };
}

config::Key interests_key(const config::Schema* schema) {
  return {.name = "interests",
          .type = config::Type::section,
          .description =
              "students' ranked interests: rows of person, specialty, rank (1 the "
              "strongest; duplicates and case differences merged); without it a "
              "person's specialty is their one interest",
          .schema = schema};
}

config::Key sites_key(const config::Schema* schema) {
  return {.name = "sites",
          .type = config::Type::section,
          .description =
              "sites' time zones: rows of site, timezone (IANA); "
              "engine.site_timezones overrides it site by site",
          .schema = schema};
}

std::string vocabulary_problem(const std::string& field, const std::string& value) {
  static const std::map<std::string, std::pair<std::string, std::vector<std::string>>> kNames{
      {"role",
       {"a role",
        {"student", "attending", "resident", "fellow", "nurse", "pharmacist", "social_worker",
         "other"}}},
      {"kind", {"a rotation kind", {"core", "elective", "sub_internship", "away"}}},
      {"program_role",
       {"a program role", {"director", "associate_director", "coordinator", "faculty"}}},
      {"status", {"a rotation status", {"scheduled", "active", "completed", "cancelled"}}},
      {"opted_out", {"yes or no", {"true", "false", "yes", "no", "y", "n", "1", "0"}}},
      {"email_opted_out", {"yes or no", {"true", "false", "yes", "no", "y", "n", "1", "0"}}},
      {"anonymous", {"yes or no", {"true", "false", "yes", "no", "y", "n", "1", "0"}}},
      {"would_recommend", {"yes or no", {"true", "false", "yes", "no", "y", "n", "1", "0"}}},
  };
  auto known = kNames.find(field.substr(field.rfind('.') + 1));
  if (known == kNames.end()) return {};
  const auto& [what, names] = known->second;
  if (std::find(names.begin(), names.end(), lower(value)) != names.end()) return {};
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return "\"" + value + "\" is not " + what + config::suggestion(value, names) + " (one of " +
         list + ")";
}

void read_mapping(const config::Section& s, FieldMapping& m, std::vector<std::string>& key) {
  key = s.strings("key");
  m.columns = s.string_map("columns");
  m.constants = s.string_map("constants");
  m.values = s.value_maps("values");
  m.date_format = s.str("date_format");
  m.time_format = s.str("time_format");
  m.trim = s.boolean("trim");
}

}  // namespace rapport::adapters
