// Webhook verification headers: Standard Webhooks (id, timestamp, several "v1,<sig>"
// entries), GitHub's X-Hub-Signature-256 and bearer tokens, and whsec_ secrets. The input
// is split on NUL bytes into those fields. Nothing may crash, and nothing unsigned passes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "adapters/webhook/signature.hpp"

using namespace rapport::webhook;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> f(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && f.size() < 5) {
      f.emplace_back();
    } else {
      f.back() += char(data[i]);
    }
  }
  f.resize(5);
  const std::string &id = f[0], &timestamp = f[1], &header = f[2], &body = f[3], &secret = f[4];
  try {
    decode_secrets(secret);
  } catch (const std::invalid_argument&) {
  }
  base64_decode(header);
  std::vector<std::string> keys{"0123456789abcdef0123456789abcdef"};
  auto now = std::chrono::seconds(1'800'000'000);
  // Without the key nobody can sign: a random header never verifies.
  if (verify_standard(keys, id, timestamp, header, body, now, std::chrono::seconds(300)).ok)
    __builtin_trap();
  if (verify_github(keys, header, body).ok) __builtin_trap();
  if (verify_bearer(keys, header).ok && header != "Bearer " + keys[0]) __builtin_trap();
  return 0;
}
