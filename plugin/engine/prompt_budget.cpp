#include "engine/prompt_budget.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "engine/timers.hpp"
#include "log/log.hpp"

namespace rapport {

int prompt_priority(const Action& action) {
  switch (action.type) {
    case ActionType::introduce:
      return 1;
    case ActionType::thank_you:
      return 2;
    case ActionType::program_contact:
      return 3;
    case ActionType::peer_connect:
      return 4;
    case ActionType::letter_candidate:
      return 5;
    case ActionType::mentor_suggest:
      return 6;
    case ActionType::specialty_contact:
      return 7;
    case ActionType::opportunity:
      return 8;
    case ActionType::follow_up: {
      auto after = action.evidence.find("after_days");
      long days =
          after == action.evidence.end() ? 0 : std::strtol(after->second.c_str(), nullptr, 10);
      return days <= 30 ? 9 : days <= 90 ? 10 : 11;
    }
  }
  return 12;
}

std::string prompt_id_of(const Action& action) {
  // The unit separator cannot occur in ids read from sources (they are trimmed text).
  return action.student_id + '\x1f' + action.event_id + '\x1f' +
         std::string(to_string(action.type));
}

Date week_of(TimePoint at, const std::string& zone) {
  Date day = local_date(at, zone);
  auto weekday = std::chrono::weekday(day).iso_encoding();  // Monday 1 ... Sunday 7
  return day - std::chrono::days(weekday - 1);
}

void PromptBudget::start() {
  // The first run starts with what comes next: the outbox's history went to the host
  // sinks, and budgeting it now would flood this week and the following ones.
  if (!store_.all_progress().count(kPromptBudgetConsumer)) {
    store_.set_progress(kPromptBudgetConsumer, store_.last_action_seq());
  }
}

namespace {

// An action joins its prompt: the prompt lives while any of its actions does, comes as
// early and ranks as high as the most urgent of them.
void merge(Prompt& p, const Action& action) {
  p.priority = std::min(p.priority, prompt_priority(action));
  p.due = std::min(p.due, action.due);
  p.expires = p.expires && action.expires ? std::max(*p.expires, *action.expires)
                                          : std::optional<TimePoint>{};
}

}  // namespace

BudgetStats PromptBudget::run(TimePoint now, const std::function<bool(const Action&)>& sendable) {
  BudgetStats stats;
  // First every action made since the last run joins its prompt (pending until decided),
  // so that the decisions below see all of them, however many batches they take.
  for (;;) {
    auto fresh = store_.actions_after(store_.progress(kPromptBudgetConsumer), batch_);
    if (fresh.empty()) break;
    Transaction tx(store_);
    for (const auto& [seq, action] : fresh) {
      auto id = prompt_id_of(action);
      store_.add_to_prompt(id, action.id);
      auto p = store_.prompt(id);
      if (!p) {
        p = Prompt{.id = id,
                   .student_id = action.student_id,
                   .type = std::string(to_string(action.type)),
                   .event_id = action.event_id,
                   .priority = prompt_priority(action),
                   .due = action.due,
                   .expires = action.expires,
                   .state = "pending",
                   .decided_at = now};
      } else if (p->state == "sent") {
        // A late action of a prompt sent before follows it, without counting again.
        if (sendable(action) && store_.release_action(action.id, now)) ++stats.released;
        continue;
      } else if (p->state == "dropped") {
        if (!sendable(action)) continue;
        // Something to send after all (an action held for an unknown contact, released):
        // the prompt is decided again, with this action's life.
        p->state = "pending";
        p->expires = action.expires;
        p->reason.clear();
      }
      merge(*p, action);
      store_.put_prompt(*p);
    }
    store_.set_progress(kPromptBudgetConsumer, fresh.back().seq);
    tx.commit();
  }

  // Then the pending prompts and the deferred ones whose week came, most important first.
  const Date week = week_of(now, options_.zone);
  const TimePoint next_week = local_midnight(week + std::chrono::days(7), options_.zone);
  const std::string over =
      "over the week's budget of " + std::to_string(options_.per_week) + " prompts";
  for (;;) {
    Transaction tx(store_);
    auto due = store_.prompts_to_decide(now, batch_);
    if (due.empty()) break;
    for (auto& p : due) {
      std::vector<Action> live;
      for (const auto& id : store_.prompt_action_ids(p.id)) {
        auto action = store_.action_with_id(id);
        if (action && sendable(*action)) live.push_back(std::move(*action));
      }
      p.decided_at = now;
      p.week.reset();
      p.until.reset();
      if (live.empty()) {
        p.state = "dropped";
        p.reason = "nothing left to send: expired, withdrawn or opted out";
        ++stats.dropped;
      } else if (store_.prompts_sent_in_week(p.student_id, week) < options_.per_week) {
        p.state = "sent";
        p.week = week;
        ++stats.sent;
        for (const auto& a : live) stats.released += store_.release_action(a.id, now) ? 1 : 0;
      } else if (p.expires && *p.expires <= next_week) {
        p.state = "dropped";
        p.reason = over + ", and it expires before the next week";
        ++stats.dropped;
      } else if (p.deferrals >= kMaxDeferrals) {
        p.state = "dropped";
        p.reason = over + " for " + std::to_string(kMaxDeferrals + 1) + " weeks in a row";
        ++stats.dropped;
      } else {
        p.state = "deferred";
        p.until = next_week;
        p.reason = over;
        ++p.deferrals;
        ++stats.deferred;
      }
      store_.put_prompt(p);
      if (p.state != "sent") {
        log::debug("engine", "prompt held back by the budget",
                   {{"student", p.student_id},
                    {"event", p.event_id},
                    {"type", p.type},
                    {"decision", p.state}});
      }
    }
    tx.commit();
  }
  return stats;
}

}  // namespace rapport
