#include "adapters/webhook/listener.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "adapters/webhook/signature.hpp"
#include "log/log.hpp"
#include "store/soci_util.hpp"

namespace rapport::webhook {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::pair<std::string, unsigned short> address_and_port(const std::string& key,
                                                        const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string address = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (address.size() > 1 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  int port = -1;
  try {
    std::size_t used = 0;
    if (colon != std::string::npos) port = std::stoi(listen.substr(colon + 1), &used);
    if (colon + 1 + used != listen.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (address.empty() || port < 0 || port > 65535) {
    throw std::invalid_argument("listener." + key + ": \"" + listen +
                                "\" is not ADDRESS:PORT (such as 127.0.0.1:8080)");
  }
  return {address, static_cast<unsigned short>(port)};
}

}  // namespace

bool listener_wanted(const config::Section& s) {
  return s.boolean("enabled") || !s.str("ops_listen").empty();
}

ListenerOptions listener_options(const config::Section& s, const config::Section& retention) {
  ListenerOptions o;
  o.events = s.boolean("enabled");
  std::tie(o.address, o.port) = address_and_port("listen", s.str("listen"));
  if (auto ops = s.str("ops_listen"); !ops.empty()) {
    std::tie(o.ops_address, o.ops_port) = address_and_port("ops_listen", ops);
  }
  o.ops_tls_certificate = s.str("ops_tls_certificate");
  o.ops_tls_key = s.str("ops_tls_key");
  o.threads = int(s.integer("threads"));
  o.tls_certificate = s.str("tls_certificate");
  o.tls_key = s.str("tls_key");
  o.body_limit = std::size_t(s.integer("body_limit"));
  o.header_limit = std::size_t(s.integer("header_limit"));
  o.read_timeout = s.duration("read_timeout");
  o.idle_timeout = s.duration("idle_timeout");
  o.shutdown_grace = s.duration("shutdown_grace");
  o.max_connections = std::size_t(s.integer("max_connections"));
  o.queue_limit = std::size_t(s.integer("queue_limit"));
  o.retention = std::chrono::duration_cast<std::chrono::hours>(
      s.has("retention") ? s.duration("retention") : retention.duration("webhook_ids"));
  return o;
}

namespace {

enum class Outcome { accepted, duplicate, unavailable };

struct Submission {
  const InboundSource* source = nullptr;
  std::shared_ptr<const void> keep;  // the sources `source` is one of (a reload swaps them)
  std::string message_id;
  std::vector<Event> events;
  Clock::time_point started;
  std::function<void(Outcome)> done;
};

// Threads (one per connection, store.pool) each of which commits whatever arrived while it
// was committing its previous group.
class Committer {
 public:
  // `deliver` runs a group's completions on the listener's threads, all at once: one
  // wake-up per group rather than one per request.
  Committer(std::function<std::unique_ptr<Store>()> open, std::shared_ptr<Telemetry> telemetry,
            std::size_t limit, std::chrono::hours retention,
            std::function<void(std::function<void()>)> deliver, int connections)
      : open_(std::move(open)),
        telemetry_(std::move(telemetry)),
        limit_(limit),
        retention_(retention),
        deliver_(std::move(deliver)) {
    for (int i = 0; i < std::max(1, connections); ++i) {
      threads_.emplace_back([this, i] { run(i == 0); });
    }
  }
  ~Committer() { stop(); }

  // False when the queue is full (the caller answers 429).
  bool offer(Submission&& s) {
    std::lock_guard lock(mutex_);
    if (stopping_ || (queued_ + s.events.size() > limit_ && !queue_.empty())) return false;
    queued_ += s.events.size();
    queue_.push_back(std::move(s));
    wake_.notify_one();
    return true;
  }

  // Commits what is queued, then ends the thread.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      wake_.notify_all();  // every connection's thread
    }
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  // A connection of its own; `pruner`: the one that forgets old message ids.
  void run(bool pruner) {
    std::unique_ptr<Store> store;
    bool healthy = true;
    auto next_prune = Clock::now();
    for (;;) {
      std::vector<Submission> group;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        group.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.end()));
        queue_.clear();
        queued_ = 0;
      }
      commit(group, store, healthy);
      if (pruner && Clock::now() >= next_prune && store) {
        prune(*store);
        next_prune = Clock::now() + std::chrono::minutes(10);
      }
    }
  }

