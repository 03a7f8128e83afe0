#include <catch2/catch.hpp>

#include <fstream>

#include "adapters/email/digest_message.hpp"
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
