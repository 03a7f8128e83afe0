// rapport: validate, print and run a configuration; run the demo.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace {

constexpr const char* kUsage = R"(usage: rapport COMMAND [options]
       rapport --version
       rapport COMMAND --help

commands:
  validate -c FILE [--no-connect]
                          check a configuration; prints every error with file:line:column;
                          connects to SQL sources to check the queries' columns unless
                          --no-connect; exit 0 valid, 1 invalid, 2 usage
  config -c FILE          print the effective configuration (defaults filled, secrets masked)
  config --reference      print the configuration reference (Markdown)
  serve -c FILE           run on the real clock until SIGTERM or SIGINT
  run -c FILE --from DATE --to DATE [--step DURATION] [--pace DURATION]
                          run the engine over a period on a simulated clock, delivering
                          actions, then exit (DATE: YYYY-MM-DD or RFC 3339; step default 1d)
  status -c FILE [--json | --check]
                          progress of every hook and sink, failures, retries, slow hooks;
                          --json the same as JSON; --check one line for monitoring (exit
                          0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
  explain -c FILE --student ID [--at DATE] [--json]
                          a student's network: contacts with evidence, letter candidates
                          with their score parts, open follow-ups, their actions
  simulate -c FILE --from DATE --to DATE [--step DURATION]
                          run the hooks over a period on a copy of the store, deliver
                          nothing, print the actions that would have been produced
  preview -c FILE --student ID [--at DATE] [--sink NAME] [--out DIR]
                          the digest the student would get next from an email sink, from
                          what waits for it now, without sending it: its subject and text
                          and HTML parts on standard output, or in DIR as digest.eml,
                          digest.txt, digest.html and reminders.ics
  backfill -c FILE --source NAME [--since DATE] [--until DATE]
                          import a SQL source's history in bulk (no hooks fire for it; the
                          relationship memory is built); resumable; progress on stderr.
                          --until: as of that day (UTC); rotations under way or to come
                          then keep their moments. Default: the engine's last step for
                          a source with clock: engine (required if there is none), else
                          the source's clock
  deliveries list -c FILE [--failed] [--endpoint SINK]
                          every per-action delivery (webhook sinks), newest first, with
                          each attempt's time, status, duration and response snippet
  deliveries replay -c FILE (--id ACTION_ID | --since TIME) [--endpoint SINK]
                          send again from the first attempt (dead letters included)
  deliveries enable -c FILE --endpoint SINK
                          send again to an endpoint that answered 410 Gone
  audit -c FILE --student ID
                          the disclosure log: every action about the student that left,
                          with the fields sent, the endpoint, the basis and the time
  forget -c FILE (--student ID | --staff ID) --requested-by WHO --reason TEXT
                          erase a person's data from the store (recorded), and keep them
                          out of every source and webhook until lifted; lists the files
                          outside the store that still mention them
  forget -c FILE --lift ID
                          let them back: the sources read them again at their next poll
  export -c FILE --student ID
                          everything Rapport holds about the student, as one JSON
                          document (for a records request)
  purge -c FILE [--dry-run]
                          purge what retention: says may go (the daemon does it hourly);
                          --dry-run counts it
  store copy -c FILE --to FILE
                          copy the whole store the first configuration names into the
                          (empty) store the second names: SQLite to PostgreSQL or back;
                          progress on stderr; stop every process using either first
  hash-password           read a password from standard input (one line) and print its
                          scrypt hash for status_page.accounts
  demo [--dir DIR]        build the synthetic institution (if absent) in DIR (default
                          rapport-demo), run a semester in seconds, print a summary
)";

// A command's own part of the usage: its lines, and the lines indented under them.
std::string usage_of(const std::string& command) {
  std::string out, text = kUsage;
  bool in = false;
  for (std::size_t at = 0; at < text.size();) {
    auto end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    if (line.starts_with("  ") && !line.starts_with("   ")) {
      in = line.starts_with("  " + command + " ") || line == "  " + command;
    }
    if (in) out += line + "\n";
  }
  return out;
}