  void commit(std::vector<Submission>& group, std::unique_ptr<Store>& store, bool& healthy) {
    std::vector<Outcome> outcomes;
    try {
      if (!store) store = open_();
      auto now = wall_clock();
      Transaction tx(*store);
      const auto suppressed = store->suppressed_ids();
      // The group's events go in at once (one statement on PostgreSQL), each submission's
      // in order; a submission with one fresh event, or one kept out, is accepted.
      std::vector<Event> events;
      std::vector<std::size_t> owner;  // the submission of each event
      outcomes.assign(group.size(), Outcome::duplicate);
      for (std::size_t i = 0; i < group.size(); ++i) {
        auto& s = group[i];
        // A lone event whose id is the message id is remembered by the inbox itself.
        bool remembered_by_inbox = s.events.size() == 1 && s.events[0].id == s.message_id;
        if (!s.message_id.empty() && !remembered_by_inbox &&
            !store->remember_message(s.source->name, s.message_id, now)) {
          continue;
        }
        for (auto& e : s.events) {
          // About someone forgotten on request: accepted, and nothing stored.
          if (!suppressed.empty() && suppressed.count(e.subject)) {
            outcomes[i] = Outcome::accepted;
            continue;
          }
          events.push_back(std::move(e));
          owner.push_back(i);
        }
      }
      const auto fresh = store->append_events(events, now);
      for (std::size_t k = 0; k < fresh.size(); ++k) {
        if (fresh[k]) outcomes[owner[k]] = Outcome::accepted;
      }
      tx.commit();
      if (!healthy) {
        log::info("listener", "store reachable again");
        telemetry_->set_component("store", true);
        healthy = true;
      }
    } catch (const std::exception& e) {
      if (healthy) {
        log::error("listener", "cannot commit to the store; answering 503 until it recovers",
                   {{"error", soci_util::message_of(e)}});
        telemetry_->set_component("store", false, "cannot commit events");
        healthy = false;
      }
      store.reset();  // opened again for the next group
      outcomes.assign(group.size(), Outcome::unavailable);
    }
    auto finished = Clock::now();
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (outcomes[i] != Outcome::unavailable) {
        telemetry_->observe_latency(
            std::chrono::duration<double>(finished - group[i].started).count());
      }
    }
    auto completions = std::make_shared<std::vector<std::function<void(Outcome)>>>();
    completions->reserve(group.size());
    for (auto& s : group) completions->push_back(std::move(s.done));
    deliver_([completions, outcomes = std::move(outcomes)] {
      for (std::size_t i = 0; i < completions->size(); ++i) (*completions)[i](outcomes[i]);
    });
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  void prune(Store& store) {
    try {
      Transaction tx(store);
      auto forgotten = store.forget_messages_before(wall_clock() - retention_);
      tx.commit();
      if (forgotten) log::debug("listener", "forgot old message ids", {{"count", forgotten}});
    } catch (const std::exception& e) {
      log::warn("listener", "cannot prune message ids", {{"error", soci_util::message_of(e)}});
    }
  }

  std::function<std::unique_ptr<Store>()> open_;
  std::shared_ptr<Telemetry> telemetry_;
  std::size_t limit_;
  std::chrono::hours retention_;
  std::function<void(std::function<void()>)> deliver_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Submission> queue_;
  std::size_t queued_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

struct Reply {
  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<http::field, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> named_headers;  // by name (the status page's)
};

Reply error_reply(http::status status, std::string_view code, std::string_view message) {
  boost::json::object error{{"code", code}, {"message", message}};
  return {status,
          boost::json::serialize(boost::json::object{{"error", std::move(error)}}),
          "application/json",
          {}};
}

std::string_view header(const http::request<http::string_body>& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string_view() : std::string_view(it->value());
}

bool json_content_type(std::string_view type) {
  auto semicolon = type.find(';');
  auto media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower;
  for (char c : media) lower += char(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json" || lower == "application/cloudevents+json" ||
         lower == "application/cloudevents-batch+json";
}

}  // namespace

// What an address serves: both kinds of routes, or (with ops_listen) one kind each.
enum class Serves { everything, events, operations };

struct Listener::Impl {
  // Sessions use what is declared before `io`: destroying `io` destroys the handlers
  // still queued, and with them the last sessions, so it goes first.
  ListenerOptions options;
  using Sources = std::map<std::string, InboundSource>;
  // What a reload swaps: the sources and the TLS contexts (each connection's SSL object
  // holds a reference to its context, so a context swapped out lives on while needed).
  std::mutex reload_mutex;
  std::shared_ptr<const Sources> sources;
  std::shared_ptr<ssl::context> tls, ops_tls;
  std::shared_ptr<Telemetry> telemetry;
  std::atomic<std::size_t> connections{0};
  std::shared_ptr<const Sources> current_sources() {
    std::lock_guard lock(reload_mutex);
    return sources;
  }
  std::shared_ptr<ssl::context> current_tls(bool ops) {
    std::lock_guard lock(reload_mutex);
    return ops ? ops_tls : tls;
  }
  std::atomic<bool> stopped{false};
  // Requests whose headers are in and whose answer is not written yet: what a stop waits
  // for, up to shutdown_grace.
  std::atomic<std::size_t> in_request{0};
  // Status pages asked for and not answered yet; beyond kPagesQueued, 503 at once.
  static constexpr std::size_t kPagesQueued = 8;
  std::atomic<std::size_t> pages_queued{0};
  std::unique_ptr<Committer> committer;
  // One thread: Asio keeps the handlers that thread queues for itself without a lock (the
  // committer's and the status page's posts still take it).
  asio::io_context io{options.threads <= 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT};
  tcp::acceptor acceptor{io}, ops_acceptor{io};
  // One pause per acceptor: a shared timer would have each cancel the other's pause.
  asio::steady_timer accept_pause{io}, ops_accept_pause{io};
  std::vector<std::thread> threads;
  // The status page's thread (when there is a page): after `io`, so that it goes first
  // (with the sessions its queued work holds).
  std::optional<asio::thread_pool> pages;

