// The status page's rules without a browser (status_page_test.py drives the real daemon
// in Chromium): passwords, who is answered, what a student's page leaves out, and that
// each view of it is in the disclosure log.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <regex>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "engine/registry.hpp"
#include "rapport/json.hpp"
#include "status/password.hpp"
#include "status/status_page.hpp"
#include "status/status_report.hpp"
#include "support/fake_context.hpp"
#include "support/temp_dir.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

TimePoint at(const char* text) {
  return *parse_time(text);
}

std::string basic(const std::string& credentials) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < credentials.size(); i += 3) {
    std::uint32_t n = std::uint32_t(static_cast<unsigned char>(credentials[i])) << 16;
    if (i + 1 < credentials.size())
      n |= std::uint32_t(static_cast<unsigned char>(credentials[i + 1])) << 8;
    if (i + 2 < credentials.size()) n |= static_cast<unsigned char>(credentials[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < credentials.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < credentials.size() ? alphabet[n & 63] : '=';
  }
  return "Basic " + out;
}

// A store with student S1 on rotation R1 (attending A1, nurse N1) and A1's evaluation of
// S1 (4 of 5, 0.8 on [0, 1]), and the config of a page with the account `admin`.
struct Setup {
  test::TempDir dir;
  Registry registry;
  std::shared_ptr<const config::Config> config;
  std::string hash = status::hash_password("a long enough password", 10);

  Setup() {
    register_builtins(registry);
    config = load("admin");
    auto engine = Engine::build(*config, registry);
    auto& store = engine->store();
    auto when = at("2027-01-02T00:00:00Z");
    for (auto [id, role] :
         {std::pair{"S1", Role::student}, {"A1", Role::attending}, {"N1", Role::nurse}}) {
      Person p{id,           role,         std::string("Name of ") + id,
               std::nullopt, std::nullopt, std::nullopt,
               std::nullopt, false};
      store.append_event(
          Event{"p-" + std::string(id), EventType::person_updated, "t", when, id, to_json(p)},
          when);
    }
    auto r = test::make_rotation("R1", "S1", "2027-01-04", "2027-01-31",
                                 {{"A1", Role::attending}, {"N1", Role::nurse}});
    store.append_event(Event{"r1", EventType::rotation_scheduled, "t", when, "S1", to_json(r)},
                       when);
    Evaluation e{"E-secret-1", "R1", "A1", "S1", at("2027-02-01T00:00:00Z"), 4, 0, 5, true, false};
    store.append_event(
        Event{"e1", EventType::evaluation_submitted, "t", e.submitted, "S1", to_json(e)},
        e.submitted);
    engine->step(at("2027-02-02T00:00:00Z"));
  }

  std::shared_ptr<const config::Config> load(const std::string& account) {
    return config::load_config_text("store: {path: " + dir.file("r.db") +
                                        "}\nlistener: {ops_listen: 127.0.0.1:0}\n"
                                        "hooks:\n  letter_candidates: {}\n"
                                        "status_page:\n  accounts:\n    " +
                                        account + ": \"" + hash + "\"\n",
                                    "test.yaml", registry);
  }
};

status::PageRequest request(std::string target, std::string authorization, bool loopback = true,
                            bool secure = false) {
  return {"GET", std::move(target), std::move(authorization), secure, loopback};
}

}  // namespace

TEST_CASE("passwords are scrypt hashes, checked in constant time, never kept plain", "[status]") {
  auto hash = status::hash_password("correct horse battery", 10);
  CHECK_THAT(hash, Catch::Matchers::StartsWith("$scrypt$ln=10,r=8,p=1$"));
  CHECK(status::hash_problem(hash).empty());
  CHECK(status::verify_password("correct horse battery", hash));
  CHECK_FALSE(status::verify_password("correct horse batterz", hash));
  CHECK_FALSE(status::verify_password("", hash));
  CHECK(status::hash_password("correct horse battery", 10) != hash);  // a new salt each time
  CHECK_THAT(status::hash_problem("correct horse battery"), Contains("rapport hash-password"));
  CHECK_THAT(status::hash_problem("$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaA"),
             Contains("out of bounds"));
  CHECK_THAT(status::hash_problem("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaA"),
             Contains("right length"));
  CHECK_THAT(status::hash_problem("$scrypt$ln=10$x$y"), Contains("ln=N,r=N,p=N"));
  CHECK_FALSE(status::verify_password("x", "$scrypt$ln=10$x$y"));
  // Costs that would take seconds or gigabytes per check are refused.
  CHECK_THAT(status::hash_problem("$scrypt$ln=18,r=8,p=1$c2FsdHNhbHQ$aGFzaA"),
             Contains("out of bounds"));
  CHECK_THAT(status::hash_problem("$scrypt$ln=10,r=8,p=3$c2FsdHNhbHQ$aGFzaA"),
             Contains("out of bounds"));
  // Base64 with its padding (as other tools write it) is the same hash; padding inside is not.
  auto cut = hash.rfind('$');
  auto padded = hash.substr(0, cut) + "==" + hash.substr(cut);  // the 16-byte salt's padding
  CHECK(status::hash_problem(padded).empty());
  CHECK(status::verify_password("correct horse battery", padded));
  CHECK_FALSE(status::hash_problem(hash.substr(0, cut - 4) + "=" + hash.substr(cut - 3)).empty());
  // The decoy for unknown accounts: another salt, the same costs.
  auto like = status::hash_like("decoy", hash);
  CHECK_THAT(like, Catch::Matchers::StartsWith("$scrypt$ln=10,r=8,p=1$"));
  CHECK(status::verify_password("decoy", like));
}

