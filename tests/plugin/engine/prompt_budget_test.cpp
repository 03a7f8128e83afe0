#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <filesystem>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/network.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

TimePoint at(const char* text) {
  return *parse_time(text);
}

// No hooks: the test writes the outbox itself. Three sinks: the host platform (every
// action) and two that students read (one budget between them), weeks in Chicago.
// 2027-03-01 is a Monday; in Chicago a week starts at 06:00Z in March before the 14th.
struct Setup {
  test::TempDir dir;
  Registry registry;
  std::unique_ptr<Engine> engine;

  explicit Setup(const std::string& budget = "2", const std::string& batch = "200",
                 bool begin = true) {
    register_builtins(registry);
    build(budget, batch, "student");
    if (begin) engine->step(at("2027-02-01T00:00:00Z"));  // where the budget begins
  }
  // The engine on this store, `app` read by `app_audience`.
  void build(const std::string& budget, const std::string& batch, const std::string& app_audience) {
    engine.reset();
    auto config = config::load_config_text(
        test::store_yaml(dir, test::default_backend()) +
            "\n"
            "engine: {timezone: America/Chicago, batch: " +
            batch +
            "}\n"
            "sinks:\n"
            "  host: {type: jsonl, path: " +
            dir.file("host.jsonl") +
            "}\n"
            "  app: {type: jsonl, path: " +
            dir.file("app.jsonl") + ", audience: " + app_audience + ", prompt_budget: " + budget +
            "}\n"
            "  push: {type: jsonl, path: " +
            dir.file("push.jsonl") + ", audience: student, prompt_budget: " + budget +
            ", timezone: America/Chicago}\n",
        "test.yaml", registry);
    engine = Engine::build(*config, registry);
  }
  Store& store() { return engine->store(); }

  // An action of `type` for event `event`, due `due`.
  void add(const std::string& id, ActionType type, const std::string& event, const char* due,
           std::optional<TimePoint> expires = std::nullopt,
           std::map<std::string, std::string> evidence = {}, const std::string& student = "S1") {
    Action a;
    a.id = id;
    a.type = type;
    a.student_id = student;
    a.contact_id = "C-" + id;
    a.created = at(due);
    a.due = at(due);
    a.expires = expires;
    a.reason = "a reason";
    a.evidence = std::move(evidence);
    a.hook = "test";
    a.event_id = "t/" + event;
    REQUIRE(store().add_action(a));
  }
  std::vector<std::string> received(const char* sink) {
    std::vector<std::string> ids;
    for (const auto& line : test::read_lines(dir.file(sink))) {
      ids.push_back(std::string(boost::json::parse(line).at("id").as_string()));
    }
    return ids;
  }
  std::map<std::string, std::string> states() {
    std::map<std::string, std::string> out;
    for (const auto& p : store().prompts_of("S1")) out[p.event_id.substr(2)] = p.state;
    return out;
  }
};

// One week's worth, all present on Wednesday 2027-03-03.
void fill_week(Setup& s) {
  s.add("f180", ActionType::follow_up, "e1", "2027-03-02T15:00:00Z", std::nullopt,
        {{"after_days", "180"}});
  s.add("f30", ActionType::follow_up, "e2", "2027-03-02T15:00:00Z", std::nullopt,
        {{"after_days", "30"}});
  // A team of three: one prompt.
  for (const char* id : {"i1", "i2", "i3"}) {
    s.add(id, ActionType::introduce, "e3", "2027-03-03T06:00:00Z", at("2027-03-06T06:00:00Z"));
  }
  s.add("t1", ActionType::thank_you, "e4", "2027-03-03T12:00:00Z", at("2027-03-10T06:00:00Z"));
  s.add("p1", ActionType::peer_connect, "e5", "2027-03-03T06:00:00Z");
}

}  // namespace

