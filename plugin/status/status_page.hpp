#pragma once
// The admins' status page (`status_page:` in the config), served by the listener on the
// operations address under /status: the overview (sources, hooks, sinks, queues, reports:
// the numbers of `rapport status --json`) and one student's network as a picture (contacts
// by days together and role, letter candidates by rank, open follow-ups). Staff are not
// the student: no evaluation score, letter score part or evaluation text is ever shown.
// Every view of a student's page goes into the disclosure log with the account's name.
//
// HTTP Basic authentication against the accounts' scrypt hashes, only over TLS or from
// loopback. Plain server-rendered HTML with inline SVG and CSS: no script, no external
// asset (the Content-Security-Policy says so too).

#include <memory>
#include <mutex>

#include "config/config.hpp"
#include "engine/telemetry.hpp"
#include "status/page.hpp"
#include "store/store.hpp"

namespace rapport::status {

class StatusPage {
 public:
  // Reads the store through its own connection (opened when first needed), and the last
  // polls from the process's telemetry (when given).
  explicit StatusPage(std::shared_ptr<const config::Config> config,
                      std::shared_ptr<const Telemetry> telemetry = nullptr);
  ~StatusPage();
  StatusPage(const StatusPage&) = delete;
  StatusPage& operator=(const StatusPage&) = delete;

  // Whether the config has accounts (else nothing is served).
  static bool wanted(const config::Config& config);
  // "" when the page can be served as configured, else why not (accounts without
  // listener.ops_listen): `validate` says it at the section, `serve` refuses to start.
  static std::string problem(const config::Config& config);
  // A reload: the accounts and options of the new config (the store stays).
  void reload(std::shared_ptr<const config::Config> config);
  // Thread-safe; one request at a time.
  PageReply handle(const PageRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rapport::status