TEST_CASE("status_page: a plain password in the config is refused at its line",
          "[status][config]") {
  Registry registry;
  register_builtins(registry);
  try {
    config::load_config_text("status_page:\n  accounts:\n    admin: hunter2hunter2\n", "p.yaml",
                             registry);
    FAIL("accepted");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(e.what(), Contains("p.yaml:3:12"));
    CHECK_THAT(e.what(), Contains("rapport hash-password"));
  }
}

TEST_CASE("the status page answers over TLS or loopback only, to an account's password",
          "[status]") {
  Setup s;
  status::StatusPage page(s.config);
  auto good = basic("admin:a long enough password");

  auto refused = page.handle(request("/status", good, /*loopback=*/false));
  CHECK(refused.status == 403);
  for (const auto& [name, value] : refused.headers) CHECK(name != "WWW-Authenticate");
  CHECK(page.handle(request("/status", good, false, /*secure=*/true)).status == 200);

  auto challenge = page.handle(request("/status", ""));
  CHECK(challenge.status == 401);
  bool challenged = false;
  for (const auto& [name, value] : challenge.headers) {
    challenged |= name == "WWW-Authenticate" && value.starts_with("Basic realm=");
  }
  CHECK(challenged);
  CHECK(page.handle(request("/status", basic("admin:wrong password"))).status == 401);
  CHECK(page.handle(request("/status", basic("root:a long enough password"))).status == 401);
  CHECK(page.handle(request("/status", basic("admin"))).status == 401);
  CHECK(page.handle(request("/status", "Basic ###")).status == 401);
  auto post = request("/status", good);
  post.method = "POST";
  CHECK(page.handle(post).status == 405);
  CHECK(page.handle(request("/status/elsewhere", good)).status == 404);

  // A reload replaces the accounts: the old password (checked before, so cached) goes.
  CHECK(page.handle(request("/status", good)).status == 200);
  page.reload(s.load("other"));
  CHECK(page.handle(request("/status", good)).status == 401);
  CHECK(page.handle(request("/status", basic("other:a long enough password"))).status == 200);
}

TEST_CASE(
    "a student's page shows contacts and letter ranks, no score, and is logged as a "
    "disclosure with the account",
    "[status][privacy]") {
  Setup s;
  status::StatusPage page(s.config);
  auto good = basic("admin:a long enough password");
  auto overview = page.handle(request("/status", good));
  REQUIRE(overview.status == 200);
  {
    auto engine = Engine::build(*s.config, s.registry);
    auto st = status::status_of(*s.config, engine->store());
    auto events = std::to_string(st.at("inbox_events").as_int64());
    CHECK(events != "0");
    CHECK_THAT(overview.body, Contains("data-status=\"inbox_events\">" + events + "<"));
  }
  CHECK_THAT(overview.body, Contains("data-status=\"consumers.hook.letter_candidates.behind\">0<"));

  auto student = page.handle(request("/status/student?id=%20S1%20", good));
  REQUIRE(student.status == 200);
  CHECK_THAT(student.body, Contains("data-contact=\"A1\""));
  CHECK_THAT(student.body, Contains("data-contact=\"N1\""));
  CHECK_THAT(student.body, Contains("Name of A1"));
  CHECK_THAT(student.body, Contains("<svg"));
  CHECK_THAT(student.body, !Contains("E-secret-1"));
  // A's evaluation is 4 of 5, 0.8 on [0, 1], and with "would recommend" 0.9 in the letter
  // score: none of them anywhere (SVG coordinates such as 430.8 aside).
  CHECK_FALSE(std::regex_search(student.body, std::regex(R"((^|[^0-9.])0\.[89]0*($|[^0-9]))")));
  CHECK_THAT(student.body, !Contains(">4<"));
  CHECK_THAT(student.body, !Contains("<script"));
  CHECK_THAT(student.body, Contains("Letter candidates, by rank"));
  CHECK_THAT(student.body, Contains("data-attending=\"A1\""));

  auto engine = Engine::build(*s.config, s.registry);
  auto log = engine->store().disclosures_of("S1");
  REQUIRE(log.size() == 1);
  CHECK(log[0].sink == "status_page");
  CHECK(log[0].endpoint == "account:admin");
  CHECK(page.handle(request("/status/student?id=nobody", good)).status == 404);
  CHECK(engine->store().disclosures_of("nobody").empty());
  CHECK(page.handle(request("/status/student?id=%3Cb%3E", good)).body.find("<b>") ==
        std::string::npos);

  // HEAD shows nothing: no disclosure. Another site cannot make an admin's browser look a
  // student up in the admin's name.
  auto head = request("/status/student?id=S1", good);
  head.method = "HEAD";
  CHECK(page.handle(head).status == 200);
  auto cross = request("/status/student?id=S1", good);
  cross.fetch_site = "cross-site";
  CHECK(page.handle(cross).status == 403);
  cross.fetch_site = "same-origin";
  CHECK(page.handle(cross).status == 200);
  CHECK(engine->store().disclosures_of("S1").size() == 2);
}

