#include "hooks/common/assignment.hpp"

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace rapport::hooks {

std::vector<std::vector<Choice>> assign_numbered(const std::vector<std::vector<Choice>>& lists,
                                                 const std::vector<int>& quota,
                                                 const std::vector<int>& room) {
  struct Proposal {
    double score;
    int student;
    bool operator<(const Proposal& o) const {  // better first
      return score != o.score ? score > o.score : student < o.student;
    }
  };
  const std::size_t students = lists.size();
  std::vector<std::size_t> next(students, 0);            // student -> next candidate to propose to
  std::vector<int> held_count(students, 0);              // student -> proposals currently held
  std::vector<std::vector<Proposal>> held(room.size());  // person -> held, best first
  std::deque<int> free;
  for (std::size_t s = 0; s < students; ++s) free.push_back(int(s));
  while (!free.empty()) {
    const auto student = std::size_t(free.front());
    free.pop_front();
    const auto& list = lists[student];
    while (held_count[student] < quota[student] && next[student] < list.size()) {
      const Choice& c = list[next[student]++];
      auto& at = held[std::size_t(c.person)];
      const Proposal p{c.score, int(student)};
      at.insert(std::upper_bound(at.begin(), at.end(), p), p);
      ++held_count[student];
      if (int(at.size()) > room[std::size_t(c.person)]) {
        const auto rejected = std::size_t(at.back().student);
        at.pop_back();
        --held_count[rejected];
        if (rejected != student) free.push_back(int(rejected));
      }
    }
  }
  std::vector<std::vector<Choice>> out(students);
  for (std::size_t person = 0; person < held.size(); ++person) {
    for (const auto& p : held[person]) {
      out[std::size_t(p.student)].push_back({p.score, int(person)});
    }
  }
  return out;
}

int places_left(const std::map<std::string, int>& taken, const std::string& who, int quota) {
  auto it = taken.find(who);
  return std::max(0, quota - (it == taken.end() ? 0 : it->second));
}

std::map<std::string, std::vector<Candidate>> by_id(
    const std::vector<std::vector<Choice>>& assigned,
    const std::vector<const std::string*>& students, const std::vector<std::string>& people) {
  std::map<std::string, std::vector<Candidate>> out;
  for (std::size_t s = 0; s < assigned.size(); ++s) {
    if (assigned[s].empty()) continue;
    auto& list = out[*students[s]];
    for (const auto& c : assigned[s]) list.push_back({people[std::size_t(c.person)], c.score});
    std::sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.person < b.person;
    });
  }
  return out;
}

std::map<std::string, std::vector<Candidate>> assign(
    const std::map<std::string, std::vector<Candidate>>& candidates, int per_student, int capacity,
    const Used& used) {
  // Students numbered in id order (the map's), people as met.
  std::vector<const std::string*> students;
  std::vector<std::string> people;
  std::vector<std::vector<Choice>> lists;
  std::vector<int> quota, room;
  std::unordered_map<std::string, int> number;
  for (const auto& [student, list] : candidates) {
    std::vector<Candidate> sorted = list;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.person < b.person;
    });
    std::vector<Choice> choices;
    choices.reserve(sorted.size());
    for (const auto& c : sorted) {
      auto [it, added] = number.try_emplace(c.person, int(people.size()));
      if (added) {
        people.push_back(c.person);
        room.push_back(places_left(used.by_person, c.person, capacity));
      }
      choices.push_back({c.score, it->second});
    }
    students.push_back(&student);
    lists.push_back(std::move(choices));
    quota.push_back(places_left(used.by_student, student, per_student));
  }
  return by_id(assign_numbered(lists, quota, room), students, people);
}

}  // namespace rapport::hooks
