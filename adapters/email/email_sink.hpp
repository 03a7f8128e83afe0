#pragma once
// The `email` sink: one digest per student and period (daily or weekly, at a local hour),
// the prompts of the period grouped by kind with their reasons and contacts, a plain-text
// and an HTML part from Mustache templates, an iCalendar file of reminders. Sent over SMTP
// with libcurl (STARTTLS or implicit TLS, certificates verified, authentication) on the
// sink's own thread; the engine composes, stores and retries (digests.cpp).

#include "engine/registry.hpp"

namespace rapport::email {

SinkKind email_sink_kind();

}  // namespace rapport::email
