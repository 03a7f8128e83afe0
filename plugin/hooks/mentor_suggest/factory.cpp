#include "hooks/mentor_suggest/mentor_suggest.hpp"

namespace rapport::hooks {

HookKind mentor_suggest_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "mentor_suggest";
  kind.max_lateness = "0s";
  kind.lateness_from = "the rotation's end";
  kind.schema = {
      "hooks (mentor_suggest)",
      "Suggest a mentor in the student's target specialty; capacity holds across students.",
      {
          {.name = "capacity",
           .type = Type::integer,
           .description = "students a mentor is suggested to",
           .default_value = "3",
           .min = 1,
           .max = 50},
          {.name = "established_days",
           .type = Type::integer,
           .description = "days together with someone of the target specialty that count as "
                          "having a mentor already",
           .default_value = "56",
           .min = 1,
           .max = 3650},
          {.name = "due_after",
           .type = Type::duration,
           .description = "when the suggestion falls due, after the rotation starts",
           .default_value = "7d",
           .min = 0,
           .max = 90.0 * 86'400'000},
          {.name = "rematch_interval",
           .type = Type::duration,
           .description = "at least this long between two assignments across all students, which "
                          "otherwise rerun whenever the memory or the day changed (set 1d or "
                          "more for tens of thousands of students)",
           .default_value = "0s",
           .min = 0,
           .max = 365.0 * 86'400'000},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Hook> {
    MentorOptions o;
    o.max_lateness = max_lateness_of(s);
    o.capacity = int(s.integer("capacity"));
    o.established_days = int(s.integer("established_days"));
    o.due_after = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_after"));
    o.rematch_interval =
        std::chrono::duration_cast<std::chrono::seconds>(s.duration("rematch_interval"));
    return std::make_unique<MentorSuggest>(name, o);
  };
  return kind;
}

}  // namespace rapport::hooks
