#pragma once
// The one store interface. The engine, sources and sinks know nothing else about where
// state lives; SQLite is the first implementation (PostgreSQL follows).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "rapport/types.hpp"

namespace rapport {

// One roster row of a rotation's team: a person's stretch on it. An end left open follows
// the rotation's (a row without dates covers the rotation, wherever it moves). Removing a
// row without a role removes the rows of those dates in any role.
struct TeamRow {
  std::string person_id;
  std::optional<Role> role;
  std::optional<Date> start, end;
  // A removal of the person's rows carried over from before spans (store migration 9)
  // that no source has read again since.
  bool legacy_only = false;
  // The platform's own id of the row, where the source maps one: adding it replaces the
  // row of that id (wherever it was), removing it removes that row.
  std::optional<std::string> row_id;
};

// Roster rows to add to one rotation (MirrorStore::add_roster_rows).
struct RotationRows {
  std::string rotation_id;
  std::vector<TeamRow> rows;
};

struct InboxEvent {
  std::int64_t seq = 0;
  Event event;
};

struct OutboxAction {
  std::int64_t seq = 0;
  Action action;
};

// A durable timer: when `due` passes, `event` enters the inbox (once: the inbox is
// unique on source and event id).
struct Timer {
  std::string id;
  TimePoint due;
  Event event;
};

// What went wrong or slowly for a consumer (a hook, the mirror), kept for `rapport status`.
enum class ReportKind { error, retry, slow, notice };
std::string_view to_string(ReportKind kind);

struct ReportSummary {
  std::string consumer, kind;
  std::int64_t count = 0;
  std::string last_message, last_at;
};

// One action on its way to one sink that delivers action by action (the webhook sink).
struct DeliveryRecord {
  std::int64_t id = 0;
  std::string sink, action_id;
  std::int64_t action_seq = 0;  // the outbox's, or for a student sink the release's
  std::string state;            // pending, delivered, dead
  int attempts = 0;
  TimePoint next_at;
  int last_status = 0;  // HTTP status of the last attempt, 0 when none came back
  std::string last_error;
  // The claim it was taken with (claim_deliveries): one more at each taking, so a result
  // recorded under an older one is refused. `claimed_by`: the process that took it last.
  std::int64_t claim = 0;
  std::string claimed_by;
};

struct DeliveryAttempt {
  std::int64_t delivery = 0;
  int attempt = 0;
  TimePoint at;
  std::int64_t duration_ms = 0;
  int status = 0;
  std::string result;   // delivered, retry, dead, disabled
  std::string snippet;  // the start of the response body, or the transport error
};

// What left for a sink about a student: the disclosure log (append-only).
struct Disclosure {
  std::string action_id, student_id, contact_id;
  std::string fields;  // the data fields sent, comma-separated
  std::string sink, endpoint, basis;
  TimePoint at;
};

// What a student is asked to do about one event: the actions of one type made for it (a
// team's introductions at a rotation's start are one prompt), and what the prompt budget
// decided about it (see engine/prompt_budget.hpp).
struct Prompt {
  std::string id;  // student, event and action type
  std::string student_id, type, event_id;
  int priority = 0;  // lower first
  TimePoint due;
  std::optional<TimePoint> expires;  // the latest of its actions'; none when one never expires
  std::string state;                 // pending (not decided yet), sent, deferred, dropped
  std::optional<Date> week;          // sent: the week (its Monday) it counted against
  std::optional<TimePoint> until;    // deferred: not before
  std::string reason;                // why deferred or dropped
  int deferrals = 0;
  TimePoint decided_at;
  std::int64_t actions = 0;  // read: how many actions it holds
};

// One student's digest from one sink (an email): composed once when its period ends,
// stored, then sent; a resend after a crash or a refusal is the same message.
struct DigestRecord {
  std::int64_t row = 0;  // its number, for the sender
  std::string id, sink, student_id;
  TimePoint period_end, composed_at;
  std::string recipient, message;
  // pending, sent, dead; no_address (the student has no email address), opted_out (of
  // this channel), withheld (nothing left to send): never sent, kept visible.
  std::string state;
  int attempts = 0;
  TimePoint next_at;
  int last_status = 0;
  std::string last_error;
};

// The progress of the prompt budget through the outbox (an engine counter: "engine:"
// progress is nobody's place in the inbox).
inline constexpr const char* kPromptBudgetConsumer = "engine:prompt_budget";
// Moved on (Store::bump_progress) whenever the mirror changes other than by the inbox's
// events: an erasure, retention's purge, a backfill's history written straight into it.
// Whoever built something from the mirror (a dispatcher's relationship memory) builds it
// again. The key keeps the name it had when only erasures moved it.
inline constexpr const char* kMirrorChanged = "engine:erasures";

struct StoreCounts {
  std::int64_t people = 0, rotations = 0, evaluations = 0, events = 0, actions = 0, timers = 0;
  std::map<std::string, std::int64_t> events_by_type, actions_by_type;
};

// Events in, in the order they became visible, and how far each consumer got.
class InboxStore {
 public:
  virtual ~InboxStore() = default;

