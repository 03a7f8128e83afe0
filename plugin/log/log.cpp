#include "log/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "files/private_files.hpp"
#include "rapport/types.hpp"

namespace rapport::log {
namespace {

std::mutex mutex;
std::atomic<Level> threshold{Level::info};  // read by every thread, set by a reload
std::FILE* out = nullptr;

const char* name_of(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string quote(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

}  // namespace

void configure(std::string_view level, const std::string& file) {
  std::lock_guard lock(mutex);
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (level == name_of(l)) threshold = l;
  }
  if (out && out != stderr) std::fclose(out);
  out = stderr;
  if (!file.empty()) {
    try {
      out = files::open_private_append(file);  // logs name ids and paths: owner-only
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rapport: log.file: %s; logging to standard error\n", e.what());
    }
  }
}

void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
  if (level < threshold) return;
  auto now = wall_clock();
  std::string line = "{\"ts\":" + quote(format_time(now)) + ",\"level\":\"" + name_of(level) +
                     "\",\"component\":" + quote(component) + ",\"msg\":" + quote(message);
  for (const auto& f : fields) {
    line += "," + quote(f.key) + ":" + (f.quoted ? quote(f.value) : f.value);
  }
  line += "}\n";
  std::lock_guard lock(mutex);
  std::FILE* target = out ? out : stderr;
  std::fputs(line.c_str(), target);
  std::fflush(target);
}

}  // namespace rapport::log
