#include "adapters/webhook/webhook_sink.hpp"

#include <openssl/rand.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "adapters/webhook/chat_cards.hpp"
#include "adapters/webhook/signature.hpp"
#include "engine/sink.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"

namespace rapport::webhook {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

namespace {

struct Endpoint {
  bool tls = false;
  std::string host, port, target, shown;  // shown: scheme://host:port/path, no credentials
  std::string host_header;                // host[:port], the port unless the scheme's own
};

Endpoint parse_endpoint(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("url: \"" + url + "\" is not a URL");
  Endpoint e;
  std::string scheme(parsed->scheme());
  if (scheme != "http" && scheme != "https") {
    throw std::invalid_argument("url: the scheme must be http or https");
  }
  e.tls = scheme == "https";
  e.host = std::string(parsed->host_address());
  if (e.host.empty()) throw std::invalid_argument("url: no host");
  e.port = parsed->has_port() ? std::string(parsed->port()) : (e.tls ? "443" : "80");
  e.target = std::string(parsed->encoded_path());
  if (e.target.empty()) e.target = "/";
  if (parsed->has_query()) e.target += "?" + std::string(parsed->encoded_query());
  e.shown = scheme + "://" + e.host + ":" + e.port + std::string(parsed->encoded_path());
  bool ipv6 = parsed->host_type() == boost::urls::host_type::ipv6;
  e.host_header = ipv6 ? "[" + e.host + "]" : e.host;
  if (e.port != (e.tls ? "443" : "80")) e.host_header += ":" + e.port;
  return e;
}

struct Options {
  std::string url;
  std::string key;  // decoded whsec_
  std::chrono::milliseconds timeout{15'000};
  std::vector<std::chrono::milliseconds> schedule;
  std::size_t max_in_flight = 4;
  double rate = 0;  // sends per second, 0: unlimited
  std::chrono::milliseconds breaker_window{60'000}, breaker_cooldown{30'000};
  std::size_t breaker_min_requests = 10;
  double breaker_failure_ratio = 0.5;
  std::string ca_file;
  // How the CloudEvent travels (the CloudEvents HTTP binding): the whole event as
  // application/cloudevents+json, its attributes as ce-* headers and its data as the body,
  // or the whole event as plain application/json.
  enum class Mode { structured, binary, json } mode = Mode::structured;
};

// Binary content mode: the envelope's attributes as ce-* headers (extensions included,
// strings as they are, other values as their JSON text), the data as the body.
std::pair<std::vector<std::pair<std::string, std::string>>, std::string> binary_of(
    const std::string& event) {
  auto value = boost::json::parse(event);
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  for (const auto& [key, v] : value.as_object()) {
    if (key == "data") {
      body = boost::json::serialize(v);
    } else if (key != "datacontenttype") {
      headers.emplace_back("ce-" + std::string(key),
                           v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v));
    }
  }
  return {std::move(headers), std::move(body)};
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  std::int64_t seconds = 0;
  if (value.empty()) return std::nullopt;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;  // an HTTP date: the schedule decides
    seconds = seconds * 10 + (c - '0');
    if (seconds > 86'400) return std::chrono::seconds(86'400);
  }
  return std::chrono::seconds(seconds);
}

std::string snippet_of(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

class WebhookSink final : public PerActionSink {
 public:
  WebhookSink(std::string name, Options options)
      : name_(std::move(name)),
        options_(std::move(options)),
        endpoint_(parse_endpoint(options_.url)),
        tls_(ssl::context::tls_client),
        work_(asio::make_work_guard(io_)) {
    if (endpoint_.tls) {
      // TLS 1.2 at least, as the listener, whatever the system's OpenSSL configuration says.
      SSL_CTX_set_min_proto_version(tls_.native_handle(), TLS1_2_VERSION);
      tls_.set_default_verify_paths();
      if (!options_.ca_file.empty()) tls_.load_verify_file(options_.ca_file);
      tls_.set_verify_mode(ssl::verify_peer);
    }
    thread_ = std::thread([this] { io_.run(); });
  }

  ~WebhookSink() override {
    work_.reset();
    io_.stop();  // sends under way are abandoned: their deliveries stay pending
    thread_.join();
  }

  const std::string& name() const override { return name_; }
  std::string destination() const override { return endpoint_.shown; }

  std::chrono::milliseconds longest_send() const override { return options_.timeout; }

  std::size_t room(Steady::time_point now) override {
    std::lock_guard lock(mutex_);
    refill(now);
    std::size_t free =
        options_.max_in_flight > in_flight_ ? options_.max_in_flight - in_flight_ : 0;
    if (options_.rate > 0) free = std::min(free, std::size_t(tokens_));
    switch (breaker(now)) {
      case State::open:
        return 0;
      case State::half_open:
        return in_flight_ == 0 ? std::min<std::size_t>(free, 1) : 0;
      case State::closed:
        return free;
    }
    return free;
  }

  void start(SendRequest request) override {
    {
      std::lock_guard lock(mutex_);
      ++in_flight_;
      if (options_.rate > 0) tokens_ -= 1;
      if (breaker(Steady::now()) == State::half_open) probe_ = request.delivery;
    }
    asio::co_spawn(io_, send(std::move(request)), [](std::exception_ptr) {});
  }

  std::vector<SendResult> finished() override {
    std::lock_guard lock(mutex_);
    std::vector<SendResult> out(std::make_move_iterator(done_.begin()),
                                std::make_move_iterator(done_.end()));
    done_.clear();
    return out;
  }

  std::optional<std::chrono::milliseconds> retry_delay(int failed_attempts) const override {
    if (failed_attempts < 0 || std::size_t(failed_attempts) >= options_.schedule.size()) {
      return std::nullopt;
    }
    auto base = options_.schedule[std::size_t(failed_attempts)];
    thread_local std::mt19937 random{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.9, 1.1);  // spreads a burst of retries
    return std::chrono::milliseconds(std::int64_t(double(base.count()) * jitter(random)));
  }

 private:
  enum class State { closed, open, half_open };

  // Under mutex_.
  void refill(Steady::time_point now) {
    if (options_.rate <= 0) return;
    double elapsed = std::chrono::duration<double>(now - refilled_).count();
    tokens_ = std::min(std::max(1.0, options_.rate), tokens_ + elapsed * options_.rate);
    refilled_ = now;
  }

  State breaker(Steady::time_point now) {
    if (open_until_) {
      if (now < *open_until_) return State::open;
      return State::half_open;
    }
    return State::closed;
  }

  void judge(std::int64_t delivery, bool failure, Steady::time_point now) {
    if (open_until_) {
      // Only the half-open probe decides (a late answer to an earlier request does not).
      if (!probe_ || *probe_ != delivery) return;
      probe_.reset();
      if (failure) {
        open_until_ = now + options_.breaker_cooldown;
      } else {
        open_until_.reset();
        window_.clear();
        log::info("webhook", "circuit closed", {{"sink", name_}});
      }
      return;
    }
    window_.push_back({now, failure});
    while (!window_.empty() && now - window_.front().first > options_.breaker_window) {
      window_.pop_front();
    }
    std::size_t failures = 0;
    for (const auto& [at, failed] : window_) failures += failed ? 1 : 0;
    if (window_.size() >= options_.breaker_min_requests &&
        double(failures) / double(window_.size()) >= options_.breaker_failure_ratio) {
      open_until_ = now + options_.breaker_cooldown;
      log::warn("webhook", "circuit opened: the endpoint fails too often; probing again later",
                {{"sink", name_}, {"failures", failures}, {"requests", window_.size()}});
    }
  }

  // One connection to the endpoint, kept alive between requests (a receiver under load
  // pays no TCP and TLS handshake per action).
  struct Connection {
    std::unique_ptr<beast::tcp_stream> tcp;                     // http
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;  // https
    Steady::time_point idle_since;
    beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *tcp; }
  };

  asio::awaitable<Connection> connect(Steady::time_point deadline) {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto tcp_stream = std::make_unique<beast::tcp_stream>(executor);
    tcp_stream->expires_at(deadline);
    // The name lookup counts in the attempt's time too: a delivery is claimed for as long
    // as a send can last (Sender::longest_send), and a slow resolver must not outlast it.
    asio::steady_timer lookup_deadline(executor, deadline);
    lookup_deadline.async_wait([&resolver](boost::system::error_code e) {
      if (!e) resolver.cancel();
    });
    auto addresses =
        co_await resolver.async_resolve(endpoint_.host, endpoint_.port, asio::use_awaitable);
    lookup_deadline.cancel();
    co_await tcp_stream->async_connect(addresses, asio::use_awaitable);
    Connection c;
    if (!endpoint_.tls) {
      c.tcp = std::move(tcp_stream);
      co_return c;
    }
    c.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*tcp_stream), tls_);
    // SNI (SSL_set_tlsext_host_name is a macro with a C cast).
    SSL_ctrl(c.tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(endpoint_.host.c_str()));
    c.tls->set_verify_callback(ssl::host_name_verification(endpoint_.host));
    co_await c.tls->async_handshake(ssl::stream_base::client, asio::use_awaitable);
    co_return c;
  }

  // Returns whether the connection may carry the next request. `answered` turns true at the
  // first byte of the answer.
  template <class Stream>
  asio::awaitable<bool> exchange(Stream& stream, const SendRequest& request, SendResult& result,
                                 bool& answered) {
    auto now = wall_clock().time_since_epoch();
    http::request<http::string_body> req{http::verb::post, endpoint_.target, 11};
    req.set(http::field::host, endpoint_.host_header);
    req.set(http::field::user_agent, "rapport");
    std::string body = request.body;
    if (options_.mode == Options::Mode::binary) {
      auto [headers, data] = binary_of(request.body);
      for (const auto& [name, value] : headers) req.set(name, value);
      body = std::move(data);
    }
    req.set(http::field::content_type, options_.mode == Options::Mode::structured
                                           ? "application/cloudevents+json; charset=utf-8"
                                           : "application/json");
    req.set("webhook-id", request.action_id);
    req.set("webhook-timestamp", std::to_string(now.count()));
    // What is signed is what is sent: in binary mode the data, not the ce-* headers.
    req.set("webhook-signature", sign_v1(options_.key, request.action_id, now.count(), body));
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);  // Beast would refuse a large Content-Length at the header
    co_await http::async_read_some(stream, buffer, parser, asio::use_awaitable);
    answered = true;
    if (!parser.is_header_done()) {
      co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
    }
    // The status decides; the body is read for its first bytes only (a 2xx with a large
    // body is still a 2xx).
    const auto& res = parser.get();
    result.status = int(res.result_int());
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      result.retry_after = parse_retry_after(std::string_view(it->value()));
    }
    constexpr std::uint64_t keep = 64 << 10;
    if (parser.content_length() && *parser.content_length() > keep) co_return false;  // not read
    parser.body_limit(keep);
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    result.snippet = snippet_of(parser.get().body());
    co_return !ec && parser.is_done() && parser.get().keep_alive();
  }

  asio::awaitable<void> send(SendRequest request) {
    SendResult result;
    result.delivery = request.delivery;
    auto started = Steady::now();
    // One `timeout` for the whole attempt: connecting, the handshake, the exchange, and a
    // second try after a stale kept-alive connection.
    const auto deadline = started + options_.timeout;
    try {
      // A kept-alive connection the receiver closed meanwhile fails before any answer: the
      // request goes again on a new connection (same webhook-id; receivers deduplicate).
      for (;;) {
        Connection c;
        bool reused = false;
        while (!idle_.empty() && !reused) {
          c = std::move(idle_.back());
          idle_.pop_back();
          reused = Steady::now() - c.idle_since < kIdleLimit;
        }
        if (!reused) c = co_await connect(deadline);
        c.lowest().expires_at(deadline);
        bool answered = false, keep = false;
        try {
          keep = c.tls ? co_await exchange(*c.tls, request, result, answered)
                       : co_await exchange(*c.tcp, request, result, answered);
        } catch (const boost::system::system_error& e) {
          if (reused && !answered && e.code() != beast::error::timeout) continue;
          throw;
        }
        if (keep && idle_.size() < options_.max_in_flight) {
          c.idle_since = Steady::now();
          idle_.push_back(std::move(c));
        }
        break;
      }
    } catch (const boost::system::system_error& e) {
      result.status = 0;
      result.snippet = e.code() == beast::error::timeout ? "timed out" : e.code().message();
    } catch (const std::exception& e) {
      result.status = 0;
      result.snippet = e.what();
    }
    auto finished = Steady::now();
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
    bool failure =
        result.status == 0 || result.status >= 500 || result.status == 408 || result.status == 429;
    std::lock_guard lock(mutex_);
    --in_flight_;
    judge(result.delivery, failure, finished);
    done_.push_back(std::move(result));
  }

  std::string name_;
  Options options_;
  Endpoint endpoint_;
  asio::io_context io_;
  ssl::context tls_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::size_t in_flight_ = 0;
  std::vector<SendResult> done_;
  double tokens_ = 1;
  Steady::time_point refilled_ = Steady::now();
  std::deque<std::pair<Steady::time_point, bool>> window_;
  std::optional<Steady::time_point> open_until_;
  std::optional<std::int64_t> probe_;  // the delivery let through while half-open
  // Connections kept alive, used by the io thread only (declared after io_: they go first).
  static constexpr std::chrono::seconds kIdleLimit{30};
  std::vector<Connection> idle_;
};

