#include "graph/relationship_graph.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_set>

namespace rapport {
namespace {

std::int32_t day_number(Date d) {
  return std::int32_t(d.time_since_epoch().count());
}
Date date_of(std::int32_t n) {
  return Date{std::chrono::days(n)};
}

}  // namespace

RelationshipGraph::Id RelationshipGraph::intern(const std::string& text) {
  auto [it, added] = ids_.try_emplace(text, Id(names_.size()));
  if (added) names_.push_back(text);
  return it->second;
}

std::optional<RelationshipGraph::Id> RelationshipGraph::find(const std::string& text) const {
  auto it = ids_.find(text);
  return it == ids_.end() ? std::nullopt : std::optional<Id>(it->second);
}

void RelationshipGraph::remove_rotation(Id rotation) {
  auto it = rotations_.find(rotation);
  if (it == rotations_.end()) return;
  const RotationInfo info = it->second;
  changed(info.student);
  auto& edges = by_student_[info.student];
  auto& site_staff = staff_[info.site];
  for (const auto& e : edges) {
    if (e.rotation != rotation) continue;
    if (--site_staff[e.contact] == 0) site_staff.erase(e.contact);
  }
  auto before = edges.size();
  std::erase_if(edges, [&](const Edge& e) { return e.rotation == rotation; });
  edges_ -= before - edges.size();
  if (edges.empty()) by_student_.erase(info.student);
  std::erase_if(visits_[pair(info.site, info.specialty)],
                [&](const VisitRow& v) { return v.rotation == rotation; });
  rotations_.erase(it);
}

void RelationshipGraph::put_rotation(const Rotation& r) {
  Id rotation = intern(r.id);
  remove_rotation(rotation);
  changed(intern(r.student_id));
  ++version_;
  if (r.status == RotationStatus::cancelled) return;
  RotationInfo info{intern(r.student_id), intern(r.site), intern(r.specialty), day_number(r.start),
                    day_number(r.end)};
  rotations_[rotation] = info;
  visits_[pair(info.site, info.specialty)].push_back(
      {rotation, info.student, info.start, info.end});
  auto& edges = by_student_[info.student];
  for (const auto& m : r.team) {
    if (m.person_id == r.student_id) continue;
    Id contact = intern(m.person_id);
    // One edge per span: a roster split around a weekend counts its days once each.
    for (const auto& s : m.spans_or_dates()) {
      auto days = std::max<std::int64_t>(1, s.days());
      edges.push_back({contact, rotation, info.site, info.specialty, day_number(s.start),
                       day_number(s.end), std::uint16_t(std::min<std::int64_t>(days, 65535)),
                       std::uint8_t(m.role)});
      ++edges_;
    }
    ++staff_[info.site][contact];
  }
}

void RelationshipGraph::put_touch(const std::string& student_id, const std::string& contact_id,
                                  Date day) {
  Id student = intern(student_id);
  changed(student);
  ++version_;
  auto& at = touches_[pair(student, intern(contact_id))];
  at = std::max(at, day_number(day));
}

void RelationshipGraph::touched(const std::string& person_id) {
  changed(intern(person_id));
  ++version_;
}

std::optional<std::vector<std::string>> RelationshipGraph::changed_since(
    std::uint64_t version) const {
  if (version < cleared_at_) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& [id, at] : changed_) {
    if (at > version) out.push_back(names_[id]);
  }
  return out;
}

void RelationshipGraph::put_person(const Person& person) {
  Id id = intern(person.id);
  // A new version even when the memory's own part of the entry (the program) stays: hooks
  // rank by the rest (a specialty, an opt-out) and cache by the version.
  changed(id);
  ++version_;
  auto before = program_of_.find(id);
  std::optional<Id> program;
  if (person.program && !person.program->empty()) program = intern(*person.program);
  if (before != program_of_.end()) {
    if (program && before->second == *program) return;
    std::erase(programs_[before->second], id);
    program_of_.erase(before);
  }
  if (!program) return;
  program_of_[id] = *program;
  programs_[*program].push_back(id);
}

