#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "adapters/webhook/signature.hpp"
#include "support/temp_dir.hpp"

using namespace rapport::webhook;
using rapport::test::TempDir;
using std::chrono::seconds;

namespace {

// The test vector of the Standard Webhooks specification (its reference libraries use it).
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kTimestamp = 1614265330;
constexpr const char* kBody = R"({"test": 2432232314})";
constexpr const char* kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  REQUIRE(pclose(pipe) == 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("Standard Webhooks: the specification's test vector signs and verifies") {
  auto key = decode_secret(kSecret);
  CHECK(sign_v1(key, kId, kTimestamp, kBody) == kSignature);
  auto ok = verify_standard({key}, kId, std::to_string(kTimestamp), kSignature, kBody,
                            seconds(kTimestamp + 10), seconds(300));
  CHECK(ok.ok);
}

TEST_CASE("Standard Webhooks: what does not verify, and why") {
  auto key = decode_secret(kSecret);
  auto ts = std::to_string(kTimestamp);
  auto now = seconds(kTimestamp);
  CHECK_FALSE(
      verify_standard({key}, kId, ts, kSignature, R"({"test": 2432232315})", now, seconds(300)).ok);
  CHECK_FALSE(verify_standard({key}, "msg_other", ts, kSignature, kBody, now, seconds(300)).ok);
  auto stale = verify_standard({key}, kId, ts, kSignature, kBody, now + seconds(301), seconds(300));
  CHECK_FALSE(stale.ok);
  CHECK_THAT(stale.reason, Catch::Contains("tolerance"));
  auto future =
      verify_standard({key}, kId, ts, kSignature, kBody, now - seconds(301), seconds(300));
  CHECK_FALSE(future.ok);
  CHECK_FALSE(verify_standard({key}, kId, "12ab", kSignature, kBody, now, seconds(300)).ok);
  CHECK_FALSE(verify_standard({key}, kId, ts, "", kBody, now, seconds(300)).ok);
  CHECK_FALSE(verify_standard({key}, kId, ts, "v1,AAAA", kBody, now, seconds(300)).ok);
  // A signature truncated by one character is refused (constant-time comparison of sizes).
  std::string truncated(kSignature);
  truncated.pop_back();
  CHECK_FALSE(verify_standard({key}, kId, ts, truncated, kBody, now, seconds(300)).ok);
}

TEST_CASE("Standard Webhooks: several secrets and several signatures while rotating") {
  auto keys = decode_secrets(std::string("whsec_") + base64_encode("a-new-secret-key-of-24-byte") +
                             " " + kSecret);
  REQUIRE(keys.size() == 2);
  auto ts = std::to_string(kTimestamp);
  auto now = seconds(kTimestamp);
  // Signed with the old key only: the second key matches.
  CHECK(verify_standard(keys, kId, ts, kSignature, kBody, now, seconds(300)).ok);
  // The sender offers a stale signature first and a valid one second.
  CHECK(verify_standard({keys[1]}, kId, ts, std::string("v1,bm90IGl0 ") + kSignature, kBody, now,
                        seconds(300))
            .ok);
}

TEST_CASE("Standard Webhooks: malformed secrets are refused with a reason") {
  // As the official libraries take them: bare base64, and unpadded.
  CHECK(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == decode_secret(kSecret));
  CHECK(decode_secret("whsec_c2lnbmluZy1rZXktb2YtcmFwcG9ydC10ZXN0cw") ==
        decode_secret("whsec_c2lnbmluZy1rZXktb2YtcmFwcG9ydC10ZXN0cw=="));
  CHECK_THROWS_WITH(decode_secret("whsec_not base64!"), Catch::Contains("base64"));
  CHECK_THROWS_WITH(decode_secret("whsec_c2hvcnQ="), Catch::Contains("a key of 5 bytes"));
  CHECK_THROWS_WITH(decode_secret(std::string("whsec_") + base64_encode(std::string(65, 'k'))),
                    Catch::Contains("24 to 64 bytes"));
  CHECK_THROWS(decode_secrets("   "));
  CHECK(base64_decode("YWJj") == std::optional<std::string>("abc"));
  CHECK(base64_decode("YWI=") == std::optional<std::string>("ab"));
  CHECK_FALSE(base64_decode("YW=j"));
  CHECK_FALSE(base64_decode("YWJ"));
}

TEST_CASE("signatures agree with an independent implementation (the openssl command)") {
  TempDir dir;
  std::string body =
      R"({"specversion":"1.0","id":"e-1","data":{"note":"ünïcode, quotes \" and $"}})";
  auto body_path = dir.write("body", body);
  auto key = decode_secret(kSecret);
  // Standard Webhooks: HMAC over id.timestamp.body, keyed with the decoded secret.
  auto message_path = dir.write("message", "msg_1.1700000000." + body);
  auto expected = run("openssl dgst -sha256 -mac HMAC -macopt hexkey:" + hex(key) + " -binary " +
                      message_path + " | base64");
  CHECK(sign_v1(key, "msg_1", 1700000000, body) == "v1," + expected);
  // GitHub: hex HMAC over the body, keyed with the secret as it is.
  auto github = run("openssl dgst -sha256 -hmac 'It'\"'\"'s a Secret to Everybody' -r " +
                    body_path + " | cut -d' ' -f1");
  CHECK(verify_github({"It's a Secret to Everybody"}, "sha256=" + github, body).ok);
  CHECK_FALSE(verify_github({"another"}, "sha256=" + github, body).ok);
}

TEST_CASE("GitHub's documented example signature verifies") {
  // docs.github.com, "Validating webhook deliveries": secret and payload from the page.
  CHECK(verify_github({"It's a Secret to Everybody"},
                      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                      "Hello, World!")
            .ok);
}

TEST_CASE("bearer tokens") {
  CHECK(verify_bearer({"t0k3n", "n3xt"}, "Bearer n3xt").ok);
  CHECK_FALSE(verify_bearer({"t0k3n"}, "Bearer t0k3").ok);
  CHECK_FALSE(verify_bearer({"t0k3n"}, "Basic dXNlcjpwYXNz").ok);
  CHECK_FALSE(verify_bearer({"t0k3n"}, "").ok);
}
