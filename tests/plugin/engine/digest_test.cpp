// The engine's side of digest sinks, with a digest sink that records what it is asked to
// compose and answers sends as told (the SMTP side is tests/integration/email_digest_test.py).
#include <catch2/catch.hpp>

#include <deque>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/registry.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

using namespace rapport;

namespace {

TimePoint at(const char* text) {
  return *parse_time(text);
}

// Digests daily at 08:00 UTC; sends answered from `answers`, by recipient (250 when none
// is left).
class ScriptedDigestSink : public DigestSink {
 public:
  std::map<std::string, std::deque<int>> answers;
  std::vector<SendRequest> sent;
  std::vector<DigestRequest> composed;

  const std::string& name() const override { return name_; }
  std::string destination() const override { return "smtp://test"; }
  TimePoint next_due(TimePoint after) const override {
    auto day = std::chrono::floor<std::chrono::days>(after);
    auto at8 = TimePoint{day} + std::chrono::hours(8);
    return at8 > after ? at8 : at8 + std::chrono::days(1);
  }
  ComposedDigest compose(const DigestRequest& request) const override {
    const_cast<ScriptedDigestSink*>(this)->composed.push_back(request);
    ComposedDigest out;
    out.subject = "digest";
    out.message = "Message-ID: <" + request.id + ">\n";
    for (const auto& e : request.entries) out.message += e.action.id + "\n";
    return out;
  }
  std::size_t room(std::chrono::steady_clock::time_point) override { return 8; }
  void start(SendRequest request) override {
    auto& mine = answers[request.to];
    int status = mine.empty() ? 250 : mine.front();
    if (!mine.empty()) mine.pop_front();
    results_.push_back({request.delivery, status, {}, status >= 400 ? "refused" : "", {}});
    sent.push_back(std::move(request));
  }
  std::vector<SendResult> finished() override { return std::exchange(results_, {}); }
  std::optional<std::chrono::milliseconds> retry_delay(int failed) const override {
    if (failed >= 3) return std::nullopt;
    return std::chrono::milliseconds(0);
  }
  bool permanent(int status) const override { return status >= 500; }

 private:
  std::string name_ = "mail";
  std::vector<SendResult> results_;
};

struct Setup {
  test::TempDir dir;
  Registry registry;
  std::unique_ptr<Engine> engine;
  ScriptedDigestSink* sink = nullptr;

