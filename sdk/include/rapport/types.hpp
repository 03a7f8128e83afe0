#pragma once
// The rapport/v1 domain vocabulary: plain types, standard library only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rapport {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::seconds>;
using Date = std::chrono::sys_days;

enum class Role { student, attending, resident, fellow, nurse, pharmacist, social_worker, other };

// A person's part in their program, which platforms mark (a team role such as PD, a
// title, a flag): program contacts are ordered by it.
enum class ProgramRole { director, associate_director, coordinator, faculty };

enum class RotationKind { core, elective, sub_internship, away };
enum class RotationStatus { scheduled, active, completed, cancelled };

enum class EventType {
  person_updated,  // a directory row changed (extension of DESIGN's list)
  rotation_scheduled,
  rotation_updated,
  rotation_cancelled,
  rotation_started,
  rotation_midpoint,
  rotation_ended,
  evaluation_submitted,
  team_changed,
  followup_due,
  action_completed,   // the host reports the student acted on an action (extension)
  interests_changed,  // a person's ranked interests (extension; the `interests` entity)
  site_updated        // a site's time zone (extension; the `sites` entity)
};

enum class ActionType {
  introduce,
  peer_connect,
  mentor_suggest,
  letter_candidate,
  thank_you,
  follow_up,
  specialty_contact,
  opportunity,
  program_contact  // the people of a program (sub-internships, away rotations)
};

// Wire names ("social_worker", "rotation.started", ...). parse_* return nullopt on
// an unknown name; callers turn that into an error naming the field.
std::string_view to_string(Role);
std::string_view to_string(ProgramRole);
std::string_view to_string(RotationKind);
std::string_view to_string(RotationStatus);
std::string_view to_string(EventType);
std::string_view to_string(ActionType);
std::optional<Role> parse_role(std::string_view);
std::optional<ProgramRole> parse_program_role(std::string_view);
std::optional<RotationKind> parse_rotation_kind(std::string_view);
std::optional<RotationStatus> parse_rotation_status(std::string_view);
std::optional<EventType> parse_event_type(std::string_view);
std::optional<ActionType> parse_action_type(std::string_view);

// True for roles that supervise a student (attending, resident, fellow).
bool is_supervisor(Role);
bool is_physician(Role);

struct Person {
  std::string id;
  Role role = Role::other;
  std::string name;
  std::optional<std::string> email;
  std::optional<std::string> specialty;
  std::optional<std::string> subspecialty;
  std::optional<std::string> program;
  // In JSON, a value other than true, false or null counts as true (privacy fails closed).
  bool opted_out = false;
  std::optional<ProgramRole> program_role;  // "program_role" in JSON
  // Specialties of interest, first the strongest ("interests" in JSON). From the
  // `interests` entity where a source reads one; else `specialty` is the only one.
  std::vector<std::string> interests;
  // Stops email to them (one channel), not the rest ("email_opted_out" in JSON; read
  // restrictively like opted_out).
  bool email_opted_out = false;

  bool operator==(const Person&) const = default;
};

// Days on a team, both ends included.
struct DateRange {
  Date start;
  Date end;

  int days() const { return int((end - start).count()) + 1; }
  bool operator==(const DateRange&) const = default;
};

// Sorted, with overlapping and adjacent spans joined (a person rostered Monday to Friday
// and again Monday to Friday is one span of twelve days; twice the same week is one week).
std::vector<DateRange> merged(std::vector<DateRange> spans);

// A person on a rotation's team. Platforms keep one roster row per stretch (an attending
// covering two weeks around a weekend off, a nurse on two separate weeks): `spans` holds
// them all, merged; `start` and `end` are the first and last day of them (for readers
// that know only those). In JSON: {"person", "role", "start", "end", "spans":
// [{"start", "end"}]}; an entry without spans is the one span start..end.
struct TeamMember {
  std::string person_id;
  Role role = Role::other;
  Date start;  // first day overlapping the student
  Date end;    // last day overlapping the student
  std::vector<DateRange> spans;

  // The days on the team, each counted once (end - start + 1 when there are no spans).
  int days() const;
  // The spans, or [start, end] when there are none.
  std::vector<DateRange> spans_or_dates() const;
  bool operator==(const TeamMember&) const = default;
};

struct Rotation {
  std::string id;
  std::string student_id;
  std::string site;
  std::string specialty;
  std::optional<std::string> subspecialty;
  RotationKind kind = RotationKind::core;
  Date start;
  Date end;  // last day, inclusive
  RotationStatus status = RotationStatus::scheduled;
  std::vector<TeamMember> team;

  bool operator==(const Rotation&) const = default;
};

struct Evaluation {
  std::string id;
  std::string rotation_id;
  std::string evaluator_id;
  std::string student_id;
  TimePoint submitted;
  double score = 0;
  double scale_min = 0;
  double scale_max = 1;
  std::optional<bool> would_recommend;
  bool anonymous = false;  // in JSON, anything but true, false or null counts as true

  // The score mapped onto [0, 1] from the source's scale.
  double normalized_score() const;
  bool operator==(const Evaluation&) const = default;
};

// An event as it travels: a CloudEvents 1.0 envelope whose data is `payload`,
// kept as rapport/v1 JSON text so that the SDK's headers need no JSON library.
struct Event {
  std::string id;
  EventType type = EventType::rotation_scheduled;
  std::string source;
  TimePoint occurred;
  std::string subject;  // the student's id (or the person's, for person.updated)
  std::string payload;  // JSON object text

  bool operator==(const Event&) const = default;
};

struct Action {
  std::string id;  // deterministic: see make_action_id
  ActionType type = ActionType::introduce;
  std::string student_id;
  std::string contact_id;
  TimePoint created;  // the triggering event's time, so reprocessing is identical
  TimePoint due;
  // After this it is not sent (nor made, nor released from a hold): an introduction weeks
  // after the rotation began is worse than none. None: it never expires. Built-in hooks
  // set it from their `max_lateness`; a plugin may set it ("expires" in the data).
  std::optional<TimePoint> expires;
  std::string reason;  // one sentence a student can read
  std::map<std::string, std::string> evidence;
  std::string hook;
  std::string event_id;  // "<source>/<event id>" that produced it

  bool operator==(const Action&) const = default;
};

// Same hook, same event, same contact and type: same id, whenever it is computed.
std::string make_action_id(std::string_view hook, std::string_view event_key, ActionType type,
                           std::string_view contact_id);

// A stable 128-bit hash of text as 32 hex digits (FNV-1a based; for ids and change
// detection, not for security).
std::string content_hash(std::string_view text);

// "2026-03-02" <-> Date; "2026-03-02T08:00:00Z" <-> TimePoint. nullopt when malformed.
std::optional<Date> parse_date(std::string_view);
std::optional<TimePoint> parse_time(std::string_view);
std::string format_date(Date);
std::string format_time(TimePoint);
// Now, on the real clock, in whole seconds (the precision events and actions carry).
TimePoint wall_clock();

}  // namespace rapport