  void accept(tcp::acceptor& on, bool use_ops_tls, Serves serves);
  Telemetry::Counter requests_counter(std::string_view route, std::string_view source,
                                      http::status status) {
    return telemetry->counter("rapport_http_requests_total",
                              "route=\"" + std::string(route) + "\",source=\"" +
                                  std::string(source) + "\",status=\"" +
                                  std::to_string(unsigned(status)) + "\"");
  }
};

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  // The read buffer holds a request's headers, or a chunk's size line with its extensions,
  // or the trailer, never a body (Beast moves body bytes into the parser's string). Beast
  // 1.81 applies header_limit to none but the first, so the buffer's own maximum is what
  // bounds the others: a longer line fails the read with buffer_overflow.
  static constexpr std::size_t kLineMargin = 4096;
  static constexpr std::size_t kMaxMessageId = 256;

  Session(Listener::Impl& owner, Stream stream, bool over_capacity, Serves serves)
      : owner_(owner),
        stream_(std::move(stream)),
        over_capacity_(over_capacity),
        serves_(serves),
        buffer_(owner.options.header_limit + kLineMargin) {
    if (!over_capacity_) ++owner_.connections;
  }
  ~Session() {
    if (!over_capacity_) --owner_.connections;
    idle();
  }

  void start() {
    lowest().expires_after(owner_.options.read_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->begin();
                              });
    } else {
      begin();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void begin() {
    if (over_capacity_) {
      keep_alive_ = false;
      return send(error_reply(http::status::service_unavailable, "too_many_connections",
                              "the listener holds its maximum number of connections"),
                  "-", "-");
    }
    read_header();
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(std::uint32_t(owner_.options.header_limit));
    parser_->body_limit(owner_.options.body_limit);
    if (requests_ == 0 || buffer_.size() > 0) return read_header_bytes();
    // A kept-alive connection waits for its next request under idle_timeout; once the
    // first byte is here, the request has read_timeout like the first one.
    lowest().expires_after(owner_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(buffer_.max_size()),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->lowest().expires_after(self->owner_.options.read_timeout);
                              self->read_header_bytes();
                            });
  }

  // What the read buffer holds already (a request sent whole, as clients do) is parsed
  // here, without an asynchronous read that would only post its completion: true when the
  // parser has the header (`whole`: the whole message) or failed (`ec`); false when it
  // needs more bytes, which the asynchronous read then waits for.
  bool parse_buffered(bool whole, beast::error_code& ec) {
    parser_->eager(whole);
    while (buffer_.size() > 0 && !(whole ? parser_->is_done() : parser_->is_header_done())) {
      auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return false;
      }
      if (ec) return true;
      if (used == 0) return false;
    }
    return whole ? parser_->is_done() : parser_->is_header_done();
  }

  void read_header_bytes() {
    if (beast::error_code parsed; parse_buffered(false, parsed)) return on_header(parsed);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    source_ = nullptr;  // a previous request's, maybe of sources a reload replaced
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      keep_alive_ = false;
      return send(error_reply(http::status::request_header_fields_too_large, "headers_too_large",
                              "the request's headers exceed " +
                                  std::to_string(owner_.options.header_limit) + " bytes"),
                  "-", "-");
    }
    // Beast refuses a declared Content-Length beyond the limit as soon as the header is read.
    if (ec == http::error::body_limit) return too_large();
    if (ec) return close();  // closed, timed out (slow or idle) or not HTTP
    ++requests_;
    busy();
    const auto& req = parser_->get();
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    keep_alive_ = req.keep_alive();

    auto operations = [&](std::string_view route, auto&& make) {
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        return method_not_allowed(route, "GET");
      }
      send(make(), route, "-");
    };
    bool pages_route = target == "/status" || target.starts_with("/status/");
    bool operations_route =
        target == "/healthz" || target == "/readyz" || target == "/metrics" || pages_route;
    if (operations_route ? serves_ == Serves::events : serves_ == Serves::operations) {
      return send(error_reply(http::status::not_found, "not_found", "no such path"), "unknown",
                  "-");
    }
    if (target == "/healthz") {
      return operations("healthz", [] { return Reply{http::status::ok, R"({"status":"ok"})"}; });
    }
    if (target == "/readyz") return operations("readyz", [&] { return readiness(); });
    if (target == "/metrics") {
      return operations("metrics", [&] {
        return Reply{
            http::status::ok, owner_.telemetry->prometheus(), "text/plain; version=0.0.4", {}};
      });
    }
    if (pages_route && owner_.pages) return on_page();
    constexpr std::string_view prefix = "/v1/sources/", suffix = "/events";
    if (target.size() > prefix.size() + suffix.size() && target.starts_with(prefix) &&
        target.ends_with(suffix)) {
      auto name = target.substr(prefix.size(), target.size() - prefix.size() - suffix.size());
      return on_events_header(std::string(name));
    }
    send(error_reply(http::status::not_found, "not_found", "no such path"), "unknown", "-");
  }

  // The status page renders on its own thread; the answer comes back to this session's.
  void on_page() {
    const auto& req = parser_->get();
    status::PageRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(header(req, "Authorization"));
    request.secure = kTls;
    beast::error_code ec;
    auto peer = lowest().socket().remote_endpoint(ec).address();
    request.loopback = !ec && (peer.is_loopback() || (peer.is_v6() && peer.to_v6().is_v4_mapped() &&
                                                      peer.to_v6().to_v4().is_loopback()));
    // The client, as the page counts refusals: IPv4 (v4-mapped too) by address, IPv6 by
    // its /64 (one client may hold all of it).
    if (!ec && peer.is_v6() && peer.to_v6().is_v4_mapped()) {
      request.peer = peer.to_v6().to_v4().to_string();
    } else if (!ec && peer.is_v6()) {
      auto bytes = peer.to_v6().to_bytes();
      std::fill(bytes.begin() + 8, bytes.end(), 0);
      request.peer = asio::ip::address_v6(bytes).to_string() + "/64";
    } else if (!ec) {
      request.peer = peer.to_string();
    }
    request.fetch_site = std::string(header(req, "Sec-Fetch-Site"));
    if (owner_.pages_queued.fetch_add(1) >= Listener::Impl::kPagesQueued) {
      --owner_.pages_queued;
      auto reply = error_reply(http::status::service_unavailable, "busy",
                               "the status page is busy; try again in a few seconds");
      reply.headers.emplace_back(http::field::retry_after, "5");
      return send(std::move(reply), "status", "-");
    }
    asio::post(*owner_.pages, [self = this->shared_from_this(), request = std::move(request)] {
      --self->owner_.pages_queued;
      status::PageReply page;
      try {
        page = self->owner_.options.pages(request);
      } catch (const std::exception& e) {
        log::error("listener", "the status page failed", {{"error", e.what()}});
        page = {500, "text/plain; charset=utf-8", "the status page failed\n", {}};
      }
      asio::post(self->stream_.get_executor(), [self, page = std::move(page)]() mutable {
        Reply reply{http::status(page.status),
                    std::move(page.body),
                    std::move(page.content_type),
                    {},
                    std::move(page.headers)};
        self->send(std::move(reply), "status", "-");
      });
    });
  }

  void method_not_allowed(std::string_view route, const char* allow) {
    auto reply = error_reply(http::status::method_not_allowed, "method_not_allowed",
                             std::string("use ") + allow);
    reply.headers.emplace_back(http::field::allow, allow);
    send(std::move(reply), route, "-");
  }

  // Names and states only: a component's message may hold a database driver's text (host
  // and user names), which stays in `rapport status` and the logs.
  Reply readiness() {
    auto failing = owner_.telemetry->failing();
    if (failing.empty()) return {http::status::ok, R"({"status":"ready"})"};
    boost::json::array list;
    for (const auto& f : failing) {
      list.push_back(boost::json::object{{"component", f.component}, {"state", "failing"}});
    }
    return {http::status::service_unavailable,
            boost::json::serialize(
                boost::json::object{{"status", "unavailable"}, {"failing", std::move(list)}})};
  }

  void on_events_header(std::string name) {
    const auto& req = parser_->get();
    source_ = nullptr;
    sources_ = owner_.current_sources();
    auto found = sources_->find(name);
    if (found == sources_->end()) {
      return send(error_reply(http::status::not_found, "unknown_source",
                              "no webhook source of that name is configured"),
                  "events", "unknown");
    }
    source_ = &found->second;
    if (req.method() != http::verb::post) return method_not_allowed("events", "POST");
    if (!json_content_type(header(req, "Content-Type"))) {
      return send(error_reply(http::status::unsupported_media_type, "unsupported_media_type",
                              "send Content-Type: application/json"),
                  "events", source_->name);
    }
    auto length = parser_->content_length();
    if (!length && !parser_->chunked()) {
      return send(error_reply(http::status::length_required, "length_required",
                              "send Content-Length (or chunked transfer encoding)"),
                  "events", source_->name);
    }
    if (length && *length > owner_.options.body_limit) return too_large();
    if (beast::error_code parsed; parse_buffered(true, parsed)) return on_body(parsed);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_body(ec);
                     });
  }

  void too_large() {
    keep_alive_ = false;
    send(error_reply(http::status::payload_too_large, "body_too_large",
                     "the body exceeds " + std::to_string(owner_.options.body_limit) + " bytes"),
         "events", source_ ? source_->name : "-");
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) return too_large();
    if (ec == http::error::buffer_overflow) {
      keep_alive_ = false;
      return send(error_reply(http::status::bad_request, "chunk_line_too_long",
                              "a chunk's size line (with its extensions) or the trailer exceeds " +
                                  std::to_string(owner_.options.header_limit) + " bytes"),
                  "events", source_->name);
    }
    if (ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      keep_alive_ = false;
      return send(error_reply(http::status::bad_request, "malformed_body",
                              "the body is not valid HTTP/1.1 (" + ec.message() + ")"),
                  "events", source_->name);
    }
    if (ec) return close();
    const auto& req = parser_->get();
    const auto& body = req.body();
    auto now = wall_clock().time_since_epoch();
    Verdict verdict{true, ""};
    switch (source_->verification) {
      case Verification::standard_webhooks:
        verdict = verify_standard(source_->keys, header(req, "webhook-id"),
                                  header(req, "webhook-timestamp"),
                                  header(req, "webhook-signature"), body, now, source_->tolerance);
        break;
      case Verification::github:
        verdict = verify_github(source_->keys, header(req, "X-Hub-Signature-256"), body);
        break;
      case Verification::bearer:
        verdict = verify_bearer(source_->keys, header(req, "Authorization"));
        break;
      case Verification::none:
        break;
    }
    if (!verdict.ok) {
      return send(error_reply(http::status::unauthorized, "unauthorized", verdict.reason), "events",
                  source_->name);
    }
    // Only Standard Webhooks signs the message id and time. Elsewhere the id is GitHub's
    // delivery id at most, which nothing signs: it is remembered together with the body's
    // hash, so that a captured body replayed under a chosen id cannot reserve the id of a
    // genuine delivery to come. An event without an id of its own is known by its body's
    // hash, so that a captured body sent again is a duplicate.
    bool signed_id = source_->verification == Verification::standard_webhooks;
    std::string message_id;
    std::string fallback_id;
    TimePoint message_time = wall_clock();
    auto id_header = header(req, signed_id ? "webhook-id" : "X-GitHub-Delivery");
    if (id_header.size() > kMaxMessageId) {
      return send(error_reply(http::status::bad_request, "invalid_message_id",
                              "the message id is longer than " + std::to_string(kMaxMessageId) +
                                  " characters"),
                  "events", source_->name);
    }
    if (signed_id) {
      message_id = std::string(id_header);
      fallback_id = message_id;
      message_time = TimePoint(
          std::chrono::seconds(std::stoll(std::string(header(req, "webhook-timestamp")))));
    } else {
      auto body_hash = hex(hmac_sha256("rapport", body)).substr(0, 32);
      if (source_->verification == Verification::github && !id_header.empty()) {
        message_id = std::string(id_header) + "/" + body_hash;
      }
      fallback_id = "body-" + body_hash;
    }
    // Binary content mode (the CloudEvents HTTP binding): the attributes in ce-* headers,
    // the data as the body. Standard Webhooks signs the id, timestamp and body, not the
    // ce-* headers; a GitHub signature or a bearer token signs no header at all: refused
    // there. A mapped source reads its platform's own body whatever the headers say.
    std::string envelope;
    std::string_view event_body = body;
    if (!source_->mapping && !header(req, "ce-specversion").empty()) {
      if (source_->verification == Verification::github ||
          source_->verification == Verification::bearer) {
        return send(error_reply(http::status::bad_request, "binary_mode_unsigned",
                                "binary content mode is refused for this source: nothing it "
                                "verifies covers the ce-* headers; send the structured mode"),
                    "events", source_->name);
      }
      boost::json::error_code jec;
      auto data = boost::json::parse(body, jec);
      if (jec) {
        return send(error_reply(http::status::bad_request, "invalid_event",
                                "binary mode: the body (the event's data) is not JSON"),
                    "events", source_->name);
      }
      boost::json::object o;
      for (const char* attribute :
           {"specversion", "id", "source", "type", "time", "subject", "dataschema"}) {
        auto value = header(req, std::string("ce-") + attribute);
        if (!value.empty()) o[attribute] = std::string(value);
      }
      o["data"] = std::move(data);
      envelope = boost::json::serialize(o);
      event_body = envelope;
    }
    Submission submission;
    try {
      submission.events = read_body(*source_, event_body, fallback_id, message_time);
    } catch (const BadBody& e) {
      return send(error_reply(http::status::bad_request, "invalid_event", e.what()), "events",
                  source_->name);
    }
    std::size_t count = submission.events.size();
    submission.source = source_;
    submission.keep = sources_;
    submission.message_id = std::move(message_id);
    submission.started = Clock::now();
    // Called on a listener thread; with several, the session's own strand takes over.
    submission.done = [self = this->shared_from_this(), count](Outcome outcome) {
      if (self->owner_.options.threads <= 1) return self->committed(outcome, count);
      asio::post(self->stream_.get_executor(),
                 [self, outcome, count] { self->committed(outcome, count); });
    };
    if (!owner_.committer->offer(std::move(submission))) {
      auto reply = error_reply(http::status::too_many_requests, "overloaded",
                               "too many events are waiting to be committed; retry shortly");
      reply.headers.emplace_back(http::field::retry_after, "1");
      return send(std::move(reply), "events", source_->name);
    }
  }

  void committed(Outcome outcome, std::size_t count) {
    switch (outcome) {
      case Outcome::accepted:
        if (!accepted_ || accepted_->source != source_->name) {
          accepted_.emplace(source_->name,
                            owner_.telemetry->counter("rapport_events_accepted_total",
                                                      "source=\"" + source_->name + "\""));
        }
        accepted_->counter.add(double(count));
        return send({http::status::accepted,
                     R"({"accepted":)" + std::to_string(count) + R"(,"duplicate":false})"},
                    "events", source_->name);
      case Outcome::duplicate:
        return send({http::status::ok, R"({"duplicate":true})"}, "events", source_->name);
      case Outcome::unavailable: {
        auto reply = error_reply(http::status::service_unavailable, "store_unavailable",
                                 "the store cannot commit right now; retry later");
        reply.headers.emplace_back(http::field::retry_after, "5");
        return send(std::move(reply), "events", source_->name);
      }
    }
  }

  // A connection sends one source's events again and again: the label text of its
  // counters is built when what it counts changes, not at every request.
  void count(std::string_view route, std::string_view source, http::status status) {
    if (!counted_ || counted_->route != route || counted_->source != source ||
        counted_->status != status) {
      counted_.emplace(std::string(route), std::string(source), status,
                       owner_.requests_counter(route, source, status));
    }
    counted_->counter.add();
  }

  // The answer is written as bytes here rather than through Beast's serializer, which cost
  // about as much as the rest of the writing (docs/performance.md).
  void send(Reply reply, std::string_view route, std::string_view source) {
    count(route, source, reply.status);
    // A body left unread ends the connection after the answer.
    // Stopping: this answer is the connection's last.
    bool keep = keep_alive_ && parser_ && parser_->is_done() && !owner_.stopped;
    bool head = parser_ && parser_->get().method() == http::verb::head;
    out_.clear();
    auto line = [this](std::string_view name, std::string_view value) {
      out_.append(name).append(": ").append(value).append("\r\n");
    };
    out_.append("HTTP/1.1 ").append(std::to_string(unsigned(reply.status))).append(" ");
    out_.append(http::obsolete_reason(reply.status)).append("\r\n");
    line("Server", "rapport");
    line("Content-Type", reply.content_type);
    for (const auto& [field, value] : reply.headers) line(http::to_string(field), value);
    for (const auto& [name, value] : reply.named_headers) line(name, value);
    // HEAD: the length GET would send, without the body.
    line("Content-Length", std::to_string(reply.body.size()));
    if (!keep) line("Connection", "close");
    out_.append("\r\n");
    if (!head) out_.append(reply.body);
    lowest().expires_after(owner_.options.read_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
                        self->idle();
                        if (ec || !keep) return self->close();
                        self->read_header();
                      });
  }

  void busy() {
    if (!busy_) ++owner_.in_request;
    busy_ = true;
  }
  void idle() {
    if (busy_) --owner_.in_request;
    busy_ = false;
  }

  void close() {
    beast::error_code ec;
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->lowest().socket().close(ignored);
      });
    } else {
      // Lingering close: a client still sending a body we refused reads our answer before
      // the connection goes (closing at once would reset it and lose the answer).
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      lowest().expires_after(std::chrono::seconds(2));
      drain();
    }
  }

  void drain() {
    lowest().async_read_some(asio::buffer(scratch_),
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               if (!ec) return self->drain();
                               beast::error_code ignored;
                               self->lowest().socket().close(ignored);
                             });
  }

  Listener::Impl& owner_;
  Stream stream_;
  bool over_capacity_;
  Serves serves_;
  beast::flat_buffer buffer_;
  std::array<char, 4096> scratch_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;  // the answer being written
  struct Counted {
    std::string route, source;
    http::status status;
    Telemetry::Counter counter;
  };
  std::optional<Counted> counted_;  // the counter of the last answer
  struct Accepted {
    std::string source;
    Telemetry::Counter counter;
  };
  std::optional<Accepted> accepted_;  // the last source's count of events accepted
  std::shared_ptr<const Listener::Impl::Sources> sources_;  // what source_ points into
  const InboundSource* source_ = nullptr;
  bool keep_alive_ = true;
  bool busy_ = false;  // counted in Impl::in_request
  std::size_t requests_ = 0;
};

}  // namespace

