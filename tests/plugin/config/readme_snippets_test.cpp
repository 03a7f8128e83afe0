#include <catch2/catch.hpp>

#include <regex>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

TEST_CASE("the README's code snippets are the files that are built and tested", "[readme]") {
  auto readme = rapport::test::read_text(rapport::test::source_dir() + "/README.md");
  std::regex marker(R"(<!-- snippet: (\S+) -->\n```\w*\n)");
  int seen = 0;
  for (std::sregex_iterator it(readme.begin(), readme.end(), marker), end; it != end; ++it) {
    ++seen;
    std::string path = (*it)[1];
    auto start = std::size_t(it->position() + it->length());
    auto stop = readme.find("```", start);
    INFO(path << " differs from its README snippet: run deploy/update-readme.sh");
    CHECK(readme.substr(start, stop - start) ==
          rapport::test::read_text(rapport::test::source_dir() + "/" + path));
  }
  CHECK(seen >= 2);
}

TEST_CASE("the SDK's public headers need no Boost", "[sdk][headers]") {
  for (const char* header : {"types.hpp", "hook.hpp", "json.hpp", "plugin.hpp", "plugin.h",
                             "embed.h"}) {
    INFO(header);
    auto text = rapport::test::read_text(rapport::test::source_dir() + "/sdk/include/rapport/" +
                                         header);
    REQUIRE_FALSE(text.empty());
    CHECK(text.find("#include <boost") == std::string::npos);
  }
}
