#pragma once
// Messages for staff chat channels: Slack Block Kit (incoming webhooks) and Adaptive Cards
// 1.5 in the message envelope a Teams Workflows webhook takes. A channel is a third party
// to the students: what is rendered here names sites, specialties and counts, never a
// student, a rotation, a score or an evaluation.

#include <string>

#include "engine/sink.hpp"

namespace rapport::webhook {

// Slack's documented limits the renderer keeps to: at most 50 blocks a message, 3,000
// characters in a section's text, 150 in a header.
inline constexpr std::size_t kSlackMaxBlocks = 50;
inline constexpr std::size_t kSlackMaxText = 3000;
inline constexpr std::size_t kSlackMaxHeader = 150;
// Teams refuses a message past about 28 KB: at most this many sections of a summary.
inline constexpr std::size_t kTeamsMaxSections = 40;

std::string slack_summary(const StaffSummary& summary, const std::string& title);
std::string slack_notice(const std::string& notice, const std::string& title);
std::string teams_summary(const StaffSummary& summary, const std::string& title);
std::string teams_notice(const std::string& notice, const std::string& title);

}  // namespace rapport::webhook