TEST_CASE("the prompt budget: at most N prompts a student a week, the most important first",
          "[engine][budget]") {
  Setup s;
  fill_week(s);
  auto step = s.engine->step(at("2027-03-03T15:00:00Z"));
  CHECK(step.budget.sent == 2);
  CHECK(step.budget.deferred == 3);

  // The host gets everything; both student sinks the same two prompts: the whole team's
  // introductions (one prompt, no one dropped from it) and the thank-you.
  CHECK(s.received("host.jsonl").size() == 7);
  std::vector<std::string> first{"i1", "i2", "i3", "t1"};
  CHECK(s.received("app.jsonl") == first);
  CHECK(s.received("push.jsonl") == first);
  CHECK(s.states() == std::map<std::string, std::string>{{"e1", "deferred"},
                                                         {"e2", "deferred"},
                                                         {"e3", "sent"},
                                                         {"e4", "sent"},
                                                         {"e5", "deferred"}});
  auto deferred = s.store().prompt(prompt_id_of(*s.store().action_with_id("p1")));
  REQUIRE(deferred);
  CHECK(deferred->until == at("2027-03-08T06:00:00Z"));  // Monday 00:00 in Chicago
  CHECK_THAT(deferred->reason, Contains("budget of 2 prompts"));

  // Sunday 23:00 in Chicago is still the same week: nothing more.
  s.engine->step(at("2027-03-08T05:00:00Z"));
  CHECK(s.received("app.jsonl").size() == 4);

  // A thank-you that expires before the next week, arriving in a full week: dropped.
  s.engine->step(at("2027-03-08T07:00:00Z"));  // the new week: peers, then the 30-day
  auto second = std::vector<std::string>{"i1", "i2", "i3", "t1", "p1", "f30"};
  CHECK(s.received("app.jsonl") == second);
  CHECK(s.received("push.jsonl") == second);
  s.add("t2", ActionType::thank_you, "e6", "2027-03-09T12:00:00Z", at("2027-03-12T00:00:00Z"));
  s.engine->step(at("2027-03-09T12:00:00Z"));
  CHECK(s.states().at("e6") == "dropped");
  CHECK(s.states().at("e1") == "deferred");
  CHECK(s.store().prompt(prompt_id_of(*s.store().action_with_id("f180")))->deferrals == 2);

  // A late action of a prompt sent before follows it, without counting again.
  s.add("i4", ActionType::introduce, "e3", "2027-03-03T06:00:00Z", at("2027-03-20T00:00:00Z"));
  s.engine->step(at("2027-03-09T13:00:00Z"));
  CHECK(s.received("app.jsonl").back() == "i4");
  CHECK(s.store().prompts_sent_in_week("S1", *parse_date("2027-03-08")) == 2);

  // The week after: the 180-day follow-up at last.
  s.engine->step(at("2027-03-15T12:00:00Z"));
  CHECK(s.received("push.jsonl").back() == "f180");

  // explain and status show what was held back and why.
  s.store().put_person(Person{"S1", Role::student, "Someone"});
  auto ctx = s.engine->context(at("2027-03-15T12:00:00Z"));
  auto network = boost::json::parse(network_json(s.store(), *ctx, "S1", nullptr));
  // Held back: the thank-you dropped, and three sent after waiting.
  std::map<std::string, std::string> held;
  for (const auto& h : network.at("held_back").as_array()) {
    held[std::string(h.at("event").as_string())] = std::string(h.at("reason").as_string());
  }
  CHECK(held.size() == 4);
  CHECK_THAT(held["t/e6"], Contains("expires before the next week"));
  CHECK_THAT(held["t/e1"], Contains("sent after waiting 2 weeks"));
  CHECK_THAT(held["t/e5"], Contains("sent after waiting 1 week for"));
  auto counts = s.store().prompt_counts();
  CHECK(counts["sent"] == 5);
  CHECK(counts["dropped"] == 1);
}

TEST_CASE("the prompt budget decides the same on a rerun, however often the engine steps",
          "[engine][budget]") {
  auto decide = [](std::chrono::hours every) {
    Setup s;
    fill_week(s);
    for (auto now = at("2027-03-03T15:00:00Z"); now <= at("2027-03-22T00:00:00Z"); now += every) {
      s.engine->step(now);
    }
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& p : s.store().prompts_of("S1")) {
      out.emplace_back(p.event_id, p.state, p.week ? format_date(*p.week) : "");
    }
    return std::make_pair(out, s.received("app.jsonl"));
  };
  auto hourly = decide(std::chrono::hours(1));
  CHECK(hourly == decide(std::chrono::hours(24)));
  CHECK(hourly.second.size() == 7);
}

