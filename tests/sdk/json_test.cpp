#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <map>
#include <random>

#include "rapport/json.hpp"
#include "sdk/src/json_value.hpp"

using namespace rapport;
using Catch::Matchers::Contains;

namespace {

Rotation sample_rotation() {
  Rotation r;
  r.id = "R1";
  r.student_id = "S1";
  r.site = "Test General";
  r.specialty = "Surgery";
  r.subspecialty = "Vascular";
  r.kind = RotationKind::sub_internship;
  r.start = *parse_date("2027-03-01");
  r.end = *parse_date("2027-03-28");
  r.status = RotationStatus::active;
  r.team = {{"P1", Role::attending, r.start, r.end, {{r.start, r.end}}},
            {"P2",
             Role::social_worker,
             *parse_date("2027-03-08"),
             r.end,
             {{*parse_date("2027-03-08"), *parse_date("2027-03-12")},
              {*parse_date("2027-03-15"), r.end}}}};
  return r;
}

}  // namespace

TEST_CASE("every domain type survives a JSON round trip", "[sdk][json]") {
  SECTION("person") {
    Person p{"P1",       Role::pharmacist, "Pat Example",  "p1@example.edu",
             "Pharmacy", std::nullopt,     "IM residency", true};
    CHECK(person_from_json(to_json(p)) == p);
    p.program_role = ProgramRole::associate_director;
    CHECK(person_from_json(to_json(p)) == p);
    CHECK_THROWS_WITH(
        person_from_json(R"({"id": "P1", "role": "attending", "program_role": "PD"})"),
        Contains("program_role") && Contains("PD"));
  }
  SECTION("rotation with its team") {
    auto r = sample_rotation();
    CHECK(rotation_from_json(to_json(r)) == r);
    // The id alone, with the whole reader's errors for it; a payload larger than the
    // reader's stack buffer too.
    CHECK(rotation_id_from_json(to_json(r)) == r.id);
    for (int i = 0; i < 200; ++i) r.team.push_back({"P" + std::to_string(i), Role::nurse});
    CHECK(rotation_id_from_json(to_json(r)) == r.id);
    CHECK(rotation_id_from_json(R"({"id": "R 9", "team": "not read"})") == "R 9");
    CHECK_THROWS_WITH(rotation_id_from_json(R"({"student": "S1"})"),
                      Contains("field 'id'") && Contains("is required"));
    CHECK_THROWS_WITH(rotation_id_from_json(R"({"id": 7})"),
                      Contains("field 'id'") && Contains("expected a string"));
    CHECK_THROWS_WITH(rotation_id_from_json(R"(["R1"])"), Contains("expected an object"));
    CHECK_THROWS_WITH(rotation_id_from_json(R"({"id": "R1")"), Contains("malformed JSON"));
  }
  SECTION("evaluation, anonymous, with a recommendation") {
    Evaluation e{"E1", "R1", "P1", "S1", *parse_time("2027-03-30T14:05:00Z"), 7, 1, 9, true, true};
    CHECK(evaluation_from_json(to_json(e)) == e);
    CHECK(e.normalized_score() == Approx(0.75));
  }
  SECTION("event in a CloudEvents envelope") {
    Event e{"evt-1",
            EventType::rotation_started,
            "rapport/scheduler",
            *parse_time("2027-03-01T00:00:00Z"),
            "S1",
            to_json(sample_rotation())};
    auto text = to_json(e);
    CHECK(text.find("\"specversion\":\"1.0\"") != std::string::npos);
    auto back = event_from_json(text);
    CHECK(back.id == e.id);
    CHECK(back.type == e.type);
    CHECK(back.occurred == e.occurred);
    CHECK(rotation_from_json(back.payload) == sample_rotation());
  }
  SECTION("action in a CloudEvents envelope") {
    Action a;
    a.type = ActionType::thank_you;
    a.hook = "thank_you";
    a.event_id = "rapport/scheduler/R1/rotation.ended/2027-03-29";
    a.id = make_action_id(a.hook, a.event_id, a.type, "P1");
    a.student_id = "S1";
    a.contact_id = "P1";
    a.created = *parse_time("2027-03-29T00:00:00Z");
    a.due = *parse_time("2027-04-01T00:00:00Z");
    a.reason = "Thank them.";
    a.evidence = {{"days_together", "28"}};
    auto text = to_json(a);
    CHECK(text.find("\"type\":\"rapport.action.thank_you\"") != std::string::npos);
    CHECK(action_from_json(text) == a);
  }
}

