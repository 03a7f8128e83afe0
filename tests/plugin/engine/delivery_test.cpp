#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "hooks/introductions/introductions.hpp"
#include "rapport/json.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fake_context.hpp"
#include "support/recording_sink.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;

using test::RecordingSink;

TEST_CASE("an action waiting for its sink is not delivered once its student opted out",
          "[engine][opt-out]") {
  test::TempDir dir;
  std::vector<std::unique_ptr<Hook>> hooks;
  hooks.push_back(
      std::make_unique<hooks::Introductions>("introductions", hooks::IntroductionsOptions{}));
  std::vector<std::unique_ptr<Sink>> sinks;
  auto sink = std::make_unique<RecordingSink>();
  auto* recorder = sink.get();
  sinks.push_back(std::move(sink));
  Engine engine(test::open_test_store(dir, test::default_backend()), {}, std::move(hooks),
                std::move(sinks), 100);
  auto& store = engine.store();
  auto now = *parse_time("2027-01-04T00:00:00Z");
  Person s1{"S1",         Role::student, "Stu",        std::nullopt,
            std::nullopt, std::nullopt,  std::nullopt, false};
  Person s2 = s1;
  s2.id = "S2";
  for (const auto& p : {s1, s2}) {
    store.append_event(Event{"p" + p.id, EventType::person_updated, "t", now, p.id, to_json(p)},
                       now);
  }
  for (const char* student : {"S1", "S2"}) {
    auto r = test::make_rotation(std::string("R") + student, student, "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}});
    store.append_event(test::event_for(r, EventType::rotation_scheduled, "2027-01-01T00:00:00Z"),
                       now);
  }
  recorder->accept = false;  // the sink is down while the introductions are made
  engine.step(now);
  CHECK(recorder->received.empty());
  CHECK(store.actions_after(0, 100).size() == 2);

  s1.opted_out = true;  // S1 opts out before the sink recovers
  store.append_event(Event{"p-out", EventType::person_updated, "t", now, "S1", to_json(s1)}, now);
  recorder->accept = true;
  engine.step(now + std::chrono::hours(1));
  REQUIRE(recorder->received.size() == 1);
  CHECK(store.actions_of("S2").at(0).id == recorder->received[0]);
}