  // Inbox. append_event returns false when (source, id) is already there.
  virtual bool append_event(const Event& event, TimePoint received) = 0;
  // Each as append_event, in order (an event given twice: the first is added), in one
  // round trip where the backend can (a poll's page, a listener's group); whether each was
  // added.
  virtual std::vector<bool> append_events(const std::vector<Event>& events, TimePoint received) {
    std::vector<bool> added;
    added.reserve(events.size());
    for (const auto& event : events) added.push_back(append_event(event, received));
    return added;
  }
  virtual std::vector<InboxEvent> events_after(std::int64_t seq, std::size_t limit) = 0;
  virtual std::int64_t last_event_seq() = 0;
  // Dispatch spread over processes (`engine.partitions`): the partition of each event
  // (seq, partition), given when the mirror applies it; and the events with positions in
  // (after, upto], first first, of one partition or all. Every event up to `upto` must have
  // its position already (the mirror passed it): nothing is numbered here.
  virtual void set_event_parts(const std::vector<std::pair<std::int64_t, int>>& parts) = 0;
  virtual std::vector<InboxEvent> events_up_to(std::optional<int> part, std::int64_t after,
                                               std::int64_t upto, std::size_t limit) = 0;

  // Progress of each consumer of the inbox (hooks, the mirror) and of each sink.
  virtual std::int64_t progress(const std::string& consumer) = 0;
  virtual void set_progress(const std::string& consumer, std::int64_t seq) = 0;
  // Each as set_progress, in one round trip where the backend can.
  virtual void set_progresses(const std::map<std::string, std::int64_t>& progress) {
    for (const auto& [consumer, seq] : progress) set_progress(consumer, seq);
  }
  // An engine counter ("engine:" progress, nobody's place in the inbox) moved on by one in
  // one statement: another process may move it at the same moment.
  virtual void bump_progress(const std::string& counter) = 0;
  virtual std::map<std::string, std::int64_t> all_progress() = 0;
  // A consumer that is no more (a hook's progress per partition when their number changes).
  virtual void forget_progress(const std::string& consumer) = 0;
  virtual void record_report(const std::string& consumer, std::int64_t seq, ReportKind kind,
                             const std::string& message, TimePoint at) = 0;
  virtual std::vector<ReportSummary> reports() = 0;
  // Hooks' notices recorded after report `id`, oldest first: (id, the hook that made it;
  // not its text). The last report's id (0 when none).
  virtual std::vector<std::pair<std::int64_t, std::string>> notices_after(std::int64_t id,
                                                                          std::size_t limit) = 0;
  virtual std::int64_t last_report_id() = 0;

  // Message ids received by webhook, remembered to answer repeats as duplicates.
  // remember_message returns false when (source, id) is already there.
  virtual bool remember_message(const std::string& source, const std::string& id,
                                TimePoint received) = 0;
  virtual std::size_t forget_messages_before(TimePoint before) = 0;
};

// Actions out: made, held, expired, and delivered action by action.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Outbox. add_action returns false when the id is already there.
  virtual bool add_action(const Action& action) = 0;
  virtual std::vector<OutboxAction> actions_after(std::int64_t seq, std::size_t limit) = 0;
  virtual std::int64_t count_actions_after(std::int64_t seq) = 0;  // without reading them
  virtual std::vector<Action> actions_of(const std::string& student_id) = 0;
  // A hook's actions due after `since`, in outbox order.
  virtual std::vector<Action> actions_of_hook(const std::string& hook, TimePoint since) = 0;
  virtual std::int64_t last_action_seq() = 0;

