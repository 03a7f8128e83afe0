#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "adapters/jsonl/jsonl_sink.hpp"
#include "files/private_files.hpp"
#include "log/log.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// The process's umask for one scope.
struct Umask {
  mode_t previous;
  explicit Umask(mode_t mask) : previous(::umask(mask)) {}
  ~Umask() { ::umask(previous); }
};

}  // namespace

TEST_CASE("files holding personal data are created 0600, directories 0700, whatever the umask",
          "[files][security]") {
  test::TempDir dir;
  Umask loose(022);
  SECTION("the SQLite store and its -wal and -shm files") {
    auto store = open_sqlite_store({dir.file("rapport.db"), false, 1000});
    store->set_cursor("s", "k", "v");  // a write, so that the WAL exists
    for (const char* suffix : {"", "-wal", "-shm"}) {
      INFO("rapport.db" << suffix);
      CHECK(mode_of(dir.file("rapport.db") + suffix) == 0600);
    }
  }
  SECTION("a JSON-lines output and the folder made for it") {
    adapters::JsonLinesSink sink("out", dir.file("new/actions.jsonl"), false);
    CHECK(mode_of(dir.file("new")) == 0700);
    CHECK(mode_of(dir.file("new/actions.jsonl")) == 0600);
  }
  SECTION("the log file") {
    log::configure("info", dir.file("rapport.log"));
    log::info("test", "a line");
    log::configure("info", "");
    CHECK(mode_of(dir.file("rapport.log")) == 0600);
  }
}

TEST_CASE("private files are never read or written through a symbolic link", "[files][security]") {
  test::TempDir dir;
  auto target = dir.write("target", "do not touch\n");
  std::filesystem::create_symlink(target, dir.file("link"));
  CHECK_THROWS_WITH(files::read_regular_file(dir.file("link"), 1 << 20), Contains("symbolic link"));
  CHECK_THROWS_WITH(files::open_private_append(dir.file("link")), Contains("symbolic link"));
  CHECK_THROWS_WITH(adapters::JsonLinesSink("out", dir.file("link"), false),
                    Contains("symbolic link"));
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(files::read_regular_file(dir.file("fifo"), 1 << 20),
                    Contains("not a regular file"));
  CHECK_THROWS_WITH(files::read_regular_file(target, 4), Contains("over the limit"));
  files::write_private_file(dir.file("link"), "new\n");  // replaces the link itself
  CHECK_FALSE(std::filesystem::is_symlink(dir.file("link")));
  CHECK(test::read_text(dir.file("link")) == "new\n");
  CHECK(test::read_text(target) == "do not touch\n");
  CHECK(mode_of(dir.file("link")) == 0600);
}