TEST_CASE("a person listed in several team entries is one member: the first's role, all spans",
          "[sdk][json]") {
  // The old reader joined entries through a map of names; the same, over random rosters
  // of split and repeated rows.
  auto reference = [](const boost::json::array& team, DateRange rotation) {
    std::vector<TeamMember> out;
    std::map<std::string, std::size_t> index;
    for (const auto& entry : team) {
      const auto& o = entry.as_object();
      TeamMember m{std::string(o.at("person").as_string()),
                   *parse_role(o.at("role").as_string()),
                   {},
                   {},
                   {{o.contains("start") ? *parse_date(o.at("start").as_string()) : rotation.start,
                     o.contains("end") ? *parse_date(o.at("end").as_string()) : rotation.end}}};
      if (o.contains("spans")) {
        m.spans.clear();
        for (const auto& span : o.at("spans").as_array()) {
          m.spans.push_back(
              {*parse_date(span.at("start").as_string()), *parse_date(span.at("end").as_string())});
        }
      }
      auto [at, inserted] = index.emplace(m.person_id, out.size());
      if (inserted) {
        out.push_back(m);
      } else {
        auto& known = out[at->second].spans;
        known.insert(known.end(), m.spans.begin(), m.spans.end());
      }
    }
    for (auto& m : out) {
      m.spans = merged(m.spans);
      m.start = m.spans.front().start;
      m.end = m.spans.back().end;
    }
    return out;
  };
  const Date start = *parse_date("2027-03-01");
  const Date end = *parse_date("2027-03-28");
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    boost::json::object r = boost::json::parse(to_json(sample_rotation())).as_object();
    boost::json::array team;
    const int rows = int(rng() % 41);  // none, too
    const int people = 1 + int(rng() % 12);
    for (int i = 0; i < rows; ++i) {
      boost::json::object entry;
      entry["person"] = "P" + std::to_string(rng() % people);
      entry["role"] = rng() % 2 ? "nurse" : "attending";
      auto span = [&] {
        Date a = start + std::chrono::days(rng() % 28);
        Date b = a + std::chrono::days(rng() % 5);
        return std::pair{a, b > end ? end : b};
      };
      if (rng() % 4 == 0) {  // several spans, in no order
        boost::json::array spans;
        for (int k = 1 + int(rng() % 3); k > 0; --k) {
          auto [a, b] = span();
          spans.push_back({{"start", format_date(a)}, {"end", format_date(b)}});
        }
        entry["spans"] = spans;
      } else if (rng() % 3) {
        auto [a, b] = span();
        entry["start"] = format_date(a);
        entry["end"] = format_date(b);
      }
      team.push_back(entry);
    }
    r["team"] = team;
    const auto read = rotation_from_json(boost::json::serialize(r));
    REQUIRE(read.team == reference(team, {start, end}));
  }
}

TEST_CASE("an error names the full path of the field, however deep", "[sdk][json]") {
  const std::string head =
      R"({"id": "R1", "student": "S1", "site": "X", "specialty": "Surgery", "kind": "core",)"
      R"( "start": "2027-03-01", "end": "2027-03-28", "team": [{"person": "A", "role": "attending"},)";
  CHECK_THROWS_WITH(
      rotation_from_json(head + R"( {"person": "B", "role": "nurse", "spans": [{"start":)"
                                R"( "2027-03-02", "end": "2027-03-05"}, {"start": "2027-03-09",)"
                                R"( "end": "soon"}]}]})"),
      "field 'team[1].spans[1].end': expected a date YYYY-MM-DD");
  CHECK_THROWS_WITH(
      rotation_from_json(head + R"( {"person": "B", "role": "nurse", "spans": [{"start":)"
                                R"( "2027-03-05", "end": "2027-03-02"}]}]})"),
      "field 'team[1].spans[0].end': ends before it starts");
  CHECK_THROWS_WITH(rotation_from_json(head + R"( {"person": "B", "role": "surgeon"}]})"),
                    "field 'team[1].role': unknown value \"surgeon\"");
  CHECK_THROWS_WITH(rotation_from_json(head + R"( "B"]})"), "field 'team[1]': expected an object");
  CHECK_THROWS_WITH(
      evaluation_from_json(R"({"id": "E1", "rotation": "R1", "evaluator": "A", "student": "S1",)"
                           R"( "submitted": "2027-03-30T14:05:00Z", "score": 7,)"
                           R"( "scale": {"min": 1, "max": "nine"}})"),
      "field 'scale.max': expected a number");
}

