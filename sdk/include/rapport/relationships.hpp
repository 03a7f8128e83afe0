#pragma once
// The relationship memory as hooks see it: who a student worked with, how much, how
// recently; who rotated where; who works at a site. Read-only.
//
// Strength of a contact: the sum over rotations together of
//   days overlapped x role weight x 0.5 ^ (days since the last shared day / half-life)
// with role weights attending 1.0, fellow 0.9, resident 0.8, nurse 0.6, pharmacist 0.5,
// social worker 0.5, student (a peer) 0.4, other 0.4, and a half-life of 365 days.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rapport/types.hpp"

namespace rapport {

inline constexpr int kStrengthHalfLifeDays = 365;

double role_weight(Role role);
double contact_strength(int days, Role role, int days_since_last,
                        int half_life_days = kStrengthHalfLifeDays);

struct ContactSummary {
  std::string person_id;
  Role role = Role::other;  // the role of their most recent rotation together
  int days_together = 0;
  double strength = 0;
  Date last_day;
  std::vector<std::string> rotation_ids;  // oldest first
  std::vector<std::string> sites, specialties;
};

// One student's rotation at a site, as peers see it.
struct Visit {
  std::string student_id;
  std::string rotation_id;
  Date start, end;
};

// Which days of the rotations count: those that have happened by `now` (a rotation under
// way counts its days so far, one still to come none), or every scheduled day (for plans
// such as assigning letter writers across a season).
enum class Span { so_far, planned };

class Relationships {
 public:
  virtual ~Relationships() = default;
  // Strongest first (ties: most recent, then id).
  virtual std::vector<ContactSummary> contacts_of(const std::string& student_id, TimePoint now,
                                                  Span span = Span::so_far) const = 0;
  // Students' (not cancelled) rotations at this site in this specialty that ended before
  // `ended_before`: each student's latest one, the most recent first, at most `limit`.
  virtual std::vector<Visit> visits_at(const std::string& site, const std::string& specialty,
                                       Date ended_before, std::size_t limit) const = 0;
  // Everyone who has been on a team at this site, by id.
  virtual std::vector<std::string> staff_at(const std::string& site) const = 0;
  virtual std::vector<std::string> students() const = 0;
  // Everyone whose directory entry names this program, by id.
  virtual std::vector<std::string> program_members(const std::string& program) const = 0;
  // The latest day, up to `now`, the student and the contact were in touch: a day together
  // (a rotation under way counts until today, one still to come not at all), or the host
  // reporting an action about them completed (action.completed).
  virtual std::optional<Date> last_touch(const std::string& student_id,
                                         const std::string& contact_id, TimePoint now) const = 0;
  // Changes whenever the memory changes (for caches).
  virtual std::uint64_t version() const = 0;
  // Whose part of the memory changed since it was at `version` (an earlier version()), for
  // caches kept per person: students whose rotations, evaluations, interests or touches
  // changed, and people whose directory entry changed. nullopt when it cannot tell (it was
  // rebuilt since, or does not keep track): take everything as changed. May name someone
  // whose change a cache made at `version` already saw.
  virtual std::optional<std::vector<std::string>> changed_since(std::uint64_t version) const {
    (void)version;
    return std::nullopt;
  }
};

}  // namespace rapport
