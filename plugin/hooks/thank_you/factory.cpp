#include "hooks/thank_you/thank_you.hpp"

namespace rapport::hooks {

HookKind thank_you_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "thank_you";
  kind.per_student = true;
  kind.max_lateness = "14d";
  kind.lateness_from = "the rotation's end";
  kind.schema = {"hooks (thank_you)",
                 "At rotation end, prompt a thank-you to each supervisor.",
                 {
                     {.name = "due_within",
                      .type = Type::duration,
                      .description = "how long after the rotation's end the thank-you falls due",
                      .default_value = "3d",
                      .min = 3'600'000,
                      .max = 60.0 * 86'400'000},
                     {.name = "roles",
                      .type = Type::string_list,
                      .description = "who counts as a supervisor to thank",
                      .default_value = "[attending, resident, fellow]",
                      .choices = {"attending", "resident", "fellow", "nurse", "pharmacist",
                                  "social_worker", "other"}},
                     {.name = "min_days_together",
                      .type = Type::integer,
                      .description = "no prompt for someone the student overlapped with fewer days",
                      .default_value = "1",
                      .min = 1,
                      .max = 365},
                 }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    ThankYouOptions options;
    options.max_lateness = max_lateness_of(s);
    options.roles.clear();
    for (const auto& role : s.strings("roles")) {
      if (auto r = parse_role(role)) options.roles.insert(*r);
    }
    options.due_within = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_within"));
    options.min_days_together = int(s.integer("min_days_together"));
    return std::make_unique<ThankYou>(name, std::move(options));
  };
  return kind;
}

}  // namespace rapport::hooks
