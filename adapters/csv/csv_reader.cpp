#include "adapters/csv/csv_reader.hpp"

namespace rapport::adapters {

std::vector<CsvRecord> read_csv(std::string_view text, char delimiter, char quote) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  std::vector<CsvRecord> records;
  std::size_t i = 0;
  int line = 1;
  while (i < text.size()) {
    CsvRecord r;
    r.line = line;
    std::size_t start = i;
    std::string field;
    bool in_quotes = false, quoted = false, done = false;
    while (!done) {
      if (i >= text.size()) {
        if (in_quotes) r.problem = "a quoted field is not closed (a truncated record?)";
        r.fields.push_back(std::move(field));
        break;
      }
      char c = text[i];
      if (in_quotes) {
        if (c == quote) {
          if (i + 1 < text.size() && text[i + 1] == quote) {
            field += quote;
            i += 2;
          } else {
            in_quotes = false;
            ++i;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        continue;
      }
      if (c == quote && field.empty() && !quoted) {
        in_quotes = quoted = true;
        ++i;
      } else if (c == delimiter) {
        r.fields.push_back(std::move(field));
        field.clear();
        quoted = false;
        ++i;
      } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        i += 2;
        done = true;
      } else if (c == '\n') {
        ++i;
        done = true;
      } else {
        field += c;
        ++i;
      }
      if (done) {
        r.fields.push_back(std::move(field));
        ++line;
      }
    }
    r.raw = std::string(text.substr(start, i - start));
    while (!r.raw.empty() && (r.raw.back() == '\n' || r.raw.back() == '\r')) r.raw.pop_back();
    bool blank = r.fields.size() == 1 && r.fields[0].empty() && r.problem.empty();
    if (!blank) records.push_back(std::move(r));
  }
  return records;
}

}  // namespace rapport::adapters