// A staff chat channel (format: slack or teams): a daily summary or each notice, posted
// as Block Kit or an Adaptive Card through a webhook sink's sending (the same retries,
// limits, breaker and certificate checks), one stored message at a time.
class ChatSink final : public StaffSink {
 public:
  struct Chat {
    std::string format, title, timezone;
    bool daily = true;
    int hour = 7;
    std::vector<std::string> sites;  // empty: every site
  };
  ChatSink(std::string name, Options options, Chat chat)
      : sender_(name, std::move(options)), chat_(std::move(chat)) {}

  const std::string& name() const override { return sender_.name(); }
  // A chat webhook's path is its credential: the scheme and host only.
  std::string destination() const override {
    auto shown = sender_.destination();
    auto host = shown.find("://");
    auto path = host == std::string::npos ? std::string::npos : shown.find('/', host + 3);
    return path == std::string::npos ? shown : shown.substr(0, path);
  }
  std::size_t room(Steady::time_point now) override { return sender_.room(now); }
  void start(SendRequest request) override { sender_.start(std::move(request)); }
  std::vector<SendResult> finished() override { return sender_.finished(); }
  std::optional<std::chrono::milliseconds> retry_delay(int failed) const override {
    return sender_.retry_delay(failed);
  }
  bool permanent(int status) const override { return sender_.permanent(status); }

