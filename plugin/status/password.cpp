#include "status/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <vector>

#include "codec/base64.hpp"

namespace rapport::status {
namespace {

constexpr std::size_t kSaltBytes = 16, kHashBytes = 32;

// Base64 without padding (the hash's form); padding accepted when read.
std::string base64(const std::vector<unsigned char>& bytes) {
  auto out =
      base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
  for (int i = 0; i < 2 && !text.empty() && text.back() == '='; ++i) text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded(text);
  while (padded.size() % 4) padded += '=';
  auto decoded = base64_decode(padded);
  if (!decoded) return std::nullopt;
  return std::vector<unsigned char>(decoded->begin(), decoded->end());
}

struct Parsed {
  int ln = 0, r = 0, p = 0;
  std::vector<unsigned char> salt, hash;
};

std::optional<Parsed> parse(std::string_view text, std::string* why) {
  auto fail = [&](const char* what) -> std::optional<Parsed> {
    if (why) *why = what;
    return std::nullopt;
  };
  constexpr std::string_view prefix = "$scrypt$";
  if (!text.starts_with(prefix)) {
    return fail("not a password hash: make one with `rapport hash-password`");
  }
  text.remove_prefix(prefix.size());
  auto first = text.find('$'), second = text.find('$', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) {
    return fail("a password hash is $scrypt$ln=N,r=N,p=N$SALT$HASH");
  }
  Parsed out;
  std::string params(text.substr(0, first));
  if (std::sscanf(params.c_str(), "ln=%d,r=%d,p=%d", &out.ln, &out.r, &out.p) != 3) {
    return fail("a password hash's parameters are ln=N,r=N,p=N");
  }
  // Bounded, so that a hash in a config cannot make each check take seconds or gigabytes:
  // 128·r·2^ln bytes at most 128 MiB (ln 17 with r 8), p at most 2.
  if (out.ln < 10 || out.ln > 20 || out.r < 1 || out.r > 16 || out.p < 1 || out.p > 2 ||
      (std::uint64_t(128) * std::uint64_t(out.r) << out.ln) > (std::uint64_t(128) << 20)) {
    return fail(
        "a password hash's costs are out of bounds (128·r·2^ln at most 128 MiB, "
        "p 1-2)");
  }
  auto salt = unbase64(text.substr(first + 1, second - first - 1));
  auto hash = unbase64(text.substr(second + 1));
  if (!salt || salt->size() < 8 || !hash || hash->size() != kHashBytes) {
    return fail("a password hash's salt or hash is not valid base64 of the right length");
  }
  out.salt = std::move(*salt);
  out.hash = std::move(*hash);
  return out;
}

std::vector<unsigned char> derive(std::string_view password, const Parsed& with) {
  std::vector<unsigned char> key(kHashBytes);
  std::uint64_t n = std::uint64_t(1) << with.ln;
  // scrypt needs 128·r·N bytes (and 128·r·p): allow twice that.
  std::uint64_t memory = 2 * 128 * std::uint64_t(with.r) * (n + std::uint64_t(with.p));
  if (!EVP_PBE_scrypt(password.data(), password.size(), with.salt.data(), with.salt.size(), n,
                      std::uint64_t(with.r), std::uint64_t(with.p), memory, key.data(),
                      key.size())) {
    throw std::runtime_error("scrypt failed (out of memory?)");
  }
  return key;
}

}  // namespace

std::string hash_password(std::string_view password, int ln) {
  Parsed with{.ln = ln, .r = 8, .p = 1, .salt = std::vector<unsigned char>(kSaltBytes), .hash = {}};
  if (RAND_bytes(with.salt.data(), int(with.salt.size())) != 1) {
    throw std::runtime_error("no random bytes for a salt");
  }
  auto key = derive(password, with);
  return "$scrypt$ln=" + std::to_string(ln) + ",r=8,p=1$" + base64(with.salt) + "$" + base64(key);
}

std::string hash_like(std::string_view password, std::string_view like) {
  auto parsed = parse(like, nullptr);
  if (!parsed) return hash_password(password);
  Parsed with{.ln = parsed->ln,
              .r = parsed->r,
              .p = parsed->p,
              .salt = std::vector<unsigned char>(parsed->salt.size()),
              .hash = {}};
  if (RAND_bytes(with.salt.data(), int(with.salt.size())) != 1) {
    throw std::runtime_error("no random bytes for a salt");
  }
  auto key = derive(password, with);
  return "$scrypt$ln=" + std::to_string(with.ln) + ",r=" + std::to_string(with.r) +
         ",p=" + std::to_string(with.p) + "$" + base64(with.salt) + "$" + base64(key);
}

bool verify_password(std::string_view password, std::string_view hash) {
  auto parsed = parse(hash, nullptr);
  if (!parsed) return false;
  auto key = derive(password, *parsed);
  return CRYPTO_memcmp(key.data(), parsed->hash.data(), key.size()) == 0;
}

std::string hash_problem(std::string_view hash) {
  std::string why;
  return parse(hash, &why) ? "" : why;
}

}  // namespace rapport::status
