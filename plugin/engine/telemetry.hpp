#pragma once
// What the process tells its operators while it runs: counters, gauges and one latency
// histogram (Prometheus text for /metrics) and the health of each component (/readyz).
// Thread-safe: the listener's threads and the engine's loop write, scrapes read.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rapport {

class Telemetry {
 public:
  // `labels` is Prometheus label text without braces: source="platform",status="202".
  void count(const std::string& name, const std::string& labels, double by = 1);

  // One counter's series, looked up once: adding to it takes no lock and builds no label
  // text (what the listener counts at every request). Valid while the Telemetry lives.
  class Counter {
   public:
    void add(double by = 1) { slot_->fetch_add(by, std::memory_order_relaxed); }

   private:
    friend class Telemetry;
    explicit Counter(std::atomic<double>* slot) : slot_(slot) {}
    std::atomic<double>* slot_;
  };
  Counter counter(const std::string& name, const std::string& labels);
  void set(const std::string& name, const std::string& labels, double value);
  std::optional<double> gauge(const std::string& name, const std::string& labels) const;
  void observe_latency(double seconds);  // rapport_ingest_seconds
  void set_component(const std::string& component, bool ok, const std::string& message = "");

  struct Failing {
    std::string component, message;
  };
  std::vector<Failing> failing() const;
  std::string prometheus() const;

 private:
  mutable std::mutex mutex_;
  // A map's nodes stay where they are: a Counter points into one.
  std::map<std::string, std::map<std::string, std::atomic<double>>> counters_;
  std::map<std::string, std::map<std::string, double>> gauges_;
  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(kBounds.size(), 0);
  std::uint64_t observations_ = 0;
  double sum_ = 0;
  std::map<std::string, std::pair<bool, std::string>> components_;

  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                     0.05,   0.1,   0.25,  0.5,   1,    5};
};

}  // namespace rapport
