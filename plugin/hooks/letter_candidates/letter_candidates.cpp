#include "hooks/letter_candidates/letter_candidates.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "hooks/common/interest.hpp"
#include "hooks/common/team_text.hpp"
#include "rapport/json.hpp"

namespace rapport::hooks {

namespace {

// What one student's scores are made of apart from the day and the candidates' own
// directory entries (whether they can be reached, their specialty).
struct LetterBasis {
  struct Row {
    std::string attending;
    int days = 0;
    Date last_day;
    double time = 0, evaluation = 0;
    std::optional<double> shown_evaluation;
    bool neutral_evaluation = false;
    bool anonymous_counted = false;  // an anonymous evaluation by them counts
    std::string specialty;           // of the rotations together, when the directory has none
  };
  std::vector<std::string> targets;  // the student's interests, strongest first
  std::vector<Row> rows;             // attendings of at least min_days
};

LetterBasis letter_basis(const HookContext& context, const std::string& student_id,
                         const LetterOptions& o, Span span) {
  LetterBasis basis;
  for (auto& i : interests_of(student_id, context)) basis.targets.push_back(std::move(i.specialty));
  auto evaluations = context.evaluations_of(student_id);
  for (const auto& c : context.relationships().contacts_of(student_id, context.now(), span)) {
    if (c.role != Role::attending || c.days_together < o.min_days) continue;
    LetterBasis::Row row;
    row.attending = c.person_id;
    row.days = c.days_together;
    row.last_day = c.last_day;
    row.time = std::min(1.0, c.days_together / 28.0);
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
      row.anonymous_counted = row.anonymous_counted || e.anonymous;
      sum += e.normalized_score();
      ++n;
      recommends = recommends || e.would_recommend.value_or(false);
    }
    row.evaluation = n > 0 ? std::min(1.0, sum / n + (recommends ? 0.1 : 0.0)) : 0.5;
    row.neutral_evaluation = n == 0;
    if (shown_n > 0) row.shown_evaluation = shown_sum / shown_n;
    row.specialty = c.specialties.back();
    basis.rows.push_back(std::move(row));
  }
  return basis;
}

// What the scores read of a candidate's own directory entry.
struct Staff {
  bool reachable = false;
  std::optional<std::string> specialty;
};

Staff staff_of(const HookContext& context, const std::string& id) {
  Staff staff;
  staff.reachable = context.reachable(id);
  if (auto p = context.person(id)) staff.specialty = p->specialty;
  return staff;
}

// The parts of a row's score that depend on the day and on the attending's entry. One
// function for the scores shown and for the assignment, so that both add up alike: `fixed`
// is the row's 0.35 * time + 0.35 * evaluation, `rank` the place of the attending's
// specialty among the student's interests (0 for the strongest; none: no match).
struct DayParts {
  double recency = 0, match = 0, total = 0;
  bool specialty_match = false;
};

// Halves every 365 days since the last day together.
double recency(int days_since) {
  return std::pow(0.5, std::max(0.0, double(days_since)) / 365.0);
}

DayParts day_parts(double fixed, double recency, std::optional<std::size_t> rank) {
  DayParts d;
  d.recency = recency;
  // 1 for the strongest interest, 1/2 for the second, and so on.
  if (rank) {
    d.specialty_match = true;
    d.match = 1.0 / double(*rank + 1);
  }
  d.total = fixed + 0.15 * d.recency + 0.15 * d.match;
  return d;
}

double fixed_part(const LetterBasis::Row& row) {
  return 0.35 * row.time + 0.35 * row.evaluation;
}

// Where `specialty` stands among `targets`, strongest first.
template <typename T>
std::optional<std::size_t> rank_among(const std::vector<T>& targets, const T& specialty) {
  auto it = std::find(targets.begin(), targets.end(), specialty);
  if (it == targets.end()) return std::nullopt;
  return std::size_t(it - targets.begin());
}

Date day_of(const HookContext& context) {
  return std::chrono::floor<std::chrono::days>(context.now());
}

}  // namespace

