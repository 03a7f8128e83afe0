#include <catch2/catch.hpp>

#include <fstream>

#include "adapters/email/digest_message.hpp"
#include "adapters/email/email_sink.hpp"
#include "config/config.hpp"
#include "engine/registry.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using namespace rapport::email;
using Catch::Matchers::Contains;

namespace {

DigestRequest sample() {
  DigestRequest r;
  r.id = "00112233445566778899aabbccddeeff";
  r.student_id = "S1";
  r.student_name = "Ana Example";
  r.recipient = "ana@example.edu";
  r.period_end = *parse_time("2027-03-01T13:00:00Z");
  auto add = [&](const char* id, ActionType type, const char* name, const char* reason) {
    Action a;
    a.id = id;
    a.type = type;
    a.student_id = "S1";
    a.contact_id = std::string("C-") + id;
    a.due = *parse_time("2027-03-04T12:00:00Z");
    a.reason = reason;
    r.entries.push_back({a, {a.contact_id, name, "social_worker", std::string(id) + "@x.edu"}});
  };
  add("i1", ActionType::introduce, "Ré Ñandú <b>", "Say hello & welcome.");
  add("t1", ActionType::thank_you, "Dr. Who", "Thank them.");
  add("f1", ActionType::follow_up, "Dr. Later", "Write again.");
  return r;
}

MessageOptions options() {
  MessageOptions o;
  o.from = "Clinical Education <rotations@example.edu>";
  o.school_name = "Example\r\nBcc: evil@example.com";  // a header injection attempt
  o.unsubscribe_url = "https://example.edu/stop?s={student}";
  o.timezone = "America/Chicago";
  return o;
}

}  // namespace

TEST_CASE("a digest message: the same bytes every time, both parts, a calendar of reminders",
          "[email]") {
  auto templates = load_templates("");
  auto one = compose_message(sample(), options(), templates);
  auto two = compose_message(sample(), options(), templates);
  CHECK(one.message == two.message);
  CHECK_THAT(one.message,
             Contains("Message-ID: <00112233445566778899aabbccddeeff@example.edu>\r\n"));
  CHECK_THAT(one.message, Contains("Content-Type: text/plain; charset=utf-8"));
  CHECK_THAT(one.message, Contains("Content-Type: text/html; charset=utf-8"));
  CHECK_THAT(one.message, Contains("filename=\"reminders.ics\""));
  CHECK_THAT(one.message, Contains("List-Unsubscribe: <https://example.edu/stop?s=S1>\r\n"));
  CHECK_THAT(one.message, Contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
  // No header is made from data with a line break in it.
  CHECK(one.message.find("\r\nBcc:") == std::string::npos);
  CHECK(one.subject.find('\n') == std::string::npos);
  // The text part as written, the HTML part escaped.
  CHECK_THAT(one.text, Contains("Ré Ñandú <b>, social worker <i1@x.edu>"));
  CHECK_THAT(one.html, Contains("Ré Ñandú &lt;b&gt;"));
  CHECK_THAT(one.html, Contains("Say hello &amp; welcome."));
  // Reminders for the thank-you and the follow-up only, all-day on the local due date.
  CHECK_THAT(one.calendar, Contains("UID:t1@rapport"));
  CHECK_THAT(one.calendar, Contains("UID:f1@rapport"));
  CHECK(one.calendar.find("UID:i1@rapport") == std::string::npos);
  CHECK_THAT(one.calendar, Contains("DTSTART;VALUE=DATE:20270304"));
  CHECK_THAT(one.text, Contains("(by March 4, 2027)"));
}

TEST_CASE("a school's broken template is refused at its file, line and column", "[email]") {
  test::TempDir dir;
  std::ofstream(dir.file("digest.txt.mustache"))
      << "Hello {{student.name}}\n{{#groups}}\n  {{title}}\n";
  auto templates = load_templates(dir.path());
  try {
    check_templates(templates, options());
    FAIL("accepted an unclosed section");
  } catch (const TemplateError& e) {
    CHECK(e.file == dir.file("digest.txt.mustache"));
    CHECK(e.line == 2);
    CHECK(e.column == 1);
    CHECK_THAT(std::string(e.what()), Contains("Unclosed section \"groups\""));
  }
  // The files it does not replace stay the built-in ones.
  CHECK(templates.html == load_templates("").html);
}

TEST_CASE("a digest's headers: names quoted or encoded, ids percent-encoded, text unescaped",
          "[email]") {
  auto o = options();
  o.school_name = "St. Mary's A&M";
  o.from = "Office of Clinical Education, Ré <rotations@example.edu>";
  auto r = sample();
  r.student_id = "S 1>&x";
  auto d = compose_message(r, o, load_templates(""));
  CHECK_THAT(d.subject, Contains("St. Mary's A&M"));  // not &apos; nor &amp;
  CHECK_THAT(d.message,
             Contains("List-Unsubscribe: <https://example.edu/stop?s=S%201%3E%26x>\r\n"));
  CHECK_THAT(d.message, Contains("From: =?UTF-8?B?"));  // a comma and an accent: encoded
  CHECK_THAT(d.message, Contains(" <rotations@example.edu>\r\n"));
  o.from = "Clinical Education <rotations@example.edu>";
  CHECK_THAT(compose_message(r, o, load_templates("")).message,
             Contains("From: \"Clinical Education\" <rotations@example.edu>\r\n"));
}

TEST_CASE("an email sink refuses clear text to another machine and credentials in its URL",
          "[email][config]") {
  Registry registry;
  register_builtins(registry);
  auto problems = [&](const std::string& url, const std::string& tls) {
    auto config = config::load_config_text("sinks:\n  mail: {type: email, url: \"" + url +
                                               "\", tls: " + tls + ", from: a@example.edu}\n",
                                           "school.yaml", registry);
    std::vector<config::Diagnostic> found;
    for (const auto& [name, section] : config->section().sections("sinks")) {
      registry.sink("email")->check(name, section, found);
    }
    std::string all;
    for (const auto& d : found) all += d.str() + "\n";
    return all;
  };
  CHECK(problems("smtp://127.0.0.1:2525", "none").empty());
  CHECK(problems("smtp://localhost:2525", "none").empty());
  for (const char* remote : {"smtp://127.0.0.1.evil.example:25", "smtp://localhost.evil.example",
                             "smtp://localhostevil.example", "smtp://mail.example.edu"}) {
    CHECK_THAT(problems(remote, "none"), Contains("only a server on this machine"));
  }
  CHECK_THAT(problems("smtp://user:secret@mail.example.edu:587", "starttls"),
             Contains("holds credentials"));
  CHECK_THAT(problems("http://mail.example.edu", "starttls"), Contains("is not smtp://"));
}