  // Actions held because their student or contact is not known to the people feed yet
  // (engine.unknown_people). hold_action returns false when the id is held or in the
  // outbox already.
  virtual bool hold_action(const Action& action, TimePoint now) = 0;
  virtual std::vector<Action> held_naming(const std::string& person_id) = 0;
  virtual std::vector<Action> held_expired(TimePoint now) = 0;  // expires at or before now
  // Held actions whose student and contact are both in the mirror now, oldest first.
  virtual std::vector<Action> held_releasable(std::size_t limit) = 0;
  virtual void drop_held(const std::string& action_id) = 0;
  virtual std::int64_t held_count() = 0;
  // Actions that expired (Action::expires) before they were made ("made"), while held
  // ("held") or before a sink took them ("delivery"): ids only, once per action.
  virtual void record_expired(const Action& action, const std::string& stage, TimePoint at) = 0;
  virtual std::map<std::string, std::int64_t> expired_counts() = 0;

  // Per-action deliveries (sinks that retry each action on its own schedule).
  virtual std::optional<Action> action_with_id(const std::string& id) = 0;
  virtual void enqueue_delivery(const std::string& sink, std::int64_t action_seq,
                                const std::string& action_id, TimePoint next_at) = 0;
  // Takes up to `limit` of `sink`'s pending deliveries due by `now` that nobody holds, in
  // due order, for `hold` (on the database's clock where there is one: PostgreSQL's; else
  // `now`), each with its claim one more. Rows another process holds (its claim not run out,
  // or being taken at this moment) are passed over, never waited for. Several processes
  // share the sending this way, and one that dies or stops holds nothing past `hold`.
  virtual std::vector<DeliveryRecord> claim_deliveries(const std::string& sink, TimePoint now,
                                                       std::size_t limit, std::chrono::seconds hold,
                                                       const std::string& holder) = 0;
  virtual std::optional<DeliveryRecord> delivery(std::int64_t id) = 0;
  // Writes state, attempts, next_at and last_*, and gives the claim back (the claim
  // moves on by one: the same claim records once), only while the delivery is still
  // under `delivery.claim`: false (nothing written) once another process has taken it
  // since, or this claim was recorded already.
  virtual bool update_delivery(const DeliveryRecord& delivery) = 0;
  virtual void add_attempt(const DeliveryAttempt& attempt) = 0;
  // Newest first; `sink` empty for all; `failed`: dead ones and pending ones that failed.
  virtual std::vector<DeliveryRecord> deliveries(const std::string& sink, bool failed,
                                                 std::size_t limit) = 0;
  virtual std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery) = 0;
  // Sends again from the first attempt: one action (id non-empty) or every delivery
  // whose action was made at or after `since`. Returns how many.
  virtual std::size_t replay_deliveries(const std::string& sink, const std::string& action_id,
                                        std::optional<TimePoint> since, TimePoint now) = 0;
  virtual std::map<std::string, std::int64_t> delivery_counts(const std::string& sink) = 0;
  // A sink the receiver told to stop (HTTP 410) stays disabled until enabled again.
  virtual void set_sink_disabled(const std::string& sink, bool disabled, const std::string& message,
                                 TimePoint since) = 0;
  virtual std::optional<std::string> sink_disabled(const std::string& sink) = 0;
};

// The prompt budget's decisions, the released stream, and email digests.
class PromptStore {
 public:
  virtual ~PromptStore() = default;

