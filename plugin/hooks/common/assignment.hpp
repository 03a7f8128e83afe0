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

}  // namespace rapport::hooks
