#pragma once
// What `rapport status` says, as data: the store's queues, every configured source (state,
// cursors), every hook and sink consumer (where it is, what is left, deliveries by state,
// a disabled endpoint) and the reports (errors, retries, slow runs, notices). Printed as
// text, as JSON (--json), judged (--check), and shown by the status page.

#include <boost/json/object.hpp>

#include "config/config.hpp"
#include "store/store.hpp"

namespace rapport::status {

boost::json::object status_of(const config::Config& config, Store& store);

}  // namespace rapport::status
