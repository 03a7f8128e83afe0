#include "files/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace rapport::files {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " \"" + path + "\": " + std::strerror(errno));
}

struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void create_private_directories(const std::string& path) {
  fs::path p(path);
  if (p.empty() || fs::is_directory(p)) return;
  create_private_directories(p.parent_path().string());
  if (::mkdir(p.c_str(), kDirectoryMode) != 0 && errno != EEXIST) fail("cannot create", path);
}

void create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    fail("cannot create", path);
  }
}

std::FILE* open_private_append(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd < 0) fail(errno == ELOOP ? "refusing a symbolic link at" : "cannot open", path);
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) {
    ::close(fd);
    fail("cannot open", path);
  }
  return f;
}

void write_private_file(const std::string& path, const std::string& content) {
  std::string temporary = path + ".tmp-XXXXXX";
  Descriptor d;
  d.fd = ::mkstemp(temporary.data());  // O_EXCL, mode 0600
  if (d.fd < 0) fail("cannot create", temporary);
  std::size_t written = 0;
  while (written < content.size()) {
    auto n = ::write(d.fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::unlink(temporary.c_str());
      errno = error;
      fail("cannot write", temporary);
    }
    written += std::size_t(n);
  }
  if (::fsync(d.fd) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    errno = error;
    fail("cannot write", path);
  }
}

std::string read_regular_file(const std::string& path, std::uintmax_t max_size) {
  Descriptor d;
  d.fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (d.fd < 0) fail(errno == ELOOP ? "refusing a symbolic link at" : "cannot open", path);
  struct stat st {};
  if (::fstat(d.fd, &st) != 0) fail("cannot read", path);
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("refusing \"" + path + "\": not a regular file");
  }
  if (std::uintmax_t(st.st_size) > max_size) {
    throw std::runtime_error("refusing \"" + path + "\": " + std::to_string(st.st_size) +
                             " bytes, over the limit of " + std::to_string(max_size));
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    auto n = ::read(d.fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path);
    }
    if (n == 0) break;
    text.append(buffer, std::size_t(n));
    if (text.size() > max_size) {
      throw std::runtime_error("refusing \"" + path + "\": it grew over the limit of " +
                               std::to_string(max_size) + " bytes");
    }
  }
  return text;
}

}  // namespace rapport::files
