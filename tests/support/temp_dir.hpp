#pragma once
// A fresh directory per test, removed with everything in it when the test ends.

#include <functional>
#include <string>
#include <vector>

namespace rapport::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to `name` inside the directory and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;
  // Runs when the directory goes (before it is removed): a test database dropped, say.
  void on_cleanup(std::function<void()> cleanup) const { cleanups_.push_back(std::move(cleanup)); }
  // The PostgreSQL database of this test (created on first use; see test_store.hpp).
  mutable std::string postgresql_database;

 private:
  std::string path_;
  mutable std::vector<std::function<void()>> cleanups_;
};

std::string read_text(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

}  // namespace rapport::test
