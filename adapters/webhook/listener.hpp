#pragma once
// The inbound webhook listener: HTTP/1.1 (optionally TLS) on Boost.Beast, confined to
// listener.cpp. Requests are verified and read into events on the listener's threads;
// one committer thread writes them to the store in groups (everything that arrived while
// the previous group was committing), and each request is answered 202 only once its
// group is durable.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/webhook/inbound.hpp"
#include "config/schema.hpp"
#include "engine/telemetry.hpp"
#include "status/page.hpp"
#include "store/store.hpp"

namespace rapport::webhook {

struct ListenerOptions {
  bool events = true;  // listener.enabled: serve /v1/sources/... (else operations only)
  std::string address = "127.0.0.1";
  unsigned short port = 8080;
  // listener.ops_listen: /healthz, /readyz and /metrics on their own address (and off the
  // main one); empty: they stay on the main address.
  std::string ops_address;
  unsigned short ops_port = 0;
  std::string ops_tls_certificate, ops_tls_key;
  int threads = 2;
  std::string tls_certificate, tls_key;  // both set: HTTPS
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 << 10;
  std::chrono::milliseconds read_timeout{10'000};    // a whole request, headers and body
  std::chrono::milliseconds idle_timeout{60'000};    // between requests on one connection
  std::chrono::milliseconds shutdown_grace{10'000};  // for requests under way at a stop
  std::size_t max_connections = 1024;
  std::size_t queue_limit = 8192;  // events waiting for their commit; beyond: 429
  // Connections the events are committed on at once (store.pool on PostgreSQL): each
  // takes whatever arrived while the others were committing. 1 on SQLite.
  int commit_connections = 1;
  std::chrono::hours retention{24 * 7};  // how long message ids are remembered
  // The status page (/status and below), served where /healthz is, one request at a time
  // on a thread of its own (so that webhooks never wait behind it); none: 404.
  std::function<status::PageReply(const status::PageRequest&)> pages;
};

// `retention` gives webhook_ids (listener.retention, deprecated, wins when given).
ListenerOptions listener_options(const config::Section& listener, const config::Section& retention);
// Whether `rapport serve` runs a listener at all: enabled, or operations on their own address.
bool listener_wanted(const config::Section& listener);

class Listener {
 public:
  // `open_store` is called on each committer thread (again after the store failed).
  Listener(ListenerOptions options, std::vector<InboundSource> sources,
           std::function<std::unique_ptr<Store>()> open_store,
           std::shared_ptr<Telemetry> telemetry);
  ~Listener();  // stops
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  unsigned short port() const;      // the bound port (when 0 was asked); 0 without events
  unsigned short ops_port() const;  // the operations port, 0 without ops_listen
  void stop();
  // A reload (SIGHUP): the webhook sources (their secrets, mappings) replaced, and the
  // TLS certificates read again from their files, for the connections accepted from now
  // on; connections open and requests under way go on as they were. Throws, changing
  // nothing, when a certificate does not load.
  void reload(std::vector<InboundSource> sources);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rapport::webhook
