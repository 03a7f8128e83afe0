#include "hooks/letter_candidates/letter_candidates.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "hooks/common/interest.hpp"
#include "hooks/common/team_text.hpp"
#include "rapport/json.hpp"

namespace rapport::hooks {

std::vector<LetterScore> score_letter_candidates(const HookContext& context,
                                                 const std::string& student_id,
                                                 const LetterOptions& o, Span span) {
  std::vector<LetterScore> out;
  bool anonymous_counted = false;
  auto targets = interests_of(student_id, context);
  auto evaluations = context.evaluations_of(student_id);
  Date today = std::chrono::floor<std::chrono::days>(context.now());
  for (const auto& c : context.relationships().contacts_of(student_id, context.now(), span)) {
    if (c.role != Role::attending || c.days_together < o.min_days ||
        !context.reachable(c.person_id)) {
      continue;
    }
    LetterScore s;
    s.attending = c.person_id;
    s.days = c.days_together;
    s.last_day = c.last_day;
    s.time = std::min(1.0, c.days_together / 28.0);
    double sum = 0, shown_sum = 0;
    int n = 0, shown_n = 0;
    bool recommends = false;
    for (const auto& e : evaluations) {
      if (e.evaluator_id != c.person_id) continue;
      if (!e.anonymous) {
        shown_sum += e.normalized_score();
        ++shown_n;
      }
      if (e.anonymous && !o.rank_with_anonymous) continue;
      anonymous_counted = anonymous_counted || e.anonymous;
      sum += e.normalized_score();
      ++n;
      recommends = recommends || e.would_recommend.value_or(false);
    }
    s.evaluation = n > 0 ? std::min(1.0, sum / n + (recommends ? 0.1 : 0.0)) : 0.5;
    s.neutral_evaluation = n == 0;
    if (shown_n > 0) s.shown_evaluation = shown_sum / shown_n;
    s.recency = std::pow(0.5, std::max(0.0, double((today - c.last_day).count())) / 365.0);
    auto attending = context.person(c.person_id);
    std::string specialty =
        attending && attending->specialty ? *attending->specialty : c.specialties.back();
    // 1 for the strongest interest, 1/2 for the second, and so on.
    for (std::size_t i = 0; i < targets.size() && !s.specialty_match; ++i) {
      if (targets[i].specialty == specialty) {
        s.specialty_match = true;
        s.match = 1.0 / double(i + 1);
      }
    }
    s.total = 0.35 * s.time + 0.35 * s.evaluation + 0.15 * s.recency + 0.15 * s.match;
    if (s.total >= o.min_score) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const LetterScore& a, const LetterScore& b) {
    return a.total != b.total ? a.total > b.total : a.attending < b.attending;
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].rank = int(i) + 1;
    out[i].total_hidden = anonymous_counted;
  }
  return out;
}

TimePoint LetterCandidates::season_date(int year) const {
  return TimePoint{Date{std::chrono::year_month_day{std::chrono::year(year),
                                                    std::chrono::month(options_.season_month),
                                                    std::chrono::day(options_.season_day)}}};
}

int LetterCandidates::season_of(TimePoint t) const {
  int year = int(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)}.year());
  return year + (season_date(year) < t ? 1 : 0);
}

