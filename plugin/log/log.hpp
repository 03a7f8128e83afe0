#pragma once
// Structured logs: one JSON object a line, tagged with the component, with key=value
// facts. Ids only: never names, emails, scores or narrative text of students.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rapport::log {

enum class Level { debug, info, warn, error };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, std::size_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  std::string key, value;
  bool quoted;
};

// Level by name ("debug", ...); file empty means standard error.
void configure(std::string_view level, const std::string& file);
void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::info, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::warn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::error, c, m, f);
}

}  // namespace rapport::log
