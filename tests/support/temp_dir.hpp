#pragma once
// A fresh directory per test, removed with everything in it when the test ends.

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

 private:
  std::string path_;
};

std::string read_text(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

}  // namespace rapport::test