void Listener::Impl::accept(tcp::acceptor& on, bool use_ops_tls, Serves serves) {
  // One thread serialises every handler already; a strand per connection is needed (and
  // paid for) only with more.
  auto on_accept = [this, &on, use_ops_tls, serves](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (stopped || ec == asio::error::operation_aborted) return;
      // Out of descriptors, say: the socket stays readable, so accepting again at once
      // would spin. Pause a little.
      log::warn("listener", "accept failed; pausing", {{"error", ec.message()}});
      auto& pause = serves == Serves::operations ? ops_accept_pause : accept_pause;
      pause.expires_after(std::chrono::milliseconds(100));
      pause.async_wait([this, &on, use_ops_tls, serves](beast::error_code) {
        if (!stopped) accept(on, use_ops_tls, serves);
      });
      return;
    }
    // The operations address is never turned away for the events' load: a liveness probe
    // must not fail because the platform filled the listener.
    bool over = serves != Serves::operations && connections >= options.max_connections;
    auto with = current_tls(use_ops_tls);
    if (over && with) {
      // No handshake for a connection that cannot be served.
      beast::error_code ignored;
      socket.close(ignored);
      accept(on, use_ops_tls, serves);
      return;
    }
    beast::tcp_stream stream(std::move(socket));
    if (with) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(std::move(stream), *with), over, serves)
          ->start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(*this, std::move(stream), over, serves)->start();
    }
    accept(on, use_ops_tls, serves);
  };
  if (options.threads > 1) {
    on.async_accept(asio::make_strand(io), std::move(on_accept));
  } else {
    on.async_accept(io, std::move(on_accept));
  }
}

