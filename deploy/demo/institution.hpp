#pragma once
// A synthetic institution for the demo and the tests, written into SQLite with the
// table and column names of a made-up scheduling platform (not Rapport's): the demo's
// config maps them, as an admin would. Every name and email is invented.

#include <cstdint>
#include <string>

namespace rapport::demo {

struct InstitutionShape {
  int students = 60;
  int sites = 8;                // each site: 4 attendings, 5 residents, 1 fellow, 5 nurses,
                                // 2 pharmacists, 2 social workers (19 staff)
  int blocks = 6;               // four-week blocks
  std::string first_monday = "2027-01-04";
  std::uint32_t seed = 20270104;
};

struct InstitutionSize {
  int students = 0, staff = 0, rotations = 0, team_rows = 0, evaluations = 0;
};

// Creates `path` (which must not exist yet). Deterministic for a given shape.
InstitutionSize generate_institution(const std::string& path, const InstitutionShape& shape);

}  // namespace rapport::demo
