#pragma once
// Base64 (RFC 4648, with padding) through OpenSSL: webhook secrets and signatures, Basic
// credentials, password hashes.

#include <optional>
#include <string>
#include <string_view>

namespace rapport {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not valid base64 (padding only at the end, length a multiple of 4).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace rapport