namespace {

std::shared_ptr<ssl::context> server_tls(const std::string& certificate, const std::string& key,
                                         const std::string& what) {
  if (certificate.empty() && key.empty()) return nullptr;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  try {
    tls->use_certificate_chain_file(certificate);
    tls->use_private_key_file(key, ssl::context::pem);
  } catch (const std::exception& e) {
    throw std::runtime_error("listener: cannot load " + what + ": " + std::string(e.what()));
  }
  return tls;
}

void open_acceptor(tcp::acceptor& acceptor, const std::string& address_text, unsigned short port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(address_text, ec);
  if (ec) throw std::runtime_error("listener: \"" + address_text + "\" is not an address");
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("listener: cannot listen on " + address_text + ":" +
                             std::to_string(port) + ": " + ec.message());
  }
}

}  // namespace

Listener::Listener(ListenerOptions options, std::vector<InboundSource> sources,
                   std::function<std::unique_ptr<Store>()> open_store,
                   std::shared_ptr<Telemetry> telemetry)
    : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.options = std::move(options);
  auto by_name = std::make_shared<Impl::Sources>();
  for (auto& s : sources) by_name->emplace(s.name, std::move(s));
  impl.sources = std::move(by_name);
  impl.telemetry = std::move(telemetry);
  if (impl.options.pages) impl.pages.emplace(1);
  bool separate_ops = !impl.options.ops_address.empty();
  impl.tls =
      server_tls(impl.options.tls_certificate, impl.options.tls_key, "tls_certificate or tls_key");
  impl.ops_tls = server_tls(impl.options.ops_tls_certificate, impl.options.ops_tls_key,
                            "ops_tls_certificate or ops_tls_key");
  if (impl.options.events) {
    impl.telemetry->set_component("store", true);
    impl.committer = std::make_unique<Committer>(
        std::move(open_store), impl.telemetry, impl.options.queue_limit, impl.options.retention,
        [&impl](std::function<void()> completions) { asio::post(impl.io, std::move(completions)); },
        impl.options.commit_connections);
  }
  try {
    if (impl.options.events) {
      open_acceptor(impl.acceptor, impl.options.address, impl.options.port);
      impl.accept(impl.acceptor, false, separate_ops ? Serves::events : Serves::everything);
    }
    if (separate_ops) {
      open_acceptor(impl.ops_acceptor, impl.options.ops_address, impl.options.ops_port);
      impl.accept(impl.ops_acceptor, true, Serves::operations);
    }
  } catch (const std::exception&) {
    if (impl.committer) impl.committer->stop();
    throw;
  }
  for (int i = 0; i < std::max(1, impl.options.threads); ++i) {
    impl.threads.emplace_back([&impl] { impl.io.run(); });
  }
  if (impl.options.events) {
    log::info("listener", "listening",
              {{"address", impl.options.address},
               {"port", int(port())},
               {"tls", impl.tls ? "on" : "off"},
               {"sources", impl.sources->size()}});
  }
  if (separate_ops) {
    log::info("listener", "operations endpoints listening",
              {{"address", impl.options.ops_address},
               {"port", int(ops_port())},
               {"tls", impl.ops_tls ? "on" : "off"}});
  }
}

