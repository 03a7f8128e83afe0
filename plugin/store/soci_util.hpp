#pragma once
// Reading SOCI rows whatever type each backend reports for a column.

#include <soci/soci.h>

#include <cstdint>
#include <optional>
#include <string>

namespace rapport::soci_util {

// Any column as text (integers in decimal, dates as "YYYY-MM-DD HH:MM:SS"); nullopt for NULL.
std::optional<std::string> text(const soci::row& row, std::size_t column);
std::optional<std::int64_t> integer(const soci::row& row, std::size_t column);
std::optional<double> number(const soci::row& row, std::size_t column);

// An error's message fit for the log: a SOCI error's own message, without the statement
// and the values bound to it (which may be names or scores).
std::string message_of(const std::exception& error);

}  // namespace rapport::soci_util
