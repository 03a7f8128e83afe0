#include "adapters/webhook/chat_cards.hpp"

#include <boost/json.hpp>

namespace rapport::webhook {
namespace json = boost::json;
namespace {

// Cut at a character boundary, with an ellipsis, to fit `limit` bytes.
std::string fit(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "…";
}

// Slack mrkdwn: &, < and > are control characters.
std::string mrkdwn(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string day_text(Date day) {
  return format_date(day);
}

// The summary as (heading, lines) sections, in order; empty when there is nothing to say.
// The deliveries' health comes first: it never falls among the sites cut for length.
std::vector<std::pair<std::string, std::vector<std::string>>> sections(const StaffSummary& s) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  std::vector<std::string> health;
  if (s.dead_letters > 0) {
    health.push_back(std::to_string(s.dead_letters) +
                     " actions or digests given up on (dead letters: rapport status)");
  }
  if (s.students_without_address > 0) {
    health.push_back(std::to_string(s.students_without_address) +
                     " students without an email address (rapport status lists them)");
  }
  if (!health.empty()) out.emplace_back("Deliveries", std::move(health));
  for (const auto& site : s.sites) {
    std::vector<std::string> lines;
    for (const auto& [specialty, n] : site.starting) {
      lines.push_back(specialty + ": " + std::to_string(n) + " rotation" + (n == 1 ? "" : "s") +
                      " starting");
    }
    for (const auto& [specialty, n] : site.without_non_physicians) {
      lines.push_back(specialty + ": " + std::to_string(n) + " of them with no nurse, pharmacist " +
                      "or social worker on the team");
    }
    out.emplace_back(site.name, std::move(lines));
  }
  return out;
}

json::object slack_text(const std::string& text) {
  return {{"type", "mrkdwn"}, {"text", fit(text, kSlackMaxText)}};
}

json::object teams_envelope(json::array body) {
  json::object card{{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
                    {"type", "AdaptiveCard"},
                    {"version", "1.5"},
                    {"body", std::move(body)}};
  return {{"type", "message"},
          {"attachments",
           json::array{json::object{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                    {"contentUrl", nullptr},
                                    {"content", std::move(card)}}}}};
}

json::object text_block(const std::string& text, bool heading = false) {
  json::object o{{"type", "TextBlock"}, {"text", text}, {"wrap", true}};
  if (heading) {
    o["weight"] = "Bolder";
    o["size"] = "Medium";
  }
  return o;
}

}  // namespace

std::string slack_summary(const StaffSummary& summary, const std::string& title) {
  auto parts = sections(summary);
  if (parts.empty()) return "";
  std::string heading = title + ", " + day_text(summary.day);
  json::array blocks{json::object{
      {"type", "header"},
      {"text", json::object{{"type", "plain_text"}, {"text", fit(heading, kSlackMaxHeader)}}}}};
  std::size_t left = 0;
  for (const auto& [name, lines] : parts) {
    // A header, a section and a divider each: keep one block for the "more" line.
    if (blocks.size() + 3 > kSlackMaxBlocks - 1) {
      ++left;
      continue;
    }
    std::string text = "*" + mrkdwn(name) + "*";
    for (const auto& line : lines) text += "\n• " + mrkdwn(line);
    blocks.push_back(json::object{{"type", "section"}, {"text", slack_text(text)}});
    blocks.push_back(json::object{{"type", "divider"}});
  }
  if (left > 0) {
    blocks.push_back(
        json::object{{"type", "context"},
                     {"elements", json::array{slack_text("…and " + std::to_string(left) +
                                                         " more sites (rapport status)")}}});
  }
  return json::serialize(json::object{{"text", fit(heading, kSlackMaxText)}, {"blocks", blocks}});
}

std::string slack_notice(const std::string& notice, const std::string& title) {
  json::array blocks{json::object{
      {"type", "section"}, {"text", slack_text("*" + mrkdwn(title) + "*\n" + mrkdwn(notice))}}};
  return json::serialize(
      json::object{{"text", fit(title + ": " + notice, kSlackMaxText)}, {"blocks", blocks}});
}

std::string teams_summary(const StaffSummary& summary, const std::string& title) {
  auto parts = sections(summary);
  if (parts.empty()) return "";
  json::array body{text_block(title + ", " + day_text(summary.day), true)};
  std::size_t shown = 0;
  for (const auto& [name, lines] : parts) {
    // A Teams message is refused past about 28 KB: at most 40 sections.
    if (++shown > kTeamsMaxSections) {
      body.push_back(text_block("…and " + std::to_string(parts.size() - kTeamsMaxSections) +
                                " more sites (rapport status)"));
      break;
    }
    body.push_back(json::object{{"type", "TextBlock"},
                                {"text", name},
                                {"weight", "Bolder"},
                                {"wrap", true},
                                {"separator", true}});
    for (const auto& line : lines) body.push_back(text_block("• " + line));
  }
  return json::serialize(teams_envelope(std::move(body)));
}

std::string teams_notice(const std::string& notice, const std::string& title) {
  return json::serialize(teams_envelope(json::array{text_block(title, true), text_block(notice)}));
}

}  // namespace rapport::webhook
