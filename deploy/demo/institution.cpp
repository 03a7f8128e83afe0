#include "institution.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <vector>

#include "rapport/types.hpp"

namespace rapport::demo {
namespace {

constexpr std::array kFirst{"Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Gray",
                            "Harper", "Indigo", "Jordan", "Kai", "Logan", "Morgan", "Noel",
                            "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor", "Umber",
                            "Vale", "Wren", "Yael", "Zion"};
constexpr std::array kLast{"Abbot", "Birch", "Calder", "Dunmore", "Ellery", "Fairbank", "Garrow",
                           "Hollis", "Ives", "Jarrow", "Kestrel", "Linden", "Marlow", "Norwood",
                           "Orrin", "Pellam", "Quarry", "Rowan", "Stroud", "Thorne", "Upton",
                           "Varley", "Wexford", "Yardley"};
constexpr std::array kSites{"Riverside General", "Northgate Medical Center",
                            "St. Brigid Community Hospital", "Lakeshore Children's",
                            "Hillcrest Behavioral Health", "Eastfield Family Clinic",
                            "Westbrook Neurosciences", "Harbor Emergency Center"};
constexpr std::array kServices{"Internal Medicine", "Surgery", "Obstetrics and Gynecology",
                               "Pediatrics", "Psychiatry", "Family Medicine", "Neurology",
                               "Emergency Medicine"};

struct Staff {
  std::string id;
  std::string role_code;
};

class Random {
 public:
  explicit Random(std::uint32_t seed) : engine_(seed) {}
  // Raw engine output only: std distributions differ between standard libraries.
  int below(int n) { return int(engine_() % std::uint32_t(n)); }
  bool chance(int percent) { return below(100) < percent; }

 private:
  std::mt19937 engine_;
};

std::string us_date(Date d) {
  std::chrono::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u/%02u/%04d", unsigned(ymd.month()), unsigned(ymd.day()),
                int(ymd.year()));
  return buf;
}

std::string stamp(Date d, int hour, int minute) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %02d:%02d:00", format_date(d).c_str(), hour, minute);
  return buf;
}

std::string code(const char* prefix, int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%04d", prefix, n);
  return buf;
}

}  // namespace