TEST_CASE("a rerun over the same store decides nothing again", "[engine][budget]") {
  Setup s;
  fill_week(s);
  for (auto now = at("2027-03-03T15:00:00Z"); now <= at("2027-03-22T00:00:00Z");
       now += std::chrono::hours(24)) {
    s.engine->step(now);
  }
  auto states = s.states();
  auto sent = s.received("app.jsonl");
  // Another engine on the same store (a restart) over the same period.
  s.build("2", "200", "student");
  for (auto now = at("2027-03-03T15:00:00Z"); now <= at("2027-03-22T00:00:00Z");
       now += std::chrono::hours(24)) {
    s.engine->step(now);
  }
  CHECK(s.states() == states);
  CHECK(s.received("app.jsonl") == sent);
  CHECK(s.store().prompt_counts()["sent"] == 5);
}

TEST_CASE("prompts that cannot be sent do not spend the budget", "[engine][budget][privacy]") {
  Setup s("1");
  Person opted{"S2",         Role::student, "Someone",    std::nullopt,
               std::nullopt, std::nullopt,  std::nullopt, true};
  s.store().put_person(opted);
  s.add("x1", ActionType::introduce, "e1", "2027-03-03T06:00:00Z", std::nullopt, {}, "S2");
  // An introduction already expired, then one that can go: the second is sent.
  s.add("old", ActionType::introduce, "e2", "2027-02-01T06:00:00Z", at("2027-02-04T06:00:00Z"));
  s.add("new", ActionType::peer_connect, "e3", "2027-03-03T06:00:00Z");
  s.engine->step(at("2027-03-03T15:00:00Z"));
  CHECK(s.received("app.jsonl") == std::vector<std::string>{"new"});
  CHECK(s.store().prompts_of("S2").at(0).state == "dropped");
  CHECK(s.states().at("e2") == "dropped");
  CHECK(s.received("host.jsonl").size() == 1);  // the host is not sent what expired either
}

TEST_CASE("student sinks must share one budget", "[engine][budget][config]") {
  Registry registry;
  register_builtins(registry);
  auto text =
      "sinks:\n"
      "  app: {type: jsonl, path: a.jsonl, audience: student}\n"
      "  push:\n"
      "    type: jsonl\n"
      "    path: b.jsonl\n"
      "    audience: student\n"
      "    prompt_budget: 3\n";
  try {
    config::load_config_text(text, "school.yaml", registry);
    FAIL("accepted two budgets");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(std::string(e.what()),
               Contains("school.yaml:7:5: error: sinks.push.prompt_budget: is 3 "
                        "but sinks.app says 5"));
  }
}

TEST_CASE("retention keeps what the budget deferred and what a student sink has not had",
          "[engine][budget][retention]") {
  Setup s;
  fill_week(s);
  s.engine->step(at("2027-03-03T15:00:00Z"));
  auto far = at("2028-01-01T00:00:00Z");
  Store::PurgeBefore before{.now = far,
                            .inbox_payloads = far,
                            .delivery_attempts = far,
                            .rotations = TimePoint{},
                            .people = TimePoint{},
                            .actions = far,
                            .ids = TimePoint{},
                            .reports = TimePoint{},
                            .disclosures = std::nullopt,
                            .sinks = {"host", "app", "push"},
                            .student_sinks = {"app", "push"}};
  auto gone = s.store().purge(before, 1000, false);
  CHECK(gone["actions"] == 4);  // the sent ones; the three deferred prompts wait
  for (const char* kept : {"f180", "f30", "p1"}) CHECK(s.store().action_with_id(kept));
  CHECK(s.store().prompts_of("S1").size() == 3);
  s.engine->step(at("2027-03-08T07:00:00Z"));
  CHECK(s.received("app.jsonl").size() == 6);
}

