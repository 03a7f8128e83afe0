#pragma once
// Rows read back into the SDK's types, the same for every backend: each backend hands
// over a row's columns as text (nullopt for NULL) through `column(i)`.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rapport/types.hpp"

namespace rapport::store_rows {

inline std::optional<std::string> nonempty(const std::optional<std::string>& s) {
  return s && !s->empty() ? s : std::nullopt;
}

// The columns of people: id, role, name, email, specialty, subspecialty, program,
// opted_out, program_role, email_opted_out. A flag that cannot be read counts as set
// (privacy fails closed).
template <class Column>
Person person_from(Column column) {
  auto str = [&](int i) { return column(i).value_or(""); };
  auto flag = [&](int i) {
    auto v = column(i);
    return !v || *v != "0";
  };
  Person p;
  p.id = str(0);
  p.role = parse_role(str(1)).value_or(Role::other);
  p.name = str(2);
  p.email = nonempty(column(3));
  p.specialty = nonempty(column(4));
  p.subspecialty = nonempty(column(5));
  p.program = nonempty(column(6));
  p.opted_out = flag(7);
  if (auto role = column(8)) p.program_role = parse_program_role(*role);
  p.email_opted_out = flag(9);
  return p;
}

// The columns of rotations: id, student_id, site, specialty, subspecialty, kind,
// start_date, end_date, status.
template <class Column>
Rotation rotation_from(Column column) {
  auto str = [&](int i) { return column(i).value_or(""); };
  Rotation rot;
  rot.id = str(0);
  rot.student_id = str(1);
  rot.site = str(2);
  rot.specialty = str(3);
  rot.subspecialty = nonempty(column(4));
  rot.kind = parse_rotation_kind(str(5)).value_or(RotationKind::core);
  rot.start = parse_date(str(6)).value_or(Date{});
  rot.end = parse_date(str(7)).value_or(Date{});
  rot.status = parse_rotation_status(str(8)).value_or(RotationStatus::scheduled);
  return rot;
}

// Interests in (rank, specialty) order, the same specialty once (whatever its case or
// its stray spaces in the source), at its best rank.
void add_interest_to(Person& p, const std::string& specialty);

// Team rows, read in (person, start) order, become members: each row counts only for
// its days inside the rotation (an open end is the rotation's; a row with no day inside
// does not count), a person's rows are merged into spans, and their role is that of
// their earliest row. finish_team merges once every row is in.
void add_team_row_to(Rotation& rot, const std::string& person, const std::string& role,
                     const std::string& start, const std::string& end);
void finish_team(Rotation& rot);

// Of the items with one key, the last, in the keys' order: what writing the items one
// after the other leaves, for backends that write them at once (a team's members by
// person, as put_team_member; timers by id, as put_timer).
template <typename T>
std::vector<const T*> last_of_each(const std::vector<T>& items, std::string T::*key) {
  std::map<std::string_view, const T*> last;
  for (const auto& item : items) last[item.*key] = &item;
  std::vector<const T*> out;
  out.reserve(last.size());
  for (const auto& [k, item] : last) out.push_back(item);
  return out;
}

}  // namespace rapport::store_rows
