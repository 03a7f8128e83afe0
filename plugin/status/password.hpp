#pragma once
// Passwords of the status page's accounts: scrypt (RFC 7914) through OpenSSL, stored as
// "$scrypt$ln=15,r=8,p=1$SALT$HASH" (SALT and HASH in base64 without padding), the form
// `rapport hash-password` prints. Plain passwords are never kept anywhere.

#include <string>
#include <string_view>

namespace rapport::status {

// A new hash of `password` with a random 16-byte salt; the cost is 2^ln (ln 15: 32 MiB
// and about 0.1 s per check on one core).
std::string hash_password(std::string_view password, int ln = 15);

// A hash of `password` made with the costs of `like` (another hash): what an unknown
// account is checked against, so that its check takes as long as a known one's.
std::string hash_like(std::string_view password, std::string_view like);

// Whether `password` is the one `hash` was made of (compared in constant time). False for a
// hash that is not well formed.
bool verify_password(std::string_view password, std::string_view hash);

// "" when `hash` is well formed with bounded costs, else what is wrong (for validation).
std::string hash_problem(std::string_view hash);

}  // namespace rapport::status