Listener::~Listener() {
  stop();
}

void Listener::reload(std::vector<InboundSource> sources) {
  auto& impl = *impl_;
  // Everything is made first: a certificate that does not load changes nothing.
  auto tls =
      server_tls(impl.options.tls_certificate, impl.options.tls_key, "tls_certificate or tls_key");
  auto ops_tls = server_tls(impl.options.ops_tls_certificate, impl.options.ops_tls_key,
                            "ops_tls_certificate or ops_tls_key");
  auto by_name = std::make_shared<Impl::Sources>();
  for (auto& s : sources) by_name->emplace(s.name, std::move(s));
  std::lock_guard lock(impl.reload_mutex);
  impl.sources = std::move(by_name);
  impl.tls = std::move(tls);
  impl.ops_tls = std::move(ops_tls);
}

unsigned short Listener::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

unsigned short Listener::ops_port() const {
  beast::error_code ec;
  auto endpoint = impl_->ops_acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Listener::stop() {
  auto& impl = *impl_;
  if (impl.stopped.exchange(true)) return;
  asio::post(impl.io, [&impl] {
    beast::error_code ec;
    impl.acceptor.close(ec);
    impl.ops_acceptor.close(ec);
  });
  // Requests under way finish (their events committed and answered) within the grace
  // period; then whatever is left is cut off (unanswered, so nothing it sent is lost: the
  // sender retries). Idle kept-alive connections are not waited for.
  const auto deadline = std::chrono::steady_clock::now() + impl.options.shutdown_grace;
  while (impl.in_request.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (impl.in_request.load() > 0) {
    log::warn("listener", "shutdown grace period over; cutting off requests still under way",
              {{"requests", impl.in_request.load()}});
  }
  if (impl.committer) impl.committer->stop();  // what was offered is committed first
  impl.io.stop();
  for (auto& t : impl.threads) t.join();
  if (impl.pages) {
    impl.pages->stop();  // pages not started yet are not made: nobody would read them
    impl.pages->join();
  }
}

}  // namespace rapport::webhook
