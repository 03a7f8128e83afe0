#pragma once
// The relationship memory, in memory: every (not cancelled) rotation contributes an edge
// student -> team member per member (days overlapped, role, site, specialty, last day),
// plus touches reported by the host. Ids are interned to 32-bit numbers so an edge costs
// a few dozen bytes. Updated incrementally as the dispatcher applies events; rebuilt from
// the store at start; both give the same memory (canonical() compares them).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rapport/relationships.hpp"
#include "store/store.hpp"

namespace rapport {

class RelationshipGraph final : public Relationships {
 public:
  // Replaces whatever this rotation contributed before (a cancelled rotation contributes
  // nothing).
  void put_rotation(const Rotation& rotation);
  void put_touch(const std::string& student_id, const std::string& contact_id, Date day);
  void put_person(const Person& person);  // keeps the program index; always a new version
  // Something hooks rank by changed for this person (an evaluation of the student, their
  // interests): a new version.
  void touched(const std::string& person_id);
  void clear();
  void rebuild(Store& store);

  std::string canonical() const;
  std::size_t edge_count() const { return edges_; }

  std::vector<ContactSummary> contacts_of(const std::string& student_id, TimePoint now,
                                          Span span = Span::so_far) const override;
  std::vector<Visit> visits_at(const std::string& site, const std::string& specialty,
                               Date ended_before, std::size_t limit) const override;
  std::vector<std::string> staff_at(const std::string& site) const override;
  std::vector<std::string> students() const override;
  std::vector<std::string> program_members(const std::string& program) const override;
  std::optional<Date> last_touch(const std::string& student_id, const std::string& contact_id,
                                 TimePoint now) const override;
  std::uint64_t version() const override { return version_; }
  std::optional<std::vector<std::string>> changed_since(std::uint64_t version) const override;

 private:
  using Id = std::uint32_t;
  struct Edge {  // 24 bytes
    Id contact, rotation, site, specialty;
    std::int32_t first_day, last_day;
    std::uint16_t days;
    std::uint8_t role;
  };
  struct RotationInfo {
    Id student, site, specialty;
    std::int32_t start, end;
  };

  Id intern(const std::string& text);
  std::optional<Id> find(const std::string& text) const;
  void remove_rotation(Id rotation);
  // Records that this id's part changed, at the next version (so that a cache made at the
  // current one sees it, whether or not the version moves).
  void changed(Id id) { changed_[id] = version_ + 1; }
  static std::uint64_t pair(Id a, Id b) { return (std::uint64_t(a) << 32) | b; }

  std::unordered_map<std::string, Id> ids_;
  std::vector<std::string> names_;
  std::unordered_map<Id, std::vector<Edge>> by_student_;
  std::unordered_map<Id, RotationInfo> rotations_;
  // site,specialty -> its rotations, with what visits_at reads of them (no lookup per visit)
  struct VisitRow {
    Id rotation, student;
    std::int32_t start, end;
  };
  std::unordered_map<std::uint64_t, std::vector<VisitRow>> visits_;
  std::unordered_map<Id, std::map<Id, std::uint32_t>> staff_;  // site -> person -> count
  std::unordered_map<std::uint64_t, std::int32_t> touches_;    // student,contact -> day
  std::unordered_map<Id, Id> program_of_;                      // person -> program
  std::unordered_map<Id, std::vector<Id>> programs_;           // program -> people
  std::unordered_map<Id, std::uint64_t> changed_;  // id -> the version its change is seen at
  std::size_t edges_ = 0;
  std::uint64_t version_ = 1;
  std::uint64_t cleared_at_ = 1;  // changed_since an earlier version cannot tell
};

}  // namespace rapport
