#pragma once
// RFC 4180 CSV: a configurable delimiter and quote, quoted fields holding delimiters,
// quotes ("") and newlines, CRLF or LF, UTF-8 with or without a byte order mark. A quote
// left open at the end of the file (a truncated last line) is reported, not guessed at.

#include <string>
#include <string_view>
#include <vector>

namespace rapport::adapters {

struct CsvRecord {
  int line = 0;  // where the record starts, 1-based
  std::vector<std::string> fields;
  std::string raw;      // the record's text as it is in the file
  std::string problem;  // non-empty: the record could not be read
};

std::vector<CsvRecord> read_csv(std::string_view text, char delimiter = ',', char quote = '"');

}  // namespace rapport::adapters
