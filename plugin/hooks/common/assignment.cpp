#include "hooks/common/assignment.hpp"

#include <algorithm>
#include <deque>
#include <set>

namespace rapport::hooks {

std::map<std::string, std::vector<Candidate>> assign(
    const std::map<std::string, std::vector<Candidate>>& candidates, int per_student, int capacity,
    const Used& used) {
  auto left = [](const std::map<std::string, int>& taken, const std::string& who, int quota) {
    auto it = taken.find(who);
    return std::max(0, quota - (it == taken.end() ? 0 : it->second));
  };
  struct Proposal {
    double score;
    std::string student;
    bool operator<(const Proposal& o) const {  // better first
      return score != o.score ? score > o.score : student < o.student;
    }
  };
  std::map<std::string, std::vector<Candidate>> lists;
  for (const auto& [student, list] : candidates) {
    auto& sorted = lists[student] = list;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.person < b.person;
    });
  }
  std::map<std::string, std::size_t> next;         // student -> next candidate to propose to
  std::map<std::string, int> held_count;           // student -> proposals currently held
  std::map<std::string, std::set<Proposal>> held;  // person -> proposals held
  std::deque<std::string> free;
  for (const auto& [student, list] : lists) free.push_back(student);
  while (!free.empty()) {
    std::string student = free.front();
    free.pop_front();
    auto& list = lists[student];
    const int quota = left(used.by_student, student, per_student);
    while (held_count[student] < quota && next[student] < list.size()) {
      const Candidate& c = list[next[student]++];
      auto& at = held[c.person];
      at.insert({c.score, student});
      ++held_count[student];
      if (int(at.size()) > left(used.by_person, c.person, capacity)) {
        auto worst = std::prev(at.end());
        std::string rejected = worst->student;
        at.erase(worst);
        --held_count[rejected];
        if (rejected != student) free.push_back(rejected);
      }
    }
  }
  std::map<std::string, std::vector<Candidate>> out;
  for (const auto& [person, proposals] : held) {
    if (proposals.empty()) continue;
    for (const auto& p : proposals) out[p.student].push_back({person, p.score});
  }
  for (auto& [student, list] : out) {
    std::sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.person < b.person;
    });
  }
  return out;
}

}  // namespace rapport::hooks