  // Prompts and the budget's decisions. put_prompt inserts or replaces; prompts_of and
  // deferred_prompts read the number of actions too. Released actions form a stream of
  // their own, in the order they were released: what sinks with `audience: student`
  // deliver (OutboxAction::seq is then the release's sequence number).
  virtual std::optional<Prompt> prompt(const std::string& id) = 0;
  virtual void put_prompt(const Prompt& prompt) = 0;
  virtual void add_to_prompt(const std::string& prompt_id, const std::string& action_id) = 0;
  virtual std::vector<std::string> prompt_action_ids(const std::string& prompt_id) = 0;
  // Pending prompts and deferred ones whose time came (until <= now), by priority, due
  // time and id.
  virtual std::vector<Prompt> prompts_to_decide(TimePoint now, std::size_t limit) = 0;
  virtual std::int64_t prompts_sent_in_week(const std::string& student_id, Date week) = 0;
  virtual std::vector<Prompt> prompts_of(const std::string& student_id) = 0;
  virtual std::map<std::string, std::int64_t> prompt_counts() = 0;  // by state
  // release_action returns false when it was released already.
  virtual bool release_action(const std::string& action_id, TimePoint at) = 0;
  virtual std::vector<OutboxAction> released_after(std::int64_t seq, std::size_t limit) = 0;
  virtual std::int64_t count_released_after(std::int64_t seq) = 0;
  virtual std::int64_t last_release_seq() = 0;

  // Digests. An item is a released action waiting for its student's next digest.
  virtual void add_digest_item(const std::string& sink, const std::string& action_id,
                               const std::string& student_id, std::int64_t seq) = 0;
  // Students with items waiting, after `after` in id order (a page of them).
  virtual std::vector<std::string> students_with_open_items(const std::string& sink,
                                                            const std::string& after,
                                                            std::size_t limit) = 0;
  // The student's waiting actions, in the order they were gathered.
  virtual std::vector<std::string> open_digest_items(const std::string& sink,
                                                     const std::string& student_id) = 0;
  // Stores the digest and gives it the items it holds; the items left out (expired,
  // withdrawn, opted out since) are closed without it. False, and nothing changed, when
  // a digest of that id is there already (its items wait for the next one).
  virtual bool put_digest(const DigestRecord& digest, const std::vector<std::string>& included,
                          const std::vector<std::string>& left_out) = 0;
  // A stored digest not to be sent after all: withheld, and its items wait again.
  virtual void reopen_digest(const std::string& digest_id) = 0;
  virtual std::vector<DigestRecord> due_digests(const std::string& sink, TimePoint now,
                                                std::size_t limit) = 0;
  virtual std::optional<DigestRecord> digest_row(std::int64_t row) = 0;
  // State, attempts, next_at, last_*; the message goes once it is sent, dead or withheld
  // (only a resend needs it).
  virtual void update_digest(const DigestRecord& digest) = 0;
  virtual std::vector<std::string> digest_action_ids(const std::string& digest_id) = 0;
  virtual std::map<std::string, std::int64_t> digest_counts(const std::string& sink) = 0;
  // Students whose digest had nowhere to go (no email address), by id.
  virtual std::vector<std::string> students_without_address(const std::string& sink) = 0;
};

// The mirror of institutional data the sources read.
class MirrorStore {
 public:
  virtual ~MirrorStore() = default;

