// Benchmark of reading a webhook's body into events, the part of the listener's work that
// is its own (verify, parse, map, check), on the 949-byte rotation event of
// tests/bench/listener_bench.sh, both as the platform's own payload read through a mapping
// (the listener benchmark's configuration) and as a rapport/v1 CloudEvent. Beside it, in
// the same run, the baseline: one plain Boost.JSON parse of the same body.
//   read_body_bench [iterations]      (default: 200000)
// It prints nanoseconds per body; it never fails.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "adapters/webhook/inbound.hpp"
#include "config/config.hpp"

using namespace rapport;

namespace {

std::string body() {
  std::string team;
  for (int i = 1; i <= 6; ++i) {
    char member[48];
    std::snprintf(member, sizeof member, R"({"person":"E%04d","role":"nurse"},)", i);
    team += member;
  }
  return R"({"specversion":"1.0","id":"fixed","source":"platform","type":"rotation.scheduled",)"
         R"("time":"2030-01-01T00:00:00Z","subject":"S00001","data":{"id":"R00001",)"
         R"("student":"S00001","site":"North Campus Hospital","specialty":"Internal Medicine",)"
         R"("kind":"core","start":"2030-01-07","end":"2030-02-01","team":[)" +
         team +
         R"({"person":"A0001","role":"attending"}]},"platform":{"block":"B3","term":"2029-2030",)"
         R"("location":{"building":"Tower A","floor":"4","unit":"4 West","campus":"North"},)"
         R"("links":{"self":"https://platform.example.test/api/v2/placements/R00001",)"
         R"("learner":"https://platform.example.test/api/v2/learners/S00001",)"
         R"("site":"https://platform.example.test/api/v2/sites/north-campus"},)"
         R"("updated_by":"sync-service","revision":17,"tags":["core","inpatient","block-3"]}})";
}

template <typename F>
double nanos_per(int n, F&& f) {
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - begin)
             .count() /
         n;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  Registry registry;
  register_builtins(registry);
  auto config = config::load_config_text(
      "sources:\n"
      "  mapped: {type: webhook, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, format: mapped,\n"
      "    mapping: {type: /type, time: /time,\n"
      "      fields: {id: /data/id, student: /data/student, site: /data/site,\n"
      "               specialty: /data/specialty, kind: /data/kind, start: /data/start,\n"
      "               end: /data/end},\n"
      "      team: /data/team, team_fields: {person: /person, role: /role}}}\n"
      "  cloudevents: {type: webhook, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n",
      "bench", registry);
  const auto sources = config->section().sections("sources");
  auto source = [&](const std::string& name) {
    for (const auto& [n2, s] : sources) {
      if (n2 == name) return webhook::inbound_source(n2, s);
    }
    std::abort();
  };
  const auto mapped = source("mapped"), cloudevents = source("cloudevents");
  const std::string text = body();
  const TimePoint now = std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
  std::size_t sink = 0;
  std::vector<double> parse, map, ce;
  for (int round = 0; round < 5; ++round) {  // interleaved, medians
    parse.push_back(nanos_per(n, [&] { sink += boost::json::parse(text).as_object().size(); }));
    map.push_back(nanos_per(
        n, [&] { sink += webhook::read_body(mapped, text, "msg_1", now).front().payload.size(); }));
    ce.push_back(nanos_per(n, [&] {
      sink += webhook::read_body(cloudevents, text, "msg_1", now).front().payload.size();
    }));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double base = median(parse);
  std::printf("%zu-byte body, %d iterations, medians of 5 interleaved rounds (%zu)\n", text.size(),
              n, sink % 10);
  std::printf("| step | ns per body | vs one parse |\n|---|---:|---:|\n");
  std::printf("| boost::json::parse (baseline) | %.0f | 1.0x |\n", base);
  std::printf("| read_body, mapped | %.0f | %.1fx |\n", median(map), median(map) / base);
  std::printf("| read_body, rapport/v1 CloudEvent | %.0f | %.1fx |\n", median(ce),
              median(ce) / base);
}
