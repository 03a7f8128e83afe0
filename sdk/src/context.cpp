#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "rapport/hook.hpp"

namespace rapport {

ContextSnapshot snapshot_of(const HookContext& context, const std::string& student_id) {
  ContextSnapshot s;
  s.now = context.now();
  s.rotations = context.rotations_of(student_id);
  s.evaluations = context.evaluations_of(student_id);
  // An anonymous evaluation never names its evaluator outside the engine.
  for (auto& e : s.evaluations) {
    if (e.anonymous) e.evaluator_id.clear();
  }
  std::set<std::string> ids{student_id};
  for (const auto& r : s.rotations) {
    for (const auto& m : r.team) ids.insert(m.person_id);
  }
  for (const auto& id : ids) {
    if (auto p = context.person(id)) s.people.push_back(std::move(*p));
  }
  return s;
}

std::optional<Person> SnapshotContext::person(const std::string& id) const {
  for (const auto& p : snapshot_.people) {
    if (p.id == id) return p;
  }
  return std::nullopt;
}

std::optional<Rotation> SnapshotContext::rotation(const std::string& id) const {
  for (const auto& r : snapshot_.rotations) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

std::vector<Rotation> SnapshotContext::rotations_of(const std::string& student_id) const {
  std::vector<Rotation> out;
  for (const auto& r : snapshot_.rotations) {
    if (r.student_id == student_id) out.push_back(r);
  }
  return out;
}

std::vector<Evaluation> SnapshotContext::evaluations_of(const std::string& student_id) const {
  std::vector<Evaluation> out;
  for (const auto& e : snapshot_.evaluations) {
    if (e.student_id == student_id) out.push_back(e);
  }
  return out;
}

}  // namespace rapport

namespace rapport {

double role_weight(Role role) {
  switch (role) {
    case Role::attending:
      return 1.0;
    case Role::fellow:
      return 0.9;
    case Role::resident:
      return 0.8;
    case Role::nurse:
      return 0.6;
    case Role::pharmacist:
    case Role::social_worker:
      return 0.5;
    case Role::student:
    case Role::other:
      return 0.4;
  }
  return 0.4;
}

double contact_strength(int days, Role role, int days_since_last, int half_life_days) {
  double age = std::max(0, days_since_last);
  return days * role_weight(role) * std::pow(0.5, age / std::max(1, half_life_days));
}

std::vector<ContactSummary> SnapshotRelationships::contacts_of(const std::string& student_id,
                                                               TimePoint now, Span span) const {
  std::map<std::string, ContactSummary> by_id;
  Date today = std::chrono::floor<std::chrono::days>(now);
  for (const auto& r : snapshot_.rotations) {
    if (r.student_id != student_id || r.status == RotationStatus::cancelled) continue;
    for (const auto& m : r.team) {
      if (m.person_id == student_id || (span == Span::so_far && m.start > today)) continue;
      Date last = span == Span::planned ? m.end : std::min(m.end, today);
      auto& c = by_id[m.person_id];
      c.person_id = m.person_id;
      // Each span counts its days (so far) and their recency.
      for (const auto& s : m.spans_or_dates()) {
        if (span == Span::so_far && s.start > today) continue;
        Date span_last = span == Span::planned ? s.end : std::min(s.end, today);
        int days = int((span_last - s.start).count()) + 1;
        c.days_together += days;
        c.strength += contact_strength(days, m.role, std::max(0, int((today - span_last).count())));
      }
      if (c.rotation_ids.empty() || last >= c.last_day) {
        c.role = m.role;
        c.last_day = last;
      }
      c.rotation_ids.push_back(r.id);
      c.sites.push_back(r.site);
      c.specialties.push_back(r.specialty);
    }
  }
  std::vector<ContactSummary> out;
  for (auto& [id, c] : by_id) out.push_back(std::move(c));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.strength != b.strength) return a.strength > b.strength;
    if (a.last_day != b.last_day) return a.last_day > b.last_day;
    return a.person_id < b.person_id;
  });
  return out;
}

std::vector<Visit> SnapshotRelationships::visits_at(const std::string& site,
                                                    const std::string& specialty, Date ended_before,
                                                    std::size_t limit) const {
  std::map<std::string, Visit> latest;
  for (const auto& r : snapshot_.rotations) {
    if (r.site != site || r.specialty != specialty || r.status == RotationStatus::cancelled ||
        r.end >= ended_before) {
      continue;
    }
    auto& v = latest[r.student_id];
    if (v.rotation_id.empty() || r.end > v.end) v = {r.student_id, r.id, r.start, r.end};
  }
  std::vector<Visit> out;
  for (auto& [id, v] : latest) out.push_back(v);
  std::sort(out.begin(), out.end(), [](const Visit& a, const Visit& b) {
    return a.end != b.end ? a.end > b.end : a.student_id < b.student_id;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<std::string> SnapshotRelationships::staff_at(const std::string& site) const {
  std::set<std::string> ids;
  for (const auto& r : snapshot_.rotations) {
    if (r.site != site || r.status == RotationStatus::cancelled) continue;
    for (const auto& m : r.team) {
      if (m.person_id != r.student_id) ids.insert(m.person_id);
    }
  }
  return {ids.begin(), ids.end()};
}

std::vector<std::string> SnapshotRelationships::students() const {
  std::set<std::string> ids;
  for (const auto& r : snapshot_.rotations) ids.insert(r.student_id);
  return {ids.begin(), ids.end()};
}

std::optional<Date> SnapshotRelationships::last_touch(const std::string& student_id,
                                                      const std::string& contact_id,
                                                      TimePoint now) const {
  Date today = std::chrono::floor<std::chrono::days>(now);
  std::optional<Date> last;
  for (const auto& r : snapshot_.rotations) {
    if (r.student_id != student_id || r.status == RotationStatus::cancelled) continue;
    for (const auto& m : r.team) {
      if (m.person_id != contact_id || m.start > today) continue;
      Date day = std::min(m.end, today);
      if (!last || day > *last) last = day;
    }
  }
  return last;
}

std::vector<std::string> SnapshotRelationships::program_members(const std::string& program) const {
  std::vector<std::string> out;
  for (const auto& p : snapshot_.people) {
    if (p.program && *p.program == program) out.push_back(p.id);
  }
  return out;
}

}  // namespace rapport
