#include "store/plans.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string_view>

namespace rapport::store_plans {

std::string new_pseudonym() {
  std::random_device random;
  char text[32];
  std::snprintf(text, sizeof text, "erased-%08x%04x", random(), random() & 0xFFFFu);
  return text;
}

const std::vector<EraseStep>& erase_steps() {
  static const std::vector<EraseStep> steps = {
      // Row hashes of what the sources read about them (keys are ids, or start with them).
      {"source rows",
       "DELETE FROM source_rows WHERE (entity = 'people' AND row_key = :id)"
       " OR (entity = 'interests' AND substr(row_key, 1, length(:id) + 1) = :id || char(31))"
       " OR (entity = 'rotations' AND row_key IN (SELECT id FROM rotations WHERE student_id ="
       " :id))"
       " OR (entity = 'team' AND (CASE WHEN instr(row_key, char(31)) > 0 THEN"
       " substr(row_key, 1, instr(row_key, char(31)) - 1) ELSE row_key END IN"
       "   (SELECT id FROM rotations WHERE student_id = :id)"
       "   OR instr(row_key, char(31) || :id || char(31)) > 0))"
       " OR (entity = 'evaluations' AND row_key IN"
       "   (SELECT id FROM evaluations WHERE student_id = :id))"},
      {"team rows",
       "DELETE FROM team_rows WHERE person_id = :id OR rotation_id IN"
       " (SELECT id FROM rotations WHERE student_id = :id)"},
      {"rotations", "DELETE FROM rotations WHERE student_id = :id"},
      {"evaluations", "DELETE FROM evaluations WHERE student_id = :id"},
      // Evaluations they wrote are the students' records: kept, under a pseudonym.
      {"evaluations pseudonymised",
       "UPDATE evaluations SET evaluator_id = :p WHERE evaluator_id = :id"},
      {"people", "DELETE FROM people WHERE id = :id"},
      {"interests", "DELETE FROM person_interests WHERE person_id = :id"},
      {"touches", "DELETE FROM touches WHERE student_id = :id OR contact_id = :id"},
      {"delivery attempts",
       "DELETE FROM delivery_attempts WHERE delivery IN (SELECT d.id FROM deliveries d"
       " JOIN outbox o ON o.action_id = d.action_id WHERE o.student_id = :id"
       " OR o.contact_id = :id)"},
      {"deliveries",
       "DELETE FROM deliveries WHERE action_id IN (SELECT action_id FROM outbox"
       " WHERE student_id = :id OR contact_id = :id)"},
      {"releases",
       "DELETE FROM releases WHERE action_id IN (SELECT action_id FROM outbox"
       " WHERE student_id = :id OR contact_id = :id)"},
      // Theirs go; others' prompts that named them as a contact lose those actions, and
      // keep counting in their week (retention removes them once empty and old).
      {"prompt actions",
       "DELETE FROM prompt_actions WHERE action_id IN (SELECT action_id FROM outbox"
       " WHERE student_id = :id OR contact_id = :id)"},
      {"prompts", "DELETE FROM prompts WHERE student_id = :id"},
      // Digests to them go. Others' digests not sent yet that name them: not sent; their
      // other items wait for the next digest. (Sent ones keep no message.)
      {"digests withheld",
       "UPDATE digests SET message = NULL, state = 'withheld' WHERE state = 'pending' AND"
       " student_id <> :id AND id IN (SELECT di.digest_id FROM digest_items di JOIN outbox o"
       " ON o.action_id = di.action_id WHERE o.contact_id = :id)"},
      {"digest items reopened",
       "UPDATE digest_items SET digest_id = NULL WHERE digest_id IN (SELECT id FROM digests"
       " WHERE state = 'withheld' AND message IS NULL AND student_id <> :id) AND action_id"
       " NOT IN (SELECT action_id FROM outbox WHERE contact_id = :id)"},
      {"digest items",
       "DELETE FROM digest_items WHERE student_id = :id OR action_id IN (SELECT action_id"
       " FROM outbox WHERE student_id = :id OR contact_id = :id)"},
      {"digests", "DELETE FROM digests WHERE student_id = :id"},
      {"actions", "DELETE FROM outbox WHERE student_id = :id OR contact_id = :id"},
      {"held actions", "DELETE FROM held_actions WHERE student_id = :id OR contact_id = :id"},
      {"timers", "DELETE FROM timers WHERE instr(event, :q) > 0"},
      {"inbox events", "DELETE FROM inbox WHERE subject = :id"},
      // Others' events that name them: emptied once every consumer of the inbox (the
      // mirror, the hooks) has passed them; later ones are consumed before they go.
      {"inbox events emptied",
       "UPDATE inbox SET payload = '{\"erased\":true}' WHERE seq <= :s"
       " AND instr(payload, :q) > 0"},
  };
  return steps;
}

std::vector<PurgeKind> purge_kinds(const AuditStore::PurgeBefore& before, std::int64_t consumed) {
  // The outbox every configured sink has passed (a sink without progress yet: none of
  // it). Without sinks, actions go by age alone. Sinks with `audience: student` read the
  // released stream: for them, the budget must have passed the action, not deferred it,
  // and each of them must have passed its release.
  auto progress_of = [](std::string consumer) {
    for (std::size_t at = consumer.find('\''); at != std::string::npos;
         at = consumer.find('\'', at + 2)) {
      consumer.insert(at, 1, '\'');
    }
    return "SELECT coalesce((SELECT seq FROM progress WHERE consumer = '" + consumer +
           "'), 0) AS p";
  };
  auto lowest = [](const std::vector<std::string>& selects) {
    std::string sql = "(SELECT MIN(p) FROM (";
    for (std::size_t i = 0; i < selects.size(); ++i) sql += (i ? " UNION ALL " : "") + selects[i];
    return sql + ") AS readers)";
  };
  std::string sinks_passed = "(SELECT MAX(seq) FROM outbox)";
  std::string released_passed;
  if (!before.sinks.empty()) {
    std::vector<std::string> outbox_readers, release_readers;
    for (const auto& sink : before.sinks) {
      bool student = std::find(before.student_sinks.begin(), before.student_sinks.end(), sink) !=
                     before.student_sinks.end();
      (student ? release_readers : outbox_readers).push_back(progress_of("sink:" + sink));
    }
    if (!release_readers.empty()) {
      outbox_readers.push_back(progress_of(kPromptBudgetConsumer));
      released_passed =
          " AND NOT EXISTS (SELECT 1 FROM prompt_actions pa JOIN prompts pr ON pr.id ="
          " pa.prompt_id WHERE pa.action_id = o.action_id AND pr.state = 'deferred')"
          " AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.action_id = o.action_id AND"
          " r.seq > " +
          lowest(release_readers) + ")";
    }
    sinks_passed = lowest(outbox_readers);
  }
  const std::string consumed_text = std::to_string(consumed);
  std::vector<PurgeKind> kinds;
  kinds.push_back({"inbox payloads",
                   "SELECT seq FROM inbox WHERE seq <= " + consumed_text +
                       " AND received_at < :t AND payload <> '{}' LIMIT :n",
                   format_time(before.inbox_payloads),
                   {"UPDATE inbox SET payload = '{}' WHERE seq IN (%rows%)"},
                   true});
  kinds.push_back({"delivery attempts",
                   "SELECT a.rowid FROM delivery_attempts a JOIN deliveries d ON d.id ="
                   " a.delivery WHERE a.at < :t AND d.state IN ('delivered', 'dead',"
                   " 'withheld') LIMIT :n",
                   format_time(before.delivery_attempts),
                   {"DELETE FROM delivery_attempts WHERE rowid IN (%rows%)"},
                   true});
  // Rotations that ended before the cutoff, with their roster rows and evaluations.
  // The row hashes stay: a source that reads the same old row again makes no event.
  kinds.push_back({"rotations",
                   "SELECT id FROM rotations WHERE end_date < :t LIMIT :n",
                   format_date(Date{std::chrono::floor<std::chrono::days>(before.rotations)}),
                   {"DELETE FROM evaluations WHERE rotation_id IN (%rows%)",
                    "DELETE FROM team_rows WHERE rotation_id IN (%rows%)",
                    "DELETE FROM rotations WHERE id IN (%rows%)"}});
  // Evaluations whose rotation the mirror never had (or no longer has), by submission.
  kinds.push_back({"evaluations",
                   "SELECT e.id FROM evaluations e WHERE e.submitted_at < :t AND NOT EXISTS"
                   " (SELECT 1 FROM rotations r WHERE r.id = e.rotation_id) LIMIT :n",
                   format_time(before.rotations),
                   {"DELETE FROM evaluations WHERE id IN (%rows%)"}});
  kinds.push_back({"touches",
                   "SELECT rowid FROM touches WHERE at < :t LIMIT :n",
                   format_time(before.rotations),
                   {"DELETE FROM touches WHERE rowid IN (%rows%)"},
                   true});
  // Actions every sink has passed, due before the cutoff, none of whose deliveries is
  // still under way; their ids stay in purged_actions so a re-run makes them not again.
  kinds.push_back(
      {"actions",
       "SELECT o.action_id FROM outbox o WHERE o.due_at < :t AND o.seq <= " + sinks_passed +
           released_passed +
           " AND NOT EXISTS (SELECT 1 FROM digest_items di LEFT JOIN digests g ON g.id ="
           " di.digest_id WHERE di.action_id = o.action_id AND (di.digest_id IS NULL OR"
           " g.state = 'pending'))" +
           " AND NOT EXISTS (SELECT 1 FROM"
           " deliveries d WHERE d.action_id = o.action_id AND d.state NOT IN ('delivered',"
           " 'dead', 'withheld')) LIMIT :n",
       format_time(before.actions),
       {"INSERT INTO purged_actions (action_id, at) SELECT action_id, '" + format_time(before.now) +
            "' FROM outbox WHERE action_id IN (%rows%)"
            " ON CONFLICT DO NOTHING",
        "DELETE FROM delivery_attempts WHERE delivery IN (SELECT id FROM deliveries"
        " WHERE action_id IN (%rows%))",
        "DELETE FROM deliveries WHERE action_id IN (%rows%)",
        "DELETE FROM releases WHERE action_id IN (%rows%)",
        "DELETE FROM digest_items WHERE action_id IN (%rows%)",
        // the prompt itself stays while its week counts (see "prompts" below)
        "DELETE FROM prompt_actions WHERE action_id IN (%rows%)",
        "DELETE FROM outbox WHERE action_id IN (%rows%)"}});
  // Prompts whose actions all went, decided before the actions' cutoff and at least two
  // weeks ago (a sent prompt counts in its week's budget until the week is over).
  kinds.push_back({"prompts",
                   "SELECT p.id FROM prompts p WHERE p.decided_at < :t AND NOT EXISTS"
                   " (SELECT 1 FROM prompt_actions pa WHERE pa.prompt_id = p.id) LIMIT :n",
                   format_time(std::min(before.actions, before.now - std::chrono::days(14))),
                   {"DELETE FROM prompts WHERE id IN (%rows%)"}});
  // Digests whose actions all went (the message holds names and addresses).
  kinds.push_back({"digests",
                   "SELECT g.id FROM digests g WHERE g.composed_at < :t AND g.state <>"
                   " 'pending' AND NOT EXISTS (SELECT 1 FROM digest_items di WHERE"
                   " di.digest_id = g.id) LIMIT :n",
                   format_time(before.actions),
                   {"DELETE FROM digests WHERE id IN (%rows%)"}});
  // People the store no longer needs: written before the cutoff, no part in a program
  // (program contacts are suggested without a rotation naming them), and no rotation,
  // roster row, evaluation, action, held action or touch names them. Their row hashes go
  // too, so a source that reads them whole brings them back at its next poll.
  kinds.push_back({"people",
                   "SELECT p.id FROM people p WHERE coalesce(p.seen_at, '') < :t"
                   " AND p.program_role IS NULL"
                   " AND NOT EXISTS (SELECT 1 FROM rotations r WHERE r.student_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM team_rows t WHERE t.person_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.student_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.evaluator_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.student_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.contact_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM held_actions h WHERE h.student_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM held_actions h WHERE h.contact_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM touches t WHERE t.student_id = p.id)"
                   " AND NOT EXISTS (SELECT 1 FROM touches t WHERE t.contact_id = p.id) LIMIT :n",
                   format_time(before.people),
                   {"DELETE FROM person_interests WHERE person_id IN (%rows%)",
                    "DELETE FROM source_rows WHERE entity = 'people' AND row_key IN (%rows%)",
                    "DELETE FROM source_rows WHERE entity = 'interests' AND"
                    " CASE WHEN instr(row_key, char(31)) > 0 THEN substr(row_key, 1,"
                    " instr(row_key, char(31)) - 1) ELSE row_key END IN (%rows%)",
                    "DELETE FROM people WHERE id IN (%rows%)"}});
  // Id-only records past their own period: handled inbox events whose data went, and
  // the ids of purged and expired actions.
  kinds.push_back({"inbox ids",
                   "SELECT seq FROM inbox WHERE seq <= " + consumed_text +
                       " AND received_at < :t AND payload = '{}' LIMIT :n",
                   format_time(before.ids),
                   {"DELETE FROM inbox WHERE seq IN (%rows%)"},
                   true});
  kinds.push_back({"action ids",
                   "SELECT action_id FROM purged_actions WHERE at < :t LIMIT :n",
                   format_time(before.ids),
                   {"DELETE FROM purged_actions WHERE action_id IN (%rows%)"}});
  kinds.push_back({"expiry records",
                   "SELECT action_id FROM expired_actions WHERE at < :t LIMIT :n",
                   format_time(before.ids),
                   {"DELETE FROM expired_actions WHERE action_id IN (%rows%)"}});
  kinds.push_back({"reports",
                   "SELECT id FROM failures WHERE at < :t LIMIT :n",
                   format_time(before.reports),
                   {"DELETE FROM failures WHERE id IN (%rows%)"},
                   true});
  if (before.disclosures) {
    kinds.push_back({"disclosure log",
                     "SELECT id FROM disclosures WHERE at < :t LIMIT :n",
                     format_time(*before.disclosures),
                     {"DELETE FROM disclosures WHERE id IN (%rows%)"},
                     true});
  }
  return kinds;
}

bool changes_mirror(const std::string& kind) {
  for (const char* mirrored : {"rotations", "evaluations", "touches", "people"}) {
    if (kind == mirrored) return true;
  }
  return false;
}

const std::vector<TableShape>& tables() {
  static const std::vector<TableShape> all = {
      {"people",
       {"id", "role", "name", "email", "specialty", "subspecialty", "program", "opted_out",
        "program_role", "email_opted_out", "seen_at"},
       "id"},
      {"person_interests", {"person_id", "specialty", "rank"}, "person_id, specialty, rank"},
      {"sites", {"site", "timezone"}, "site"},
      {"rotations",
       {"id", "student_id", "site", "specialty", "subspecialty", "kind", "start_date", "end_date",
        "status"},
       "id"},
      {"team_rows",
       {"rotation_id", "person_id", "role", "start_date", "end_date", "legacy", "row_id"},
       "rotation_id, person_id, start_date, end_date, role"},
      {"evaluations",
       {"id", "rotation_id", "evaluator_id", "student_id", "submitted_at", "score", "scale_min",
        "scale_max", "would_recommend", "anonymous"},
       "id"},
      {"touches", {"student_id", "contact_id", "at"}, "student_id, contact_id"},
      {"inbox",
       {"seq", "source", "event_id", "type", "subject", "occurred_at", "received_at", "payload",
        "part"},
       "seq"},
      {"progress", {"consumer", "seq"}, "consumer"},
      {"failures", {"id", "consumer", "seq", "kind", "message", "at"}, "id"},
      {"outbox",
       {"seq", "action_id", "hook", "type", "student_id", "contact_id", "due_at", "body"},
       "seq"},
      {"timers", {"id", "due_at", "event"}, "id"},
      {"source_cursors", {"source", "entity", "value"}, "source, entity"},
      {"source_rows", {"source", "entity", "row_key", "hash", "seen"}, "source, entity, row_key"},
      {"source_state", {"source", "up", "message", "since"}, "source"},
      {"inbound_messages", {"source", "message_id", "received_at"}, "source, message_id"},
      {"deliveries",
       {"id", "sink", "action_seq", "action_id", "state", "attempts", "next_at", "last_status",
        "last_error"},
       "id"},
      {"delivery_attempts",
       {"delivery", "attempt", "at", "duration_ms", "status", "result", "snippet"},
       "delivery, attempt"},
      {"disclosures",
       {"id", "action_id", "student_id", "contact_id", "fields", "sink", "endpoint", "basis", "at"},
       "id"},
      {"sink_state", {"sink", "disabled", "message", "since"}, "sink"},
      {"held_actions",
       {"action_id", "student_id", "contact_id", "expires_at", "held_at", "body"},
       "action_id"},
      {"expired_actions",
       {"action_id", "hook", "student_id", "contact_id", "stage", "at"},
       "action_id"},
      {"erasures",
       {"id", "person_id", "kind", "at", "requested_by", "reason", "removed", "lifted_at"},
       "id"},
      {"suppressions", {"person_id", "since"}, "person_id"},
      {"purged_actions", {"action_id", "at"}, "action_id"},
      {"prompts",
       {"id", "student_id", "action_type", "event_id", "priority", "due_at", "expires_at", "state",
        "week", "until", "reason", "deferrals", "decided_at"},
       "id"},
      {"prompt_actions", {"action_id", "prompt_id"}, "action_id"},
      {"releases", {"seq", "action_id", "at"}, "seq"},
      {"digest_items", {"sink", "action_id", "student_id", "seq", "digest_id"}, "sink, action_id"},
      {"digests",
       {"row", "id", "sink", "student_id", "period_end", "composed_at", "recipient", "message",
        "state", "attempts", "next_at", "last_status", "last_error"},
       "row"},
  };
  return all;
}

}  // namespace rapport::store_plans
