#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "adapters/webhook/inbound.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

const std::string kRotation =
    R"({"id":"R1","student":"S1","site":"North","specialty":"Surgery","kind":"core",)"
    R"("start":"2030-01-07","end":"2030-02-01","team":[{"person":"A1","role":"attending"}]})";

std::string cloud_event(const std::string& type, const std::string& data) {
  return R"({"specversion":"1.0","id":"E1","source":"platform","type":")" + type +
         R"(","time":"2030-01-01T00:00:00Z","subject":"S1","data":)" + data + "}";
}

webhook::InboundSource mapped_source() {
  webhook::InboundSource source;
  source.name = "platform";
  auto m = std::make_shared<webhook::PayloadMapping>();
  m->type = "/kind";
  m->types = {{"review", "evaluation.submitted"}};
  m->fields = {{"id", "/review/id"},           {"rotation", "/review/rotation"},
               {"student", "/review/learner"}, {"evaluator", "/review/by"},
               {"score", "/review/score"},     {"submitted", "/review/at"}};
  m->constants = {{"scale.min", "1"}, {"scale.max", "9"}};
  source.mapping = m;
  return source;
}

std::string review(const std::string& score) {
  return R"({"kind":"review","review":{"id":"V1","rotation":"R1","learner":"S1","by":"A1",)"
         R"("score":)" +
         score + R"(,"at":"2030-02-02T10:00:00Z"}})";
}

}  // namespace

TEST_CASE("a body's events carry exactly the data sent, checked once", "[webhook][inbound]") {
  webhook::InboundSource source;
  source.name = "platform";
  const TimePoint now{std::chrono::seconds(1'900'000'000)};
  auto events = webhook::read_body(source, cloud_event("rotation.scheduled", kRotation), "m1", now);
  REQUIRE(events.size() == 1);
  CHECK(events[0].source == "platform");
  CHECK(events[0].type == EventType::rotation_scheduled);
  CHECK(boost::json::parse(events[0].payload) == boost::json::parse(kRotation));

  auto mapped = webhook::read_body(mapped_source(), review("7"), "m2", now);
  REQUIRE(mapped.size() == 1);
  CHECK(mapped[0].id == "m2");
  CHECK(mapped[0].subject == "S1");
  auto data = boost::json::parse(mapped[0].payload);
  CHECK(data.at("score") == 7);
  CHECK(data.at("scale").at("max").as_double() == 9.0);
  CHECK(data.at("evaluator") == "A1");
}

TEST_CASE("a payload that does not fit its type, or holds a number beyond a double, is refused",
          "[webhook][inbound]") {
  webhook::InboundSource source;
  source.name = "platform";
  const TimePoint now{std::chrono::seconds(1'900'000'000)};
  auto bad_member = kRotation;
  bad_member.replace(bad_member.find("attending"), 9, "janitor");
  // The data's own field, named from the body's root.
  CHECK_THROWS_WITH(
      webhook::read_body(source, cloud_event("rotation.scheduled", bad_member), "m", now),
      Contains("field 'data.team[0].role'"));
  // 1e400 parses as infinity and would be written as `Infinity`, which is not JSON.
  auto huge = kRotation;
  huge.insert(huge.size() - 1, R"(,"weight":1e400)");
  CHECK_THROWS_AS(webhook::read_body(source, cloud_event("rotation.scheduled", huge), "m", now),
                  webhook::BadBody);
  CHECK_THROWS_WITH(webhook::read_body(source, cloud_event("rotation.scheduled", huge), "m", now),
                    Contains("malformed JSON"));
  CHECK_THROWS_WITH(webhook::read_body(source,
                                       "[" + cloud_event("rotation.scheduled", kRotation) + "," +
                                           cloud_event("rotation.scheduled", huge) + "]",
                                       "m", now),
                    Contains("event [1]") && Contains("malformed JSON"));

  CHECK_THROWS_WITH(webhook::read_body(mapped_source(), review("1e400"), "m", now),
                    Contains("mapped data: malformed JSON"));
  CHECK_THROWS_WITH(webhook::read_body(mapped_source(), review("\"high\""), "m", now),
                    Contains("mapped data: field 'score'"));
  auto infinite = mapped_source();
  auto m = std::make_shared<webhook::PayloadMapping>(*infinite.mapping);
  m->constants["scale.max"] = "inf";
  infinite.mapping = m;
  CHECK_THROWS_WITH(webhook::read_body(infinite, review("7"), "m", now),
                    Contains("constant 'scale.max'") && Contains("not a number"));
}