const std::map<std::string, std::vector<Candidate>>& LetterCandidates::matching(
    const HookContext& context, bool force) {
  const auto& graph = context.relationships();
  bool stale = !matching_at_ || ((graph.version() != matching_version_ ||
                                  std::chrono::floor<std::chrono::days>(context.now()) !=
                                      std::chrono::floor<std::chrono::days>(*matching_at_)) &&
                                 context.now() - *matching_at_ >= options_.rematch_interval);
  if (force || stale) {
    // What this season already suggested stays suggested and counts against both caps,
    // whatever the scores say now (read from the store: a restart forgets nothing).
    const int season = season_of(context.now());
    std::set<std::pair<std::string, std::string>> made;  // (student, attending)
    Used used;
    for (const auto& a : context.made_since(season_date(season - 1))) {
      auto s = a.evidence.find("season");
      if (a.type != ActionType::letter_candidate || s == a.evidence.end() ||
          s->second != std::to_string(season) || !made.emplace(a.student_id, a.contact_id).second) {
        continue;
      }
      ++used.by_student[a.student_id];
      ++used.by_person[a.contact_id];
    }
    std::map<std::string, std::vector<Candidate>> candidates;
    for (const auto& student : graph.students()) {
      if (!context.reachable(student)) continue;
      for (const auto& s : score_letter_candidates(context, student, options_, Span::planned)) {
        if (!made.count({student, s.attending})) {
          candidates[student].push_back({s.attending, s.total});
        }
      }
    }
    matching_ = assign(candidates, options_.per_student, options_.capacity, used);
    matching_version_ = graph.version();
    matching_at_ = context.now();
  }
  return matching_;
}

std::vector<Action> LetterCandidates::offer(const Event& event, const HookContext& context,
                                            const std::string& student, int season) {
  std::vector<Action> actions;
  auto assigned = matching_.find(student);
  if (assigned == matching_.end()) return actions;
  auto scores = score_letter_candidates(context, student, options_);
  for (const auto& candidate : assigned->second) {
    auto s = std::find_if(scores.begin(), scores.end(),
                          [&](const LetterScore& x) { return x.attending == candidate.person; });
    if (s == scores.end()) continue;
    std::map<std::string, std::string> evidence{
        {"days_together", std::to_string(s->days)},
        {"last_day_together", format_date(s->last_day)},
        {"rank", std::to_string(s->rank)},
        {"specialty_match", s->specialty_match ? "yes" : "no"},
        {"season", std::to_string(season)}};
    if (!s->total_hidden) {
      char total[16];
      std::snprintf(total, sizeof total, "%.2f", s->total);
      evidence["score"] = total;
    }
    std::string reason = "You worked " + plural(s->days, "day") + " with this attending";
    if (s->shown_evaluation) {
      char e[16];
      std::snprintf(e, sizeof e, "%.2f", *s->shown_evaluation);
      evidence["evaluation_score"] = e;
      if (*s->shown_evaluation >= options_.strong_evaluation) {
        reason += ", who evaluated you strongly";
      }
    }
    if (s->specialty_match) reason += ", in the specialty you are aiming for";
    reason += ": ask early whether they would write you a letter of recommendation for the " +
              std::to_string(season) + " season.";
    actions.push_back(make_action(name_, "letters/" + student + "/" + std::to_string(season), event,
                                  ActionType::letter_candidate, student, candidate.person,
                                  event.occurred + options_.due_within,
                                  expiry(season_date(season), options_.max_lateness),
                                  std::move(reason), std::move(evidence)));
  }
  return actions;
}

std::vector<Action> LetterCandidates::handle(const Event& event, const HookContext& context) {
  std::vector<Action> actions;
  int season = season_of(event.occurred);
  auto schedule_season = [&](int year) {
    context.schedule("season/" + std::to_string(year), season_date(year), "",
                     "{\"season\":" + std::to_string(year) + "}");
  };
  if (event.type == EventType::followup_due) {
    auto data = boost::json::parse(event.payload).as_object();
    if (!data.contains("hook") || data["hook"].as_string() != name_) return actions;
    matching(context, true);
    int year = int(data["season"].to_number<std::int64_t>());
    for (const auto& [student, assigned] : matching_) {
      auto more = offer(event, context, student, year);
      actions.insert(actions.end(), more.begin(), more.end());
    }
    schedule_season(year + 1);
    return actions;
  }
  schedule_season(season);
  std::string student;
  if (event.type == EventType::rotation_ended) {
    auto rotation = live_rotation(event, context);
    if (!rotation) return actions;
    student = rotation->student_id;
  } else {
    auto e = evaluation_from_json(event.payload);
    if (e.anonymous || e.normalized_score() < options_.strong_evaluation) return actions;
    student = e.student_id;
  }
  matching(context, false);
  return offer(event, context, student, season);
}

}  // namespace rapport::hooks
