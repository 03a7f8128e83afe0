// Digest sinks (an email a student gets once a period): the engine's side. Released
// actions wait as items; when a period ends each student's items become one digest,
// composed by the sink and stored before anything is sent, so a resend after a crash or a
// refusal is the same message. Sends and their answers go as for per-action sinks.
#include <algorithm>
#include <charconv>
#include <set>

#include "engine/engine.hpp"
#include "engine/store_context.hpp"
#include "log/log.hpp"
#include "store/soci_util.hpp"

namespace rapport {
namespace {

// What a digest discloses of each action: the fields its templates are given.
constexpr const char* kDigestFields =
    "type,reason,due,contact_details.name,contact_details.role,contact_details.email";

std::string digest_id(const std::string& sink, const std::string& student, TimePoint end) {
  return content_hash(sink + '\x1f' + student + '\x1f' + format_time(end));
}

}  // namespace

DigestRequest Engine::digest_request(const std::string& sink, const std::string& student_id,
                                     const std::vector<std::string>& action_ids,
                                     TimePoint period_end, TimePoint now,
                                     std::vector<std::string>* kept) {
  StoreContext context(*store_, memory(), TimePoint{});
  DigestRequest request;
  request.id = digest_id(sink, student_id, period_end);
  request.student_id = student_id;
  request.period_end = period_end;
  if (auto student = store_->person(student_id)) {
    request.student_name = student->name;
    // An address that could not be one (spaces, brackets, a line break) is none.
    if (student->email && plausible_address(*student->email) && !student->email_opted_out) {
      request.recipient = *student->email;
    }
  }
  for (const auto& id : action_ids) {
    auto action = store_->action_with_id(id);
    // Opted out since, gone, expired or withdrawn: left out (recorded as for any sink).
    if (!action || !permitted(context, *action) ||
        (kept && stale_at_delivery(context, *action, now)) ||
        (!kept && ((action->expires && *action->expires <= now) || withdrawal(context, *action)))) {
      continue;
    }
    DigestContact contact{action->contact_id, "", "", std::nullopt};
    if (auto p = store_->person(action->contact_id)) {
      contact.name = p->name;
      contact.role = std::string(to_string(p->role));
      contact.email = p->email;
    }
    request.entries.push_back({std::move(*action), std::move(contact)});
    if (kept) kept->push_back(id);
  }
  return request;
}

std::size_t Engine::deliver_digests(DigestSink& sink, TimePoint clock_now) {
  auto now = wall_clock();
  std::size_t delivered = record_sends(sink, sink, now);
  // Released actions join their student's next digest (progress and items together).
  for (;;) {
    auto pending = next_for(sink, batch_);
    if (pending.empty()) break;
    Transaction tx(*store_);
    for (const auto& [seq, action] : pending) {
      store_->add_digest_item(sink.name(), action.id, action.student_id, seq);
    }
    store_->set_progress("sink:" + sink.name(), pending.back().seq);
    tx.commit();
  }
  // A period ended (the engine's clock: a simulated run composes on its own days): each
  // waiting student's digest, once, for the latest end passed.
  const std::string key = "digest:" + sink.name();
  auto last = store_->cursor(kEngineState, key);
  auto since = last ? parse_time(*last) : std::nullopt;
  if (!since) {
    store_->set_cursor(kEngineState, key, format_time(clock_now));
    since = clock_now;
  }
  std::optional<TimePoint> end;
  for (auto next = sink.next_due(*since); next <= clock_now; next = sink.next_due(next)) {
    end = next;
  }
  if (end) {
    compose_digests(sink, *end);
    store_->set_cursor(kEngineState, key, format_time(*end));
  }
  send_stored(sink, sink, now);
  return delivered;
}

void Engine::send_stored(Sink& sink, Sender& sender, TimePoint now) {
  if (store_->sink_disabled(sink.name())) return;
  auto room = sender.room(std::chrono::steady_clock::now());
  for (auto& d : store_->due_digests(sink.name(), now, room + digests_in_flight_.size())) {
    if (room == 0) break;
    if (digests_in_flight_.count(d.row)) continue;
    if (!d.student_id.empty()) {
      // A resend goes only where the first would have: the student may have opted out,
      // stopped email, changed address or been erased since. Then it is not sent, and
      // what it held waits for the next digest (which judges it again).
      auto student = store_->person(d.student_id);
      if (!student || student->opted_out || student->email_opted_out ||
          student->email.value_or("") != d.recipient) {
        Transaction tx(*store_);
        store_->reopen_digest(d.id);
        tx.commit();
        continue;
      }
    }
    sender.start({d.row, d.id, d.message, d.recipient});
    digests_in_flight_.emplace(d.row, std::move(d));
    --room;
  }
}

std::size_t Engine::deliver_staff(StaffSink& sink, TimePoint clock_now) {
  auto now = wall_clock();
  std::size_t delivered = record_sends(sink, sink, now);
  auto message = [&](const std::string& id, TimePoint at, std::string body) {
    if (body.empty()) return;
    DigestRecord d;
    d.id = content_hash(sink.name() + '\x1f' + id);
    d.sink = sink.name();
    d.period_end = at;
    d.composed_at = d.next_at = now;
    d.message = std::move(body);
    d.state = "pending";
    store_->put_digest(d, {}, {});
  };
  // A whole number written by this code, or nothing (say, a cursor of the other mode).
  auto number = [](const std::optional<std::string>& text) -> std::optional<std::int64_t> {
    std::int64_t v = 0;
    if (!text || text->empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return v;
  };
  Transaction tx(*store_);
  if (sink.daily()) {
    const std::string key = "staff-daily:" + sink.name();
    auto last = store_->cursor(kEngineState, key);
    auto since = last ? parse_time(*last) : std::nullopt;
    if (!since) since = clock_now;  // the first summary is the next one
    std::optional<TimePoint> end;
    for (auto next = sink.next_due(*since); next <= clock_now; next = sink.next_due(next)) {
      end = next;
    }
    if (end) {
      message(format_time(*end), *end, sink.render(staff_summary(sink, *end)));
      since = end;
    }
    if (!last || end) store_->set_cursor(kEngineState, key, format_time(*since));
  } else if (auto checked = staff_checked_.find(sink.name());
             checked != staff_checked_.end() && clock_now >= checked->second &&
             clock_now - checked->second < std::chrono::minutes(1)) {
    // Notices are looked for at most once a minute of the engine's clock.
  } else {
    staff_checked_[sink.name()] = clock_now;
    // The hooks' notices since the last (the first time: from now on), counted by hook:
    // a notice's text names rotations, which a channel does not get.
    const std::string key = "staff-notices:" + sink.name();
    auto was_seen = number(store_->cursor(kEngineState, key));
    std::int64_t seen = was_seen ? *was_seen : store_->last_report_id();
    std::map<std::string, int> by_hook;
    for (const auto& [id, hook] : store_->notices_after(seen, batch_)) {
      ++by_hook[hook];
      seen = id;
    }
    for (const auto& [hook, n] : by_hook) {
      message("notices/" + std::to_string(seen) + "/" + hook, clock_now,
              sink.render(std::to_string(n) + " new notice" + (n == 1 ? "" : "s") + " from hook " +
                          hook + " (rapport status -c FILE shows them)"));
    }
    if (was_seen != seen) store_->set_cursor(kEngineState, key, std::to_string(seen));
    // Each time more actions or digests are given up. (Staff sinks' own messages are not
    // counted: a channel that refuses would otherwise be told so through itself, forever.)
    const std::string dead_key = "staff-dead:" + sink.name();
    auto dead = dead_letters();
    auto was_dead = number(store_->cursor(kEngineState, dead_key));
    std::int64_t before = was_dead.value_or(dead);
    if (dead > before) {
      auto more = dead - before;
      message("dead/" + std::to_string(before) + "-" + std::to_string(dead) + "@" +
                  format_time(clock_now),
              clock_now,
              sink.render(std::to_string(more) + " more action" + (more == 1 ? "" : "s") +
                          " or digest" + (more == 1 ? "" : "s") +
                          " given up on (dead letters: rapport status -c FILE)"));
    }
    if (was_dead != dead) store_->set_cursor(kEngineState, dead_key, std::to_string(dead));
  }
  tx.commit();
  send_stored(sink, sink, now);
  return delivered;
}

std::int64_t Engine::dead_letters() {
  std::int64_t dead = 0;
  for (const auto& s : sinks_) {
    if (s->staff()) continue;
    for (const auto& counts :
         {store_->delivery_counts(s->name()), store_->digest_counts(s->name())}) {
      if (auto it = counts.find("dead"); it != counts.end()) dead += it->second;
    }
  }
  return dead;
}

StaffSummary Engine::staff_summary(const StaffSink& sink, TimePoint end) {
  StaffSummary summary;
  summary.day = sink.day_of(end);
  std::map<std::string, StaffSummary::Site> sites;
  for (const auto& r : store_->rotations_starting(summary.day)) {
    if (r.status == RotationStatus::cancelled || !sink.covers(r.site)) continue;
    auto& site = sites[r.site];
    site.name = r.site;
    ++site.starting[r.specialty];
    bool others = std::any_of(r.team.begin(), r.team.end(), [&](const TeamMember& m) {
      return m.person_id != r.student_id && !is_physician(m.role);
    });
    if (!others) ++site.without_non_physicians[r.specialty];
  }
  for (auto& [name, site] : sites) summary.sites.push_back(std::move(site));
  summary.dead_letters = dead_letters();
  std::set<std::string> without;  // each student once, whichever email sink
  for (const auto& s : sinks_) {
    if (!s->digest()) continue;
    for (auto& id : store_->students_without_address(s->name())) without.insert(std::move(id));
  }
  summary.students_without_address = std::int64_t(without.size());
  return summary;
}

void Engine::compose_digests(DigestSink& sink, TimePoint period_end) {
  const auto composed_at = wall_clock();
  std::size_t counted[3] = {0, 0, 0};  // composed, no address, opted out of email
  // By key: a student whose items stay open (a digest of that id was made before) is not
  // met again in this pass.
  for (std::string after;;) {
    auto students = store_->students_with_open_items(sink.name(), after, batch_);
    if (students.empty()) break;
    after = students.back();
    for (const auto& student : students) {
      Transaction tx(*store_);
      auto items = store_->open_digest_items(sink.name(), student);
      std::vector<std::string> kept;
      auto request = digest_request(sink.name(), student, items, period_end, period_end, &kept);
      DigestRecord d;
      d.id = request.id;
      d.sink = sink.name();
      d.student_id = student;
      d.period_end = period_end;
      d.composed_at = composed_at;
      d.next_at = composed_at;
      d.recipient = request.recipient;
      auto person = store_->person(student);
      if (request.entries.empty()) {
        d.state = "withheld";
      } else if (person && person->email && person->email_opted_out) {
        d.state = "opted_out";
        ++counted[2];
      } else if (request.recipient.empty()) {
        d.state = "no_address";
        ++counted[1];
        log::info("engine", "a student has no email address; their digest is not sent",
                  {{"sink", sink.name()}, {"student", student}});
      } else {
        try {
          d.message = sink.compose(request).message;
          d.state = "pending";
          ++counted[0];
        } catch (const std::exception& e) {
          // One digest that cannot be made (a template that fails on this data) is dead,
          // not the step: the others go on.
          d.state = "dead";
          d.last_error = std::string("cannot compose: ") + e.what();
          log::error("engine", "a digest could not be composed; recorded as dead",
                     {{"sink", sink.name()}, {"student", student}});
        }
      }
      std::vector<std::string> left_out;
      for (const auto& id : items) {
        if (std::find(kept.begin(), kept.end(), id) == kept.end()) left_out.push_back(id);
      }
      // Only what is in the message counts as disclosed; a digest of that id made before
      // (a step that failed after it) leaves these items for the next one.
      store_->put_digest(d, d.state == "withheld" ? std::vector<std::string>{} : kept,
                         d.state == "withheld" ? items : left_out);
      tx.commit();
    }
  }
  if (counted[0] + counted[1] + counted[2]) {
    log::info("engine", "digests composed",
              {{"sink", sink.name()},
               {"period_end", format_time(period_end)},
               {"composed", counted[0]},
               {"no_address", counted[1]},
               {"opted_out", counted[2]}});
  }
}

std::size_t Engine::record_sends(Sink& sink, Sender& sender, TimePoint now) {
  std::size_t delivered = 0;
  auto& waiting = unrecorded_[sink.name()];
  for (auto& result : sender.finished()) waiting.push_back(std::move(result));
  std::vector<SendResult> still;
  for (auto& result : waiting) {
    auto found = digests_in_flight_.find(result.delivery);
    if (found == digests_in_flight_.end()) continue;
    try {
      Transaction tx(*store_);
      auto current = store_->digest_row(result.delivery);
      bool ok = result.status >= 200 && result.status < 300;
      std::string outcome = "retry";
      if (current && current->state == "pending") {
        DigestRecord d = *current;
        d.attempts += 1;
        d.last_status = result.status;
        d.last_error = ok ? "" : result.snippet;
        if (ok) {
          outcome = "delivered";
          d.state = "sent";
          for (const auto& id : store_->digest_action_ids(d.id)) {
            auto action = store_->action_with_id(id);
            if (!action) continue;
            store_->add_disclosure({id, action->student_id, action->contact_id, kDigestFields,
                                    sink.name(), sink.destination(),
                                    sink_policies_[sink.name()].basis, now});
          }
          ++delivered;
        } else if (result.status == 410 && sink.staff()) {
          // The channel is gone (archived, its webhook removed): stop posting there until
          // an operator enables it again; this message waits with the others.
          outcome = "disabled";
          d.attempts -= 1;
          d.next_at = now;
          store_->set_sink_disabled(sink.name(), true, "the receiver answered 410 Gone", now);
          log::error("engine",
                     "chat webhook answered 410 Gone; sink disabled until "
                     "`rapport deliveries enable`",
                     {{"sink", sink.name()}});
        } else if (sender.permanent(result.status)) {
          d.state = outcome = "dead";
        } else if (auto delay = sender.retry_delay(d.attempts)) {
          auto wait = std::chrono::duration_cast<std::chrono::seconds>(*delay);
          // Times are kept in whole seconds: one more makes sure Retry-After has passed.
          if (result.retry_after) wait = *result.retry_after + std::chrono::seconds(1);
          d.next_at = now + wait;
        } else {
          d.state = outcome = "dead";
        }
        store_->update_digest(d);
        if (outcome == "dead") {
          log::warn("engine", "a message was refused for good; recorded as dead",
                    {{"sink", sink.name()}, {"student", d.student_id}, {"status", result.status}});
        }
      }
      tx.commit();
      digests_in_flight_.erase(found);
      if (telemetry_) {
        telemetry_->count("rapport_deliveries_total",
                          "sink=\"" + sink.name() + "\",result=\"" + outcome + "\"");
      }
    } catch (const std::exception& e) {
      if (still.empty()) {
        log::warn("engine", "cannot record digest results; trying again next step",
                  {{"sink", sink.name()}, {"error", soci_util::message_of(e)}});
      }
      still.push_back(std::move(result));
    }
  }
  waiting = std::move(still);
  return delivered;
}

std::optional<ComposedDigest> Engine::preview_digest(const std::string& name,
                                                     const std::string& student_id, TimePoint at) {
  for (const auto& sink : sinks_) {
    auto* digest = sink->digest();
    if (!digest || sink->name() != name) continue;
    // What waits in the student's next digest, and what was released for it since.
    auto ids = store_->open_digest_items(name, student_id);
    for (std::int64_t from = store_->progress("sink:" + name);;) {
      auto more = store_->released_after(from, batch_);
      if (more.empty()) break;
      for (const auto& [seq, action] : more) {
        if (action.student_id == student_id) ids.push_back(action.id);
      }
      from = more.back().seq;
    }
    auto request = digest_request(name, student_id, ids, at, at, nullptr);
    if (request.entries.empty()) return std::nullopt;
    if (request.recipient.empty()) request.recipient = "(no address)";
    return digest->compose(request);
  }
  throw std::runtime_error("no sink named \"" + name + "\" sends digests (type: email)");
}

}  // namespace rapport