std::vector<std::string> RelationshipGraph::program_members(const std::string& program) const {
  std::vector<std::string> out;
  auto p = find(program);
  if (!p) return out;
  if (auto it = programs_.find(*p); it != programs_.end()) {
    for (Id id : it->second) out.push_back(names_[id]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RelationshipGraph::clear() {
  ids_.clear();
  names_.clear();
  by_student_.clear();
  rotations_.clear();
  visits_.clear();
  staff_.clear();
  touches_.clear();
  program_of_.clear();
  programs_.clear();
  changed_.clear();
  edges_ = 0;
  ++version_;
  cleared_at_ = version_;
}

void RelationshipGraph::rebuild(Store& store) {
  clear();
  store.for_each_person([this](const Person& p) { put_person(p); });
  store.for_each_rotation([this](const Rotation& r) { put_rotation(r); });
  store.for_each_touch(
      [this](const std::string& student, const std::string& contact, TimePoint at) {
        put_touch(student, contact, std::chrono::floor<std::chrono::days>(at));
      });
}

std::vector<ContactSummary> RelationshipGraph::contacts_of(const std::string& student_id,
                                                           TimePoint now, Span span) const {
  std::vector<ContactSummary> out;
  auto student = find(student_id);
  if (!student) return out;
  auto edges = by_student_.find(*student);
  if (edges == by_student_.end()) return out;
  std::int32_t today = day_number(std::chrono::floor<std::chrono::days>(now));
  std::unordered_map<Id, std::size_t> index;
  index.reserve(edges->second.size());
  // Oldest rotation first, so that lists read in time order and `role` ends as the latest.
  // (A team's edges share their rotation: its name is compared only between rotations.)
  std::vector<const Edge*> ordered;
  ordered.reserve(edges->second.size());
  for (const auto& e : edges->second) ordered.push_back(&e);
  std::sort(ordered.begin(), ordered.end(), [&](const Edge* a, const Edge* b) {
    if (a->last_day != b->last_day) return a->last_day < b->last_day;
    return a->rotation != b->rotation && names_[a->rotation] < names_[b->rotation];
  });
  for (const Edge* e : ordered) {
    // Only what has happened by now: a rotation under way counts its days so far, one
    // still to come not at all.
    if (span == Span::so_far && e->first_day > today) continue;
    std::int32_t last = span == Span::planned ? e->last_day : std::min(e->last_day, today);
    int days = std::min<int>(e->days, last - e->first_day + 1);
    auto [it, added] = index.try_emplace(e->contact, out.size());
    if (added) out.push_back({names_[e->contact]});
    auto& c = out[it->second];
    Role role = Role(e->role);
    c.days_together += days;
    c.strength += contact_strength(days, role, std::max(0, today - last));
    c.role = role;
    c.last_day = added ? date_of(last) : date_of(std::max(day_number(c.last_day), last));
    const auto& rotation_id = names_[e->rotation];
    if (std::find(c.rotation_ids.begin(), c.rotation_ids.end(), rotation_id) ==
        c.rotation_ids.end()) {  // a rotation's second span is not a second rotation
      c.rotation_ids.push_back(rotation_id);
      c.sites.push_back(names_[e->site]);
      c.specialties.push_back(names_[e->specialty]);
    }
  }
  // Sorted by place, then moved once (a summary is five strings and vectors to move).
  std::vector<std::size_t> places(out.size());
  for (std::size_t i = 0; i < places.size(); ++i) places[i] = i;
  std::sort(places.begin(), places.end(), [&](std::size_t i, std::size_t j) {
    const auto &a = out[i], &b = out[j];
    if (a.strength != b.strength) return a.strength > b.strength;
    if (a.last_day != b.last_day) return a.last_day > b.last_day;
    return a.person_id < b.person_id;
  });
  std::vector<ContactSummary> sorted;
  sorted.reserve(out.size());
  for (std::size_t i : places) sorted.push_back(std::move(out[i]));
  return sorted;
}

std::vector<Visit> RelationshipGraph::visits_at(const std::string& site,
                                                const std::string& specialty, Date ended_before,
                                                std::size_t limit) const {
  std::vector<Visit> out;
  auto s = find(site), sp = find(specialty);
  if (!s || !sp) return out;
  auto it = visits_.find(pair(*s, *sp));
  if (it == visits_.end()) return out;
  // Numbers only until the few that are returned, and names compared only within the end
  // days reached: a busy site (thousands of visits, hundreds ending on one day) costs little.
  std::int32_t before = day_number(ended_before);
  std::vector<const VisitRow*> ended;
  ended.reserve(it->second.size());
  for (const auto& v : it->second) {
    if (v.end < before) ended.push_back(&v);
  }
  auto later = [](const VisitRow* a, const VisitRow* b) { return a->end > b->end; };
  std::sort(ended.begin(), ended.end(), later);
  std::unordered_set<Id> seen;
  for (auto day = ended.begin(); day != ended.end() && out.size() < limit;) {
    auto next = std::upper_bound(day, ended.end(), *day, later);  // the end of that day
    std::sort(day, next, [&](const VisitRow* a, const VisitRow* b) {
      return names_[a->rotation] < names_[b->rotation];
    });
    for (auto v = day; v != next && out.size() < limit; ++v) {
      if (!seen.insert((*v)->student).second) continue;
      out.push_back({names_[(*v)->student], names_[(*v)->rotation], date_of((*v)->start),
                     date_of((*v)->end)});
    }
    day = next;
  }
  return out;
}

std::vector<std::string> RelationshipGraph::staff_at(const std::string& site) const {
  std::vector<std::string> out;
  auto s = find(site);
  if (!s) return out;
  auto it = staff_.find(*s);
  if (it == staff_.end()) return out;
  for (const auto& [person, count] : it->second) out.push_back(names_[person]);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RelationshipGraph::students() const {
  std::vector<std::string> out;
  for (const auto& [student, edges] : by_student_) out.push_back(names_[student]);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Date> RelationshipGraph::last_touch(const std::string& student_id,
                                                  const std::string& contact_id,
                                                  TimePoint now) const {
  auto student = find(student_id), contact = find(contact_id);
  if (!student || !contact) return std::nullopt;
  std::int32_t today = day_number(std::chrono::floor<std::chrono::days>(now));
  std::optional<std::int32_t> last;
  if (auto t = touches_.find(pair(*student, *contact)); t != touches_.end() && t->second <= today) {
    last = t->second;
  }
  if (auto edges = by_student_.find(*student); edges != by_student_.end()) {
    for (const auto& e : edges->second) {
      if (e.contact != *contact || e.first_day > today) continue;
      std::int32_t day = std::min(e.last_day, today);
      if (!last || day > *last) last = day;
    }
  }
  return last ? std::optional<Date>(date_of(*last)) : std::nullopt;
}

std::string RelationshipGraph::canonical() const {
  std::set<std::string> lines;
  for (const auto& [student, edges] : by_student_) {
    for (const auto& e : edges) {
      std::ostringstream os;
      os << "edge " << names_[student] << ' ' << names_[e.contact] << ' ' << names_[e.rotation]
         << ' ' << names_[e.site] << ' ' << names_[e.specialty] << ' ' << e.first_day << ' '
         << e.last_day << ' ' << e.days << ' ' << int(e.role);
      lines.insert(os.str());
    }
  }
  for (const auto& [key, day] : touches_) {
    lines.insert("touch " + names_[Id(key >> 32)] + ' ' + names_[Id(key & 0xffffffffu)] + ' ' +
                 std::to_string(day));
  }
  for (const auto& [person, program] : program_of_) {
    lines.insert("program " + names_[program] + ' ' + names_[person]);
  }
  for (const auto& [site, people] : staff_) {
    for (const auto& [person, count] : people) {
      lines.insert("staff " + names_[site] + ' ' + names_[person] + ' ' + std::to_string(count));
    }
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace rapport
