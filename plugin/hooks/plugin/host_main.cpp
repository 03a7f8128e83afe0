// rapport-plugin-host: one plugin hook in a process of its own (`isolation: process`), so
// that a plugin that crashes, hangs or leaks costs that plugin, never the engine. Started
// by the engine with posix_spawn (never a fork of the engine, which may be a host
// application embedding Rapport); speaks the frames of frames.hpp on descriptor 3.
//   rapport-plugin-host --memory-limit BYTES PLUGIN.so
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hooks/plugin/frames.hpp"
#include "rapport/plugin.h"

namespace {

using namespace rapport::plugin_wire;

bool read_all(char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::read(kChildFd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= std::size_t(n);
  }
  return true;
}

bool write_all(const std::string& text) {
  const char* data = text.data();
  std::size_t size = text.size();
  while (size > 0) {
    auto n = ::write(kChildFd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= std::size_t(n);
  }
  return true;
}

bool read_frame(std::string& out) {
  char header[4];
  if (!read_all(header, 4)) return false;
  auto size = size_of(std::string_view(header, 4));
  if (size > kMaxFrame) return false;
  out.resize(size);
  return read_all(out.data(), size);
}

bool write_frame(const std::string& text) {
  return write_all(header_of(text.size()) + text);
}

int refuse(const std::string& message) {
  write_frame("error");
  write_frame(message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || std::strcmp(argv[1], "--memory-limit") != 0) {
    std::fputs("usage: rapport-plugin-host --memory-limit BYTES PLUGIN.so (started by rapport)\n",
               stderr);
    return 2;
  }
  // Nothing the engine's process had open is ours: only 0, 1, 2 and the wire stay.
  if (::close_range(kChildFd + 1, ~0u, 0) != 0) {
    for (int fd = kChildFd + 1; fd < 1024; ++fd) ::close(fd);
  }
  rlim_t limit = std::strtoull(argv[2], nullptr, 10);
  if (limit > 0) {
    rlimit r{limit, limit};
    ::setrlimit(RLIMIT_AS, &r);
  }
  std::string config;
  if (!read_frame(config)) return 1;
  const char* path = argv[3];
  void* library = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!library) return refuse(std::string("cannot load: ") + ::dlerror());
  auto entry =
      reinterpret_cast<rapport_plugin_entry_fn>(::dlsym(library, RAPPORT_PLUGIN_ENTRY_SYMBOL));
  if (!entry) return refuse("exports no " RAPPORT_PLUGIN_ENTRY_SYMBOL " symbol");
  const rapport_plugin* table = entry();
  if (!table || table->abi_version != RAPPORT_PLUGIN_ABI_VERSION) {
    return refuse("speaks plugin ABI version " + std::to_string(table ? table->abi_version : 0) +
                  "; this rapport knows only " + std::to_string(RAPPORT_PLUGIN_ABI_VERSION));
  }
  if (!table->init || !table->handle || !table->free_string || !table->destroy) {
    return refuse("has a table with a missing function");
  }
  char* error = nullptr;
  void* instance = table->init(config.c_str(), &error);
  if (!instance) {
    std::string message = error ? error : "init returned no instance";
    if (error) table->free_string(error);
    return refuse("rejected its config: " + message);
  }
  std::string types;
  for (const char* const* t = table->event_types; t && *t; ++t) {
    types += (types.empty() ? "" : "\n") + std::string(*t);
  }
  if (!write_frame("ok") || !write_frame(table->name ? table->name : "") ||
      !write_frame(table->version ? table->version : "") || !write_frame(types)) {
    return 1;
  }
  std::string event, context;
  while (read_frame(event) && read_frame(context)) {
    char* out = nullptr;
    rapport_status status = table->handle(instance, event.c_str(), context.c_str(), &out);
    std::string text = out ? out : "";
    if (out) table->free_string(out);
    if (!write_frame(std::to_string(int(status))) || !write_frame(text)) break;
  }
  table->destroy(instance);
  return 0;
}
