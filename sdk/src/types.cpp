#include "rapport/types.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <utility>

namespace rapport {
namespace {

template <typename E, std::size_t N>
using NameTable = std::array<std::pair<E, std::string_view>, N>;

constexpr NameTable<Role, 8> kRoles{{{Role::student, "student"},
                                     {Role::attending, "attending"},
                                     {Role::resident, "resident"},
                                     {Role::fellow, "fellow"},
                                     {Role::nurse, "nurse"},
                                     {Role::pharmacist, "pharmacist"},
                                     {Role::social_worker, "social_worker"},
                                     {Role::other, "other"}}};
constexpr NameTable<RotationKind, 4> kKinds{{{RotationKind::core, "core"},
                                             {RotationKind::elective, "elective"},
                                             {RotationKind::sub_internship, "sub_internship"},
                                             {RotationKind::away, "away"}}};
constexpr NameTable<RotationStatus, 4> kStatuses{{{RotationStatus::scheduled, "scheduled"},
                                                  {RotationStatus::active, "active"},
                                                  {RotationStatus::completed, "completed"},
                                                  {RotationStatus::cancelled, "cancelled"}}};
constexpr NameTable<EventType, 13> kEventTypes{
    {{EventType::person_updated, "person.updated"},
     {EventType::rotation_scheduled, "rotation.scheduled"},
     {EventType::rotation_updated, "rotation.updated"},
     {EventType::rotation_cancelled, "rotation.cancelled"},
     {EventType::rotation_started, "rotation.started"},
     {EventType::rotation_midpoint, "rotation.midpoint"},
     {EventType::rotation_ended, "rotation.ended"},
     {EventType::evaluation_submitted, "evaluation.submitted"},
     {EventType::team_changed, "team.changed"},
     {EventType::followup_due, "followup.due"},
     {EventType::action_completed, "action.completed"},
     {EventType::interests_changed, "interests.changed"},
     {EventType::site_updated, "site.updated"}}};
constexpr NameTable<ProgramRole, 4> kProgramRoles{
    {{ProgramRole::director, "director"},
     {ProgramRole::associate_director, "associate_director"},
     {ProgramRole::coordinator, "coordinator"},
     {ProgramRole::faculty, "faculty"}}};
constexpr NameTable<ActionType, 9> kActionTypes{
    {{ActionType::introduce, "introduce"},
     {ActionType::peer_connect, "peer_connect"},
     {ActionType::mentor_suggest, "mentor_suggest"},
     {ActionType::letter_candidate, "letter_candidate"},
     {ActionType::thank_you, "thank_you"},
     {ActionType::follow_up, "follow_up"},
     {ActionType::specialty_contact, "specialty_contact"},
     {ActionType::opportunity, "opportunity"},
     {ActionType::program_contact, "program_contact"}}};

template <typename E, std::size_t N>
std::string_view name_of(const NameTable<E, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> value_of(const NameTable<E, N>& table, std::string_view name) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

bool read_int(std::string_view text, int& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

// FNV-1a, 64 bits, from two offsets in one pass (the two multiplications of a byte do not
// wait for each other). Used for ids and change detection, not for security; the hashes
// are stored, so a change of what they are would make every row read again look changed.
std::pair<std::uint64_t, std::uint64_t> fnv1a_twice(std::string_view text) {
  std::uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  for (unsigned char c : text) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ c) * 0x100000001b3ULL;
  }
  return {a, b};
}

}  // namespace

std::string_view to_string(Role v) {
  return name_of(kRoles, v);
}
std::string_view to_string(ProgramRole v) {
  return name_of(kProgramRoles, v);
}
std::string_view to_string(RotationKind v) {
  return name_of(kKinds, v);
}
std::string_view to_string(RotationStatus v) {
  return name_of(kStatuses, v);
}
std::string_view to_string(EventType v) {
  return name_of(kEventTypes, v);
}
std::string_view to_string(ActionType v) {
  return name_of(kActionTypes, v);
}
std::optional<Role> parse_role(std::string_view s) {
  return value_of(kRoles, s);
}
std::optional<ProgramRole> parse_program_role(std::string_view s) {
  return value_of(kProgramRoles, s);
}
std::optional<RotationKind> parse_rotation_kind(std::string_view s) {
  return value_of(kKinds, s);
}
std::optional<RotationStatus> parse_rotation_status(std::string_view s) {
  return value_of(kStatuses, s);
}
std::optional<EventType> parse_event_type(std::string_view s) {
  return value_of(kEventTypes, s);
}
std::optional<ActionType> parse_action_type(std::string_view s) {
  return value_of(kActionTypes, s);
}

bool is_supervisor(Role r) {
  return r == Role::attending || r == Role::resident || r == Role::fellow;
}
bool is_physician(Role r) {
  return is_supervisor(r);
}

std::vector<DateRange> merged(std::vector<DateRange> spans) {
  std::sort(spans.begin(), spans.end(), [](const DateRange& a, const DateRange& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });
  std::vector<DateRange> out;
  for (const auto& s : spans) {
    if (s.end < s.start) continue;
    if (!out.empty() && s.start <= out.back().end + std::chrono::days(1)) {
      out.back().end = std::max(out.back().end, s.end);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::vector<DateRange> TeamMember::spans_or_dates() const {
  return spans.empty() ? std::vector<DateRange>{{start, end}} : spans;
}

int TeamMember::days() const {
  if (spans.empty()) return DateRange{start, end}.days();
  int n = 0;
  for (const auto& s : spans) n += s.days();
  return n;
}

double Evaluation::normalized_score() const {
  if (scale_max <= scale_min) return 0;
  double n = (score - scale_min) / (scale_max - scale_min);
  return n < 0 ? 0 : (n > 1 ? 1 : n);
}

std::string make_action_id(std::string_view hook, std::string_view event_key, ActionType type,
                           std::string_view contact_id) {
  std::string key;
  key.append(hook).push_back('\x1f');
  key.append(event_key).push_back('\x1f');
  key.append(to_string(type)).push_back('\x1f');
  key.append(contact_id);
  return "act_" + content_hash(key);
}

std::string content_hash(std::string_view text) {
  auto [a, b] = fnv1a_twice(text);
  std::string out(32, '0');
  for (int i = 15; i >= 0; --i, a >>= 4, b >>= 4) {
    out[std::size_t(i)] = "0123456789abcdef"[a & 0xF];
    out[std::size_t(i) + 16] = "0123456789abcdef"[b & 0xF];
  }
  return out;
}

std::optional<Date> parse_date(std::string_view s) {
  int y = 0, m = 0, d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (!read_int(s.substr(0, 4), y) || !read_int(s.substr(5, 2), m) ||
      !read_int(s.substr(8, 2), d)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month(unsigned(m)),
                                  std::chrono::day(unsigned(d))};
  if (!ymd.ok()) return std::nullopt;
  return Date{ymd};
}

std::optional<TimePoint> parse_time(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS followed by Z, or +HH:MM / -HH:MM; fractions are dropped.
  if (s.size() < 20 || (s[10] != 'T' && s[10] != ' ')) return std::nullopt;
  auto date = parse_date(s.substr(0, 10));
  int hh = 0, mm = 0, ss = 0;
  if (!date || s[13] != ':' || s[16] != ':' || !read_int(s.substr(11, 2), hh) ||
      !read_int(s.substr(14, 2), mm) || !read_int(s.substr(17, 2), ss) || hh > 23 || mm > 59 ||
      ss > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  std::string_view zone = s.substr(pos);
  int offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh = 0, om = 0;
    if (!read_int(zone.substr(1, 2), oh) || !read_int(zone.substr(4, 2), om)) return std::nullopt;
    offset_minutes = (zone[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  using namespace std::chrono;
  return TimePoint{*date} + hours(hh) + minutes(mm) + seconds(ss) - minutes(offset_minutes);
}

namespace {

// Writes `value` as `width` digits at `out` (the formatting runs for every row a source
// reads and every mirror write: snprintf showed in profiles).
void put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = char('0' + value % 10);
    value /= 10;
  }
}

// YYYY-MM-DD into out[0..10); false for a year outside 0..9999.
bool put_date(char* out, Date d) {
  std::chrono::year_month_day ymd{d};
  int year = int(ymd.year());
  if (year < 0 || year > 9999) return false;
  put_digits(out, unsigned(year), 4);
  out[4] = '-';
  put_digits(out + 5, unsigned(ymd.month()), 2);
  out[7] = '-';
  put_digits(out + 8, unsigned(ymd.day()), 2);
  return true;
}

}  // namespace

std::string format_date(Date d) {
  char out[10];
  if (put_date(out, d)) return std::string(out, sizeof out);
  std::chrono::year_month_day ymd{d};
  char wide[24];
  std::snprintf(wide, sizeof wide, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()));
  return wide;
}

std::string format_time(TimePoint t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  hh_mm_ss<seconds> hms{t - day};
  char out[20];
  if (!put_date(out, Date{day})) {
    char wide[48];
    std::snprintf(wide, sizeof wide, "%sT%02d:%02d:%02dZ", format_date(Date{day}).c_str(),
                  int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count()));
    return wide;
  }
  out[10] = 'T';
  put_digits(out + 11, unsigned(hms.hours().count()), 2);
  out[13] = ':';
  put_digits(out + 14, unsigned(hms.minutes().count()), 2);
  out[16] = ':';
  put_digits(out + 17, unsigned(hms.seconds().count()), 2);
  out[19] = 'Z';
  return std::string(out, sizeof out);
}

TimePoint wall_clock() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace rapport
