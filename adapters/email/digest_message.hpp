#pragma once
// An email digest's message: the subject, a plain-text and an HTML part rendered from
// Mustache templates (built in, or a school's own), an iCalendar file with one all-day
// event per thank-you and follow-up (stable UIDs: the action ids), all in one MIME
// message whose Message-ID and boundaries derive from the digest's id, so composing it
// again gives the same bytes.

#include <optional>
#include <stdexcept>
#include <string>

#include "engine/sink.hpp"

namespace rapport::email {

struct Templates {
  std::string subject, text, html;
  std::string dir;  // where they were read from ("" for the built-in ones)
};

// The built-in templates, or those of `dir` (subject.mustache, digest.txt.mustache,
// digest.html.mustache; a file that is missing is the built-in one). Throws TemplateError.
Templates load_templates(const std::string& dir);

struct TemplateError : std::runtime_error {
  TemplateError(std::string where, int at_line, int at_column, const std::string& what)
      : std::runtime_error(what), file(std::move(where)), line(at_line), column(at_column) {}
  std::string file;
  int line, column;
};

struct MessageOptions {
  std::string from;  // "Name <address>" or an address
  std::string school_name = "Rapport";
  std::string color = "#1f5fa8";
  std::string signature;
  std::string unsubscribe_url;   // {student} is replaced by the student's id; "" for none
  std::string timezone = "UTC";  // dates are shown in it
  std::string period = "weekly";
};

ComposedDigest compose_message(const DigestRequest& request, const MessageOptions& options,
                               const Templates& templates);

// Renders each template once with sample data (what `rapport validate` does). Throws
// TemplateError.
void check_templates(const Templates& templates, const MessageOptions& options);

// The address in "Name <address>", or the text itself.
std::string address_of(const std::string& from);
// The From header's value: the display name quoted, or encoded (RFC 2047) when it is not
// plain ASCII.
std::string from_header(const std::string& from);

}  // namespace rapport::email