  bool daily() const override { return chat_.daily; }
  Date day_of(TimePoint at) const override { return local_date(at, chat_.timezone); }
  TimePoint next_due(TimePoint after) const override {
    return next_local_hour(after, chat_.timezone, chat_.hour, [](unsigned) { return true; });
  }
  bool covers(const std::string& site) const override {
    return chat_.sites.empty() ||
           std::find(chat_.sites.begin(), chat_.sites.end(), site) != chat_.sites.end();
  }
  std::string render(const StaffSummary& summary) const override {
    return chat_.format == "slack" ? slack_summary(summary, chat_.title)
                                   : teams_summary(summary, chat_.title);
  }
  std::string render(const std::string& notice) const override {
    return chat_.format == "slack" ? slack_notice(notice, chat_.title)
                                   : teams_notice(notice, chat_.title);
  }

 private:
  WebhookSink sender_;
  Chat chat_;
};

// The sink's options from its validated section; throws std::invalid_argument as
// "key: what is wrong" for what the schema cannot check.
Options options_of(const config::Section& s) {
  Options o;
  o.url = s.str("url");
  parse_endpoint(o.url);
  const bool chat = s.str("format") != "cloudevents";
  if (chat && s.str("audience") != "staff") {
    throw std::invalid_argument(
        "audience: a chat channel is a third party to the students: "
        "format: " +
        s.str("format") + " needs audience: staff");
  }
  if (!chat && s.str("audience") == "staff") {
    throw std::invalid_argument(
        "audience: staff sinks post chat messages (format: slack or teams), not actions");
  }
  try {
    if (chat && s.str("secret").empty()) {
      // Chat webhooks are authenticated by their URL; our signature headers are ignored.
      o.key = std::string(32, '\0');
      RAND_bytes(reinterpret_cast<unsigned char*>(o.key.data()), int(o.key.size()));
    } else if (s.str("secret").empty()) {
      throw std::invalid_argument(
          "missing: every action is signed with our whsec_ secret (give secret: ${VAR} or "
          "secret_file); only chat formats (slack, teams) go without");
    } else {
      o.key = decode_secret(s.str("secret"));
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("secret: ") + e.what());
  }
  o.timeout = s.duration("timeout");
  o.schedule = config::schedule_of(s.strings("retry_schedule"), "retry_schedule");
  o.max_in_flight = std::size_t(s.integer("max_in_flight"));
  o.rate = s.number("rate");
  o.breaker_window = s.duration("breaker_window");
  o.breaker_min_requests = std::size_t(s.integer("breaker_min_requests"));
  o.breaker_failure_ratio = s.number("breaker_failure_ratio");
  o.breaker_cooldown = s.duration("breaker_cooldown");
  o.ca_file = s.str("ca_file");
  const std::string mode = s.str("content_mode");
  o.mode = mode == "binary" ? Options::Mode::binary
           : mode == "json" ? Options::Mode::json
                            : Options::Mode::structured;
  if (chat) {
    o.mode = Options::Mode::json;  // the message as it is, application/json
    // In order, and within Slack's one message a second per webhook.
    o.max_in_flight = 1;
    o.rate = o.rate > 0 ? std::min(o.rate, 1.0) : 1.0;
  }
  return o;
}

}  // namespace