TEST_CASE("the status page slows password guessing down, per client and account name", "[status]") {
  Setup s;
  status::StatusPage page(s.config);
  auto from = [](const std::string& peer, const std::string& credentials) {
    auto r = request("/status", basic(credentials));
    r.peer = peer;
    return r;
  };
  // Signed in from .2 before the guessing starts: still signed in during it.
  CHECK(page.handle(from("127.0.0.2", "admin:a long enough password")).status == 200);
  for (int i = 0; i < 5; ++i) {
    CHECK(page.handle(from("127.0.0.2", "admin:guess " + std::to_string(i))).status == 401);
  }
  // The sixth try for that account from that address is not even checked, the right
  // password included (a header not seen before), for a minute.
  CHECK(page.handle(from("127.0.0.2", "admin:a long enough password ")).status == 429);
  CHECK(page.handle(from("127.0.0.2", "admin:a long enough password")).status == 200);
  CHECK(page.handle(from("127.0.0.2", "other:a long enough password")).status == 401);
  CHECK(page.handle(from("127.0.0.3", "admin:a long enough password ")).status == 401);
}

TEST_CASE(
    "status shows where a source's cursor stands, not the rows it read; a removed "
    "source's state is kept apart",
    "[status][privacy]") {
  Setup s;
  auto engine = Engine::build(*s.config, s.registry);
  auto& store = engine->store();
  store.set_cursor("registrar", "evaluations",
                   R"({"at":"2027-06-30 17:15:00","key":["E-secret-1"],"read":["3cebe10d"]})");
  store.set_cursor("registrar", "people", "2027-01-02T00:00:00Z");
  store.set_cursor("registrar", "rejects", "roster of a named student.csv");
  store.set_cursor("registrar", "assessments", R"({"at":"A0160","key":["A0160"]})");
  store.set_cursor("registrar", "legacy", "31337");
  store.set_source_state("registrar", false, "unreachable: host db1", at("2027-01-03T00:00:00Z"));
  auto st = status::status_of(*s.config, store);
  // Backlogs are counted, not read: the same number.
  auto outbox = std::int64_t(store.actions_after(0, 1000).size());
  CHECK(outbox > 0);
  CHECK(store.count_actions_after(0) == outbox);
  CHECK(store.count_actions_after(store.last_action_seq()) == 0);
  const auto& sources = st.at("sources").as_array();
  REQUIRE(sources.size() == 1);  // configured: none; the store remembers registrar
  const auto& registrar = sources[0].as_object();
  CHECK(registrar.at("type").as_string() == "not configured");
  CHECK(registrar.at("up").as_bool() == false);
  const auto& cursors = registrar.at("cursors").as_object();
  CHECK(cursors.at("evaluations").as_string() == "2027-06-30 17:15:00");
  CHECK(cursors.at("people").as_string() == "2027-01-02T00:00:00Z");
  CHECK(cursors.at("rejects").as_string() == "set");
  CHECK(cursors.at("assessments").as_string() == "set");  // a key as the cursor column
  CHECK(cursors.at("legacy").as_string() == "set");
  auto text = boost::json::serialize(st);
  CHECK_THAT(text, !Contains("E-secret-1"));
  CHECK_THAT(text, !Contains("3cebe10d"));
  CHECK_THAT(text, !Contains("named student"));
}

TEST_CASE("status_page: an account name with ':' cannot sign in and is refused", "[status]") {
  Setup s;
  CHECK_THAT(status::StatusPage::problem(*s.load("ad:min")), Contains("':'"));
  CHECK(status::StatusPage::problem(*s.load("admin")).empty());
}