  // The mirror of institutional data. put_rotation leaves the team alone.
  virtual void put_person(const Person& person) = 0;
  // Each as put_person (an id given twice: the last counts), in one round trip where the
  // backend can (a backfill's page of a people feed).
  virtual void put_people(const std::vector<Person>& people) {
    for (const auto& person : people) put_person(person);
  }
  virtual std::optional<Person> person(const std::string& id) = 0;
  virtual void for_each_person(const std::function<void(const Person&)>& each) = 0;
  // A person's interests, one row per interest row a source read; reads merge them into
  // Person::interests (by rank, one per specialty whatever its case). put_person leaves
  // them alone. A removal without a rank removes the specialty at every rank.
  virtual void add_interest(const std::string& person_id, const std::string& specialty,
                            int rank) = 0;
  virtual void remove_interest(const std::string& person_id, const std::string& specialty,
                               std::optional<int> rank) = 0;
  virtual void clear_interests(const std::string& person_id) = 0;
  // A site's time zone as a source gives it (the `sites` entity).
  virtual void put_site_timezone(const std::string& site, const std::string& zone) = 0;
  virtual std::optional<std::string> site_timezone(const std::string& site) = 0;
  virtual void put_rotation(const Rotation& rotation) = 0;
  // Each as put_rotation (an id given twice: the last counts), in one round trip where the
  // backend can (a backfill's page of rotations).
  virtual void put_rotations(const std::vector<Rotation>& rotations) {
    for (const auto& rotation : rotations) put_rotation(rotation);
  }
  // A rotation's team is kept as roster rows, several per person where the platform keeps
  // several; reads return members with their rows merged into spans, clamped to the
  // rotation's days. put_team_member replaces all of the person's rows with its spans.
  virtual void put_team_member(const std::string& rotation_id, const TeamMember& member) = 0;
  // A rotation's listed team at once, each member as put_team_member (a person listed
  // twice: the last entry counts); the rows of people not listed stay. One round trip
  // where the backend can (a dispatched rotation wrote one per member before).
  virtual void put_team(const std::string& rotation_id, const std::vector<TeamMember>& team) = 0;
  virtual void add_team_row(const std::string& rotation_id, const TeamRow& row) = 0;
  // Each as add_team_row, in order, in one round trip where the backend can (a backfill's
  // team events carry a rotation's whole roster).
  virtual void add_team_rows(const std::string& rotation_id, const std::vector<TeamRow>& rows) {
    for (const auto& row : rows) add_team_row(rotation_id, row);
  }
  // Each rotation's rows as add_team_rows, one rotation after another, in one round trip
  // where the backend can (a backfill's page of roster rows, a rotation's team in each).
  virtual void add_roster_rows(const std::vector<RotationRows>& teams) {
    for (const auto& team : teams) add_team_rows(team.rotation_id, team.rows);
  }
  virtual void remove_team_row(const std::string& rotation_id, const TeamRow& row) = 0;
  virtual void remove_team_member(const std::string& rotation_id, const std::string& person_id) = 0;
  virtual std::optional<Rotation> rotation(const std::string& id) = 0;
  // Whether the mirror has it, without reading it (on PostgreSQL one statement, not two).
  virtual bool has_rotation(const std::string& id) { return rotation(id).has_value(); }
  // Those of `ids` the mirror has (one statement on PostgreSQL, not one per id).
  virtual std::set<std::string> known_rotations(const std::vector<std::string>& ids) {
    std::set<std::string> known;
    for (const auto& id : ids) {
      if (has_rotation(id)) known.insert(id);
    }
    return known;
  }
  // Whom each of `ids` the mirror has is about: rotation id -> student, without reading the
  // teams (a source's page of roster rows names the students of its team events).
  virtual std::map<std::string, std::string> rotation_students(
      const std::vector<std::string>& ids) {
    std::map<std::string, std::string> students;
    for (const auto& r : rotations(ids)) students.emplace(r.id, r.student_id);
    return students;
  }
  // Those of `ids` (each given once) the mirror has, with their teams, in any order (firing a batch
  // of timers that name their rotations: on PostgreSQL two statements, not two per id).
  virtual std::vector<Rotation> rotations(const std::vector<std::string>& ids) {
    std::vector<Rotation> out;
    for (const auto& id : ids) {
      if (auto r = rotation(id)) out.push_back(std::move(*r));
    }
    return out;
  }
  virtual std::vector<Rotation> rotations_of(const std::string& student_id) = 0;
  // Rotations (with their teams) that start on `day`, by id.
  virtual std::vector<Rotation> rotations_starting(Date day) = 0;
  // Every rotation with its team, in id order, streamed (for rebuilding the memory).
  virtual void for_each_rotation(const std::function<void(const Rotation&)>& each) = 0;
  // The host reported the student acted on an action about this contact.
  virtual void put_touch(const std::string& student_id, const std::string& contact_id,
                         TimePoint at) = 0;
  // One student's touches: (contact, when).
  virtual std::vector<std::pair<std::string, TimePoint>> touches_of(
      const std::string& student_id) = 0;
  virtual void for_each_touch(
      const std::function<void(const std::string&, const std::string&, TimePoint)>& each) = 0;
  virtual void put_evaluation(const Evaluation& evaluation) = 0;
  virtual std::vector<Evaluation> evaluations_of(const std::string& student_id) = 0;
  // Whom a stored evaluation is about (nullopt: none by that id): an evaluation edited to
  // be about another student changes what the first one has too.
  virtual std::optional<std::string> evaluation_student(const std::string& evaluation_id) = 0;
};

