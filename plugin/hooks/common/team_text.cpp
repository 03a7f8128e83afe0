#include "hooks/common/team_text.hpp"

#include <array>

#include "rapport/json.hpp"

namespace rapport::hooks {

std::string readable(Role role) {
  std::string s(to_string(role));
  for (char& c : s) {
    if (c == '_') c = ' ';
  }
  return s;
}

std::string event_key(const Event& event) {
  return event.source + "/" + event.id;
}

int days_together(const TeamMember& member) {
  return member.days();
}

std::string month_year(Date day) {
  static constexpr std::array<const char*, 12> kMonths{
      "January", "February", "March",     "April",   "May",      "June",
      "July",    "August",   "September", "October", "November", "December"};
  std::chrono::year_month_day ymd{day};
  return std::string(kMonths[unsigned(ymd.month()) - 1]) + " " + std::to_string(int(ymd.year()));
}

std::string plural(int n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string with_article(const std::string& noun) {
  bool vowel = !noun.empty() && std::string("aeiou").find(noun[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + noun;
}

std::string capitalized(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = char(text[0] - 'a' + 'A');
  return text;
}

std::optional<Rotation> live_rotation(const Event& event, const HookContext& context) {
  auto rotation = context.rotation(rotation_id_from_json(event.payload));
  if (!rotation || rotation->status == RotationStatus::cancelled) return std::nullopt;
  return rotation;
}

Action make_action(const std::string& hook, const std::string& key, const Event& event,
                   ActionType type, const std::string& student, const std::string& contact,
                   TimePoint due, std::optional<TimePoint> expires, std::string reason,
                   std::map<std::string, std::string> evidence) {
  Action a;
  a.type = type;
  a.hook = hook;
  a.event_id = event_key(event);
  a.id = make_action_id(hook, key, type, contact);
  a.student_id = student;
  a.contact_id = contact;
  a.created = event.occurred;
  a.due = due;
  a.expires = expires;
  a.reason = std::move(reason);
  a.evidence = std::move(evidence);
  return a;
}

}  // namespace rapport::hooks
