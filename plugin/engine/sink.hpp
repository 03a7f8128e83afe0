#pragma once
// Where actions go. Two shapes:
// - a batch sink (JSON lines, host callback): the engine hands it actions in outbox order
//   and advances the sink's progress only after the sink says OK (at-least-once; ids let
//   receivers dedupe);
// - a per-action sink (webhook): the engine keeps one delivery per action in the store,
//   starts sends when the sink has room, and records each attempt's outcome; the sink
//   sends in the background and reports results. One failing action never holds back
//   the others.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rapport/types.hpp"

namespace rapport {

enum class Delivery { ok, retry, error };

struct Outgoing {
  std::int64_t seq = 0;
  std::string action_id;
  std::string body;  // the action as a CloudEvent, with the contact's details from the store
};

struct SendRequest {
  std::int64_t delivery = 0;
  std::string action_id;  // the webhook-id, the same on every attempt (a digest's id)
  std::string body;
  std::string to;  // a digest: the recipient's address
};

struct SendResult {
  std::int64_t delivery = 0;
  int status = 0;  // 0: no HTTP answer (refused, reset, timed out)
  std::chrono::milliseconds duration{0};
  std::string snippet;  // the start of the answer's body, or the transport error
  std::optional<std::chrono::seconds> retry_after;
};

class PerActionSink;
class DigestSink;
class StaffSink;

class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& name() const = 0;
  // Where the actions go, for the disclosure log (a file path, a URL without secrets).
  virtual std::string destination() const = 0;
  // All of the batch or none of it: on anything but ok, the same batch comes again.
  virtual Delivery deliver(const std::vector<Outgoing>& batch) = 0;
  virtual PerActionSink* per_action() { return nullptr; }
  virtual DigestSink* digest() { return nullptr; }
  virtual StaffSink* staff() { return nullptr; }
};

// What sends one message at a time in the background (a webhook's POST, an email): the
// engine keeps the queue and the retry schedule in the store.
class Sender {
 public:
  virtual ~Sender() = default;
  // How many sends may start now (concurrency and rate limits, circuit breaker).
  virtual std::size_t room(std::chrono::steady_clock::time_point now) = 0;
  virtual void start(SendRequest request) = 0;
  // Results of sends that finished since the last call.
  virtual std::vector<SendResult> finished() = 0;
  // Delay before attempt n + 1 after n failed attempts; nullopt: no more attempts.
  virtual std::optional<std::chrono::milliseconds> retry_delay(int failed_attempts) const = 0;
  // An answer that no later attempt will change (HTTP 4xx but 408, 409 and 429; SMTP 5xx).
  virtual bool permanent(int status) const = 0;
  // The longest one send can take (its timeout): how long a delivery it was given stays
  // this process's before another may send it (with store.lease on top).
  virtual std::chrono::milliseconds longest_send() const { return std::chrono::minutes(1); }
};

class PerActionSink : public Sink, public Sender {
 public:
  Delivery deliver(const std::vector<Outgoing>&) final { return Delivery::error; }
  PerActionSink* per_action() final { return this; }
  bool permanent(int status) const override {
    return status >= 400 && status < 500 && status != 408 && status != 409 && status != 429;
  }
};

// An email address that can be written in a header and an envelope: one @ with text on
// both sides, no space, control character, bracket, comma or quote, at most 254 bytes.
inline bool plausible_address(const std::string& address) {
  auto at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= address.size() ||
      address.find('@', at + 1) != std::string::npos || address.size() > 254) {
    return false;
  }
  for (char c : address) {
    auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '<' || c == '>' || c == ',' || c == '"' || c == ';') {
      return false;
    }
  }
  return true;
}

// A sink that writes to each student once a period (an email digest): the engine gathers
// the student's released actions, asks the sink to compose the message when the period
// ends, stores it, and sends it (SendRequest::body is the message; a resend is the same).
struct DigestContact {
  std::string id, name, role;
  std::optional<std::string> email;
};
struct DigestEntry {
  Action action;
  DigestContact contact;
};
struct DigestRequest {
  std::string id;  // stable: the sink, the student, the period
  std::string student_id, student_name, recipient;
  TimePoint period_end;  // when it is composed (a preview: now)
  std::vector<DigestEntry> entries;
};
struct ComposedDigest {
  std::string subject, text, html, calendar;  // calendar: iCalendar text, empty when none
  std::string message;                        // the whole RFC 5322 message
};

class DigestSink : public Sink, public Sender {
 public:
  Delivery deliver(const std::vector<Outgoing>&) final { return Delivery::error; }
  DigestSink* digest() final { return this; }
  // The first moment a digest is due after `after` (its period's end, local hour and days).
  virtual TimePoint next_due(TimePoint after) const = 0;
  virtual ComposedDigest compose(const DigestRequest& request) const = 0;
};

// What a staff channel (a coordinators' chat) is told about a day. A chat channel is a
// third party to the students: no student's name, id, score or evaluation is in it.
struct StaffSummary {
  Date day;
  struct Site {
    std::string name;
    std::map<std::string, int> starting;  // specialty: rotations starting
    // specialty: of those, teams without a nurse, pharmacist or social worker
    std::map<std::string, int> without_non_physicians;
  };
  std::vector<Site> sites;
  std::int64_t dead_letters = 0;              // actions and digests given up, every sink
  std::int64_t students_without_address = 0;  // digests with nowhere to go, every sink
};

// A sink for staff: a daily summary, or each notice as it comes (a hook's notice, actions
// moving to the dead-letter list), posted one message at a time (the engine stores each
// message before it is sent, as for digests).
class StaffSink : public Sink, public Sender {
 public:
  Delivery deliver(const std::vector<Outgoing>&) final { return Delivery::error; }
  StaffSink* staff() final { return this; }
  virtual bool daily() const = 0;               // false: one message per notice
  virtual Date day_of(TimePoint at) const = 0;  // the local date, in the sink's time zone
  virtual TimePoint next_due(TimePoint after) const = 0;
  virtual bool covers(const std::string& site) const = 0;  // the sites it is for
  // The bodies to post; an empty string: nothing worth a message.
  virtual std::string render(const StaffSummary& summary) const = 0;
  // A notice: its text is the engine's own (counts, hook names, commands), never a hook's.
  virtual std::string render(const std::string& notice) const = 0;
};

}  // namespace rapport
