#pragma once
// Webhook signatures: Standard Webhooks v1 (both directions), GitHub-style
// X-Hub-Signature-256 and static bearer tokens (inbound only). Comparisons are
// constant-time. OpenSSL stays inside signature.cpp.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/base64.hpp"

namespace rapport::webhook {

using rapport::base64_decode;
using rapport::base64_encode;
std::string hmac_sha256(std::string_view key, std::string_view message);
std::string hex(std::string_view bytes);
bool constant_time_equal(std::string_view a, std::string_view b);

// A `whsec_...` secret's key bytes; throws std::invalid_argument naming what is wrong.
std::string decode_secret(std::string_view whsec);
// Splits "whsec_a whsec_b" (several secrets at once while rotating) and decodes each.
std::vector<std::string> decode_secrets(std::string_view list);

// "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>"
std::string sign_v1(std::string_view key, std::string_view id, std::int64_t timestamp,
                    std::string_view body);

struct Verdict {
  bool ok = false;
  std::string reason;  // why not, for the 401 body (never the expected signature)
};

// Standard Webhooks: `signature_header` holds space-separated "v1,<sig>" entries; any one
// matching any key passes. The timestamp must be within `tolerance` of `now`.
Verdict verify_standard(const std::vector<std::string>& keys, std::string_view id,
                        std::string_view timestamp, std::string_view signature_header,
                        std::string_view body, std::chrono::seconds now,
                        std::chrono::seconds tolerance);

// GitHub: "sha256=<hex HMAC-SHA256 of body>", the secret used as it is.
Verdict verify_github(const std::vector<std::string>& secrets, std::string_view header,
                      std::string_view body);

// "Authorization: Bearer <token>".
Verdict verify_bearer(const std::vector<std::string>& tokens, std::string_view authorization);

}  // namespace rapport::webhook
