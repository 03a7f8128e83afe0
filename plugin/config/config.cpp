#include "config/config.hpp"

#include <fstream>
#include <optional>
#include <sstream>

#include "engine/registry.hpp"
#include "status/password.hpp"

namespace rapport::config {

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error([&] {
        std::string all;
        for (const auto& d : diagnostics) all += d.str() + "\n";
        return all;
      }()),
      diagnostics_(std::move(diagnostics)) {}

const Schema& store_schema() {
  static const Schema s{
      "store",
      "Where Rapport keeps its durable state: a SQLite file (the embedded default, one "
      "process) or a PostgreSQL database (which several processes may share; see "
      "docs/postgresql.md). Needs a restart: a reload (SIGHUP) that changes it says so and "
      "keeps the running one.",
      {
          {.name = "type",
           .type = Type::enumeration,
           .description = "`sqlite` or `postgresql`",
           .default_value = "sqlite",
           .choices = {"sqlite", "postgresql"}},
          {.name = "path",
           .type = Type::path,
           .description = "SQLite: the database file",
           .default_value = "rapport.db"},
          {.name = "synchronous",
           .type = Type::enumeration,
           .description = "SQLite durability: `full` survives power loss, `normal` only "
                          "process crashes",
           .default_value = "full",
           .choices = {"full", "normal"}},
          {.name = "busy_timeout",
           .type = Type::duration,
           .description = "SQLite: how long to wait for a lock held by another process",
           .default_value = "5s",
           .min = 0,
           .max = 600'000},
          {.name = "wal_limit",
           .type = Type::integer,
           .description = "SQLite under `rapport serve`: the write-ahead log's size in bytes "
                          "at which it is copied into the database to its end, by a thread "
                          "of its own, and written again from its start. Its file stays about "
                          "this size: a disk slower than the writes can let it reach four times "
                          "this, a reader holding an old snapshot more until the reader ends, "
                          "and a file grown past four times this is cut back when the log "
                          "starts again",
           .default_value = "16777216",
           .min = 65536,
           .max = 17'179'869'184},
          {.name = "url",
           .type = Type::secret,
           .description = "PostgreSQL: the connection string, libpq keywords (`host=... "
                          "dbname=...`) or a `postgresql://` URI, usually `${RAPPORT_STORE_URL}`",
           .default_value = ""},
          {.name = "lease",
           .type = Type::duration,
           .description = "PostgreSQL: how long the engine lease of the process that runs the "
                          "engine lasts without renewal (it renews at every step); when that "
                          "process dies, another takes over after at most this",
           .default_value = "30s",
           .min = 2'000,
           .max = 3'600'000},
          {.name = "retry",
           .type = Type::duration,
           .description = "PostgreSQL: how long a lost connection is tried again (with "
                          "backoff) before the work at hand fails and is retried later",
           .default_value = "30s",
           .min = 0,
           .max = 3'600'000},
          {.name = "pool",
           .type = Type::integer,
           .description = "PostgreSQL: connections a process's listener commits events on at "
                          "once, each taking the requests that arrived while the others were "
                          "committing (the engine, and the status page when there is one, hold "
                          "one connection each besides). SQLite takes one writer at a time: "
                          "its listener commits on one whatever this says",
           .default_value = "1",
           .min = 1,
           .max = 64},
          {.name = "prepared_statements",
           .type = Type::boolean,
           .description = "PostgreSQL: prepare each statement once per connection and keep "
                          "its plan, instead of having it parsed and planned every time (see "
                          "docs/postgresql.md for what it saves). Only when connected to "
                          "PostgreSQL directly: behind a transaction pooler (PgBouncer 1.18) "
                          "it cannot work, and the store's errors say to turn it off",
           .default_value = "false"},
      }};
  return s;
}

const Schema& listener_schema() {
  static const Schema s{
      "listener",
      "The inbound webhook listener of `rapport serve` (sources of type webhook). Needs a "
      "restart: a reload (SIGHUP) that changes it says so and keeps the running one; a "
      "reload does read the TLS certificate files again, and the webhook sources.",
      {
          {.name = "enabled",
           .type = Type::boolean,
           .description = "start the listener",
           .default_value = "false"},
          {.name = "listen",
           .type = Type::string,
           .description = "ADDRESS:PORT to listen on ([::1]:8080 for IPv6; port 0 picks a "
                          "free one, logged at start)",
           .default_value = "127.0.0.1:8080"},
          {.name = "threads",
           .type = Type::integer,
           .description = "threads serving connections (one more commits to the store)",
           .default_value = "2",
           .min = 1,
           .max = 64},
          {.name = "tls_certificate",
           .type = Type::path,
           .description = "PEM certificate chain; with tls_key, the listener speaks HTTPS",
           .default_value = ""},
          {.name = "tls_key",
           .type = Type::path,
           .description = "PEM private key",
           .default_value = ""},
          {.name = "ops_listen",
           .type = Type::string,
           .description = "ADDRESS:PORT for /healthz, /readyz and /metrics, which then leave "
                          "the main address; served even when the listener is not enabled "
                          "(empty: on the main address)",
           .default_value = ""},
          {.name = "ops_tls_certificate",
           .type = Type::path,
           .description = "PEM certificate chain; with ops_tls_key, ops_listen speaks HTTPS",
           .default_value = ""},
          {.name = "ops_tls_key",
           .type = Type::path,
           .description = "PEM private key for ops_listen",
           .default_value = ""},
          {.name = "body_limit",
           .type = Type::integer,
           .description = "largest request body in bytes (413 beyond)",
           .default_value = "1048576",
           .min = 1024,
           .max = 67'108'864},
          {.name = "header_limit",
           .type = Type::integer,
           .description = "largest request header block in bytes (431 beyond)",
           .default_value = "16384",
           .min = 1024,
           .max = 1'048'576},
          {.name = "read_timeout",
           .type = Type::duration,
           .description = "time allowed for a whole request; slower connections are closed",
           .default_value = "10s",
           .min = 100,
           .max = 600'000},
          {.name = "idle_timeout",
           .type = Type::duration,
           .description = "how long a kept-alive connection may wait for its next request",
           .default_value = "60s",
           .min = 100,
           .max = 3'600'000},
          {.name = "shutdown_grace",
           .type = Type::duration,
           .description = "at SIGTERM, how long requests under way (headers in, answer not "
                          "written) may take to finish before they are cut off; the process "
                          "then exits 0",
           .default_value = "10s",
           .min = 0,
           .max = 300'000},
          {.name = "max_connections",
           .type = Type::integer,
           .description = "open connections at most; more are answered 503 and closed",
           .default_value = "1024",
           .min = 1,
           .max = 1'000'000},
          {.name = "queue_limit",
           .type = Type::integer,
           .description = "events waiting for their commit at most; more are answered 429",
           .default_value = "8192",
           .min = 1,
           .max = 10'000'000},
          {.name = "retention",
           .type = Type::duration,
           .description = "deprecated, read as retention.webhook_ids when given",
           .min = 3'600'000,
           .max = 31'536'000'000.0,
           .replaced_by = "retention.webhook_ids"},
      }};
  return s;
}

const Schema& log_schema() {
  static const Schema s{
      "log",
      "Structured JSON logs, one object per line. Ids only, never names or narratives.",
      {
          {.name = "level",
           .type = Type::enumeration,
           .description = "lowest level written",
           .default_value = "info",
           .choices = {"debug", "info", "warn", "error"}},
          {.name = "file",
           .type = Type::path,
           .description = "append logs to this file instead of standard error",
           .default_value = ""},
      }};
  return s;
}

const Schema& retention_schema() {
  // Most periods: at least a day, at most a hundred years.
  auto period = [](const char* name, const char* default_value, const char* description) {
    return Key{.name = name,
               .type = Type::duration,
               .description = description,
               .default_value = default_value,
               .min = 86'400'000,
               .max = 36'500.0 * 86'400'000};
  };
  static const Schema s{
      "retention",
      "How long what Rapport keeps is kept. The daemon purges hourly, in batches; `rapport "
      "purge` does it at once (`--dry-run` counts what would go).",
      {
          period("inbox_payloads", "180d",
                 "the data of inbox events every consumer has passed, counted from "
                 "their arrival; the event's id stays (a replayed webhook is still a "
                 "duplicate, a re-read row still no event)"),
          period("delivery_attempts", "365d",
                 "the attempts of finished deliveries (delivered, dead or withheld), "
                 "with their response snippets, counted from the attempt"),
          period("rotations", "1825d",
                 "the mirror's rotations, with their roster rows and evaluations, "
                 "counted from the rotation's end, and touches reported by the host, "
                 "counted from the touch, and evaluations of a rotation the store does not "
                 "hold, counted from their submission; they stop counting as time together"),
          period("people", "1825d",
                 "a person no rotation, roster row, evaluation, action or touch "
                 "names any more, and without a part in a program, counted from the "
                 "last change a source made to them (a source that reads people "
                 "whole brings back those it still lists at its next poll)"),
          period("actions", "730d",
                 "actions every configured sink has passed and whose deliveries finished, with "
                 "those deliveries and attempts, counted from the action's due time"),
          period("ids", "1825d",
                 "id-only records left by the purges above (inbox event ids, purged "
                 "and expired action ids), counted from the event's arrival or the "
                 "purge: while kept, a replayed webhook or a re-run period makes "
                 "nothing again"),
          {.name = "disclosures",
           .type = Type::duration,
           .description = "the disclosure log (ids, fields, endpoints; never the data sent), "
                          "counted from the disclosure; 0 keeps it as long as the store "
                          "exists (FERPA asks that it be kept as long as the education record)",
           .default_value = "0s",
           .min = 0,
           .max = 36'500.0 * 86'400'000},
          {.name = "webhook_ids",
           .type = Type::duration,
           .description = "webhook-ids remembered to answer repeats as duplicates (was "
                          "listener.retention)",
           .default_value = "7d",
           .min = 3'600'000,
           .max = 31'536'000'000.0},
          period("reports", "365d",
                 "the error, retry and slow reports of sources and hooks (what "
                 "`rapport status` summarises), counted from the report"),
          period("rejects", "90d", "CSV sources' rejects files, counted from their last write"),
      }};
  return s;
}

const Schema& status_page_schema() {
  static const Schema s{
      "status_page",
      "A read-only status page for admins on `listener.ops_listen` (/status), behind HTTP "
      "Basic authentication, answered only over TLS (ops_tls_certificate) or to loopback "
      "clients. Accounts may change with a reload (SIGHUP).",
      {
          {.name = "accounts",
           .type = Type::string_map,
           .description = "account name: scrypt hash of its password, as `rapport "
                          "hash-password` prints it (never a plain password); none: no page",
           .default_value = "{}",
           .check = [](const std::string& hash) { return status::hash_problem(hash); }},
          {.name = "contacts_drawn",
           .type = Type::integer,
           .description = "contacts drawn in a student's picture at most, those with the "
                          "most days together (the table lists them all)",
           .default_value = "40",
           .min = 1,
           .max = 500},
      }};
  return s;
}

const Schema& engine_schema() {
  static const Schema s{
      "engine",
      "The dispatcher and scheduler loop.",
      {
          {.name = "tick",
           .type = Type::duration,
           .description = "how often `serve` fires due timers, dispatches and delivers",
           .default_value = "1s",
           .min = 10,
           .max = 3'600'000},
          {.name = "batch",
           .type = Type::integer,
           .description = "events dispatched (and actions delivered) per transaction",
           .default_value = "200",
           .min = 1,
           .max = 10'000},
          {.name = "batch_time",
           .type = Type::duration,
           .description = "a dispatch transaction ends after the event that takes it past "
                          "this, before `batch` events if need be. Default: 10ms on SQLite, "
                          "where the listener's commits wait for it; 1s on PostgreSQL, where "
                          "they do not (behind PgBouncer it holds a server connection) and "
                          "each transaction costs a dozen round trips of its own",
           .default_value = "",
           .min = 1,
           .max = 3'600'000},
          {.name = "partitions",
           .type = Type::integer,
           .description = "several processes on one PostgreSQL store: the hooks that look at "
                          "one student at a time (all but letter_candidates, mentor_suggest "
                          "and plugins) run per partition of the students, each partition in "
                          "one process at a time, so that every process dispatches. 1: the "
                          "process holding the engine lease runs every hook. Every process "
                          "must say the same; see docs/postgresql.md",
           .default_value = "1",
           .min = 1,
           .max = 256},
          {.name = "timezone",
           .type = Type::string,
           .description = "IANA time zone in which rotation dates are read (sites not listed "
                          "in site_timezones)",
           .default_value = "UTC",
           .check = time_zone_problem},
          {.name = "site_timezones",
           .type = Type::string_map,
           .description = "site: IANA time zone, for sites elsewhere",
           .default_value = "{}",
           .check = time_zone_problem},
          {.name = "unknown_people",
           .type = Type::enumeration,
           .description = "an action whose student or contact the people feed does not know "
                          "yet: hold it (stored, released when both are known, unless it "
                          "expired) or send it; auto holds when a SQL or CSV source reads "
                          "people, and sends otherwise (webhook-only setups: say hold if the "
                          "platform pushes person.updated)",
           .default_value = "auto",
           .choices = {"auto", "hold", "send"}},
      }};
  return s;
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({Diagnostic{path, {}, "", "cannot open the configuration file", false}});
  }
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Where the file sets `key` of `map` (nothing for a default the schema filled in).
std::optional<Mark> written(const Node& map, std::string_view key) {
  for (std::size_t i = 0; i < map.entries.size() && i < map.key_marks.size(); ++i) {
    if (map.entries[i].first == key && map.key_marks[i].line) return map.key_marks[i];
  }
  return std::nullopt;
}

// A sink without a time zone of its own reads in the engine's: settled here, so that every
// reader of the section (the sink, the budget, `rapport config`) sees the same.
void settle_sink_zones(Node& root) {
  Node* sinks = root.get("sinks");
  const Node* engine = root.get("engine");
  const Node* zone = engine ? engine->get("timezone") : nullptr;
  if (!sinks || !sinks->is_map() || !zone) return;
  for (auto& [name, sink] : sinks->entries) {
    if (Node* z = sink.get("timezone"); z && z->scalar.empty()) z->scalar = zone->scalar;
  }
}

// Who a sink is for, against what it sends: a chat format is for staff, staff get chat
// messages only (every other sink sends actions, which name students), and actions are
// signed.
void check_sink_audiences(const Node& root, ParseContext& ctx) {
  const Node* sinks = root.get("sinks");
  if (!sinks || !sinks->is_map()) return;
  for (const auto& entry : sinks->entries) {
    // Not a structured binding: clang 15 (the fuzz build) lets no lambda capture one.
    const std::string& name = entry.first;
    const Node& sink = entry.second;
    auto mark_of = [&](const char* key) { return written(sink, key).value_or(sink.mark); };
    auto text = [&](const char* key) {
      const Node* n = sink.get(key);
      return n && n->is_scalar() ? n->scalar : std::string();
    };
    const std::string type = text("type"), format = text("format"), audience = text("audience");
    const bool chat = !format.empty() && format != "cloudevents";
    const std::string path = "sinks." + name;
    if (chat && audience != "staff") {
      ctx.error(mark_of("format"), path + ".format",
                format +
                    " posts to a chat channel, a third party to the students: it needs "
                    "audience: staff");
    } else if (!chat && audience == "staff") {
      ctx.error(mark_of("audience"), path + ".audience",
                "staff get chat messages only (type: webhook with format: slack or teams); "
                "this sink sends actions, which name students");
    }
    if (type == "webhook" && !chat && text("secret").empty()) {
      ctx.error(mark_of("secret"), path + ".secret",
                "missing: every action is signed with our whsec_ secret (secret: ${VAR} or "
                "secret_file); only chat formats (slack, teams) go without");
    }
  }
}

// A PostgreSQL store needs its connection string.
void check_store(const Node& root, ParseContext& ctx) {
  const Node* store = root.get("store");
  if (!store || !store->is_map()) return;
  const Node* type = store->get("type");
  const Node* url = store->get("url");
  if (type && type->is_scalar() && type->scalar == "postgresql" &&
      (!url || !url->is_scalar() || url->scalar.empty())) {
    ctx.error(written(*store, "url").value_or(written(*store, "type").value_or(store->mark)),
              "store.url",
              "missing: a PostgreSQL store needs its connection string (url: "
              "${RAPPORT_STORE_URL}, or url_file)");
  }
}

// One prompt budget for every sink with `audience: student`: they must agree on it.
void check_student_sinks(const Node& root, ParseContext& ctx) {
  const Node* sinks = root.get("sinks");
  const Node* engine = root.get("engine");
  const Node* engine_zone = engine ? engine->get("timezone") : nullptr;
  if (!sinks || !sinks->is_map()) return;
  std::string first;
  std::string budget, zone;
  for (const auto& entry : sinks->entries) {
    // Not a structured binding: clang 15 (the fuzz build) lets no lambda capture one.
    const std::string& name = entry.first;
    const Node& sink = entry.second;
    const Node* audience = sink.get("audience");
    auto where = [&](const char* key) { return written(sink, key).value_or(sink.mark); };
    if (!audience || audience->scalar != "student") {
      if (auto mark = written(sink, "prompt_budget")) {
        ctx.warn(*mark, "sinks." + name + ".prompt_budget",
                 "applies to sinks with audience: student only; this one gets every action");
      }
      continue;
    }
    const Node* b = sink.get("prompt_budget");
    const Node* z = sink.get("timezone");
    std::string this_budget = b ? b->scalar : "5";
    std::string this_zone = z && !z->scalar.empty() ? z->scalar
                            : engine_zone           ? engine_zone->scalar
                                                    : "UTC";
    if (first.empty()) {
      first = name;
      budget = this_budget;
      zone = this_zone;
      continue;
    }
    if (this_budget != budget) {
      ctx.error(where("prompt_budget"), "sinks." + name + ".prompt_budget",
                "is " + this_budget + " but sinks." + first + " says " + budget +
                    " (one budget per student across every sink with audience: student)");
    }
    if (this_zone != zone) {
      ctx.error(where("timezone"), "sinks." + name + ".timezone",
                "is " + this_zone + " but sinks." + first + " says " + zone +
                    " (the budget's weeks start in one time zone for every student sink)");
    }
  }
}

}  // namespace

std::shared_ptr<const Config> load_config_text(const std::string& text, const std::string& file,
                                               const Registry& registry, EnvLookup env) {
  ParseContext ctx{file, env, {}};
  Node parsed = parse_yaml(text, ctx);
  auto config = std::make_shared<Config>();
  config->file = file;
  config->schema = &registry.root();
  if (!ctx.failed()) config->root = validate(parsed, registry.root(), "", ctx);
  if (!ctx.failed()) {
    settle_sink_zones(config->root);
    check_student_sinks(config->root, ctx);
    check_sink_audiences(config->root, ctx);
    check_store(config->root, ctx);
  }
  if (ctx.failed()) throw ConfigError(ctx.diagnostics);
  config->warnings = ctx.diagnostics;
  return config;
}

std::shared_ptr<const Config> load_config_file(const std::string& path, const Registry& registry,
                                               EnvLookup env) {
  return load_config_text(read_file(path), path, registry, env);
}

}  // namespace rapport::config
