#include "hooks/follow_up/follow_up.hpp"

namespace rapport::hooks {

HookKind follow_up_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "follow_up";
  kind.per_student = true;
  kind.max_lateness = "14d";
  kind.lateness_from = "the day the follow-up falls due";
  kind.schema = {
      "hooks (follow_up)",
      "Stay-in-touch reminders with supervisors after a rotation, on a cadence.",
      {
          {.name = "cadence",
           .type = Type::string_list,
           .description = "days after the rotation's end at which to remind (each a duration)",
           .default_value = "[30d, 90d, 180d]",
           .check = [](const std::string& d) -> std::string {
             auto duration = config::parse_duration(d);
             if (duration && duration->count() >= 86'400'000) return {};
             return "\"" + d + "\" is not a duration of at least 1d (such as 30d)";
           }},
          {.name = "roles",
           .type = Type::string_list,
           .description = "whom to stay in touch with",
           .default_value = "[attending, resident, fellow]",
           .choices = {"attending", "resident", "fellow", "nurse", "pharmacist", "social_worker",
                       "other"}},
          {.name = "min_days_together",
           .type = Type::integer,
           .description = "no reminders for someone the student overlapped with fewer days",
           .default_value = "7",
           .min = 1,
           .max = 365},
          {.name = "due_within",
           .type = Type::duration,
           .description = "when a reminder falls due, after its timer fires",
           .default_value = "7d",
           .min = 3'600'000,
           .max = 60.0 * 86'400'000},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    FollowUpOptions o;
    o.max_lateness = max_lateness_of(s);
    for (const auto& d : s.strings("cadence")) {
      auto duration = config::parse_duration(d);
      if (!duration || duration->count() < 86'400'000) {
        throw std::runtime_error(s.path() + ".cadence: \"" + d +
                                 "\" is not a duration of at least 1d");
      }
      o.cadence_days.push_back(int(duration->count() / 86'400'000));
    }
    for (const auto& r : s.strings("roles")) {
      if (auto role = parse_role(r)) o.roles.insert(*role);
    }
    o.min_days_together = int(s.integer("min_days_together"));
    o.due_within = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_within"));
    return std::make_unique<FollowUp>(name, o);
  };
  return kind;
}

}  // namespace rapport::hooks