// Sources' own state: cursors, what they read, whether they reach their database.
class SourceStore {
 public:
  virtual ~SourceStore() = default;

  // Source cursors and content hashes of rows already turned into events.
  virtual std::optional<std::string> cursor(const std::string& source,
                                            const std::string& entity) = 0;
  virtual void set_cursor(const std::string& source, const std::string& entity,
                          const std::string& value) = 0;
  virtual void delete_cursor(const std::string& source, const std::string& entity) = 0;
  // Every cursor of one source, by entity (for `rapport status`).
  virtual std::vector<std::pair<std::string, std::string>> cursors(const std::string& source) = 0;
  virtual std::optional<std::string> row_hash(const std::string& source, const std::string& entity,
                                              const std::string& key) = 0;
  // Whether each statement is a round trip to a server, so that a page's reads are worth
  // making at once (row_hashes) though it costs a second pass over the page's rows: on
  // SQLite it does not pay (an unchanged full poll of full_read_bench, 0.8 s -> 1.0-1.2 s).
  virtual bool reads_pay_by_statement() const { return false; }
  // Those of `keys` that have a hash, by key (one statement on PostgreSQL).
  virtual std::map<std::string, std::string> row_hashes(const std::string& source,
                                                        const std::string& entity,
                                                        const std::vector<std::string>& keys) {
    std::map<std::string, std::string> out;
    for (const auto& key : keys) {
      if (auto hash = row_hash(source, entity, key)) out[key] = std::move(*hash);
    }
    return out;
  }
  virtual void set_row_hash(const std::string& source, const std::string& entity,
                            const std::string& key, const std::string& hash) = 0;
  // (entity, key, hash) of one source's rows.
  using RowHashes = std::vector<std::tuple<std::string, std::string, std::string>>;
  // Each as set_row_hash (a row given twice: the last counts), in one round trip where the
  // backend can: a page of a backfill is thousands of rows.
  virtual void set_row_hashes(const std::string& source, const RowHashes& rows) {
    for (const auto& [entity, key, hash] : rows) set_row_hash(source, entity, key, hash);
  }
  // Full scans: mark rows as seen in scan `generation` (a page's at once: one statement
  // on PostgreSQL); the rows a finished scan did not see are gone from the source.
  virtual void mark_rows_seen(const std::string& source, const std::string& entity,
                              const std::vector<std::string>& keys, std::int64_t generation) = 0;
  // Every row whose key starts with `prefix` (a roster row that cannot be read any more:
  // all of its person's rows on the rotation stay, none is taken for deleted).
  virtual void mark_rows_seen_with_prefix(const std::string& source, const std::string& entity,
                                          const std::string& prefix, std::int64_t generation) = 0;
  virtual std::vector<std::string> rows_not_seen(const std::string& source,
                                                 const std::string& entity,
                                                 std::int64_t generation) = 0;
  virtual void forget_row(const std::string& source, const std::string& entity,
                          const std::string& key) = 0;

  // Whether each source can reach what it reads, for `rapport status`.
  virtual void set_source_state(const std::string& source, bool up, const std::string& message,
                                TimePoint since) = 0;
  struct SourceState {
    std::string source;
    bool up = true;
    std::string message, since;
  };
  virtual std::vector<SourceState> source_states() = 0;
};

// Durable timers.
class TimerStore {
 public:
  virtual ~TimerStore() = default;

  // Timers.
  virtual void put_timer(const Timer& timer) = 0;
  // Each as put_timer (an id given twice: the last counts), in one round trip where the
  // backend can.
  virtual void put_timers(const std::vector<Timer>& timers) = 0;
  virtual void delete_timers_with_prefix(const std::string& prefix) = 0;
  // Due timers, first due first. Where processes share the store (PostgreSQL) they are
  // locked until the caller's transaction ends: another process's call passes over them,
  // and over every timer of a subject whose earlier due timer is locked so (a subject's
  // timers enter the inbox in due order, whoever fires them).
  virtual std::vector<Timer> due_timers(TimePoint now, std::size_t limit) = 0;
  virtual void delete_timer(const std::string& id) = 0;
  // Each as delete_timer, in one round trip where the backend can (a batch fired).
  virtual void delete_timers(const std::vector<std::string>& ids) {
    for (const auto& id : ids) delete_timer(id);
  }
  virtual std::vector<Timer> timers_about(const std::string& subject) = 0;  // by due time
};

