#pragma once
// Assigning scarce people (letter writers, mentors) across all students at once.
//
// Student-proposing deferred acceptance (Gale-Shapley with capacities): each student
// proposes to candidates in order of score, up to `per_student` at a time; each person
// holds the `capacity` best proposals by score (ties: student id) and rejects the rest;
// rejected students propose further down their list. The result is stable: no student
// and person would both rather be matched to each other than to what they got. It does
// not depend on the order in which students became eligible, so the first to finish a
// rotation does not take every slot.

#include <map>
#include <string>
#include <vector>

namespace rapport::hooks {

struct Candidate {
  std::string person;
  double score = 0;
  bool operator==(const Candidate&) const = default;
};

// candidates: student -> candidates, any order. Returns student -> assigned, best first.
// `used`: places already taken earlier in the period (suggestions made before), by
// student and by person: a student gets per_student less theirs, a person capacity less
// theirs.
struct Used {
  std::map<std::string, int> by_student, by_person;
};
std::map<std::string, std::vector<Candidate>> assign(
    const std::map<std::string, std::vector<Candidate>>& candidates, int per_student, int capacity,
    const Used& used = {});

// The same on numbers, for callers that keep their people numbered: students are numbered
// in id order (a tie between two students goes to the lower number); `lists[s]` is student
// s's candidates best first (ties already broken by the person's id; each person once);
// `quota[s]` is how many they may get and `room[p]` how many person p may hold. Returns,
// per student, what they were assigned (any order).
struct Choice {
  double score = 0;
  int person = 0;
};
std::vector<std::vector<Choice>> assign_numbered(const std::vector<std::vector<Choice>>& lists,
                                                 const std::vector<int>& quota,
                                                 const std::vector<int>& room);
// The places `who` has left of `quota` once `taken` is counted.
int places_left(const std::map<std::string, int>& taken, const std::string& who, int quota);
// assign_numbered's result by id: `students[s]` and `people[p]` are the ids of the numbers;
// each list best first (ties: the person's id), students assigned nobody left out.
std::map<std::string, std::vector<Candidate>> by_id(
    const std::vector<std::vector<Choice>>& assigned,
    const std::vector<const std::string*>& students, const std::vector<std::string>& people);

}  // namespace rapport::hooks