  Setup() {
    register_builtins(registry);
    // A JSON-lines student sink makes the budget; the digest sink reads the same releases.
    auto config = config::load_config_text(
        test::store_yaml(dir, test::default_backend()) + "\nsinks:\n  app: {type: jsonl, path: " +
            dir.file("app.jsonl") + ", audience: student, prompt_budget: 20}\n",
        "test.yaml", registry);
    engine = Engine::build(*config, registry);
    auto s = std::make_unique<ScriptedDigestSink>();
    sink = s.get();
    engine->add_sink(std::move(s), SinkPolicy{{}, "consent", "student"});
    engine->step(at("2027-03-01T00:00:00Z"));
  }
  Store& store() { return engine->store(); }
  void person(const std::string& id, std::optional<std::string> email, bool email_out = false) {
    Person p{id, Role::student, "Student " + id};
    p.email = std::move(email);
    p.email_opted_out = email_out;
    store().put_person(p);
  }
  void action(const std::string& id, const std::string& student,
              std::optional<TimePoint> expires = std::nullopt) {
    Action a;
    a.id = id;
    a.type = ActionType::introduce;
    a.student_id = student;
    a.contact_id = "C1";
    a.created = a.due = at("2027-03-01T06:00:00Z");
    a.reason = "a reason";
    a.hook = "test";
    a.event_id = "t/" + id;
    a.expires = expires;
    REQUIRE(store().add_action(a));
  }
  // Steps until nothing is in flight (the scripted sends finish at once).
  void step(const char* when) {
    for (int i = 0; i < 5; ++i) engine->step(at(when));
  }
  std::map<std::string, std::int64_t> states() { return store().digest_counts("mail"); }
  int disclosed_by_mail(const std::string& student) {
    int n = 0;
    for (const auto& d : store().disclosures_of(student)) n += d.sink == "mail" ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("digests: one per student when the period ends, to their address, each action disclosed",
          "[engine][digest]") {
  Setup s;
  s.person("S1", "s1@example.edu");
  s.person("S2", std::nullopt);            // no address: recorded, not an error
  s.person("S3", "s3@example.edu", true);  // stopped email only
  s.person("S4", "not an address");        // unusable: as none
  for (const char* id : {"a1", "a2"}) s.action(id, "S1");
  s.action("b1", "S2");
  s.action("c1", "S3");
  s.action("d1", "S4");
  s.step("2027-03-01T07:00:00Z");  // before 08:00: gathered, nothing composed
  CHECK(s.sink->composed.empty());
  s.step("2027-03-01T08:00:00Z");
  REQUIRE(s.sink->sent.size() == 1);
  CHECK(s.sink->sent[0].to == "s1@example.edu");
  CHECK(s.sink->sent[0].body.find("a1\na2\n") != std::string::npos);
  CHECK(s.states() ==
        std::map<std::string, std::int64_t>{{"sent", 1}, {"no_address", 2}, {"opted_out", 1}});
  CHECK(s.store().students_without_address("mail") == std::vector<std::string>{"S2", "S4"});
  CHECK(s.disclosed_by_mail("S1") == 2);
  CHECK(s.disclosed_by_mail("S3") == 0);
  // Nothing new: no second digest the next day.
  s.step("2027-03-02T08:00:00Z");
  CHECK(s.sink->sent.size() == 1);
  // Erased: their digests (the messages hold their address and contacts) go with them.
  Transaction tx(s.store());
  auto gone = s.store().erase_person("S1", at("2027-03-03T00:00:00Z"), "student", "t", "t");
  tx.commit();
  CHECK(gone["digests"] == 1);
  CHECK(s.store().digest_counts("mail").count("sent") == 0);
}

TEST_CASE("digests: a 4xx is sent again as the same message; a 5xx is final", "[engine][digest]") {
  Setup s;
  s.person("S1", "s1@example.edu");
  s.person("S2", "s2@example.edu");
  s.action("a1", "S1");
  s.action("b1", "S2");
  s.sink->answers["s1@example.edu"] = {451, 250};
  s.sink->answers["s2@example.edu"] = {550};
  s.step("2027-03-01T08:00:00Z");
  REQUIRE(s.sink->sent.size() == 3);
  std::vector<const SendRequest*> to_s1;
  for (const auto& r : s.sink->sent) {
    if (r.to == "s1@example.edu") to_s1.push_back(&r);
  }
  REQUIRE(to_s1.size() == 2);
  CHECK(to_s1[0]->body == to_s1[1]->body);  // the stored message, again
  CHECK(to_s1[0]->action_id == to_s1[1]->action_id);
  CHECK(s.sink->composed.size() == 2);  // composed once each
  CHECK(s.states() == std::map<std::string, std::int64_t>{{"sent", 1}, {"dead", 1}});
  CHECK(s.disclosed_by_mail("S1") == 1);
  CHECK(s.disclosed_by_mail("S2") == 0);  // never reached them
}

TEST_CASE(
    "digests: what expired before the digest is neither in it nor disclosed; a resend "
    "to a student who stopped email since is not made",
    "[engine][digest][privacy]") {
  Setup s;
  s.person("S1", "s1@example.edu");
  s.action("a1", "S1");
  s.action("late", "S1", at("2027-03-01T07:30:00Z"));  // expires before 08:00
  s.sink->answers["s1@example.edu"] = {451};
  s.step("2027-03-01T07:00:00Z");
  s.engine->step(at("2027-03-01T08:00:00Z"));  // composed and sent once: 451
  REQUIRE(s.sink->composed.size() == 1);
  CHECK(s.sink->composed[0].entries.size() == 1);
  CHECK(s.sink->sent.at(0).body.find("late") == std::string::npos);
  // They stop email before the retry: it is not sent, and nothing was disclosed.
  s.person("S1", "s1@example.edu", true);
  s.step("2027-03-01T08:00:00Z");
  CHECK(s.sink->sent.size() == 1);
  CHECK(s.disclosed_by_mail("S1") == 0);
  CHECK(s.states() == std::map<std::string, std::int64_t>{{"withheld", 1}});
}