TEST_CASE("a rotation's JSON text keeps its keys in the schema's order", "[sdk][json]") {
  // Written into a buffer on the stack since 2026-12-03; the text is the one written before
  // (a site that needs quoting, a member with two spans, one with none).
  auto r = sample_rotation();
  r.site = "Mercy \"North\"";
  r.team.push_back({"N1", Role::nurse, r.start, r.end, {}});
  CHECK(
      to_json(r) ==
      R"({"schema":"rapport/v1","id":"R1","student":"S1","site":"Mercy \"North\"",)"
      R"("specialty":"Surgery","subspecialty":"Vascular","kind":"sub_internship",)"
      R"("start":"2027-03-01","end":"2027-03-28","status":"active","team":[{"person":"P1",)"
      R"("role":"attending","start":"2027-03-01","end":"2027-03-28","spans":[{"start":)"
      R"("2027-03-01","end":"2027-03-28"}]},{"person":"P2","role":"social_worker","start":)"
      R"("2027-03-08","end":"2027-03-28","spans":[{"start":"2027-03-08","end":"2027-03-12"},)"
      R"({"start":"2027-03-15","end":"2027-03-28"}]},{"person":"N1","role":"nurse","start":)"
      R"("2027-03-01","end":"2027-03-28","spans":[{"start":"2027-03-01","end":"2027-03-28"}]}]})");
  // A team larger than the buffer on the stack.
  for (int i = 0; i < 300; ++i)
    r.team.push_back({"F" + std::to_string(i), Role::nurse, r.start, r.end, {}});
  const auto text = to_json(r);
  CHECK(text.size() > 8192);
  CHECK(rotation_from_json(text).team.size() == 303);
  CHECK(to_json(rotation_from_json(text)) == text);
}

TEST_CASE(
    "a team member's spans are sorted and merged; several entries of one person are one "
    "member; an entry without spans is its start to end",
    "[sdk][json][spans]") {
  auto d = [](const char* text) { return *parse_date(text); };
  auto rotation = rotation_from_json(R"({"id": "R1", "student": "S1", "site": "X",
    "specialty": "Surgery", "kind": "core", "start": "2027-03-01", "end": "2027-03-28",
    "team": [
      {"person": "A", "role": "attending", "spans": [{"start": "2027-03-15", "end": "2027-03-19"},
                                                   {"start": "2027-03-01", "end": "2027-03-05"},
                                                   {"start": "2027-03-04", "end": "2027-03-08"}]},
      {"person": "N", "role": "nurse", "start": "2027-03-01", "end": "2027-03-05"},
      {"person": "N", "role": "nurse", "start": "2027-03-06", "end": "2027-03-07"},
      {"person": "N", "role": "nurse", "start": "2027-03-01", "end": "2027-03-05"},
      {"person": "R", "role": "resident"}]})");
  REQUIRE(rotation.team.size() == 3);
  const auto& a = rotation.team[0];
  CHECK(a.spans == std::vector<DateRange>{{d("2027-03-01"), d("2027-03-08")},
                                          {d("2027-03-15"), d("2027-03-19")}});
  CHECK(a.start == d("2027-03-01"));
  CHECK(a.end == d("2027-03-19"));
  CHECK(a.days() == 13);
  const auto& n = rotation.team[1];  // adjacent days join; the duplicate counts once
  CHECK(n.spans == std::vector<DateRange>{{d("2027-03-01"), d("2027-03-07")}});
  CHECK(n.days() == 7);
  CHECK(rotation.team[2].days() == 28);  // no dates: the whole rotation
  // Written back with both forms, for readers that know only start and end.
  auto written = boost::json::parse(to_json(rotation)).at("team").at(0);
  CHECK(written.at("start") == "2027-03-01");
  CHECK(written.at("end") == "2027-03-19");
  CHECK(written.at("spans").as_array().size() == 2);
  CHECK_THROWS_WITH(rotation_from_json(R"({"id": "R1", "student": "S1", "site": "X",
    "specialty": "Surgery", "kind": "core", "start": "2027-03-01", "end": "2027-03-28",
    "team": [{"person": "A", "role": "attending",
              "spans": [{"start": "2027-03-15", "end": "2027-03-10"}]}]})"),
                    Contains("team[0].spans[0].end") && Contains("ends before it starts"));
}

TEST_CASE("malformed JSON is rejected with the offending field named", "[sdk][json]") {
  CHECK_THROWS_WITH(person_from_json("{\"id\":\"P1\",\"role\":\"wizard\"}"),
                    Contains("field 'role'") && Contains("wizard"));
  CHECK_THROWS_WITH(person_from_json("{\"role\":\"nurse\"}"), Contains("field 'id'"));
  CHECK_THROWS_WITH(person_from_json("{nope"), Contains("malformed JSON"));
  auto rotation = to_json(sample_rotation());
  auto bad_date = rotation;
  bad_date.replace(bad_date.find("2027-03-01"), 10, "03/01/2027");
  CHECK_THROWS_WITH(rotation_from_json(bad_date), Contains("field 'start'"));
  auto bad_member = rotation;
  bad_member.replace(bad_member.find("social_worker"), 13, "janitor");
  CHECK_THROWS_WITH(rotation_from_json(bad_member), Contains("field 'team[1].role'"));
  CHECK_THROWS_WITH(event_from_json("{\"specversion\":\"0.3\"}"), Contains("specversion"));
}

