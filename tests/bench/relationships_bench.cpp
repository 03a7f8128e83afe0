// Benchmark of the relationship memory and the built-in hooks on a synthetic consortium:
//   relationships_bench [students ...]     (default: 25000 50000)
// For each size: rebuild time and memory of the graph (bytes per edge), and per-event
// latency (median, p99) of every hook over sampled events, with the one-off cost of the
// across-students assignments (letters, mentors) shown apart. It prints figures; it never
// fails. Sizes double so that growth can be read off.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/registry.hpp"
#include "graph/relationship_graph.hpp"
#include "hooks/letter_candidates/letter_candidates.hpp"
#include "hooks/mentor_suggest/mentor_suggest.hpp"
#include "rapport/json.hpp"

using namespace rapport;
using Stopwatch = std::chrono::steady_clock;

namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

struct Consortium {
  std::map<std::string, Person> people;
  std::vector<Rotation> rotations;
  std::map<std::string, std::vector<std::size_t>> by_student;
  std::map<std::string, std::vector<Evaluation>> evaluations;
};

const std::vector<std::string> kSpecialties{
    "Internal Medicine", "Surgery",         "Pediatrics",         "Psychiatry",
    "Neurology",         "Family Medicine", "Emergency Medicine", "Obstetrics and Gynecology"};

Consortium make_consortium(int students) {
  std::mt19937 rng(42);
  Consortium c;
  int sites = std::max(50, students / 125);  // 400 sites for 50,000 students
  const std::vector<Role> staff_roles{
      Role::attending,  Role::attending,     Role::attending,     Role::attending, Role::resident,
      Role::resident,   Role::resident,      Role::resident,      Role::resident,  Role::fellow,
      Role::nurse,      Role::nurse,         Role::nurse,         Role::nurse,     Role::pharmacist,
      Role::pharmacist, Role::social_worker, Role::social_worker, Role::other,     Role::resident};
  std::vector<std::vector<std::string>> staff{std::size_t(sites)};
  for (int s = 0; s < sites; ++s) {
    for (std::size_t i = 0; i < staff_roles.size(); ++i) {
      Person p;
      p.id = "E" + std::to_string(s) + "-" + std::to_string(i);
      p.role = staff_roles[i];
      p.name = "Staff";
      p.specialty = kSpecialties[std::size_t(s) % kSpecialties.size()];
      if (i < 1 || staff_roles[i] == Role::resident) {
        p.program = "Program " + std::to_string(s);
      }
      staff[std::size_t(s)].push_back(p.id);
      c.people[p.id] = p;
    }
  }
  int evaluation_no = 0;
  for (int st = 0; st < students; ++st) {
    Person p;
    p.id = "L" + std::to_string(st);
    p.role = Role::student;
    p.name = "Student";
    p.specialty = kSpecialties[rng() % kSpecialties.size()];
    c.people[p.id] = p;
    for (int k = 0; k < 12; ++k) {
      int s = int(rng() % std::uint32_t(sites));
      Rotation r;
      r.id = "R" + std::to_string(st) + "-" + std::to_string(k);
      r.student_id = p.id;
      r.site = "Site " + std::to_string(s);
      r.specialty = kSpecialties[std::size_t(s) % kSpecialties.size()];
      r.kind = k >= 8 ? RotationKind::elective : RotationKind::core;
      r.start = *parse_date("2025-01-06") + std::chrono::days(28 * k);
      r.end = r.start + std::chrono::days(27);
      auto pool = staff[std::size_t(s)];
      std::shuffle(pool.begin(), pool.end(), rng);
      int size = 8 + int(rng() % 5);
      for (int m = 0; m < size; ++m) {
        r.team.push_back(
            {pool[std::size_t(m)], c.people[pool[std::size_t(m)]].role, r.start, r.end});
      }
      for (const auto& m : r.team) {
        if (m.role != Role::attending || rng() % 2) continue;
        Evaluation e;
        e.id = "V" + std::to_string(++evaluation_no);
        e.rotation_id = r.id;
        e.evaluator_id = m.person_id;
        e.student_id = p.id;
        e.submitted = TimePoint{r.end + std::chrono::days(3)};
        e.score = 4 + rng() % 6;
        e.scale_min = 1;
        e.scale_max = 9;
        c.evaluations[p.id].push_back(e);
      }
      c.by_student[p.id].push_back(c.rotations.size());
      c.rotations.push_back(std::move(r));
    }
  }
  return c;
}

