#include "engine/network.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "hooks/letter_candidates/letter_candidates.hpp"
#include "rapport/json.hpp"

namespace rapport {
namespace json = boost::json;

std::string network_json(Store& store, const HookContext& context, const std::string& student_id,
                         const config::Section* letters) {
  auto student = store.person(student_id);
  auto rotations = store.rotations_of(student_id);
  if (!student && rotations.empty()) {
    throw std::invalid_argument("no student with id \"" + student_id + "\"");
  }
  json::array rotation_list;
  for (const auto& r : rotations) rotation_list.push_back(json::parse(to_json(r)));
  // Evaluations attach to their evaluator's edge; an anonymous one never does.
  std::map<std::string, json::array> evaluations_by;
  for (const auto& e : store.evaluations_of(student_id)) {
    if (e.anonymous) continue;
    json::object o{{"id", e.id},
                   {"rotation", e.rotation_id},
                   {"submitted", format_time(e.submitted)},
                   {"score", e.normalized_score()}};
    if (e.would_recommend) o["would_recommend"] = *e.would_recommend;
    evaluations_by[e.evaluator_id].push_back(std::move(o));
  }
  json::array contact_list;
  for (const auto& c : context.relationships().contacts_of(student_id, context.now())) {
    json::object o{{"id", c.person_id},
                   {"days_together", c.days_together},
                   {"strength", c.strength},
                   {"last_day", format_date(c.last_day)},
                   {"role_together", to_string(c.role)}};
    if (auto p = store.person(c.person_id)) {
      o["name"] = p->name;
      o["role"] = to_string(p->role);
      if (p->specialty) o["specialty"] = *p->specialty;
      if (p->email) o["email"] = *p->email;
    }
    o["rotations"] = json::array(c.rotation_ids.begin(), c.rotation_ids.end());
    o["evaluations"] = evaluations_by[c.person_id];
    contact_list.push_back(std::move(o));
  }
  json::array letter_list;
  if (letters) {
    for (const auto& s :
         hooks::score_letter_candidates(context, student_id, hooks::letter_options_of(*letters))) {
      json::object o{{"attending", s.attending}, {"days_together", s.days},
                     {"rank", s.rank},           {"time", s.time},
                     {"recency", s.recency},     {"specialty_match", s.match}};
      if (!s.total_hidden) {
        o["score"] = s.total;
        // What the score used: the neutral 0.5 while there is no evaluation, the
        // "would recommend" bonus included (hidden with the total: it would show an
        // anonymous evaluation).
        o["evaluation_used"] = s.evaluation;
      }
      if (s.neutral_evaluation) o["evaluation_neutral"] = true;
      if (s.shown_evaluation) o["evaluation"] = *s.shown_evaluation;
      if (auto p = store.person(s.attending)) o["name"] = p->name;
      letter_list.push_back(std::move(o));
    }
  }
  json::array follow_ups;
  for (const auto& t : store.timers_about(student_id)) {
    if (t.event.type != EventType::followup_due) continue;
    auto data = json::parse(t.event.payload).as_object();
    json::object o{{"due", format_time(t.due)}, {"hook", data["hook"]}};
    if (data.contains("contact")) {
      o["contact"] = data["contact"];
      if (auto p = data["contact"].is_string()
                       ? store.person(std::string(data["contact"].as_string()))
                       : std::nullopt) {
        o["contact_name"] = p->name;
      }
    }
    if (data.contains("after_days")) o["after_days"] = data["after_days"];
    follow_ups.push_back(std::move(o));
  }
  json::array actions;
  for (const auto& a : store.actions_of(student_id)) {
    actions.push_back(json::parse(to_json(a)).as_object()["data"]);
    actions.back().as_object()["id"] = a.id;
    if (auto p = store.person(a.contact_id)) actions.back().as_object()["contact_name"] = p->name;
  }
  json::object out{{"schema", kSchema},
                   {"student", student ? json::parse(to_json(*student)) : json::value(nullptr)},
                   {"rotations", std::move(rotation_list)},
                   {"contacts", std::move(contact_list)},
                   {"actions", std::move(actions)},
                   {"letter_candidates", std::move(letter_list)},
                   {"open_follow_ups", std::move(follow_ups)}};
  // What the prompt budget held back from this student's sinks (for a while or for good),
  // and why.
  json::array held_back;
  for (const auto& p : store.prompts_of(student_id)) {
    if (p.state == "sent" && p.deferrals == 0) continue;
    json::object o{{"type", p.type},
                   {"event", p.event_id},
                   {"due", format_time(p.due)},
                   {"state", p.state},
                   {"actions", p.actions},
                   {"deferrals", p.deferrals},
                   {"decided", format_time(p.decided_at)}};
    o["reason"] = p.state != "sent"
                      ? p.reason
                      : "sent after waiting " + std::to_string(p.deferrals) +
                            (p.deferrals == 1 ? " week" : " weeks") + " for room in the budget";
    if (p.until) o["until"] = format_time(*p.until);
    held_back.push_back(std::move(o));
  }
  out["held_back"] = std::move(held_back);
  return json::serialize(out);
}

std::string student_record_json(Store& store, const std::string& id) {
  auto parsed = [](const std::string& text) { return json::parse(text); };
  json::object out{
      {"schema", kDataSchemaUri}, {"student", id}, {"exported", format_time(wall_clock())}};
  auto person = store.person(id);
  out["person"] = person ? parsed(to_json(*person)) : json::value(nullptr);
  json::array rotations;
  for (const auto& r : store.rotations_of(id)) rotations.push_back(parsed(to_json(r)));
  out["rotations"] = std::move(rotations);
  // The evaluations about them; an anonymous one without its evaluator.
  json::array evaluations;
  for (const auto& e : store.evaluations_of(id)) {
    auto o = parsed(to_json(e)).as_object();
    if (e.anonymous) o.erase("evaluator");
    evaluations.push_back(std::move(o));
  }
  out["evaluations"] = std::move(evaluations);
  json::array actions;
  for (const auto& a : store.actions_of(id)) {
    actions.push_back(parsed(to_json(a)).as_object()["data"]);
  }
  out["actions"] = std::move(actions);
  json::array disclosed;
  for (const auto& d : store.disclosures_of(id)) {
    disclosed.push_back(json::object{{"at", format_time(d.at)},
                                     {"action", d.action_id},
                                     {"contact", d.contact_id},
                                     {"fields", d.fields},
                                     {"sink", d.sink},
                                     {"endpoint", d.endpoint},
                                     {"basis", d.basis}});
  }
  out["disclosures"] = std::move(disclosed);
  json::array erasures;
  for (const auto& e : store.erasures()) {
    if (e.person_id != id) continue;
    json::object o{{"at", e.at},
                   {"kind", e.kind},
                   {"requested_by", e.requested_by},
                   {"reason", e.reason},
                   {"removed", e.removed}};
    if (!e.lifted_at.empty()) o["lifted_at"] = e.lifted_at;
    erasures.push_back(std::move(o));
  }
  out["erasures"] = std::move(erasures);
  out["kept_out"] = store.suppressed_ids().count(id) > 0;
  return json::serialize(out);
}

}  // namespace rapport