TEST_CASE("the readers of a parsed value read and refuse what the readers of text do",
          "[sdk][json]") {
  auto rotation = to_json(sample_rotation());
  CHECK(rotation_from_value(boost::json::parse(rotation)) == sample_rotation());
  auto bad_member = rotation;
  bad_member.replace(bad_member.find("social_worker"), 13, "janitor");
  CHECK_THROWS_WITH(rotation_from_value(boost::json::parse(bad_member)),
                    Contains("field 'team[1].role'"));
  CHECK_THROWS_WITH(person_from_value(boost::json::parse("{\"role\":\"nurse\"}")),
                    Contains("field 'id'"));
  CHECK_THROWS_WITH(evaluation_from_value(boost::json::parse("[1]")),
                    Contains("expected an object"));
  Event e{"E1",       EventType::rotation_started,
          "platform", *parse_time("2027-03-01T06:00:00Z"),
          "S1",       rotation};
  CHECK(event_from_value(boost::json::parse(to_json(e))) == e);
}

TEST_CASE("an event's payload goes into its envelope as it is, once checked", "[sdk][json]") {
  Event e{"E1", EventType::rotation_started, "platform", *parse_time("2027-03-01T06:00:00Z"),
          "S1", to_json(sample_rotation())};
  auto text = to_json(e);
  CHECK(event_from_json(text) == e);
  // The same text as the envelope written as one tree.
  auto tree = boost::json::parse(text);
  CHECK(boost::json::serialize(tree) == text);
  CHECK(boost::json::serialize(tree.at("data")) == e.payload);
  // White space and nesting kept; what is not one JSON value refused.
  e.payload = " {\"a\": [1, {\"b\": null}], \"c\": \"}\\\"\"} ";
  CHECK(event_from_json(to_json(e)).payload == R"({"a":[1,{"b":null}],"c":"}\""})");
  for (const char* bad : {"{", "{\"a\":1}}", "{\"a\":1} x", "{\"a\":1}{}", "nope", "{\"a\":}"}) {
    e.payload = bad;
    CHECK_THROWS_WITH(to_json(e), Contains("malformed JSON"));
  }
  e.payload.clear();
  CHECK(boost::json::parse(to_json(e)).at("data") == boost::json::object{});
}

TEST_CASE("an envelope is written as the tree of its members would serialize, escapes included",
          "[sdk][json]") {
  // Stored timers are compared with their envelope's text: it must not change with how it
  // is written. Every control character, quotes, a backslash, DEL, UTF-8 and a stray byte.
  std::string odd;
  for (int c = 0; c < 0x20; ++c) odd += char(c);
  odd += "\"\\/\x7f caf\xc3\xa9 \xff end";
  Event e{odd,
          EventType::rotation_started,
          "src" + odd,
          *parse_time("2027-03-01T06:00:00Z"),
          odd + "subject",
          R"({"rotation":"R1"})"};
  boost::json::object tree;
  tree["specversion"] = "1.0";
  tree["id"] = e.id;
  tree["source"] = e.source;
  tree["type"] = to_string(e.type);
  tree["time"] = format_time(e.occurred);
  tree["subject"] = e.subject;
  tree["datacontenttype"] = "application/json";
  tree["dataschema"] = boost::json::parse(to_json(Event{})).at("dataschema");
  tree["data"] = boost::json::parse(e.payload);
  CHECK(to_json(e) == boost::json::serialize(tree));
  e.payload.clear();
  tree["data"] = boost::json::object{};
  CHECK(to_json(e) == boost::json::serialize(tree));
}