class BenchContext final : public HookContext {
 public:
  BenchContext(const Consortium& c, const RelationshipGraph& g, TimePoint now)
      : c_(c), g_(g), now_(now) {}
  TimePoint now() const override { return now_; }
  std::optional<Person> person(const std::string& id) const override {
    auto it = c_.people.find(id);
    return it == c_.people.end() ? std::nullopt : std::optional<Person>(it->second);
  }
  std::optional<Rotation> rotation(const std::string& id) const override {
    auto dash = id.find('-');
    auto st = c_.by_student.find("L" + id.substr(1, dash - 1));
    if (st == c_.by_student.end()) return std::nullopt;
    for (auto i : st->second) {
      if (c_.rotations[i].id == id) return c_.rotations[i];
    }
    return std::nullopt;
  }
  std::vector<Rotation> rotations_of(const std::string& student) const override {
    std::vector<Rotation> out;
    if (auto it = c_.by_student.find(student); it != c_.by_student.end()) {
      for (auto i : it->second) out.push_back(c_.rotations[i]);
    }
    return out;
  }
  std::vector<Evaluation> evaluations_of(const std::string& student) const override {
    auto it = c_.evaluations.find(student);
    return it == c_.evaluations.end() ? std::vector<Evaluation>{} : it->second;
  }
  const Relationships& relationships() const override { return g_; }
  void schedule(const std::string&, TimePoint, const std::string&,
                const std::string&) const override {}
  void notice(const std::string&) const override {}

