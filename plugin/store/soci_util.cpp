#include "store/soci_util.hpp"

#include <cstdio>
#include <ctime>

namespace rapport::soci_util {

std::optional<std::string> text(const soci::row& row, std::size_t column) {
  if (row.get_indicator(column) == soci::i_null) return std::nullopt;
  switch (row.get_properties(column).get_data_type()) {
    case soci::dt_string:
    case soci::dt_xml:
    case soci::dt_blob:
      return row.get<std::string>(column);
    case soci::dt_integer:
      return std::to_string(row.get<int>(column));
    case soci::dt_long_long:
      return std::to_string(row.get<long long>(column));
    case soci::dt_unsigned_long_long:
      return std::to_string(row.get<unsigned long long>(column));
    case soci::dt_double: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", row.get<double>(column));
      return std::string(buf);
    }
    case soci::dt_date: {
      std::tm tm = row.get<std::tm>(column);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
      return std::string(buf);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> integer(const soci::row& row, std::size_t column) {
  if (row.get_indicator(column) == soci::i_null) return std::nullopt;
  switch (row.get_properties(column).get_data_type()) {
    case soci::dt_integer:
      return row.get<int>(column);
    case soci::dt_long_long:
      return row.get<long long>(column);
    case soci::dt_unsigned_long_long:
      return static_cast<std::int64_t>(row.get<unsigned long long>(column));
    case soci::dt_double:
      return static_cast<std::int64_t>(row.get<double>(column));
    default: {
      auto t = text(row, column);
      return t ? std::optional<std::int64_t>(std::stoll(*t)) : std::nullopt;
    }
  }
}

std::optional<double> number(const soci::row& row, std::size_t column) {
  if (row.get_indicator(column) == soci::i_null) return std::nullopt;
  switch (row.get_properties(column).get_data_type()) {
    case soci::dt_double:
      return row.get<double>(column);
    case soci::dt_integer:
    case soci::dt_long_long:
    case soci::dt_unsigned_long_long:
      return static_cast<double>(*integer(row, column));
    default: {
      auto t = text(row, column);
      return t ? std::optional<double>(std::stod(*t)) : std::nullopt;
    }
  }
}

std::string message_of(const std::exception& error) {
  if (const auto* e = dynamic_cast<const soci::soci_error*>(&error)) return e->get_error_message();
  return error.what();
}

}  // namespace rapport::soci_util
