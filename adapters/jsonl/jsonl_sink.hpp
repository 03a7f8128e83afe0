#pragma once
// Actions as JSON lines, to a file or to standard output. The file sink writes each
// action once, even across a crash between writing and recording progress: at start it
// reads back the ids already in the file (and drops a torn last line).

#include <cstdio>
#include <string>
#include <unordered_set>

#include "engine/registry.hpp"
#include "engine/sink.hpp"

namespace rapport::adapters {

class JsonLinesSink final : public Sink {
 public:
  // path "-" writes to standard output.
  JsonLinesSink(std::string name, std::string path, bool fsync);
  ~JsonLinesSink() override;

  const std::string& name() const override { return name_; }
  std::string destination() const override { return path_ == "-" ? "stdout" : path_; }
  Delivery deliver(const std::vector<Outgoing>& batch) override;

 private:
  void recover();

  std::string name_;
  std::string path_;
  bool fsync_;
  std::FILE* file_ = nullptr;
  std::unordered_set<std::string> written_;
};

SinkKind jsonl_sink_kind();
SinkKind stdout_sink_kind();

}  // namespace rapport::adapters
