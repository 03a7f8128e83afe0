#include <catch2/catch.hpp>

#include <fstream>

#include "adapters/jsonl/jsonl_sink.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;

namespace {
Outgoing line(std::int64_t seq, const std::string& id) {
  return {seq, id, "{\"specversion\":\"1.0\",\"id\":\"" + id + "\"}"};
}
}  // namespace

TEST_CASE("the JSON-lines sink writes one line per action", "[adapter][jsonl]") {
  test::TempDir dir;
  adapters::JsonLinesSink sink("out", dir.file("a/actions.jsonl"), true);
  CHECK(sink.deliver({line(1, "act_1"), line(2, "act_2")}) == Delivery::ok);
  CHECK(test::read_lines(dir.file("a/actions.jsonl")).size() == 2);
}

TEST_CASE("after a crash the sink neither repeats a line nor keeps a torn one",
          "[adapter][jsonl]") {
  test::TempDir dir;
  std::string path = dir.file("actions.jsonl");
  {
    adapters::JsonLinesSink sink("out", path, true);
    sink.deliver({line(1, "act_1"), line(2, "act_2")});
  }
  // The crash: progress was not recorded, and half of a third line reached the disk.
  std::ofstream(path, std::ios::app) << "{\"specversion\":\"1.0\",\"id\":\"act_3";
  adapters::JsonLinesSink sink("out", path, true);
  CHECK(sink.deliver({line(1, "act_1"), line(2, "act_2"), line(3, "act_3")}) == Delivery::ok);
  auto lines = test::read_lines(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2] == "{\"specversion\":\"1.0\",\"id\":\"act_3\"}");
}

TEST_CASE("a write that fails is retried in full, never counted as written", "[adapter][jsonl]") {
  adapters::JsonLinesSink sink("out", "/dev/full", true);  // every write fails: no space
  CHECK(sink.deliver({line(1, "act_1")}) == Delivery::retry);
  CHECK(sink.deliver({line(1, "act_1")}) == Delivery::retry);
}
