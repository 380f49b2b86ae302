#pragma once
// Bearer-token authentication (CONTRACT §4): tokens are known only by their SHA-256, compared in
// constant time. Immutable; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/http/types.h"

namespace tollgate {

class Authenticator {
 public:
  explicit Authenticator(std::vector<AuthToken> tokens) : tokens_(std::move(tokens)) {}
  bool enabled() const { return !tokens_.empty(); }
  // The token in an "Authorization: Bearer X" header; nullopt when the header is missing or the
  // token unknown.
  const AuthToken* identify(const std::string& authorization_header) const;
  std::optional<unsigned> roles(const std::string& authorization_header) const {
    const AuthToken* t = identify(authorization_header);
    return t ? std::optional<unsigned>(t->roles) : std::nullopt;
  }

 private:
  std::vector<AuthToken> tokens_;
};

bool has_role(unsigned roles, Role role);

// nullopt when the request may use a route that needs `role`; else its 401 or 403 answer.
// Without tokens configured everything is allowed (the daemon then listens on loopback only).
std::optional<HttpResponse> authorize(const Authenticator& auth, const HttpRequest& req, Role role);
std::array<unsigned char, 32> sha256(const std::string& data);

}  // namespace tollgate