TEST_CASE("an opt-out or anonymity flag that cannot be read counts as set (fails closed)",
          "[sdk][json][privacy]") {
  auto flag = GENERATE(as<std::string>{}, "\"yes\"", "\"false\"", "1", "0", "{}", "[]");
  CAPTURE(flag);
  auto person = person_from_json(R"({"id":"P1","role":"student","opted_out":)" + flag + "}");
  CHECK(person.opted_out);
  Evaluation sample{"E1", "R1", "P1", "S1", *parse_time("2027-03-30T14:05:00Z"),
                    7,    1,    9,    true, false};
  auto evaluation = to_json(sample);
  auto at = evaluation.find("\"anonymous\":false");
  REQUIRE(at != std::string::npos);
  evaluation.replace(at, 17, "\"anonymous\":" + flag);
  CHECK(evaluation_from_json(evaluation).anonymous);
  SECTION("absent or null is not set, true and false are themselves") {
    CHECK_FALSE(person_from_json(R"({"id":"P1","role":"student"})").opted_out);
    CHECK_FALSE(person_from_json(R"({"id":"P1","role":"student","opted_out":null})").opted_out);
    CHECK_FALSE(person_from_json(R"({"id":"P1","role":"student","opted_out":false})").opted_out);
    CHECK(person_from_json(R"({"id":"P1","role":"student","opted_out":true})").opted_out);
  }
}

TEST_CASE("action ids are deterministic and differ by hook, event, type and contact",
          "[sdk][ids]") {
  auto id = make_action_id("introductions", "src/evt1", ActionType::introduce, "P1");
  CHECK(id == make_action_id("introductions", "src/evt1", ActionType::introduce, "P1"));
  CHECK(id.starts_with("act_"));
  CHECK(id.size() == 36);
  CHECK(id != make_action_id("introductions2", "src/evt1", ActionType::introduce, "P1"));
  CHECK(id != make_action_id("introductions", "src/evt2", ActionType::introduce, "P1"));
  CHECK(id != make_action_id("introductions", "src/evt1", ActionType::thank_you, "P1"));
  CHECK(id != make_action_id("introductions", "src/evt1", ActionType::introduce, "P2"));
  // No ambiguity from where one part ends and the next begins.
  CHECK(make_action_id("a", "bc", ActionType::introduce, "d") !=
        make_action_id("ab", "c", ActionType::introduce, "d"));
}

TEST_CASE("dates and times parse strictly", "[sdk][time]") {
  CHECK(format_date(*parse_date("2027-02-28")) == "2027-02-28");
  CHECK_FALSE(parse_date("2027-02-30"));
  CHECK_FALSE(parse_date("2027-2-3"));
  CHECK(format_time(*parse_time("2027-03-01T08:30:00Z")) == "2027-03-01T08:30:00Z");
  CHECK(format_time(*parse_time("2027-03-01T08:30:00.250-05:00")) == "2027-03-01T13:30:00Z");
  CHECK(format_time(*parse_time("0001-01-01T00:00:09Z")) == "0001-01-01T00:00:09Z");
  CHECK(format_time(*parse_time("9999-12-31T23:59:59Z")) == "9999-12-31T23:59:59Z");
  CHECK(format_date(Date{std::chrono::year{10000} / 1 / 2}) == "10000-01-02");
  CHECK_FALSE(parse_time("2027-03-01T08:30:00"));
  CHECK_FALSE(parse_time("2027-03-01T25:30:00Z"));
}

TEST_CASE("every enum has a wire name that parses back", "[sdk][vocabulary]") {
  for (auto r : {Role::student, Role::attending, Role::resident, Role::fellow, Role::nurse,
                 Role::pharmacist, Role::social_worker, Role::other}) {
    CHECK(parse_role(to_string(r)) == r);
  }
  for (auto t :
       {EventType::person_updated, EventType::rotation_scheduled, EventType::rotation_updated,
        EventType::rotation_cancelled, EventType::rotation_started, EventType::rotation_midpoint,
        EventType::rotation_ended, EventType::evaluation_submitted, EventType::team_changed,
        EventType::followup_due, EventType::action_completed, EventType::interests_changed,
        EventType::site_updated}) {
    CHECK(parse_event_type(to_string(t)) == t);
  }
  for (auto a :
       {ActionType::introduce, ActionType::peer_connect, ActionType::mentor_suggest,
        ActionType::letter_candidate, ActionType::thank_you, ActionType::follow_up,
        ActionType::specialty_contact, ActionType::opportunity, ActionType::program_contact}) {
    CHECK(parse_action_type(to_string(a)) == a);
  }
  CHECK(to_string(EventType::rotation_started) == "rotation.started");
}

TEST_CASE("a content hash is what it was: the hashes of every row read are stored", "[sdk]") {
  // FNV-1a (64 bits) from two offsets, worked out apart from the library.
  CHECK(content_hash("") == "cbf29ce48422232584222325cbf29ce4");
  CHECK(content_hash("abc") == "e71fa2190541574b7bab84f7414251ac");
  CHECK(content_hash("rotations\x1fR1\x1f{\"id\":\"R1\"}") == "cebc7bbb27e1127d71de930ae9a6baa8");
}