// The disclosure log, erasures and suppressions, retention, and leases.
class AuditStore {
 public:
  virtual ~AuditStore() = default;

  virtual void add_disclosure(const Disclosure& disclosure) = 0;
  virtual std::vector<Disclosure> disclosures_of(const std::string& student_id) = 0;

  // Erasure on request (`rapport forget`). Removes a person's personal data: their person
  // record and interests, the rotations they are the student of (with their teams), the
  // roster rows naming them, the evaluations about them (those they wrote are students'
  // records and stay, the evaluator replaced by a pseudonym), the actions about them or
  // naming them as a contact with their deliveries and attempts, held actions, touches,
  // timers and inbox events about them (events of others that name them are emptied
  // once every consumer passed them), and the row hashes of their rows; records the
  // erasure and suppresses the person (see suppressed_ids). The disclosure log and the
  // expiry records keep their ids only. Returns what went, by kind. Within a transaction;
  // call scrub() after it commits.
  virtual std::map<std::string, std::int64_t> erase_person(const std::string& id, TimePoint at,
                                                           const std::string& kind,
                                                           const std::string& requested_by,
                                                           const std::string& reason) = 0;
  // Overwrites what deleted rows left in the file and its log (SQLite: secure_delete is
  // on for the erasure; this checkpoints and truncates the write-ahead log).
  virtual void scrub() = 0;
  // People who were forgotten and are kept out until the school lifts it: sources import
  // nothing about them, the listener stores nothing about them, no action names them.
  virtual std::set<std::string> suppressed_ids() = 0;
  virtual bool lift_suppression(const std::string& id, TimePoint at) = 0;  // false: none
  // Retention: what may go, each kind before its own cutoff (see retention: in the
  // configuration reference): payloads of handled inbox events, attempts of finished
  // deliveries, rotations that ended (with roster rows and evaluations), evaluations of no
  // rotation, touches, actions every configured sink passed whose deliveries finished
  // (their ids stay for `ids`), people nothing names any more, id-only records, reports,
  // and the disclosure log when it has a period. At most `batch` rows of each kind, so a running
  // daemon's transaction stays short. Returns what went (or would go, dry_run), by kind.
  struct PurgeBefore {
    TimePoint now, inbox_payloads, delivery_attempts, rotations, people, actions, ids, reports;
    std::optional<TimePoint> disclosures;  // none: kept
    std::vector<std::string> sinks;        // configured: actions go once each of them passed them
    // Of those, the ones with `audience: student` (they read the released stream: an
    // action goes once the budget decided it and each of them passed its release).
    std::vector<std::string> student_sinks;
  };
  virtual std::map<std::string, std::int64_t> purge(const PurgeBefore& before, std::size_t batch,
                                                    bool dry_run) = 0;
  struct Erasure {
    std::string person_id, kind, at, requested_by, reason, removed, lifted_at;
  };
  virtual std::vector<Erasure> erasures() = 0;
};

// A table as both backends hold it, for copying: its name, the columns copied, and the
// key that orders its rows.
struct TableShape {
  std::string name;
  std::vector<std::string> columns;
  std::string order_by;
};

// Several processes sharing one store: leases, fencing and the process table.
struct LeaseRecord {
  std::string name, holder, until;
  std::int64_t epoch = 0;  // one more each time the lease changes hands
};
struct ProcessRecord {
  std::string instance;  // host:pid:start, unique per process run
  std::string host;
  std::int64_t pid = 0;
  std::string started, heartbeat;  // heartbeat: the database's clock
  std::string leases;              // the leases it held at its last heartbeat
};
// The work of a process that holds a lease, guarded: a commit of a transaction that finds
// the lease in other hands (or another epoch) is rolled back and throws LeaseLost.
struct Fence {
  std::string lease, holder;
  std::int64_t epoch = 0;
};