 private:
  const Consortium& c_;
  const RelationshipGraph& g_;
  TimePoint now_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

// The day's changes: 1,000 new evaluations (the students they are about marked in the
// memory) and the events of the day: those evaluations, 2,000 rotations ending and 2,000
// starting (rotations starting or ending change nothing the assignments read but the day).
std::vector<Event> a_day(Consortium& c, RelationshipGraph& graph, TimePoint day) {
  std::vector<Event> events;
  std::mt19937 rng(11);
  for (int i = 0; i < 1000; ++i) {
    const auto& r = c.rotations[rng() % c.rotations.size()];
    Evaluation e;
    e.id = "D" + std::to_string(i);
    e.rotation_id = r.id;
    e.evaluator_id = r.team.front().person_id;
    e.student_id = r.student_id;
    e.submitted = day;
    e.score = 1 + rng() % 9;
    e.scale_min = 1;
    e.scale_max = 9;
    e.would_recommend = rng() % 2 == 0;
    c.evaluations[r.student_id].push_back(e);
    graph.touched(r.student_id);
    events.push_back(
        {e.id, EventType::evaluation_submitted, "bench", day, r.student_id, to_json(e)});
    for (auto type : {EventType::rotation_ended, EventType::rotation_started,
                      EventType::rotation_ended, EventType::rotation_started}) {
      const auto& other = c.rotations[rng() % c.rotations.size()];
      events.push_back({"day" + std::to_string(events.size()), type, "bench", day, other.student_id,
                        to_json(other)});
    }
  }
  return events;
}

// An assignment across all students (letters, mentors) over a day: made once, then again a
// day later after the day's changes, keeping what it can of the day before; beside it, the
// same made from nothing by a fresh hook (the two must agree); then a hook set as a
// consortium would set it (rematch_interval: 1d) handed the day's events it subscribes to:
// one assignment that day, then each event's own suggestions.
template <typename Assigning>
void assignment_day(const char* name, Consortium& c, RelationshipGraph& graph,
                    const Registry& registry, const config::Config& config) {
  auto create = [&](const config::Config& from) {
    return registry.hook(name)->create(name, from.section().section("hooks").section(name));
  };
  auto kept = create(config), fresh = create(config);
  auto daily_config = config::load_config_text(
      "hooks: {" + std::string(name) + ": {rematch_interval: 1d}}\n", "bench", registry);
  auto daily = create(*daily_config);
  const TimePoint day1{*parse_date("2025-12-01")}, day2 = day1 + std::chrono::days(1);
  auto seconds = [](auto&& f) {
    auto begin = Stopwatch::now();
    f();
    return std::chrono::duration<double>(Stopwatch::now() - begin).count();
  };
  auto matching = [](Hook& hook, const HookContext& context) {
    return dynamic_cast<Assigning&>(hook).matching(context, false);
  };
  BenchContext first(c, graph, day1);
  double full_s = seconds([&] { matching(*kept, first); });
  matching(*daily, first);
  auto events = a_day(c, graph, day2);
  const auto wanted = daily->subscribed();
  std::erase_if(events, [&](const Event& e) {
    return std::find(wanted.begin(), wanted.end(), e.type) == wanted.end();
  });
  BenchContext next(c, graph, day2);
  double kept_s = seconds([&] { matching(*kept, next); });
  double fresh_s = seconds([&] { matching(*fresh, next); });
  bool same = matching(*kept, next) == matching(*fresh, next);
  std::size_t offers = 0;
  double day_s = seconds([&] {
    for (const auto& e : events) offers += daily->handle(e, next).size();
  });
  std::printf(
      "  %s assignment: from nothing %.2f s; the next day, 1,000 evaluations later, "
      "%.3f s keeping the day before's (%.2f s from nothing; %s)\n"
      "  the day's %zu events it takes (of 2,000 rotations starting, 2,000 ending, 1,000 "
      "evaluations) through the hook (rematch_interval: 1d): %.3f s, %zu suggestions\n",
      name, full_s, kept_s, fresh_s, same ? "the same assignment" : "DIFFERENT ASSIGNMENTS",
      events.size(), day_s, offers);
}

void run(int students, const Registry& registry) {
  std::printf("== %d students, 12 rotations each, teams of 8 to 12\n", students);
  long before = rss_kib();
  auto c = make_consortium(students);
  long with_data = rss_kib();
  auto t0 = Stopwatch::now();
  RelationshipGraph graph;
  for (const auto& r : c.rotations) graph.put_rotation(r);
  for (const auto& [id, p] : c.people) graph.put_person(p);
  double rebuild_s = std::chrono::duration<double>(Stopwatch::now() - t0).count();
  long with_graph = rss_kib();
  double bytes_per_edge = double(with_graph - with_data) * 1024.0 / double(graph.edge_count());
  std::printf(
      "rebuild: %zu edges in %.2f s (%.2f M edges/s); graph memory %.0f MiB = %.0f "
      "bytes/edge (synthetic input itself: %.0f MiB)\n",
      graph.edge_count(), rebuild_s, double(graph.edge_count()) / rebuild_s / 1e6,
      double(with_graph - with_data) / 1024.0, bytes_per_edge, double(with_data - before) / 1024.0);

  auto config = config::load_config_text(
      "hooks: {introductions: {}, thank_you: {}, peer_connect: {trigger: started},"
      " letter_candidates: {}, program_contacts: {}, specialty_contacts: {},"
      " interprofessional: {}, follow_up: {}, mentor_suggest: {}}\n",
      "bench", registry);
  std::mt19937 rng(7);
  // RAPPORT_BENCH_ONLY=letters or =mentors: only that assignment's day (for profiling it);
  // =<hook name>: only that hook's events.
  const char* only = std::getenv("RAPPORT_BENCH_ONLY");
  for (const auto& [name, section] : config->section().sections("hooks")) {
    if (only && name != only) continue;
    auto hook = registry.hook(name)->create(name, section);
    std::vector<double> micros;
    double first_ms = 0;
    for (int i = 0; i < 2001; ++i) {
      const auto& r = c.rotations[rng() % c.rotations.size()];
      EventType type = EventType::rotation_started;
      auto wanted = hook->subscribed();
      if (std::find(wanted.begin(), wanted.end(), type) == wanted.end()) type = wanted.front();
      TimePoint at =
          TimePoint{type == EventType::rotation_ended ? r.end + std::chrono::days(1) : r.start};
      std::string payload = to_json(r);
      if (type == EventType::evaluation_submitted) {
        auto evs = c.evaluations.find(r.student_id);
        if (evs == c.evaluations.end() || evs->second.empty()) continue;
        payload = to_json(evs->second.front());
      }
      if (type == EventType::followup_due) {
        payload = "{\"hook\":\"" + name + "\",\"student\":\"" + r.student_id + "\",\"contact\":\"" +
                  r.team.front().person_id + "\",\"role\":\"attending\",\"rotation\":\"" + r.id +
                  "\",\"site\":\"" + r.site + "\",\"specialty\":\"" + r.specialty +
                  "\",\"last_day\":\"" + format_date(r.end) + "\",\"after_days\":30}";
      }
      Event e{"e" + std::to_string(i), type, "bench", at, r.student_id, payload};
      // One moment for the whole run, so the assignments are computed once, as in a day.
      BenchContext ctx(c, graph, TimePoint{*parse_date("2025-12-01")});
      auto begin = Stopwatch::now();
      hook->handle(e, ctx);
      double us = std::chrono::duration<double, std::micro>(Stopwatch::now() - begin).count();
      if (i == 0) {
        first_ms = us / 1000.0;
      } else {
        micros.push_back(us);
      }
    }
    std::printf("  %-20s per event: median %8.1f us, p99 %8.1f us   (first event %.1f ms)\n",
                name.c_str(), percentile(micros, 0.5), percentile(micros, 0.99), first_ms);
  }
  // Each day adds its evaluations to the consortium; the mentor assignment does not read
  // evaluations, so its day may follow the letters' (whose evaluations it then sees twice).
  if (!only || std::string(only) == "letters") {
    assignment_day<hooks::LetterCandidates>("letter_candidates", c, graph, registry, *config);
  }
  if (!only || std::string(only) == "mentors") {
    assignment_day<hooks::MentorSuggest>("mentor_suggest", c, graph, registry, *config);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Registry registry;
  register_builtins(registry);
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {25000, 50000};
  for (int n : sizes) run(n, registry);
  return 0;
}
