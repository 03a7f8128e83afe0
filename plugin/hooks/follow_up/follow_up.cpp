#include "hooks/follow_up/follow_up.hpp"

#include <boost/json.hpp>

#include "hooks/common/team_text.hpp"

namespace rapport::hooks {

std::vector<Action> FollowUp::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  if (event.type == EventType::rotation_ended) {
    auto rotation = live_rotation(event, context);
    if (!rotation) return actions;
    for (const auto& m : rotation->team) {
      if (!options_.roles.count(m.role) || days_together(m) < options_.min_days_together) continue;
      for (std::size_t i = 0; i < options_.cadence_days.size(); ++i) {
        int days = options_.cadence_days[i];
        boost::json::object data{
            {"student", rotation->student_id}, {"contact", m.person_id},
            {"role", to_string(m.role)},       {"rotation", rotation->id},
            {"site", rotation->site},          {"specialty", rotation->specialty},
            {"last_day", format_date(m.end)},  {"after_days", days}};
        context.schedule(rotation->student_id + "/" + m.person_id + "/" + rotation->id + "/" +
                             std::to_string(i + 1),
                         event.occurred + std::chrono::days(days), rotation->student_id,
                         boost::json::serialize(data));
      }
    }
    return actions;
  }
  auto data = boost::json::parse(event.payload).as_object();
  if (!data.contains("hook") || data["hook"].as_string() != name_) return actions;
  auto text = [&](const char* key) { return std::string(data[key].as_string()); };
  std::string student = text("student"), contact = text("contact");
  Date last_day = *parse_date(text("last_day"));
  // A newer touch that already happened makes the reminder moot.
  if (auto touch = context.relationships().last_touch(student, contact, event.occurred);
      touch && *touch > last_day) {
    return actions;
  }
  int after = int(data["after_days"].to_number<std::int64_t>());
  Role role = parse_role(text("role")).value_or(Role::other);
  actions.push_back(make_action(
      name_, event_key(event), event, ActionType::follow_up, student, contact,
      event.occurred + options_.due_within, expiry(event.occurred, options_.max_lateness),
      "It has been " + plural(after, "day") + " since your " + text("specialty") + " rotation at " +
          text("site") + ": a short update keeps this " + readable(role) +
          " in touch with how you are doing.",
      {{"rotation", text("rotation")},
       {"last_day_together", format_date(last_day)},
       {"after_days", std::to_string(after)},
       {"role", text("role")}}));
  return actions;
}

}  // namespace rapport::hooks
