#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

TEST_CASE("the code snippets of the README and docs/ are the files that are built and tested",
          "[readme]") {
  int seen = 0;
  std::vector<std::string> pages{rapport::test::source_dir() + "/README.md"};
  for (const auto& entry :
       std::filesystem::directory_iterator(rapport::test::source_dir() + "/docs")) {
    if (entry.path().extension() == ".md") pages.push_back(entry.path().string());
  }
  std::regex marker(R"(<!-- snippet: (\S+) -->\n```\w*\n)");
  for (const auto& page : pages) {
    auto text = rapport::test::read_text(page);
    for (std::sregex_iterator it(text.begin(), text.end(), marker), end; it != end; ++it) {
      ++seen;
      std::string path = (*it)[1];
      auto start = std::size_t(it->position() + it->length());
      auto stop = text.find("```", start);
      INFO(page << ": " << path << " differs from its snippet: run deploy/update-readme.sh");
      CHECK(text.substr(start, stop - start) ==
            rapport::test::read_text(rapport::test::source_dir() + "/" + path));
    }
  }
  CHECK(seen >= 3);
}

TEST_CASE("the SDK's public headers need no Boost", "[sdk][headers]") {
  for (const char* header :
       {"types.hpp", "hook.hpp", "json.hpp", "plugin.hpp", "plugin.h", "embed.h"}) {
    INFO(header);
    auto text =
        rapport::test::read_text(rapport::test::source_dir() + "/sdk/include/rapport/" + header);
    REQUIRE_FALSE(text.empty());
    CHECK(text.find("#include <boost") == std::string::npos);
  }
}
