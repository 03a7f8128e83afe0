#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "hooks/common/assignment.hpp"

using namespace rapport::hooks;

TEST_CASE("the assignment holds every capacity and leaves no blocking pair", "[assignment]") {
  std::mt19937 rng(GENERATE(7u, 11u, 13u));
  std::map<std::string, std::vector<Candidate>> candidates;
  for (int s = 0; s < 60; ++s) {
    for (int p = 0; p < 8; ++p) {
      if (rng() % 3 == 0) continue;
      candidates["S" + std::to_string(s)].push_back(
          {"P" + std::to_string(p), double(rng() % 1000) / 1000.0});
    }
  }
  const int per_student = 2, capacity = 5;
  auto result = assign(candidates, per_student, capacity);
  std::map<std::string, int> load;
  for (const auto& [student, list] : result) {
    CHECK(int(list.size()) <= per_student);
    for (const auto& c : list) ++load[c.person];
  }
  for (const auto& [person, n] : load) CHECK(n <= capacity);

  // Stability: no student and person who both prefer each other to what they got.
  for (const auto& [student, list] : candidates) {
    const auto& got = result[student];
    double worst_got = got.size() < std::size_t(per_student) ? -1 : got.back().score;
    for (const auto& c : list) {
      bool has = std::any_of(got.begin(), got.end(),
                             [&](const Candidate& g) { return g.person == c.person; });
      if (has || c.score <= worst_got) continue;
      // The student would rather have c.person; then c.person must be full of better ones.
      int better = 0;
      for (const auto& [other, other_list] : result) {
        for (const auto& g : other_list) {
          if (g.person == c.person &&
              (g.score > c.score || (g.score == c.score && other < student)))
            ++better;
        }
      }
      INFO(student << " and " << c.person << " would both prefer each other");
      CHECK(better >= capacity);
    }
  }
}

TEST_CASE("the order in which students are listed does not change the assignment", "[assignment]") {
  std::map<std::string, std::vector<Candidate>> a{{"early", {{"popular", 0.6}, {"other", 0.5}}},
                                                  {"late1", {{"popular", 0.9}}},
                                                  {"late2", {{"popular", 0.8}, {"other", 0.4}}}};
  auto result = assign(a, 1, 2);
  CHECK(result["late1"].at(0).person == "popular");
  CHECK(result["late2"].at(0).person == "popular");
  CHECK(result["early"].at(0).person == "other");
}

TEST_CASE("places already used count against both caps", "[assignment]") {
  std::map<std::string, std::vector<Candidate>> a{{"s1", {{"p1", 0.9}, {"p2", 0.8}}},
                                                  {"s2", {{"p1", 0.9}, {"p3", 0.5}}}};
  Used used;
  used.by_student["s1"] = 2;  // s1 had its two this season
  used.by_person["p1"] = 1;   // p1 has one student already
  auto result = assign(a, 2, 1, used);
  CHECK_FALSE(result.count("s1"));
  REQUIRE(result.count("s2"));
  REQUIRE(result["s2"].size() == 1);
  CHECK(result["s2"].at(0).person == "p3");
}
