#pragma once
// The wire between the engine and rapport-plugin-host (a plugin isolated in a child
// process): length-prefixed frames (4 bytes, big-endian, then the bytes) over a Unix
// socket pair, the child's end on its descriptor 3.
//
//   child, at start:  "ok", name, version, event types joined by '\n'   or  "error", message
//   engine, per call: event JSON, context JSON
//   child, per call:  status ("0" OK, "1" RETRY, "2" ERROR), the plugin's text
//   engine closes its end: the child destroys the instance and exits 0.
//
// Header-only and free of the engine's libraries: the host links nothing else.

#include <cstdint>
#include <string>
#include <string_view>

namespace rapport::plugin_wire {

constexpr int kChildFd = 3;
constexpr std::uint32_t kMaxFrame = 256u << 20;

inline std::string header_of(std::size_t size) {
  std::string h(4, '\0');
  for (int i = 0; i < 4; ++i) h[std::size_t(i)] = char((size >> (24 - 8 * i)) & 0xff);
  return h;
}

inline std::uint32_t size_of(std::string_view header) {
  std::uint32_t n = 0;
  for (char c : header) n = (n << 8) | static_cast<unsigned char>(c);
  return n;
}

}  // namespace rapport::plugin_wire
