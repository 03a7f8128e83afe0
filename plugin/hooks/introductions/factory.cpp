#include "hooks/introductions/introductions.hpp"

namespace rapport::hooks {

HookKind introductions_kind() {
  const std::vector<std::string> kRoleNames{"attending",  "resident",      "fellow",  "nurse",
                                            "pharmacist", "social_worker", "student", "other"};
  using config::Type;
  HookKind kind;
  kind.type = "introductions";
  kind.per_student = true;
  kind.max_lateness = "3d";
  kind.lateness_from = "the rotation's start (or the day a member joined)";
  kind.schema = {
      "hooks (introductions)",
      "At rotation start, introduce the student to every member of the team.",
      {
          {.name = "exclude_roles",
           .type = Type::string_list,
           .description = "roles not to introduce (default: introduce every profession)",
           .default_value = "[]",
           .choices = kRoleNames},
          {.name = "due_after_start",
           .type = Type::duration,
           .description = "when the introduction falls due, counted from the rotation's start",
           .default_value = "0s",
           .min = 0,
           .max = 30.0 * 86'400'000},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    IntroductionsOptions options;
    options.max_lateness = max_lateness_of(s);
    for (const auto& role : s.strings("exclude_roles")) {
      if (auto r = parse_role(role)) options.excluded_roles.insert(*r);
    }
    options.due_after_start =
        std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_after_start"));
    return std::make_unique<Introductions>(name, std::move(options));
  };
  return kind;
}

}  // namespace rapport::hooks
