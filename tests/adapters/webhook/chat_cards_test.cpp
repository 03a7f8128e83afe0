#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "adapters/webhook/chat_cards.hpp"

using namespace rapport;
using namespace rapport::webhook;
using Catch::Matchers::Contains;

namespace {

StaffSummary many_sites(int sites, std::size_t name_length) {
  StaffSummary s;
  s.day = *parse_date("2027-03-01");
  for (int i = 0; i < sites; ++i) {
    StaffSummary::Site site;
    site.name = "Site " + std::to_string(i) + " <&> " + std::string(name_length, 'x');
    site.starting["Internal Medicine"] = 3;
    site.without_non_physicians["Surgery"] = 1;
    s.sites.push_back(site);
  }
  s.dead_letters = 2;
  return s;
}

}  // namespace

TEST_CASE("Slack summaries keep to Block Kit's documented limits", "[webhook][chat]") {
  for (auto [sites, length] : {std::pair{3, 10ul}, std::pair{80, 10ul}, std::pair{2, 5000ul}}) {
    auto message = boost::json::parse(slack_summary(many_sites(sites, length), "Rotations"));
    const auto& blocks = message.at("blocks").as_array();
    CHECK(blocks.size() <= kSlackMaxBlocks);
    for (const auto& b : blocks) {
      auto type = std::string(b.at("type").as_string());
      CHECK((type == "header" || type == "section" || type == "divider" || type == "context"));
      if (type == "section") CHECK(b.at("text").at("text").as_string().size() <= kSlackMaxText);
      if (type == "header") CHECK(b.at("text").at("text").as_string().size() <= kSlackMaxHeader);
    }
    CHECK(message.at("text").as_string().size() <= kSlackMaxText);
    // The deliveries' health is never among what is cut.
    CHECK_THAT(boost::json::serialize(message), Contains("given up on"));
  }
  auto text = slack_summary(many_sites(1, 1), "Rotations");
  CHECK_THAT(text, Contains("&lt;&amp;&gt;"));                // mrkdwn's control characters escaped
  CHECK(slack_summary(StaffSummary{}, "Rotations").empty());  // nothing to say: no message
}

TEST_CASE("Teams summaries are Adaptive Cards 1.5 in a Workflows message", "[webhook][chat]") {
  auto message = boost::json::parse(teams_summary(many_sites(2, 5), "Rotations"));
  CHECK(message.at("type") == "message");
  const auto& attachment = message.at("attachments").at(0);
  CHECK(attachment.at("contentType") == "application/vnd.microsoft.card.adaptive");
  CHECK(attachment.at("content").at("version") == "1.5");
  CHECK(attachment.at("content").at("type") == "AdaptiveCard");
  CHECK_THAT(boost::json::serialize(message),
             Contains("1 of them with no nurse, pharmacist or social worker"));
  auto big = boost::json::serialize(boost::json::parse(teams_summary(many_sites(300, 20), "R")));
  CHECK(big.size() < 28'000);
  CHECK_THAT(big, Contains("more sites"));
}