SinkKind webhook_sink_kind() {
  using config::Type;
  SinkKind kind;
  kind.type = "webhook";
  kind.schema = {
      "sinks (type: webhook)",
      "POSTs each action, signed (Standard Webhooks), retried on a schedule, to one endpoint.",
      {
          {.name = "url",
           .type = Type::string,
           .description = "the endpoint (http:// or https://)",
           .required = true},
          {.name = "secret",
           .type = Type::secret,
           .description = "our whsec_ signing secret (the receiver verifies with it); needed "
                          "for format: cloudevents",
           .default_value = ""},
          {.name = "format",
           .type = Type::enumeration,
           .description = "cloudevents: each action, for the host platform; slack or teams: "
                          "a staff chat channel (audience: staff) gets a daily summary or "
                          "notices, as Slack Block Kit or an Adaptive Card 1.5 for a Teams "
                          "Workflows webhook, and never an action, a student's name or an "
                          "evaluation",
           .default_value = "cloudevents",
           .choices = {"cloudevents", "slack", "teams"}},
          {.name = "summary",
           .type = Type::enumeration,
           .description = "slack or teams: daily (at hour: rotations starting per site, "
                          "teams without non-physicians, dead letters, students without an "
                          "email address) or notices (each hook's notice and each new dead "
                          "letter, as they come)",
           .default_value = "daily",
           .choices = {"daily", "notices"}},
          {.name = "hour",
           .type = Type::integer,
           .description = "slack or teams, summary: daily: the local hour (in timezone) of "
                          "the summary",
           .default_value = "7",
           .min = 0,
           .max = 23},
          {.name = "sites",
           .type = Type::string_list,
           .description = "slack or teams: the sites this channel's summary covers; empty: all",
           .default_value = "[]"},
          {.name = "title",
           .type = Type::string,
           .description = "slack or teams: the messages' title",
           .default_value = "Rapport"},
          {.name = "timeout",
           .type = Type::duration,
           .description = "one attempt, connect to the answer's last byte",
           .default_value = "15s",
           .min = 100,
           .max = 300'000},
          {.name = "retry_schedule",
           .type = Type::string_list,
           .description = "when each attempt is made, counted from the failure before it "
                          "(the first entry is the first attempt: 0s, at once), with 10% "
                          "jitter; when the last attempt fails, the action goes to the dead "
                          "letter list",
           .default_value = "[0s, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h]"},
          {.name = "max_in_flight",
           .type = Type::integer,
           .description = "concurrent requests to the endpoint at most",
           .default_value = "4",
           .min = 1,
           .max = 256},
          {.name = "rate",
           .type = Type::number,
           .description = "requests per second at most (0: no limit)",
           .default_value = "0",
           .min = 0,
           .max = 100'000},
          {.name = "breaker_window",
           .type = Type::duration,
           .description = "the circuit breaker judges the attempts of this last period",
           .default_value = "60s",
           .min = 1000,
           .max = 3'600'000},
          {.name = "breaker_min_requests",
           .type = Type::integer,
           .description = "attempts in the window before the breaker may open",
           .default_value = "10",
           .min = 1,
           .max = 100'000},
          {.name = "breaker_failure_ratio",
           .type = Type::number,
           .description = "share of failed attempts in the window that opens the breaker",
           .default_value = "0.5",
           .min = 0.01,
           .max = 1},
          {.name = "breaker_cooldown",
           .type = Type::duration,
           .description = "how long the breaker stays open before one probe is let through",
           .default_value = "30s",
           .min = 100,
           .max = 3'600'000},
          {.name = "ca_file",
           .type = Type::path,
           .description = "PEM certificates trusted for https endpoints, besides the system's",
           .default_value = ""},
          {.name = "content_mode",
           .type = Type::enumeration,
           .description =
               "how each CloudEvent is sent (the CloudEvents HTTP binding): structured, the "
               "whole event as application/cloudevents+json (the official SDKs' "
               "HTTP.toEvent and any CloudEvents receiver); binary, attributes as ce-* "
               "headers and the action as an application/json body (receivers that want "
               "the data alone; the signature covers the body, not the ce-* headers); "
               "json, the whole event as application/json (receivers whose JSON parser "
               "takes nothing else; what earlier versions sent)",
           .default_value = "structured",
           .choices = {"structured", "binary", "json"}},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Sink> {
    try {
      if (s.str("format") != "cloudevents") {
        ChatSink::Chat chat{s.str("format"),        s.str("title"),
                            s.str("timezone"),      s.str("summary") == "daily",
                            int(s.integer("hour")), s.strings("sites")};
        if (chat.timezone.empty()) chat.timezone = "UTC";
        return std::make_unique<ChatSink>(name, options_of(s), std::move(chat));
      }
      return std::make_unique<WebhookSink>(name, options_of(s));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(s.path() + "." + e.what());
    }
  };
  kind.check = [](const std::string&, const config::Section& s,
                  std::vector<config::Diagnostic>& out) {
    try {
      options_of(s);
    } catch (const std::invalid_argument& e) {
      auto what = std::string(e.what());
      auto colon = what.find(':');
      out.push_back({"", s.mark(), s.path() + "." + what.substr(0, colon),
                     colon == std::string::npos ? what : what.substr(colon + 2), false});
    }
  };
  return kind;
}

}  // namespace rapport::webhook
