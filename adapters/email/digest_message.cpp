#include "adapters/email/digest_message.hpp"

#include <libical/ical.h>
#include <kainjow/mustache.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "codec/base64.hpp"
#include "engine/timers.hpp"
#include "generated/email_templates.hpp"

namespace rapport::email {
namespace mustache = kainjow::mustache;
namespace {

// One group per kind of action, in the prompt budget's order.
struct Kind {
  ActionType type;
  const char* title;
};
constexpr Kind kKinds[] = {
    {ActionType::introduce, "Introduce yourself"},
    {ActionType::thank_you, "Say thank you"},
    {ActionType::program_contact, "People in the program you are visiting"},
    {ActionType::peer_connect, "Students who were there before you"},
    {ActionType::letter_candidate, "Who could write you a letter"},
    {ActionType::mentor_suggest, "A possible mentor"},
    {ActionType::specialty_contact, "People in your specialties"},
    {ActionType::opportunity, "Openings"},
    {ActionType::follow_up, "Stay in touch"},
};

std::string readable_role(const std::string& role) {
  std::string out = role;
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

// "March 4, 2027"
std::string long_date(Date day) {
  static const char* months[] = {"January",   "February", "March",    "April",
                                 "May",       "June",     "July",     "August",
                                 "September", "October",  "November", "December"};
  std::chrono::year_month_day ymd{day};
  return std::string(months[unsigned(ymd.month()) - 1]) + " " +
         std::to_string(unsigned(ymd.day())) + ", " + std::to_string(int(ymd.year()));
}

bool in_calendar(const Action& a) {
  return a.type == ActionType::thank_you || a.type == ActionType::follow_up;
}

// Never a line break in a header built from data.
std::string one_line(std::string text) {
  for (auto& c : text) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return text;
}

// RFC 2047: the subject as UTF-8 in base64 words short enough for a header line.
std::string encoded_header(const std::string& text) {
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t take = std::min<std::size_t>(39, text.size() - at);
    // Not inside a UTF-8 sequence.
    while (take > 0 && at + take < text.size() &&
           (static_cast<unsigned char>(text[at + take]) & 0xC0) == 0x80) {
      --take;
    }
    if (take == 0) take = std::min<std::size_t>(39, text.size() - at);
    out += (out.empty() ? "" : "\r\n ") + std::string("=?UTF-8?B?") +
           base64_encode(std::string_view(text).substr(at, take)) + "?=";
    at += take;
  }
  return out;
}

// Text with CRLF line ends (canonical form for a text/* part).
std::string crlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

// Base64 in lines of 76 characters, CRLF.
std::string base64_lines(const std::string& bytes) {
  auto flat = base64_encode(bytes);
  std::string out;
  for (std::size_t at = 0; at < flat.size(); at += 76) out += flat.substr(at, 76) + "\r\n";
  return out;
}

// "Wed, 03 Mar 2027 15:00:00 +0000"
std::string rfc5322_date(TimePoint t) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto day = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %d %02d:%02d:%02d +0000",
                days[std::chrono::weekday(day).c_encoding()], unsigned(ymd.day()),
                months[unsigned(ymd.month()) - 1], int(ymd.year()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

std::string calendar_of(const DigestRequest& request, const std::string& zone) {
  std::unique_ptr<icalcomponent, void (*)(icalcomponent*)> calendar(
      icalcomponent_vanew(ICAL_VCALENDAR_COMPONENT, icalproperty_new_version("2.0"),
                          icalproperty_new_prodid("-//Rapport//Digest//EN"),
                          icalproperty_new_method(ICAL_METHOD_PUBLISH), nullptr),
      icalcomponent_free);
  bool any = false;
  auto stamp = icaltime_from_timet_with_zone(
      std::chrono::system_clock::to_time_t(request.period_end), 0, icaltimezone_get_utc_timezone());
  for (const auto& e : request.entries) {
    if (!in_calendar(e.action)) continue;
    Date day = local_date(e.action.due, zone);
    std::chrono::year_month_day ymd{day}, next{day + std::chrono::days(1)};
    auto date = [](const std::chrono::year_month_day& d) {
      icaltimetype t = icaltime_null_date();
      t.year = int(d.year());
      t.month = int(unsigned(d.month()));
      t.day = int(unsigned(d.day()));
      return t;
    };
    icalcomponent* event = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    icalcomponent_add_property(event, icalproperty_new_uid((e.action.id + "@rapport").c_str()));
    icalcomponent_add_property(event, icalproperty_new_dtstamp(stamp));
    icalcomponent_add_property(event, icalproperty_new_dtstart(date(ymd)));
    icalcomponent_add_property(event, icalproperty_new_dtend(date(next)));
    std::string who = e.contact.name.empty() ? e.contact.id : e.contact.name;
    std::string summary = (e.action.type == ActionType::thank_you ? "Thank " : "Write to ") + who;
    icalcomponent_add_property(event, icalproperty_new_summary(summary.c_str()));
    icalcomponent_add_property(event, icalproperty_new_description(e.action.reason.c_str()));
    icalcomponent_add_property(event, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
    icalcomponent_add_component(calendar.get(), event);
    any = true;
  }
  if (!any) return "";
  char* text = icalcomponent_as_ical_string_r(calendar.get());
  std::string out = text ? text : "";
  icalmemory_free_buffer(text);
  return out;
}

// The unsubscribe URL for a student: every {student} replaced by their id, percent-encoded.
std::string unsubscribe_url(const std::string& pattern, const std::string& student) {
  std::string id;
  for (unsigned char c : student) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      id += char(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      id += buf;
    }
  }
  std::string url = pattern;
  for (auto at = url.find("{student}"); at != std::string::npos;
       at = url.find("{student}", at + id.size())) {
    url.replace(at, 9, id);
  }
  return url;
}

mustache::data data_of(const DigestRequest& request, const MessageOptions& options, bool calendar) {
  mustache::data school;
  school.set("name", options.school_name);
  school.set("color", options.color);
  school.set("signature", options.signature);
  mustache::data student;
  student.set("name", request.student_name.empty() ? std::string("there") : request.student_name);
  mustache::data groups{mustache::data::type::list};
  for (const auto& kind : kKinds) {
    mustache::data items{mustache::data::type::list};
    for (const auto& e : request.entries) {
      if (e.action.type != kind.type) continue;
      mustache::data contact;
      contact.set("name", e.contact.name.empty() ? e.contact.id : e.contact.name);
      contact.set("role", readable_role(e.contact.role.empty() ? "contact" : e.contact.role));
      if (e.contact.email) contact.set("email", *e.contact.email);
      mustache::data item;
      item.set("contact", contact);
      item.set("reason", e.action.reason);
      if (in_calendar(e.action))
        item.set("due", long_date(local_date(e.action.due, options.timezone)));
      items.push_back(item);
    }
    if (items.is_empty_list()) continue;
    mustache::data group;
    group.set("title", kind.title);
    group.set("items", items);
    groups.push_back(group);
  }
  Date day = local_date(request.period_end, options.timezone);
  mustache::data d;
  d.set("school", school);
  d.set("student", student);
  d.set("groups", groups);
  d.set("count", std::to_string(request.entries.size()));
  d.set("one", request.entries.size() == 1 ? mustache::data::type::bool_true
                                           : mustache::data::type::bool_false);
  d.set("period", options.period == "daily" ? long_date(day) : "the week of " + long_date(day));
  d.set("has_calendar",
        calendar ? mustache::data::type::bool_true : mustache::data::type::bool_false);
  if (!options.unsubscribe_url.empty()) {
    d.set("unsubscribe_url", unsubscribe_url(options.unsubscribe_url, request.student_id));
  }
  return d;
}

// "Unclosed section "x" at 12" -> line and column of character 12 of `text`.
[[noreturn]] void fail(const std::string& file, const std::string& text,
                       const std::string& message) {
  int line = 1, column = 1;
  if (auto at = message.rfind(" at "); at != std::string::npos) {
    std::size_t offset = std::strtoul(message.c_str() + at + 4, nullptr, 10);
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
  }
  throw TemplateError(file, line, column, message);
}

// HTML-escaped ({{x}}) for the HTML part only: the subject and the plain text take text as
// it is.
std::string render(const std::string& file, const std::string& text, const mustache::data& d,
                   bool html) {
  mustache::mustache tpl(text);
  if (!html) tpl.set_custom_escape([](const std::string& s) { return s; });
  if (!tpl.is_valid()) fail(file, text, tpl.error_message());
  auto out = tpl.render(d);
  if (!tpl.is_valid()) fail(file, text, tpl.error_message());
  return out;
}

std::string read_template(const std::string& dir, const char* name, const char* builtin) {
  if (dir.empty()) return builtin;
  auto path = std::filesystem::path(dir) / name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return builtin;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TemplateError(path.string(), 0, 0, "cannot read the template");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string file_of(const Templates& t, const char* name) {
  return t.dir.empty() ? std::string("(built-in ") + name + ")"
                       : (std::filesystem::path(t.dir) / name).string();
}

}  // namespace

Templates load_templates(const std::string& dir) {
  if (!dir.empty() && !std::filesystem::is_directory(dir)) {
    throw TemplateError(dir, 0, 0, "not a directory of templates");
  }
  return {read_template(dir, "subject.mustache", kBuiltinSubject),
          read_template(dir, "digest.txt.mustache", kBuiltinText),
          read_template(dir, "digest.html.mustache", kBuiltinHtml), dir};
}

std::string address_of(const std::string& from) {
  auto open = from.rfind('<');
  auto close = from.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    return from.substr(open + 1, close - open - 1);
  }
  return from;
}

std::string from_header(const std::string& from) {
  auto address = address_of(from);
  auto open = from.rfind('<');
  std::string name = open == std::string::npos ? "" : from.substr(0, open);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  while (!name.empty() && name.front() == ' ') name.erase(0, 1);
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
    name = name.substr(1, name.size() - 2);
  if (name.empty()) return "<" + address + ">";
  bool ascii = std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
  return (ascii ? "\"" + name + "\"" : encoded_header(name)) + " <" + address + ">";
}

ComposedDigest compose_message(const DigestRequest& request, const MessageOptions& options,
                               const Templates& templates) {
  ComposedDigest out;
  out.calendar = calendar_of(request, options.timezone);
  auto d = data_of(request, options, !out.calendar.empty());
  out.subject =
      one_line(render(file_of(templates, "subject.mustache"), templates.subject, d, false));
  while (!out.subject.empty() && out.subject.back() == ' ') out.subject.pop_back();
  out.text = render(file_of(templates, "digest.txt.mustache"), templates.text, d, false);
  out.html = render(file_of(templates, "digest.html.mustache"), templates.html, d, true);

  // Stable: boundaries and Message-ID from the digest's id, the date its period's end.
  const std::string mixed = "rapport-mixed-" + request.id;
  const std::string alternative = "rapport-alt-" + request.id;
  std::string domain = address_of(options.from);
  domain = domain.find('@') == std::string::npos ? "rapport.invalid"
                                                 : domain.substr(domain.find('@') + 1);
  std::string m;
  m += "From: " + one_line(from_header(options.from)) + "\r\n";
  m += "To: <" + one_line(request.recipient) + ">\r\n";
  m += "Subject: " + encoded_header(out.subject) + "\r\n";
  m += "Date: " + rfc5322_date(request.period_end) + "\r\n";
  m += "Message-ID: <" + request.id + "@" + domain + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  if (!options.unsubscribe_url.empty()) {
    m += "List-Unsubscribe: <" +
         one_line(unsubscribe_url(options.unsubscribe_url, request.student_id)) + ">\r\n";
    m += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";  // RFC 8058
  }
  m += "Content-Type: multipart/mixed; boundary=\"" + mixed + "\"\r\n\r\n";
  m += "--" + mixed + "\r\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + alternative + "\"\r\n\r\n";
  m += "--" + alternative + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  m += base64_lines(crlf(out.text));
  m += "--" + alternative + "\r\n";
  m += "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  m += base64_lines(crlf(out.html));
  m += "--" + alternative + "--\r\n";
  if (!out.calendar.empty()) {
    m += "--" + mixed + "\r\n";
    m += "Content-Type: text/calendar; charset=utf-8; method=PUBLISH; name=\"reminders.ics\"\r\n";
    m += "Content-Disposition: attachment; filename=\"reminders.ics\"\r\n";
    m += "Content-Transfer-Encoding: base64\r\n\r\n";
    m += base64_lines(out.calendar);
  }
  m += "--" + mixed + "--\r\n";
  out.message = std::move(m);
  return out;
}

void check_templates(const Templates& templates, const MessageOptions& options) {
  DigestRequest sample;
  sample.id = "0123456789abcdef0123456789abcdef";
  sample.student_id = "S0001";
  sample.student_name = "Sample Student";
  sample.recipient = "student@example.edu";
  sample.period_end = TimePoint{std::chrono::sys_days{std::chrono::year{2027} / 3 / 1}};
  for (auto type : {ActionType::introduce, ActionType::thank_you, ActionType::follow_up}) {
    Action a;
    a.id = std::string("sample-") + std::string(to_string(type));
    a.type = type;
    a.student_id = sample.student_id;
    a.contact_id = "C1";
    a.due = sample.period_end + std::chrono::days(3);
    a.reason = "A sample reason.";
    sample.entries.push_back({a, {"C1", "Dr. Sample Contact", "attending", "contact@example.edu"}});
  }
  compose_message(sample, options, templates);
}

}  // namespace rapport::email
