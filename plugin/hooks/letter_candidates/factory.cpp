#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "hooks/letter_candidates/letter_candidates.hpp"

namespace rapport::hooks {
namespace {

// "MM-DD" -> (month, day), a day every year has (02-29 is not one).
std::optional<std::pair<unsigned, unsigned>> season_date_of(const std::string& text) {
  unsigned month = 0, day = 0;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%2u-%2u%c", &month, &day, &rest) != 2 ||
      !std::chrono::year_month_day(std::chrono::year(2023), std::chrono::month(month),
                                   std::chrono::day(day))
           .ok()) {
    return std::nullopt;
  }
  return std::pair{month, day};
}

std::string season_date_problem(const std::string& text) {
  if (season_date_of(text)) return {};
  return "\"" + text + "\" is not a month and day MM-DD that every year has (such as 06-01)";
}

}  // namespace

LetterOptions letter_options_of(const config::Section& s) {
  LetterOptions o;
  o.max_lateness = max_lateness_of(s);
  o.min_days = int(s.integer("min_days"));
  o.min_score = s.number("min_score");
  o.rank_with_anonymous = s.boolean("rank_with_anonymous");
  o.per_student = int(s.integer("per_student"));
  o.capacity = int(s.integer("capacity"));
  auto season = season_date_of(s.str("season_date"));
  if (!season) {
    throw std::runtime_error(s.path() +
                             ".season_date: " + season_date_problem(s.str("season_date")));
  }
  o.season_month = season->first;
  o.season_day = season->second;
  o.due_within = std::chrono::duration_cast<std::chrono::seconds>(s.duration("due_within"));
  o.strong_evaluation = s.number("strong_evaluation");
  o.rematch_interval =
      std::chrono::duration_cast<std::chrono::seconds>(s.duration("rematch_interval"));
  return o;
}

HookKind letter_candidates_kind() {
  using config::Type;
  HookKind kind;
  kind.type = "letter_candidates";
  kind.max_lateness = "90d";
  kind.lateness_from = "the season date of the season it is for (when applications open)";
  kind.schema = {
      "hooks (letter_candidates)",
      "Rank attendings who could write a strong letter; assign them across all students.",
      {
          {.name = "min_days",
           .type = Type::integer,
           .description = "never suggest an attending the student worked with fewer days",
           .default_value = "10",
           .min = 1,
           .max = 365},
          {.name = "min_score",
           .type = Type::number,
           .description = "never suggest a candidate scoring lower (0..1)",
           .default_value = "0.3",
           .min = 0,
           .max = 1},
          {.name = "rank_with_anonymous",
           .type = Type::boolean,
           .description = "let anonymous evaluations count in the ranking (never in evidence)",
           .default_value = "false"},
          {.name = "per_student",
           .type = Type::integer,
           .description = "letter writers suggested per student per season",
           .default_value = "3",
           .min = 1,
           .max = 10},
          {.name = "capacity",
           .type = Type::integer,
           .description = "students an attending is suggested to per season",
           .default_value = "5",
           .min = 1,
           .max = 100},
          {.name = "season_date",
           .type = Type::string,
           .description = "MM-DD each year when every student gets their candidates",
           .default_value = "06-01",
           .check = season_date_problem},
          {.name = "due_within",
           .type = Type::duration,
           .description = "when the suggestion falls due",
           .default_value = "14d",
           .min = 86'400'000,
           .max = 120.0 * 86'400'000},
          {.name = "strong_evaluation",
           .type = Type::number,
           .description = "a normalized evaluation at least this high triggers suggestions",
           .default_value = "0.75",
           .min = 0,
           .max = 1},
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
    return std::make_unique<LetterCandidates>(name, letter_options_of(s));
  };
  return kind;
}

}  // namespace rapport::hooks
