#include "adapters/webhook/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cctype>
#include <charconv>
#include <initializer_list>
#include <memory>
#include <stdexcept>

namespace rapport::webhook {

namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// A context keyed once per key and thread: OpenSSL 3's one-shot HMAC() looked the algorithm
// up and set the key (two SHA-256 blocks) at every call, a listener's every request. A
// thread keeps the last few keys it used; init without a key starts again from the keyed
// state.
EVP_MAC_CTX* keyed(std::string_view key) {
  struct Entry {
    std::string key;
    MacCtx ctx;
  };
  thread_local std::vector<Entry> cache;
  for (auto& entry : cache) {
    if (entry.key == key) {
      if (EVP_MAC_init(entry.ctx.get(), nullptr, 0, nullptr) != 1) break;
      return entry.ctx.get();
    }
  }
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!hmac) throw std::runtime_error("OpenSSL has no HMAC");
  MacCtx ctx(EVP_MAC_CTX_new(hmac));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()),
                           key.size(), params) != 1) {
    throw std::runtime_error("OpenSSL cannot key an HMAC-SHA256");
  }
  std::erase_if(cache, [&](const Entry& e) { return e.key == key; });
  if (cache.size() >= 8) cache.erase(cache.begin());
  cache.push_back({std::string(key), std::move(ctx)});
  return cache.back().ctx.get();
}

std::string hmac_sha256_of(std::string_view key, std::initializer_list<std::string_view> parts) {
  EVP_MAC_CTX* ctx = keyed(key);
  for (auto part : parts) {
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  std::size_t length = 0;
  if (EVP_MAC_final(ctx, digest, &length, sizeof digest) != 1) {
    throw std::runtime_error("OpenSSL's HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
  return hmac_sha256_of(key, {message});
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string decode_secret(std::string_view whsec) {
  // As the official libraries take it: "whsec_" and base64, or the base64 alone, padded
  // or not; the key 24 to 64 bytes, as the specification asks.
  constexpr std::string_view prefix = "whsec_";
  std::string text(whsec.substr(0, prefix.size()) == prefix ? whsec.substr(prefix.size()) : whsec);
  if (text.size() % 4 == 1) throw std::invalid_argument("the secret is not base64");
  while (text.size() % 4 != 0) text += '=';
  auto key = base64_decode(text);
  if (!key || key->empty()) {
    throw std::invalid_argument(
        "the secret is not base64 (\"whsec_\" and base64, as the "
        "platform's Standard Webhooks library gives it)");
  }
  if (key->size() < 24 || key->size() > 64) {
    throw std::invalid_argument("the secret is a key of " + std::to_string(key->size()) +
                                " bytes; Standard Webhooks keys are 24 to 64 bytes");
  }
  return *key;
}

namespace {

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::vector<std::string> decode_secrets(std::string_view list) {
  std::vector<std::string> keys;
  for (auto word : words(list)) keys.push_back(decode_secret(word));
  if (keys.empty()) throw std::invalid_argument("no secret given");
  return keys;
}

std::string sign_v1(std::string_view key, std::string_view id, std::int64_t timestamp,
                    std::string_view body) {
  return "v1," +
         base64_encode(hmac_sha256_of(key, {id, ".", std::to_string(timestamp), ".", body}));
}

Verdict verify_standard(const std::vector<std::string>& keys, std::string_view id,
                        std::string_view timestamp, std::string_view signature_header,
                        std::string_view body, std::chrono::seconds now,
                        std::chrono::seconds tolerance) {
  if (id.empty() || timestamp.empty() || signature_header.empty()) {
    return {false, "missing webhook-id, webhook-timestamp or webhook-signature header"};
  }
  std::int64_t ts = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (ec != std::errc{} || end != timestamp.data() + timestamp.size()) {
    return {false, "webhook-timestamp is not a number of seconds"};
  }
  auto skew = std::chrono::seconds(ts) - now;
  if (skew > tolerance || -skew > tolerance) {
    return {false, "webhook-timestamp is outside the tolerance of " +
                       std::to_string(tolerance.count()) + " s"};
  }
  auto offered = words(signature_header);
  for (const auto& key : keys) {
    std::string expected = sign_v1(key, id, ts, body);
    for (auto candidate : offered) {
      if (constant_time_equal(candidate, expected)) return {true, ""};
    }
  }
  return {false, "no signature matches"};
}

Verdict verify_github(const std::vector<std::string>& secrets, std::string_view header,
                      std::string_view body) {
  if (header.empty()) return {false, "missing X-Hub-Signature-256 header"};
  for (const auto& secret : secrets) {
    if (constant_time_equal(header, "sha256=" + hex(hmac_sha256(secret, body)))) {
      return {true, ""};
    }
  }
  return {false, "X-Hub-Signature-256 does not match"};
}

Verdict verify_bearer(const std::vector<std::string>& tokens, std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.substr(0, scheme.size()) != scheme) {
    return {false, "missing Authorization: Bearer header"};
  }
  auto offered = authorization.substr(scheme.size());
  bool match = false;
  for (const auto& token : tokens) match |= constant_time_equal(offered, token);
  return match ? Verdict{true, ""} : Verdict{false, "bearer token does not match"};
}

}  // namespace rapport::webhook
