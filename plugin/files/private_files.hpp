#pragma once
// Files that hold personal data (the store, action outputs, logs, CSV rejects) are created
// owner-only, whatever the umask of the process or of the host embedding Rapport, and are
// never written or read through a symbolic link someone planted.

#include <cstdint>
#include <cstdio>
#include <string>

namespace rapport::files {

constexpr unsigned kFileMode = 0600;
constexpr unsigned kDirectoryMode = 0700;

// Creates `path` and its missing parents, each new one with mode 0700 (those that exist
// are left as they are).
void create_private_directories(const std::string& path);

// Creates `path` empty with mode 0600 if it does not exist (never through a link).
void create_private_file(const std::string& path);

// Opens `path` for appending, created 0600 if missing; refuses a symbolic link. Throws
// std::runtime_error naming the path.
std::FILE* open_private_append(const std::string& path);

// Replaces `path` with `content`: a temporary file (0600) in the same directory, renamed
// over it, so a link planted at `path` is replaced, never followed.
void write_private_file(const std::string& path, const std::string& content);

// The whole of a regular file, opened without following a link and checked on the opened
// descriptor (a link, a FIFO or a device is refused), at most `max_size` bytes. Throws
// std::runtime_error saying why.
std::string read_regular_file(const std::string& path, std::uintmax_t max_size);

}  // namespace rapport::files
