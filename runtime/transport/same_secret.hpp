#pragma once
// Comparing a peer's proof with the job secret, for every lane that checks one (the ZeroMQ
// lane's ZAP handler, the shared-memory lane's handshake).
#include <cstddef>
#include <string_view>

namespace parrun::detail {

/// Constant-time comparison: how long a refusal takes says nothing about the secret.
inline bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  return diff == 0;
}

}  // namespace parrun::detail
