#include "daemon/http/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

namespace tollgate {

std::array<unsigned char, 32> sha256(const std::string& data) {
  // OpenSSL 3 looks the implementation of EVP_sha256() up again on every digest (a lock and a
  // table search: most of a token check's cost): fetch it once, and reuse a context per thread.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* const md = fetched ? fetched : EVP_sha256();
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                            EVP_MD_CTX_free);
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), md, nullptr) ||
      !EVP_DigestUpdate(ctx.get(), data.data(), data.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), out.data(), &len))
    EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

bool has_role(unsigned roles, Role role) {
  return (roles & unsigned(Role::kAdmin)) != 0 || (roles & unsigned(role)) != 0;
}

const AuthToken* Authenticator::identify(const std::string& header) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
    return nullptr;
  auto digest = sha256(header.substr(kBearer.size()));
  const AuthToken* found = nullptr;
  // Compare against every token, without early exit, so timing says nothing about which matched.
  for (const AuthToken& t : tokens_)
    if (CRYPTO_memcmp(digest.data(), t.sha256.data(), digest.size()) == 0) found = &t;
  return found;
}

std::optional<HttpResponse> authorize(const Authenticator& auth, const HttpRequest& req, Role role) {
  if (!auth.enabled()) return std::nullopt;
  auto roles = auth.roles(req.authorization);
  if (!roles) {
    auto r =
        error_response(Code::kUnauthorized,
                       req.authorization.empty() ? "send Authorization: Bearer TOKEN"
                                                 : "the bearer token is not known to this server");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (!has_role(*roles, role))
    return error_response(Code::kForbidden, "this token lacks the \"" +
                                                std::string(role_name(role)) + "\" role");
  return std::nullopt;
}

}  // namespace tollgate