std::vector<LetterScore> score_letter_candidates(const HookContext& context,
                                                 const std::string& student_id,
                                                 const LetterOptions& o, Span span) {
  std::vector<LetterScore> out;
  bool anonymous_counted = false;
  const auto basis = letter_basis(context, student_id, o, span);
  const Date today = day_of(context);
  for (const auto& row : basis.rows) {
    const Staff staff = staff_of(context, row.attending);
    if (!staff.reachable) continue;
    anonymous_counted = anonymous_counted || row.anonymous_counted;
    const DayParts d =
        day_parts(fixed_part(row), recency((today - row.last_day).count()),
                  rank_among(basis.targets, staff.specialty ? *staff.specialty : row.specialty));
    if (d.total < o.min_score) continue;
    LetterScore s;
    s.attending = row.attending;
    s.days = row.days;
    s.last_day = row.last_day;
    s.time = row.time;
    s.evaluation = row.evaluation;
    s.neutral_evaluation = row.neutral_evaluation;
    s.shown_evaluation = row.shown_evaluation;
    s.recency = d.recency;
    s.match = d.match;
    s.specialty_match = d.specialty_match;
    s.total = d.total;
    out.push_back(std::move(s));
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

// Kept between assignments: each student's basis (Span::planned) and reachability, and
// each attending's entry, numbered; specialties numbered too, so that adding up a day's
// scores compares numbers. Whatever the memory says changed since `version` is read again;
// when it cannot say (it was rebuilt), or a season begins, everything is.
struct LetterCandidates::Memo {
  struct Row {
    int staff = 0;      // the attending's number
    int specialty = 0;  // of the rotations together, numbered
    Date last_day;
    double fixed = 0;  // fixed_part(row)
  };
  struct Student {
    bool reachable = false;
    std::vector<int> targets;  // the student's interests, numbered
    std::vector<Row> rows;
  };
  struct Entry {
    bool reachable = false;
    std::optional<int> specialty;
  };
  std::uint64_t version = 0;
  std::unordered_map<std::string, Student> students;
  std::unordered_map<std::string, int> numbers;
  std::vector<std::string> names;           // by number
  std::vector<std::optional<Entry>> staff;  // by number; nullopt: read at next use
  std::unordered_map<std::string, int> specialties;

  int number(const std::string& id) {
    auto [it, added] = numbers.try_emplace(id, int(names.size()));
    if (added) {
      names.push_back(id);
      staff.emplace_back();
    }
    return it->second;
  }
  int specialty(const std::string& name) {
    return specialties.try_emplace(name, int(specialties.size())).first->second;
  }
  const Entry& staff_at(int n, const HookContext& context) {
    auto& s = staff[std::size_t(n)];
    if (!s) {
      const Staff read = staff_of(context, names[std::size_t(n)]);
      Entry entry{read.reachable, std::nullopt};
      if (read.specialty) entry.specialty = specialty(*read.specialty);
      s = entry;
    }
    return *s;
  }
  // Forgets what changed since the memory was at `version`.
  void refresh(const Relationships& graph, bool everything) {
    auto changed = everything ? std::nullopt : graph.changed_since(version);
    if (!changed) {
      students.clear();
      numbers.clear();
      names.clear();
      staff.clear();
      specialties.clear();
    } else {
      for (const auto& id : *changed) {
        students.erase(id);
        if (auto it = numbers.find(id); it != numbers.end()) staff[std::size_t(it->second)].reset();
      }
    }
    version = graph.version();
  }
  const Student& student(const std::string& id, const HookContext& context,
                         const LetterOptions& o) {
    auto it = students.find(id);
    if (it == students.end()) {
      Student s;
      s.reachable = context.reachable(id);
      if (s.reachable) {
        const auto basis = letter_basis(context, id, o, Span::planned);
        for (const auto& t : basis.targets) s.targets.push_back(specialty(t));
        for (const auto& row : basis.rows) {
          s.rows.push_back(
              {number(row.attending), specialty(row.specialty), row.last_day, fixed_part(row)});
        }
      }
      it = students.emplace(id, std::move(s)).first;
    }
    return it->second;
  }
};

LetterCandidates::LetterCandidates(std::string name, LetterOptions options)
    : name_(std::move(name)), options_(options), memo_(std::make_unique<Memo>()) {}

LetterCandidates::~LetterCandidates() = default;

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
    std::unordered_map<std::string, std::vector<std::string>> made;  // student -> attendings
    Used used;
    for (const auto& a : context.made_since(season_date(season - 1))) {
      auto s = a.evidence.find("season");
      if (a.type != ActionType::letter_candidate || s == a.evidence.end() ||
          s->second != std::to_string(season)) {
        continue;
      }
      auto& theirs = made[a.student_id];
      if (std::find(theirs.begin(), theirs.end(), a.contact_id) != theirs.end()) continue;
      theirs.push_back(a.contact_id);
      ++used.by_student[a.student_id];
      ++used.by_person[a.contact_id];
    }
    Memo& memo = *memo_;
    memo.refresh(graph, force);
    const Date today = day_of(context);
    // Students numbered in id order (graph.students() is sorted), attendings by the memo's
    // numbers; each list best first, ties by the attending's id.
    std::vector<const std::string*> students;
    std::vector<std::vector<Choice>> lists;
    std::vector<int> quota;
    const auto all = graph.students();
    for (const auto& id : all) {
      const auto& student = memo.student(id, context, options_);
      if (!student.reachable) continue;
      auto theirs = made.find(id);
      std::vector<Choice> choices;
      for (const auto& row : student.rows) {
        const auto& staff = memo.staff_at(row.staff, context);
        if (!staff.reachable) continue;
        const double total =
            day_parts(row.fixed, recency((today - row.last_day).count()),
                      rank_among(student.targets, staff.specialty.value_or(row.specialty)))
                .total;
        if (total < options_.min_score) continue;
        if (theirs != made.end() &&
            std::find(theirs->second.begin(), theirs->second.end(),
                      memo.names[std::size_t(row.staff)]) != theirs->second.end()) {
          continue;
        }
        choices.push_back({total, row.staff});
      }
      if (choices.empty()) continue;
      std::sort(choices.begin(), choices.end(), [&](const Choice& a, const Choice& b) {
        return a.score != b.score
                   ? a.score > b.score
                   : memo.names[std::size_t(a.person)] < memo.names[std::size_t(b.person)];
      });
      students.push_back(&id);
      lists.push_back(std::move(choices));
      quota.push_back(places_left(used.by_student, id, options_.per_student));
    }
    std::vector<int> room(memo.names.size());
    for (std::size_t n = 0; n < room.size(); ++n) {
      room[n] = places_left(used.by_person, memo.names[n], options_.capacity);
    }
    matching_ = by_id(assign_numbered(lists, quota, room), students, memo.names);
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
