// rapport status, rapport explain: read-only views of the store.
#include <boost/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/commands.hpp"
#include "engine/network.hpp"
#include "files/private_files.hpp"
#include "log/log.hpp"
#include "status/status_report.hpp"
#include "store/copy.hpp"

namespace rapport::cli {

int failed(const char* command) {
  try {
    throw;
  } catch (const config::ConfigError& e) {
    std::fputs(e.what(), stderr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rapport %s: %s\n", command, e.what());
  }
  return 1;
}

namespace {

std::string text_of(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return boost::json::serialize(v);
}

}  // namespace

namespace {

// The monitoring-plugin convention: 0 OK, 1 WARNING (a source down, dead letters),
// 2 CRITICAL (a sink disabled; the store unreachable is said by the caller), and one line.
int check(const boost::json::object& st) {
  std::vector<std::string> critical, warning;
  // Sources the configuration names: a removed one's last state is history.
  std::size_t sources = 0;
  for (const auto& s : st.at("sources").as_array()) {
    if (text_of(s.at("type")) == "not configured") continue;
    ++sources;
    if (!s.at("up").as_bool()) warning.push_back("source " + text_of(s.at("name")) + " down");
  }
  std::int64_t dead = 0;
  for (const auto& c : st.at("consumers").as_array()) {
    const auto& o = c.as_object();
    if (o.contains("disabled")) critical.push_back("sink " + text_of(o.at("name")) + " disabled");
    if (const auto* d = o.if_contains("deliveries")) {
      if (const auto* n = d->as_object().if_contains("dead")) dead += n->to_number<std::int64_t>();
    }
  }
  if (dead) warning.push_back(std::to_string(dead) + " dead letter" + (dead == 1 ? "" : "s"));
  auto joined = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
  };
  std::int64_t behind = 0;
  for (const auto& c : st.at("consumers").as_array())
    behind += c.at("behind").to_number<std::int64_t>();
  std::string perf = " | behind=" + std::to_string(behind) +
                     " held=" + std::to_string(st.at("held_actions").to_number<std::int64_t>()) +
                     " dead=" + std::to_string(dead);
  if (!critical.empty()) {
    auto all = critical;
    all.insert(all.end(), warning.begin(), warning.end());
    std::printf("RAPPORT CRITICAL - %s%s\n", joined(all).c_str(), perf.c_str());
    return 2;
  }
  if (!warning.empty()) {
    std::printf("RAPPORT WARNING - %s%s\n", joined(warning).c_str(), perf.c_str());
    return 1;
  }
  std::printf("RAPPORT OK - %zu source%s up, %lld behind%s\n", sources, sources == 1 ? "" : "s",
              static_cast<long long>(behind), perf.c_str());
  return 0;
}

}  // namespace

int status(const Args& args) {
  if (!args.options.count("-c")) {
    std::fputs("usage: rapport status -c FILE [--json | --check]\n", stderr);
    return 2;
  }
  const bool checking = args.flag("--check");
  Registry registry;
  register_builtins(registry);
  std::shared_ptr<const config::Config> config;
  try {
    config = config::load_config_file(args.get("-c"), registry);
  } catch (...) {
    if (!checking) return failed("status");
    std::printf("RAPPORT UNKNOWN - the configuration cannot be read\n");
    return 3;
  }
  std::unique_ptr<Store> store;
  try {
    store = open_store(*config);
  } catch (const std::exception& e) {
    if (!checking) return failed("status");
    std::printf("RAPPORT CRITICAL - the store cannot be opened: %s\n", e.what());
    return 2;
  }
  try {
    auto st = status::status_of(*config, *store);
    if (checking) return check(st);
    if (args.flag("--json")) {
      std::printf("%s\n", boost::json::serialize(st).c_str());
      return 0;
    }
    const auto& expired = st.at("expired").as_object();
    auto n = [](const boost::json::value& v) {
      return static_cast<long long>(v.to_number<std::int64_t>());
    };
    std::printf("store    %s %s (schema %lld)\n", text_of(st.at("store").at("type")).c_str(),
                text_of(st.at("store").at("path")).c_str(), n(st.at("store").at("schema")));
    for (const auto& p : st.at("processes").as_array()) {
      std::printf(
          "process  %s (pid %lld on %s, since %s; last seen %s)%s\n",
          text_of(p.at("instance")).c_str(), n(p.at("pid")), text_of(p.at("host")).c_str(),
          text_of(p.at("started")).c_str(), text_of(p.at("heartbeat")).c_str(),
          text_of(p.at("leases")).empty() ? "" : (" holds " + text_of(p.at("leases"))).c_str());
    }
    std::printf("inbox    %lld events\noutbox   %lld actions\ntimers   %lld pending\n",
                n(st.at("inbox_events")), n(st.at("outbox_actions")), n(st.at("timers_pending")));
    std::printf(
        "held     %lld actions (student or contact not known to the people feed yet)\n"
        "expired  %lld before they were made, %lld while held, %lld before a sink took "
        "them\n"
        "withdrawn %lld before a sink took them (their rotation cancelled or moved, or their "
        "contact left the team)\n\n",
        n(st.at("held_actions")), n(expired.at("before_made")), n(expired.at("while_held")),
        n(expired.at("before_delivery")), n(st.at("withdrawn")));
    if (const auto* p = st.if_contains("prompts")) {
      const auto& prompts = p->as_object();
      std::printf(
          "prompts  %lld sent to students, %lld deferred to a later week, %lld dropped "
          "(the prompt budget; `rapport explain` says why for one student)\n\n",
          n(prompts.at("sent")), n(prompts.at("deferred")), n(prompts.at("dropped")));
    }
    for (const auto& s : st.at("sources").as_array()) {
      const auto& o = s.as_object();
      bool up = o.at("up").as_bool();
      std::string since = o.contains("since") ? " since " + text_of(o.at("since")) : "";
      std::printf("source   %s (%s) %s%s%s%s\n", text_of(o.at("name")).c_str(),
                  text_of(o.at("type")).c_str(), up ? "up" : "DOWN", since.c_str(), up ? "" : ": ",
                  up ? "" : text_of(o.at("message")).c_str());
      for (const auto& [entity, value] : o.at("cursors").as_object()) {
        std::printf("         cursor %s = %s\n", std::string(entity).c_str(),
                    text_of(value).c_str());
      }
    }
    std::printf(
        "\n\"at\" is the sequence number of the last inbox event (hooks, mirror) or outbox action\n"
        "(sinks) done; numbers are unique, not consecutive: a gap is not a lost event or action.\n"
        "\"behind\" counts what is still to do.\n");
    std::printf("\n%-28s %10s %10s\n", "consumer", "at", "behind");
    for (const auto& c : st.at("consumers").as_array()) {
      const auto& o = c.as_object();
      std::string kind = text_of(o.at("kind")), name = text_of(o.at("name"));
      std::string label = kind == "mirror" ? name : kind + " " + name;
      std::printf("%-28s %10lld %10lld\n", label.c_str(), n(o.at("at")), n(o.at("behind")));
      if (const auto* d = o.if_contains("deliveries")) {
        std::printf("%-28s", "");
        for (const auto& [state, count] : d->as_object()) {
          std::printf(" %s %lld", std::string(state).c_str(), n(count));
        }
        if (o.contains("disabled"))
          std::printf("  DISABLED: %s", text_of(o.at("disabled")).c_str());
        std::printf("\n");
      }
      if (const auto* m = o.if_contains("students_without_address"); m && !m->as_array().empty()) {
        std::string ids;
        for (const auto& id : m->as_array()) ids += (ids.empty() ? "" : " ") + text_of(id);
        std::printf("%-28s no email address: %zu student%s (%s)\n", "", m->as_array().size(),
                    m->as_array().size() == 1 ? "" : "s", ids.c_str());
      }
    }
    const auto& reports = st.at("reports").as_array();
    std::printf("\n%s\n", reports.empty() ? "no failures, retries or slow hooks recorded"
                                          : "reports (errors, retries, over-budget runs):");
    for (const auto& r : reports) {
      std::printf("  %-20s %-6s %6lld  last at %s: %s\n", text_of(r.at("consumer")).c_str(),
                  text_of(r.at("kind")).c_str(), n(r.at("count")), text_of(r.at("last_at")).c_str(),
                  text_of(r.at("last_message")).c_str());
    }
    return 0;
  } catch (...) {
    if (checking) {
      std::printf("RAPPORT UNKNOWN - the status cannot be read\n");
      return 3;
    }
    return failed("status");
  }
}

namespace {

// Columns measured in what a terminal shows, not bytes: an accented letter is one column,
// a combining mark none, a CJK character two. Text wider than `width` is cut with "…".
std::size_t display_width(std::string_view text, std::size_t* cut_at = nullptr,
                          std::size_t limit = std::size_t(-1)) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 1;
    char32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (std::size_t k = 1; k < len && i + k < text.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    std::size_t w = (cp >= 0x300 && cp <= 0x36F) || cp == 0x200B ? 0
                    : (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                            (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                            (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                            (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD)
                        ? 2
                        : 1;
    if (cut_at && width + w > limit) {
      *cut_at = i;
      return width;
    }
    width += w;
    i += len;
  }
  if (cut_at) *cut_at = text.size();
  return width;
}

// `text` in exactly `width` columns: padded on the right, or cut with "…".
std::string column(const std::string& text, std::size_t width) {
  if (display_width(text) <= width) return text + std::string(width - display_width(text), ' ');
  std::size_t cut = 0;
  std::size_t used = display_width(text, &cut, width - 1);
  while (cut > 0 && text[cut - 1] == ' ') --cut, --used;  // "Peña…", not "Peña …"
  return text.substr(0, cut) + "…" + std::string(width - 1 - used, ' ');
}

std::string named(const boost::json::object& o, const char* id_key, const char* name_key) {
  std::string id = o.contains(id_key) ? text_of(o.at(id_key)) : "";
  if (!o.contains(name_key)) return id;
  return text_of(o.at(name_key)) + " (" + id + ")";
}

}  // namespace

int explain(const Args& args) {
  std::optional<TimePoint> at = wall_clock();
  std::string as_of = "--at";
  if (args.options.count("--at")) {
    auto d = parse_date(args.get("--at"));
    at = d ? std::optional<TimePoint>(TimePoint{*d}) : parse_time(args.get("--at"));
  }
  if (!args.options.count("-c") || !args.options.count("--student") || !at) {
    std::fputs("usage: rapport explain -c FILE --student ID [--at DATE] [--json]\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    auto engine = Engine::build(*config, registry);
    if (!args.options.count("--at")) {
      // The engine's own clock (a simulated run's) where it has stepped, else today.
      auto last = engine->store().cursor(kEngineState, kLastStep);
      auto step = last ? parse_time(*last) : std::nullopt;
      at = step.value_or(*at);
      as_of = step ? "the engine's last step" : "today: the engine has not stepped yet";
    }
    auto context = engine->context(*at);
    auto text = network_json(engine->store(), *context, args.get("--student"), engine->letters());
    if (args.flag("--json")) {
      std::printf("%s\n", text.c_str());
      return 0;
    }
    auto network = boost::json::parse(text).as_object();
    std::printf("Student %s as of %s (%s): %zu rotations\n\n", args.get("--student").c_str(),
                format_time(*at).c_str(), as_of.c_str(), network["rotations"].as_array().size());
    std::printf("Contacts, strongest first\n  %5s %8s  %s %-14s %-22s %s\n", "days", "strength",
                column("who", 30).c_str(), "role", "rotations", "evaluations (0-1)");
    for (const auto& c : network["contacts"].as_array()) {
      const auto& o = c.as_object();
      std::string who = column(named(o, "id", "name"), 30);
      std::string rots, evals;
      for (const auto& r : o.at("rotations").as_array())
        rots += (rots.empty() ? "" : ",") + text_of(r);
      for (const auto& e : o.at("evaluations").as_array()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", e.at("score").to_number<double>());
        evals += (evals.empty() ? "" : " ") + std::string(buf);
      }
      std::printf("  %5lld %8.1f  %s %-14s %-22s %s\n",
                  static_cast<long long>(o.at("days_together").to_number<double>()),
                  o.at("strength").to_number<double>(), who.c_str(),
                  o.contains("role") ? text_of(o.at("role")).c_str() : "?", rots.c_str(),
                  evals.c_str());
    }
    if (!network["letter_candidates"].as_array().empty()) {
      std::printf(
          "\nLetter candidates (score = 0.35 time + 0.35 evaluation + 0.15 recency + "
          "0.15 match; eval is what the score used, 0.50* the neutral value while there is "
          "no evaluation; \"-\" where an anonymous evaluation counts, which only the rank "
          "may show)\n  %-4s %s %5s %6s %6s %8s %6s %6s\n",
          "rank", column("attending", 30).c_str(), "days", "time", "eval", "recency", "match",
          "score");
    }
    for (const auto& l : network["letter_candidates"].as_array()) {
      const auto& o = l.as_object();
      char eval[16] = "-";
      if (o.contains("evaluation_used")) {
        std::snprintf(eval, sizeof eval, "%.2f%s", o.at("evaluation_used").to_number<double>(),
                      o.contains("evaluation_neutral") ? "*" : "");
      }
      char score[16] = "-";
      if (o.contains("score")) {
        std::snprintf(score, sizeof score, "%.2f", o.at("score").to_number<double>());
      }
      std::printf("  %-4lld %s %5lld %6.2f %6s %8.2f %6.2f %6s\n",
                  static_cast<long long>(o.at("rank").to_number<double>()),
                  column(named(o, "attending", "name"), 30).c_str(),
                  static_cast<long long>(o.at("days_together").to_number<double>()),
                  o.at("time").to_number<double>(), eval, o.at("recency").to_number<double>(),
                  o.at("specialty_match").to_number<double>(), score);
    }
    if (!network["open_follow_ups"].as_array().empty()) std::printf("\nOpen follow-ups\n");
    for (const auto& f : network["open_follow_ups"].as_array()) {
      const auto& o = f.as_object();
      std::printf("  %s  %-14s %s\n", text_of(o.at("due")).substr(0, 10).c_str(),
                  text_of(o.at("hook")).c_str(), named(o, "contact", "contact_name").c_str());
    }
    if (!network["held_back"].as_array().empty()) {
      std::printf("\nHeld back by the prompt budget (sinks with audience: student)\n");
    }
    for (const auto& h : network["held_back"].as_array()) {
      const auto& o = h.as_object();
      std::string until =
          o.contains("until") ? " until " + text_of(o.at("until")).substr(0, 10) : "";
      std::printf("  %s  %-17s %-8s%s  %lld action%s of %s: %s\n",
                  text_of(o.at("due")).substr(0, 10).c_str(), text_of(o.at("type")).c_str(),
                  text_of(o.at("state")).c_str(), until.c_str(),
                  static_cast<long long>(o.at("actions").to_number<std::int64_t>()),
                  o.at("actions").to_number<std::int64_t>() == 1 ? "" : "s",
                  text_of(o.at("event")).c_str(), text_of(o.at("reason")).c_str());
    }
    std::printf("\nActions\n");
    for (const auto& a : network["actions"].as_array()) {
      std::printf("  %s  %-17s %s %s\n", text_of(a.at("due")).substr(0, 10).c_str(),
                  text_of(a.at("type")).c_str(),
                  column(named(a.as_object(), "contact", "contact_name"), 30).c_str(),
                  text_of(a.at("reason")).c_str());
    }
    return 0;
  } catch (...) {
    return failed("explain");
  }
}

}  // namespace rapport::cli

namespace rapport::cli {

int simulate(const Args& args) {
  auto moment = [](const std::string& text) -> std::optional<TimePoint> {
    if (auto d = parse_date(text)) return TimePoint{*d};
    return parse_time(text);
  };
  auto from = moment(args.get("--from")), to = moment(args.get("--to"));
  auto step = config::parse_duration(args.get("--step", "1d"));
  if (!args.options.count("-c") || !from || !to || !step || step->count() < 1000) {
    std::fputs("usage: rapport simulate -c FILE --from DATE --to DATE [--step DURATION]\n", stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  std::string copy;
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    log::configure("error", "");
    // Work on a copy: the real store and the sinks are never touched.
    copy = (std::filesystem::temp_directory_path() /
            ("rapport-simulate-" + std::to_string(::getpid()) + ".db"))
               .string();
    // The same copy as `rapport store copy`, from either backend into a scratch SQLite file.
    auto store = config->section("store");
    if (store.str("type") == "postgresql" || std::filesystem::exists(store.str("path"))) {
      auto scratch = open_store(*config, {.path = copy});
      copy_store(*open_store(*config), *scratch);
      std::printf("Simulating on a copy of the %s store in a scratch SQLite file (%s).\n",
                  store.str("type").c_str(), copy.c_str());
    }
    auto engine = Engine::build(*config, registry, {copy, false});
    auto before = engine->store().last_action_seq();
    auto last_step = engine->store().cursor(kEngineState, kLastStep);
    auto counts_before = engine->store().counts();
    auto expired_before = engine->store().expired_counts();
    auto started = std::chrono::steady_clock::now();
    run_simulated(*engine, *from, *to, std::chrono::duration_cast<std::chrono::seconds>(*step), 0);
    print_run_summary("simulate", engine->store(), counts_before, expired_before, *from, *to,
                      started);
    auto produced = engine->store().actions_after(before, std::size_t(-1));
    std::map<std::string, int> by_type;
    std::printf("Actions that would have been produced from %s to %s (nothing delivered):\n",
                args.get("--from").c_str(), args.get("--to").c_str());
    for (const auto& [seq, a] : produced) {
      ++by_type[std::string(to_string(a.type))];
      std::printf("  %s  %-17s %-8s -> %-8s [%s] %s\n", format_time(a.due).substr(0, 10).c_str(),
                  std::string(to_string(a.type)).c_str(), a.student_id.c_str(),
                  a.contact_id.c_str(), a.hook.c_str(), a.reason.c_str());
    }
    std::printf("\n%zu actions:", produced.size());
    for (const auto& [type, n] : by_type) std::printf(" %s %d,", type.c_str(), n);
    std::printf("\n");
    auto ran_to = last_step ? parse_time(*last_step) : std::nullopt;
    if (produced.empty() && ran_to && *ran_to >= *from) {
      // Action ids are deterministic and the outbox keeps one of each: a period the store
      // has been through already makes nothing new.
      std::printf(
          "Nothing new: the store has already been run to %s (its last step), and what that "
          "period makes was made then. Simulate a period after it.\n",
          format_time(*ran_to).c_str());
    }
    engine.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(copy + suffix);
    return 0;
  } catch (...) {
    if (!copy.empty()) std::filesystem::remove(copy);
    return failed("simulate");
  }
}

int preview(const Args& args) {
  std::optional<TimePoint> at = wall_clock();
  if (args.options.count("--at")) {
    auto d = parse_date(args.get("--at"));
    at = d ? std::optional<TimePoint>(TimePoint{*d}) : parse_time(args.get("--at"));
  }
  if (!args.options.count("-c") || !args.options.count("--student") || !at) {
    std::fputs(
        "usage: rapport preview -c FILE --student ID [--at DATE] [--sink NAME] [--out DIR]\n",
        stderr);
    return 2;
  }
  Registry registry;
  register_builtins(registry);
  try {
    auto config = config::load_config_file(args.get("-c"), registry);
    std::string sink = args.get("--sink");
    if (sink.empty()) {
      for (const auto& [name, section] : config->section().sections("sinks")) {
        if (section.str("type") == "email") {
          sink = name;
          break;
        }
      }
    }
    if (sink.empty()) {
      std::fprintf(stderr, "rapport preview: %s has no email sink\n", args.get("-c").c_str());
      return 1;
    }
    auto engine = Engine::build(*config, registry);
    auto composed = engine->preview_digest(sink, args.get("--student"), *at);
    if (!composed) {
      std::printf("Nothing waits for student %s in sink %s: no digest would be sent.\n",
                  args.get("--student").c_str(), sink.c_str());
      return 0;
    }
    const auto& digest = *composed;
    if (args.options.count("--out")) {
      std::string dir = args.get("--out");
      files::create_private_directories(dir);
      files::write_private_file(dir + "/digest.eml", digest.message);
      files::write_private_file(dir + "/digest.txt", digest.text);
      files::write_private_file(dir + "/digest.html", digest.html);
      if (!digest.calendar.empty())
        files::write_private_file(dir + "/reminders.ics", digest.calendar);
      std::printf("Subject: %s\nwritten to %s (digest.eml, digest.txt, digest.html%s)\n",
                  digest.subject.c_str(), dir.c_str(),
                  digest.calendar.empty() ? "" : ", reminders.ics");
      return 0;
    }
    std::printf("Subject: %s\n\n%s\n----- HTML -----\n%s\n", digest.subject.c_str(),
                digest.text.c_str(), digest.html.c_str());
    if (!digest.calendar.empty())
      std::printf("----- reminders.ics -----\n%s", digest.calendar.c_str());
    return 0;
  } catch (...) {
    return failed("preview");
  }
}

}  // namespace rapport::cli