InstitutionSize generate_institution(const std::string& path, const InstitutionShape& shape) {
  if (shape.sites < 1 || shape.sites > int(kSites.size())) {
    throw std::invalid_argument("sites must be between 1 and 8");
  }
  auto monday = parse_date(shape.first_monday);
  if (!monday) throw std::invalid_argument("first_monday must be a date YYYY-MM-DD");
  Random rng(shape.seed);
  InstitutionSize size;
  soci::session sql(soci::sqlite3, "db=\"" + path + "\"");
  soci::transaction tx(sql);
  sql << "CREATE TABLE sites (site_code TEXT PRIMARY KEY, site_name TEXT, service TEXT)";
  sql << "CREATE TABLE staff_directory (staff_no TEXT PRIMARY KEY, display_name TEXT,"
         " email TEXT, role_code TEXT, dept TEXT, home_site TEXT, program_name TEXT,"
         " last_modified TEXT)";
  sql << "CREATE TABLE learners (learner_id TEXT PRIMARY KEY, display_name TEXT, email TEXT,"
         " career_interest TEXT, ferpa_optout TEXT, last_modified TEXT)";
  sql << "CREATE TABLE block_schedule (block_id TEXT PRIMARY KEY, learner_id TEXT,"
         " site_code TEXT, service TEXT, block_type TEXT, begins TEXT, ends TEXT, state TEXT,"
         " last_modified TEXT)";
  sql << "CREATE TABLE block_team (block_id TEXT, staff_no TEXT, team_role TEXT,"
         " from_date TEXT, to_date TEXT, last_modified TEXT, PRIMARY KEY (block_id, staff_no))";
  sql << "CREATE TABLE assessments (assess_id TEXT PRIMARY KEY, block_id TEXT,"
         " assessor_no TEXT, learner_id TEXT, submitted_on TEXT, rating INTEGER, anon INTEGER,"
         " recommend TEXT)";

  // Every row was last modified at its own second a month before the semester, as rows
  // of a real export are; the demo's queries read them incrementally on that column.
  int modified_rows = 0;
  auto modified = [&] {
    auto t = TimePoint{*monday - std::chrono::days(30)} + std::chrono::seconds(++modified_rows);
    std::string s = format_time(t);  // 2026-12-05T00:00:01Z -> 2026-12-05 00:00:01
    return s.substr(0, 10) + " " + s.substr(11, 8);
  };
  auto name = [&] {
    return std::string(kFirst[rng.below(kFirst.size())]) + " " + kLast[rng.below(kLast.size())];
  };

  // Sites and their staff.
  std::vector<std::vector<Staff>> staff(shape.sites);
  int staff_no = 0;
  const std::array<std::pair<const char*, int>, 7> kMix{
      {{"ATT", 4}, {"RES", 5}, {"FEL", 1}, {"RN", 5}, {"PHARM", 2}, {"SW", 2}, {"COORD", 1}}};
  for (int s = 0; s < shape.sites; ++s) {
    std::string site = code("S", s + 1);
    std::string service = kServices[s];
    std::string site_name = kSites[s];
    sql << "INSERT INTO sites VALUES (:c, :n, :s)", soci::use(site), soci::use(site_name),
        soci::use(service);
    for (const auto& [role, count] : kMix) {
      for (int i = 0; i < count; ++i) {
        Staff member{code("E", ++staff_no), role};
        std::string role_code = role;
        std::string dept = role_code == "RN"      ? "Nursing"
                           : role_code == "PHARM" ? "Pharmacy"
                           : role_code == "SW"    ? "Social Work"
                                                  : service;
        // Residents, fellows, the coordinator and the first attending (the program
        // director) belong to the site's residency program.
        bool in_program = role_code == "RES" || role_code == "FEL" || role_code == "COORD" ||
                          (role_code == "ATT" && i == 0);
        std::string program = site_name + " " + service + " Residency";
        soci::indicator has_program = in_program ? soci::i_ok : soci::i_null;
        std::string display = (role_code == "ATT" || role_code == "FEL" ? "Dr. " : "") + name();
        std::string email = "staff" + member.id + "@example.edu";
        std::string changed = modified();
        sql << "INSERT INTO staff_directory VALUES (:i, :n, :e, :r, :d, :h, :p, :m)",
            soci::use(member.id), soci::use(display), soci::use(email), soci::use(role_code),
            soci::use(dept), soci::use(site), soci::use(program, has_program),
            soci::use(changed);
        staff[s].push_back(member);
        ++size.staff;
      }
    }
  }

  // Students, two of whom opted out of networking suggestions.
  std::vector<std::string> students;
  for (int i = 0; i < shape.students; ++i) {
    std::string id = code("L", i + 1);
    std::string display = name(), email = "learner" + id + "@example.edu";
    std::string interest = kServices[rng.below(shape.sites)];
    std::string optout = (i % 30 == 29) ? "Y" : "N";
    std::string changed = modified();
    sql << "INSERT INTO learners VALUES (:i, :n, :e, :c, :o, :m)", soci::use(id),
        soci::use(display), soci::use(email), soci::use(interest), soci::use(optout),
        soci::use(changed);
    students.push_back(id);
    ++size.students;
  }

  auto pick = [&](const std::vector<Staff>& pool, const char* role, int n) {
    std::vector<Staff> of_role, out;
    for (const auto& m : pool) {
      if (m.role_code == role) of_role.push_back(m);
    }
    for (int i = 0; i < n && !of_role.empty(); ++i) {
      int at = rng.below(int(of_role.size()));
      out.push_back(of_role[at]);
      of_role.erase(of_role.begin() + at);
    }
    return out;
  };

  int block_no = 0, assessment_no = 0;
  for (const auto& student : students) {
    for (int b = 0; b < shape.blocks; ++b) {
      if (rng.chance(15)) continue;  // vacation or study block
      Date begins = *monday + std::chrono::days(28 * b);
      Date ends = begins + std::chrono::days(27);
      int s = rng.below(shape.sites);
      std::string block_type = "CORE";
      if (b >= shape.blocks / 2) {
        int roll = rng.below(100);
        block_type = roll < 20 ? "ELEC" : roll < 30 ? "SUBI" : roll < 35 ? "AWAY" : "CORE";
      }
      std::string state = rng.chance(3) ? "CANC" : "CONF";
      std::string id = code("B", ++block_no), site = code("S", s + 1),
                  service = kServices[s], b_us = us_date(begins), e_us = us_date(ends);
      std::string changed = modified();
      sql << "INSERT INTO block_schedule VALUES (:i, :l, :s, :v, :t, :b, :e, :st, :m)",
          soci::use(id), soci::use(student), soci::use(site), soci::use(service),
          soci::use(block_type), soci::use(b_us), soci::use(e_us), soci::use(state),
          soci::use(changed);
      ++size.rotations;

      std::vector<Staff> team;
      for (const auto& [role, n] : std::array<std::pair<const char*, int>, 6>{
               {{"ATT", 1},
                {"RES", 1 + rng.below(2)},
                {"FEL", rng.chance(30) ? 1 : 0},
                {"RN", 1 + rng.below(2)},
                {"PHARM", rng.chance(60) ? 1 : 0},
                {"SW", rng.chance(50) ? 1 : 0}}}) {
        for (auto& m : pick(staff[s], role, n)) team.push_back(m);
      }
      for (const auto& m : team) {
        // Some residents join for the second half only.
        soci::indicator partial = soci::i_null;
        std::string from, to;
        if (m.role_code == "RES" && rng.chance(20)) {
          partial = soci::i_ok;
          from = us_date(begins + std::chrono::days(14));
          to = e_us;
        }
        soci::indicator partial_to = partial;
        std::string member_changed = modified();
        sql << "INSERT INTO block_team VALUES (:b, :s, :r, :f, :t, :m)", soci::use(id),
            soci::use(m.id), soci::use(m.role_code), soci::use(from, partial),
            soci::use(to, partial_to), soci::use(member_changed);
        ++size.team_rows;
      }
      if (state == "CANC") continue;
      for (const auto& m : team) {
        bool evaluates = m.role_code == "ATT" || (m.role_code == "RES" && rng.chance(40));
        if (!evaluates) continue;
        std::string aid = code("A", ++assessment_no);
        std::string submitted =
            stamp(ends + std::chrono::days(1 + rng.below(10)), 8 + rng.below(10), rng.below(60));
        int rating = 4 + rng.below(6);
        int anon = rng.chance(10) ? 1 : 0;
        std::string recommend = rating >= 8 ? "Y" : "N";
        sql << "INSERT INTO assessments VALUES (:a, :b, :s, :l, :t, :r, :n, :c)", soci::use(aid),
            soci::use(id), soci::use(m.id), soci::use(student), soci::use(submitted),
            soci::use(rating), soci::use(anon), soci::use(recommend);
        ++size.evaluations;
      }
    }
  }
  tx.commit();
  return size;
}

}  // namespace rapport::demo
