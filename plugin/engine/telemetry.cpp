#include "engine/telemetry.hpp"

#include <cstdio>

namespace rapport {

namespace {

const std::map<std::string, std::string>& help() {
  static const std::map<std::string, std::string> h = {
      {"rapport_http_requests_total", "HTTP requests answered, by source and status"},
      {"rapport_inbox_depth", "events in the inbox not yet dispatched to every consumer"},
      {"rapport_outbox_depth", "actions not yet delivered, by sink"},
      {"rapport_deliveries_total", "delivery attempts, by sink and result"},
      {"rapport_delivery_retries_total", "delivery attempts that will be retried, by sink"},
      {"rapport_delivery_results_refused_total",
       "answers not recorded because another process had taken their delivery over, by sink"},
      {"rapport_events_accepted_total", "events committed to the inbox, by source"},
  };
  return h;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

}  // namespace

void Telemetry::count(const std::string& name, const std::string& labels, double by) {
  std::lock_guard lock(mutex_);
  counters_[name][labels].fetch_add(by, std::memory_order_relaxed);
}

Telemetry::Counter Telemetry::counter(const std::string& name, const std::string& labels) {
  std::lock_guard lock(mutex_);
  return Counter(&counters_[name][labels]);
}

void Telemetry::set(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(mutex_);
  gauges_[name][labels] = value;
}

std::optional<double> Telemetry::gauge(const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mutex_);
  auto it = gauges_.find(name);
  if (it == gauges_.end()) return std::nullopt;
  auto value = it->second.find(labels);
  if (value == it->second.end()) return std::nullopt;
  return value->second;
}

void Telemetry::observe_latency(double seconds) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets_[i];
  }
  ++observations_;
  sum_ += seconds;
}

void Telemetry::set_component(const std::string& component, bool ok, const std::string& message) {
  std::lock_guard lock(mutex_);
  components_[component] = {ok, message};
}

std::vector<Telemetry::Failing> Telemetry::failing() const {
  std::lock_guard lock(mutex_);
  std::vector<Failing> out;
  for (const auto& [component, state] : components_) {
    if (!state.first) out.push_back({component, state.second});
  }
  return out;
}

std::string Telemetry::prometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto family = [&](const std::string& name, const char* type, const auto& series) {
    auto h = help().find(name);
    out += "# HELP " + name + " " + (h != help().end() ? h->second : name) + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, value] : series) {
      out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(double(value)) + "\n";
    }
  };
  for (const auto& [name, series] : counters_) family(name, "counter", series);
  for (const auto& [name, series] : gauges_) family(name, "gauge", series);
  out += "# HELP rapport_ingest_seconds time from a request's body read to its durable commit\n";
  out += "# TYPE rapport_ingest_seconds histogram\n";
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    out += "rapport_ingest_seconds_bucket{le=\"" + number(kBounds[i]) + "\"} " +
           std::to_string(buckets_[i]) + "\n";
  }
  out += "rapport_ingest_seconds_bucket{le=\"+Inf\"} " + std::to_string(observations_) + "\n";
  out += "rapport_ingest_seconds_sum " + number(sum_) + "\n";
  out += "rapport_ingest_seconds_count " + std::to_string(observations_) + "\n";
  return out;
}

}  // namespace rapport
