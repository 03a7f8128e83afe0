#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "config/schema.hpp"

namespace rapport::config {
namespace {

constexpr const char* kZoneDir = "/usr/share/zoneinfo/";

// Every zone tzdata installs (legacy aliases such as US/Eastern included), for "did you
// mean"; read once.
const std::vector<std::string>& zone_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out{"UTC"};
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(kZoneDir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      auto name = it->path().lexically_relative(kZoneDir).string();
      if (name.starts_with("posix/") || name.starts_with("right/") ||
          name.find('.') != std::string::npos ||
          !std::isupper(static_cast<unsigned char>(name[0]))) {
        continue;
      }
      out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }();
  return names;
}

}  // namespace

std::string time_zone_problem(const std::string& zone) {
  if (zone == "UTC") return {};
  if (zone.find("..") == std::string::npos && !zone.starts_with("/") &&
      std::filesystem::is_regular_file(kZoneDir + zone)) {
    return {};
  }
  return "\"" + zone + "\" is not a time zone" + suggestion(zone, zone_names()) +
         " (IANA names such as America/Chicago; tzdata's files in " + kZoneDir + ")";
}

}  // namespace rapport::config
