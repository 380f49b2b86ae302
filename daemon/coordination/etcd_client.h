#pragma once
// EtcdClient: the few calls of etcd's v3 JSON gateway (plain HTTP + JSON, no gRPC) that budget
// coordination needs: a range over a prefix, a guarded transaction, a lease and its renewal.
// Keys and values travel base64-encoded and 64-bit numbers as strings, as the gateway wants.
// Tries each endpoint in turn and stays on the one that answers.
//
// Blocking, with a timeout per request: run it on a thread of its own. Not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "daemon/alerts/http_client.h"
#include "metering/status.h"

namespace tollgate {

struct EtcdKv {
  std::string key, value;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct EtcdPut {
  std::string key, value;
  int64_t lease = 0;  // 0: none (the key outlives this instance)
};

class EtcdClient {
 public:
  // endpoints: http(s)://host:port, as validated by the config loader. With a `username`, every
  // request carries a token from etcd's authentication (renewed when etcd says it expired).
  EtcdClient(std::vector<std::string> endpoints, int timeout_ms, std::string username = "",
             std::string password = "", TlsOptions tls = {});
  ~EtcdClient();

  // Every key starting with `prefix`, in key order.
  Result<std::vector<EtcdKv>> range_prefix(const std::string& prefix);
  // Applies `puts` atomically if `guard_key`'s mod_revision is `guard_mod` (0: the key is absent),
  // else nothing. True when applied.
  Result<bool> put_if(const std::string& guard_key, int64_t guard_mod,
                      const std::vector<EtcdPut>& puts);
  // Puts `key` only if it does not exist. True when created.
  Result<bool> create(const std::string& key, const std::string& value, int64_t lease);
  // Deletes `key` (absent is fine).
  Status erase(const std::string& key);
  // Applies `puts` atomically, unguarded.
  Status put_all(const std::vector<EtcdPut>& puts);
  // A new lease of `ttl_s` seconds; its id.
  Result<int64_t> grant_lease(int ttl_s);
  // Ends the lease now: its keys are deleted.
  Status revoke(int64_t lease);
  // Renews the lease; its TTL now, 0 when it had already expired (its keys are gone).
  Result<int64_t> keep_alive(int64_t lease);

  const std::string& endpoint() const { return endpoints_[current_]; }

 private:
  // POSTs `body` to `path` on the current endpoint, moving on to the next ones on failure.
  Result<std::string> call(const std::string& path, const std::string& body);
  // One request on the current endpoint, with the token when there is one.
  Result<ClientResponse> send(const std::string& path, const std::string& body);
  Status authenticate();
  // A transaction: `puts` if `compare` (one etcd Compare, JSON) holds; whether it did.
  Result<bool> txn(boost::json::object compare, const std::vector<EtcdPut>& puts);

  std::vector<std::string> endpoints_;
  int timeout_ms_;
  size_t current_ = 0;
  std::unique_ptr<HttpClient> client_;
  std::string username_, password_, token_;
  TlsOptions tls_;  // for https:// endpoints
};

std::string base64_encode(const std::string& in);
// Invalid input decodes to what it can; etcd only sends valid base64.
std::string base64_decode(const std::string& in);

}  // namespace tollgate
