#include "adapters/jsonl/jsonl_sink.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "files/private_files.hpp"
#include "log/log.hpp"

namespace rapport::adapters {
namespace {

// The CloudEvent's id is its first field, as rapport writes it.
std::string id_of(const std::string& line) {
  const std::string marker = "\"id\":\"";
  auto at = line.find(marker);
  if (at == std::string::npos) return {};
  auto start = at + marker.size();
  auto end = line.find('"', start);
  return end == std::string::npos ? std::string() : line.substr(start, end - start);
}

}  // namespace

JsonLinesSink::JsonLinesSink(std::string name, std::string path, bool fsync)
    : name_(std::move(name)), path_(std::move(path)), fsync_(fsync) {
  if (path_ == "-") {
    file_ = stdout;
    return;
  }
  if (std::filesystem::is_symlink(path_)) {
    throw std::runtime_error("sinks." + name_ + ": refusing the symbolic link \"" + path_ + "\"");
  }
  try {
    files::create_private_directories(std::filesystem::path(path_).parent_path().string());
    recover();
    file_ = files::open_private_append(path_);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("sinks." + name_ + ": " + e.what());
  }
}

JsonLinesSink::~JsonLinesSink() {
  if (file_ && file_ != stdout) std::fclose(file_);
}

void JsonLinesSink::recover() {
  if (!std::filesystem::is_regular_file(path_)) return;  // new, or a device
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  std::string line;
  std::uintmax_t good = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: a torn write
    written_.insert(id_of(line));
    good += line.size() + 1;
  }
  in.close();
  if (good < std::filesystem::file_size(path_)) {
    log::warn("sink.jsonl", "dropping a torn last line", {{"sink", name_}});
    std::filesystem::resize_file(path_, good);
  }
}

Delivery JsonLinesSink::deliver(const std::vector<Outgoing>& batch) {
  long size_before = file_ == stdout ? -1 : std::ftell(file_);
  std::vector<const std::string*> added;
  for (const auto& out : batch) {
    if (written_.count(out.action_id)) continue;
    std::fputs(out.body.c_str(), file_);
    std::fputc('\n', file_);
    added.push_back(&out.action_id);
  }
  bool ok = std::fflush(file_) == 0 && !(fsync_ && file_ != stdout && ::fsync(fileno(file_)) != 0);
  if (!ok) {
    // Nothing of this batch counts as written: cut the file back so that a retry neither
    // skips these actions nor glues a half line to the next one.
    std::clearerr(file_);
    if (size_before >= 0 && ::ftruncate(fileno(file_), size_before) == 0) {
      std::fseek(file_, 0, SEEK_END);
    }
    return Delivery::retry;
  }
  for (const auto* id : added) written_.insert(*id);
  return Delivery::ok;
}

SinkKind jsonl_sink_kind() {
  using config::Type;
  SinkKind kind;
  kind.type = "jsonl";
  kind.schema = {"sinks (type: jsonl)",
                 "Appends each action as one CloudEvent JSON line to a file.",
                 {
                     {.name = "path",
                      .type = Type::path,
                      .description = "the file to append to",
                      .required = true},
                     {.name = "fsync",
                      .type = Type::boolean,
                      .description = "fsync after each batch, before progress is recorded",
                      .default_value = "true"},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Sink> {
    return std::make_unique<JsonLinesSink>(name, s.str("path"), s.boolean("fsync"));
  };
  return kind;
}

SinkKind stdout_sink_kind() {
  SinkKind kind;
  kind.type = "stdout";
  kind.schema = {"sinks (type: stdout)", "Prints each action as one JSON line.", {}};
  kind.create = [](const std::string& name, const config::Section&) -> std::unique_ptr<Sink> {
    return std::make_unique<JsonLinesSink>(name, "-", false);
  };
  return kind;
}

}  // namespace rapport::adapters