TEST_CASE("the budget's order holds across batches: the engine's batch size changes nothing",
          "[engine][budget]") {
  auto decide = [](const std::string& batch) {
    Setup s("2", batch);
    fill_week(s);
    s.engine->step(at("2027-03-03T15:00:00Z"));
    s.engine->step(at("2027-03-08T07:00:00Z"));
    return s.received("app.jsonl");
  };
  auto whole = decide("200");
  CHECK(whole == std::vector<std::string>{"i1", "i2", "i3", "t1", "p1", "f30"});
  CHECK(decide("1") == whole);
  CHECK(decide("2") == whole);
}

TEST_CASE("the budget begins with what comes after it; a sink that changes audience floods no one",
          "[engine][budget]") {
  Setup s;
  // Made while `app` was a host sink: it has them all, the budget never sees them.
  s.build("2", "200", "host");
  s.engine->step(at("2027-02-02T00:00:00Z"));
  fill_week(s);
  s.engine->step(at("2027-03-03T15:00:00Z"));
  CHECK(s.received("app.jsonl").size() == 7);
  CHECK(s.received("push.jsonl").size() == 4);  // a student sink all along
  // Now a student sink: it starts with the next release, not with the history. (A new
  // file each time: the JSON-lines sink skips ids its file already holds.)
  std::filesystem::remove(s.dir.file("app.jsonl"));
  s.build("2", "200", "student");
  s.engine->step(at("2027-03-08T07:00:00Z"));
  CHECK(s.received("push.jsonl") == std::vector<std::string>{"i1", "i2", "i3", "t1", "p1", "f30"});
  CHECK(s.received("app.jsonl") == std::vector<std::string>{"p1", "f30"});
  // And back to host: it starts at the end of the outbox.
  std::filesystem::remove(s.dir.file("app.jsonl"));
  s.build("2", "200", "host");
  s.engine->step(at("2027-03-09T11:00:00Z"));
  s.add("late", ActionType::opportunity, "e9", "2027-03-09T12:00:00Z");
  s.engine->step(at("2027-03-09T12:00:00Z"));
  CHECK(s.received("app.jsonl") == std::vector<std::string>{"late"});
}

TEST_CASE("a budget begun on a store with history leaves the history to the host sinks",
          "[engine][budget]") {
  Setup s("2", "200", false);
  fill_week(s);
  s.engine->step(at("2027-03-03T15:00:00Z"));
  CHECK(s.received("host.jsonl").size() == 7);
  CHECK(s.received("app.jsonl").empty());
  CHECK(s.store().prompts_of("S1").empty());
}

TEST_CASE("erasing a student takes their prompts; a contact's erasure leaves others' counts",
          "[engine][budget][privacy]") {
  Setup s;
  fill_week(s);
  s.add("s2", ActionType::introduce, "e7", "2027-03-03T06:00:00Z", std::nullopt, {}, "S2");
  s.engine->step(at("2027-03-03T15:00:00Z"));
  Transaction tx(s.store());
  s.store().erase_person("C-t1", at("2027-03-04T00:00:00Z"), "contact", "test", "test");
  s.store().erase_person("S2", at("2027-03-04T00:00:00Z"), "student", "test", "test");
  tx.commit();
  CHECK(s.store().prompts_of("S2").empty());
  CHECK(s.store().prompts_sent_in_week("S1", *parse_date("2027-03-01")) == 2);
}

TEST_CASE("weeks begin on Monday 00:00 local time, across daylight saving",
          "[engine][budget][timezone]") {
  // Chicago moves to CDT on Sunday 2027-03-14.
  CHECK(week_of(at("2027-03-15T04:30:00Z"), "America/Chicago") == *parse_date("2027-03-08"));
  CHECK(week_of(at("2027-03-15T05:00:00Z"), "America/Chicago") == *parse_date("2027-03-15"));
  CHECK(week_of(at("2027-03-08T05:59:59Z"), "America/Chicago") == *parse_date("2027-03-01"));
  CHECK(week_of(at("2027-03-08T06:00:00Z"), "America/Chicago") == *parse_date("2027-03-08"));
  CHECK(week_of(at("2027-03-07T23:00:00Z"), "UTC") == *parse_date("2027-03-01"));
}