class ClusterStore {
 public:
  virtual ~ClusterStore() = default;

  // A lease that one of several processes sharing the store holds (for example the hourly
  // purge): taken when free, expired or already this holder's; false when another holds it.
  virtual bool take_lease(const std::string& name, const std::string& holder, TimePoint now,
                          TimePoint until) = 0;
  virtual void release_lease(const std::string& name, const std::string& holder) = 0;
  // Every lease whose name starts with `prefix` (no % or _ in it) ended and given a new
  // epoch, whoever holds it: their holders' fenced commits are refused from now on.
  virtual void end_leases(const std::string& prefix) = 0;
  // The same on the database's clock (never a host's): taken or renewed for `ttl` from
  // the database's now; its epoch, or nullopt while another holds it unexpired.
  virtual std::optional<std::int64_t> hold_lease(const std::string& name, const std::string& holder,
                                                 std::chrono::seconds ttl) = 0;
  // Every later outermost commit on this connection checks the fence first (none: no check).
  virtual void set_fence(std::optional<Fence> fence) = 0;
  virtual std::vector<LeaseRecord> leases() = 0;
  // The process table: written by each process at each step; read by `rapport status` and
  // by the offline commands, which refuse to run while a process is alive.
  virtual void heartbeat(const ProcessRecord& process) = 0;
  // Processes whose heartbeat is at most `within` old on the database's clock.
  virtual std::vector<ProcessRecord> live_processes(std::chrono::seconds within) = 0;
  virtual void forget_process(const std::string& instance) = 0;
};

// The whole store: every concern, with transactions around any of them.
class Store : public InboxStore,
              public OutboxStore,
              public PromptStore,
              public MirrorStore,
              public SourceStore,
              public TimerStore,
              public AuditStore,
              public ClusterStore {
 public:
  ~Store() override = default;

  // Transactions nest by counting: only the outermost commits. Use Transaction.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;

  virtual StoreCounts counts() = 0;
  // Copying a whole store to another of either backend (store/copy.hpp): a table's rows
  // as text columns in key order (NULL: nullopt), written the same way into an empty
  // store, then finish_copy moves the streams' numbering past the source's last numbers
  // (retention may have removed the rows that had them) and the other keys past the rows.
  // begin_snapshot starts a transaction whose reads all see one moment.
  using Row = std::vector<std::optional<std::string>>;
  virtual void begin_snapshot() { begin(); }
  virtual void read_table(const TableShape& table, const std::function<void(const Row&)>& each) = 0;
  virtual void write_rows(const TableShape& table, const std::vector<Row>& rows) = 0;
  virtual void finish_copy(std::int64_t last_event, std::int64_t last_action,
                           std::int64_t last_release) = 0;
  virtual int schema_version() = 0;
  // A bulk load (`rapport backfill` building the mirror): where an index that only
  // erasure and retention read costs more kept up to date row by row than built once at
  // the end, it goes for the load and end_bulk_load builds it again. Whatever reads it
  // (an erasure, a purge) builds it first, so nothing but time is lost when the load
  // stops half way (opening the store does not: it cannot tell a load that died from one
  // still running). SQLite: the roster's index by person.
  virtual void begin_bulk_load() {}
  virtual void end_bulk_load() {}
  // "sqlite" or "postgresql".
  virtual std::string_view backend() const = 0;
};

// RAII: rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Store& store) : store_(store) { store_.begin(); }
  // Takes over a transaction begun already (begin_snapshot).
  enum Adopt { adopt };
  Transaction(Store& store, Adopt) : store_(store) {}
  ~Transaction() {
    if (!done_) store_.rollback();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    done_ = true;  // a failed commit ends the transaction too: no second rollback
    store_.commit();
  }

 private:
  Store& store_;
  bool done_ = false;
};

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A commit refused by the fence (set_fence): another process holds the lease now, and
// what this transaction did was rolled back.
class LeaseLost : public StoreError {
 public:
  using StoreError::StoreError;
};

}  // namespace rapport
