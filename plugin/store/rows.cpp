#include "store/rows.hpp"

#include <algorithm>
#include <cctype>

namespace rapport::store_rows {

void add_interest_to(Person& p, const std::string& specialty) {
  auto same = [&](const std::string& known) {
    return known.size() == specialty.size() &&
           std::equal(known.begin(), known.end(), specialty.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  };
  if (std::none_of(p.interests.begin(), p.interests.end(), same)) {
    p.interests.push_back(specialty);
  }
}

void add_team_row_to(Rotation& rot, const std::string& person, const std::string& role,
                     const std::string& start, const std::string& end) {
  DateRange span{start.empty() ? rot.start : parse_date(start).value_or(rot.start),
                 end.empty() ? rot.end : parse_date(end).value_or(rot.end)};
  span.start = std::max(span.start, rot.start);
  span.end = std::min(span.end, rot.end);
  if (span.end < span.start) return;
  if (rot.team.empty() || rot.team.back().person_id != person) {
    rot.team.push_back({person, parse_role(role).value_or(Role::other), span.start, span.end, {}});
  }
  rot.team.back().spans.push_back(span);
}

void finish_team(Rotation& rot) {
  for (auto& m : rot.team) {
    m.spans = merged(std::move(m.spans));
    m.start = m.spans.front().start;
    m.end = m.spans.back().end;
  }
}

}  // namespace rapport::store_rows