// The options a command's usage names (-c, --from, ...).
std::vector<std::string> options_of(const std::string& usage) {
  std::vector<std::string> out{"--help"};
  for (std::size_t at = 0; (at = usage.find('-', at)) != std::string::npos;) {
    bool starts = at == 0 || usage[at - 1] == ' ' || usage[at - 1] == '[' || usage[at - 1] == '(';
    auto end = usage.find_first_of(" ]|)\n", at);
    std::string word = usage.substr(at, end - at);
    if (starts && word.size() > 1 && (word[1] == '-' || word.size() == 2)) out.push_back(word);
    at = end == std::string::npos ? usage.size() : end;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using rapport::cli::Args;
  if (argc >= 2 && !std::strcmp(argv[1], "--version")) {
    std::printf("rapport %s\n", RAPPORT_VERSION);
    return 0;
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  Args args;
  args.command = argv[1];
  const std::string usage = usage_of(args.command);
  if (usage.empty()) {
    std::vector<std::string> commands{
        "validate",   "config", "serve", "run",    "status", "explain", "simulate",      "backfill",
        "deliveries", "audit",  "purge", "forget", "export", "demo",    "hash-password", "preview"};
    std::fprintf(stderr, "rapport: unknown command \"%s\"%s\n\n%s", args.command.c_str(),
                 rapport::config::suggestion(args.command, commands).c_str(), kUsage);
    return 2;
  }
  const auto known = options_of(usage);
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: rapport %s", usage.substr(2).c_str());
      return 0;
    }
    if (a.starts_with("-") && a != "--config" &&
        std::find(known.begin(), known.end(), a) == known.end()) {
      std::fprintf(stderr, "rapport %s: unknown option %s%s\n\nusage: rapport %s",
                   args.command.c_str(), a.c_str(), rapport::config::suggestion(a, known).c_str(),
                   usage.substr(2).c_str());
      return 2;
    }
    bool takes_value = a == "-c" || a == "--config" || a == "--from" || a == "--to" ||
                       a == "--step" || a == "--pace" || a == "--dir" || a == "--student" ||
                       a == "--at" || a == "--source" || a == "--since" || a == "--until" ||
                       a == "--id" || a == "--staff" || a == "--lift" || a == "--requested-by" ||
                       a == "--reason" || a == "--endpoint" || a == "--sink" || a == "--out";
    if (takes_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rapport: %s needs a value\n\n%s", a.c_str(), kUsage);
        return 2;
      }
      args.options[a == "--config" ? "-c" : a] = argv[++i];
    } else if (a.starts_with("--")) {
      args.flags.push_back(a);
    } else if ((args.command == "deliveries" || args.command == "store") && args.words.empty()) {
      args.words.push_back(a);
    } else {
      std::fprintf(stderr, "rapport: unexpected argument \"%s\"\n\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (args.command == "validate") return rapport::cli::validate(args);
  if (args.command == "config") return rapport::cli::print_config(args);
  if (args.command == "serve") return rapport::cli::serve(args);
  if (args.command == "run") return rapport::cli::run(args);
  if (args.command == "demo") return rapport::cli::demo(args);
  if (args.command == "status") return rapport::cli::status(args);
  if (args.command == "explain") return rapport::cli::explain(args);
  if (args.command == "simulate") return rapport::cli::simulate(args);
  if (args.command == "preview") return rapport::cli::preview(args);
  if (args.command == "backfill") return rapport::cli::backfill(args);
  if (args.command == "deliveries") return rapport::cli::deliveries(args);
  if (args.command == "audit") return rapport::cli::audit(args);
  if (args.command == "forget") return rapport::cli::forget(args);
  if (args.command == "export") return rapport::cli::export_record(args);
  if (args.command == "purge") return rapport::cli::purge(args);
  if (args.command == "store") return rapport::cli::store_command(args);
  if (args.command == "hash-password") return rapport::cli::hash_password(args);
  std::fprintf(stderr, "rapport: unknown command \"%s\"\n\n%s", args.command.c_str(), kUsage);
  return 2;
}
