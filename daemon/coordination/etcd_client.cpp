#include "daemon/coordination/etcd_client.h"

#include <boost/json.hpp>
#include <cstdlib>
#include <cstring>

namespace tollgate {

namespace json = boost::json;

namespace {

const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The gateway writes int64 fields as strings ("12"); absent means 0.
int64_t number(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_string()) return std::strtoll(v->as_string().c_str(), nullptr, 10);
  if (v->is_int64()) return v->as_int64();
  return 0;
}

std::string text(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The key just past every key that starts with `prefix` (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

json::array request_puts(const std::vector<EtcdPut>& puts) {
  json::array ops;
  for (const EtcdPut& p : puts) {
    json::object put{{"key", base64_encode(p.key)}, {"value", base64_encode(p.value)}};
    if (p.lease != 0) put["lease"] = std::to_string(p.lease);
    ops.push_back(json::object{{"request_put", std::move(put)}});
  }
  return ops;
}

}  // namespace

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    const char* at = std::strchr(kAlphabet, c);
    if (c == '\0' || !at) continue;  // padding and anything else
    bits = (bits << 6) | uint32_t(at - kAlphabet);
    if (++count == 4) {
      out += char((bits >> 16) & 0xff);
      out += char((bits >> 8) & 0xff);
      out += char(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out += char((bits >> 4) & 0xff);
  if (count == 3) {
    out += char((bits >> 10) & 0xff);
    out += char((bits >> 2) & 0xff);
  }
  return out;
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, int timeout_ms, std::string username,
                       std::string password, TlsOptions tls)
    : endpoints_(std::move(endpoints)),
      timeout_ms_(timeout_ms),
      username_(std::move(username)),
      password_(std::move(password)),
      tls_(std::move(tls)) {}

EtcdClient::~EtcdClient() = default;

Result<ClientResponse> EtcdClient::send(const std::string& path, const std::string& body) {
  if (!client_) {
    auto url = HttpUrl::parse(endpoints_[current_]);
    if (!url.ok()) return url.status();
    TlsOptions tls = tls_;
    tls.enabled = url->tls;
    client_ = std::make_unique<HttpClient>(url->host, url->port, timeout_ms_, std::move(tls));
  }
  if (token_.empty()) return client_->request("POST", path, "application/json", body);
  return client_->request("POST", path, "application/json", body, {{"Authorization", token_}});
}

Status EtcdClient::authenticate() {
  token_.clear();
  auto r = send("/v3/auth/authenticate",
                json::serialize(json::object{{"name", username_}, {"password", password_}}));
  if (!r.ok()) return r.status();
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (r->status == 200 && !ec && v.is_object()) token_ = text(v.as_object(), "token");
  if (token_.empty())
    return Status::error(Code::kBadResponse, "etcd refused the credentials of user \"" +
                                                 username_ + "\": " + r->body.substr(0, 300));
  return {};
}

Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  Status last = Status::error(Code::kConnectFailed, "no etcd endpoint");
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    Result<ClientResponse> r = Status::error(Code::kBadResponse, "not sent");
    if (!username_.empty() && token_.empty()) {
      if (Status s = authenticate(); !s.ok()) r = s;
    }
    if (username_.empty() || !token_.empty()) {
      r = send(path, body);
      // A token expires (etcd's --auth-token-ttl): a new one, and the request once more.
      if (r.ok() && r->status == 401 && !username_.empty()) {
        if (Status s = authenticate(); s.ok())
          r = send(path, body);
        else
          r = s;
      }
    }
    if (r.ok() && r->status == 200) return std::move(r->body);
    if (r.ok()) {
      // etcd answered with an error (no leader, lease not found, permission denied, ...): its
      // words. A member without quorum answers; another member may have it.
      last = Status::error(Code::kBadResponse, endpoints_[current_] + path + " answered " +
                                                   std::to_string(r->status) + ": " +
                                                   r->body.substr(0, 300));
    } else {
      last = Status::error(r.status().code(), endpoints_[current_] + ": " + r.status().message());
    }
    client_.reset();
    token_.clear();  // tokens are per member
    current_ = (current_ + 1) % endpoints_.size();
  }
  return last;
}

Result<std::vector<EtcdKv>> EtcdClient::range_prefix(const std::string& prefix) {
  auto body = call("/v3/kv/range",
                   json::serialize(json::object{{"key", base64_encode(prefix)},
                                                {"range_end", base64_encode(prefix_end(prefix))}}));
  if (!body.ok()) return body.status();
  boost::system::error_code ec;
  json::value v = json::parse(body.value(), ec);
  if (ec || !v.is_object()) return Status::error(Code::kBadResponse, "etcd range: not JSON");
  std::vector<EtcdKv> out;
  if (const json::value* kvs = v.as_object().if_contains("kvs"); kvs && kvs->is_array())
    for (const json::value& kv : kvs->as_array()) {
      if (!kv.is_object()) continue;
      const json::object& o = kv.as_object();
      out.push_back({base64_decode(text(o, "key")), base64_decode(text(o, "value")),
                     number(o, "mod_revision"), number(o, "lease")});
    }
  return out;
}

Result<bool> EtcdClient::txn(json::object compare, const std::vector<EtcdPut>& puts) {
  auto body = call("/v3/kv/txn", json::serialize(json::object{
                                     {"compare", json::array{std::move(compare)}},
                                     {"success", request_puts(puts)}}));
  if (!body.ok()) return body.status();
  boost::system::error_code ec;
  json::value v = json::parse(body.value(), ec);
  if (ec || !v.is_object()) return Status::error(Code::kBadResponse, "etcd txn: not JSON");
  const json::value* ok = v.as_object().if_contains("succeeded");
  return ok && ok->is_bool() && ok->as_bool();
}

Result<bool> EtcdClient::put_if(const std::string& guard_key, int64_t guard_mod,
                                const std::vector<EtcdPut>& puts) {
  return txn({{"key", base64_encode(guard_key)},
              {"target", "MOD"},
              {"result", "EQUAL"},
              {"mod_revision", std::to_string(guard_mod)}},
             puts);
}

Result<bool> EtcdClient::create(const std::string& key, const std::string& value, int64_t lease) {
  return txn({{"key", base64_encode(key)},
              {"target", "CREATE"},
              {"result", "EQUAL"},
              {"create_revision", "0"}},
             {{key, value, lease}});
}

Status EtcdClient::erase(const std::string& key) {
  auto body = call("/v3/kv/deleterange", json::serialize(json::object{{"key", base64_encode(key)}}));
  return body.ok() ? Status() : body.status();
}

Status EtcdClient::put_all(const std::vector<EtcdPut>& puts) {
  if (puts.empty()) return {};
  auto body = call("/v3/kv/txn", json::serialize(json::object{{"success", request_puts(puts)}}));
  return body.ok() ? Status() : body.status();
}

Result<int64_t> EtcdClient::grant_lease(int ttl_s) {
  auto body = call("/v3/lease/grant", json::serialize(json::object{{"TTL", std::to_string(ttl_s)}}));
  if (!body.ok()) return body.status();
  boost::system::error_code ec;
  json::value v = json::parse(body.value(), ec);
  if (ec || !v.is_object()) return Status::error(Code::kBadResponse, "etcd lease: not JSON");
  const int64_t id = number(v.as_object(), "ID");
  if (id == 0) return Status::error(Code::kBadResponse, "etcd lease: no ID in " + body.value());
  return id;
}

Status EtcdClient::revoke(int64_t lease) {
  auto body = call("/v3/lease/revoke", json::serialize(json::object{{"ID", std::to_string(lease)}}));
  return body.ok() ? Status() : body.status();
}

Result<int64_t> EtcdClient::keep_alive(int64_t lease) {
  auto body =
      call("/v3/lease/keepalive", json::serialize(json::object{{"ID", std::to_string(lease)}}));
  if (!body.ok()) return body.status();
  boost::system::error_code ec;
  json::value v = json::parse(body.value(), ec);
  // A stream of one message: {"result": {"ID": ..., "TTL": ...}}; no TTL once expired.
  if (ec || !v.is_object()) return Status::error(Code::kBadResponse, "etcd keepalive: not JSON");
  const json::value* result = v.as_object().if_contains("result");
  if (!result || !result->is_object())
    return Status::error(Code::kBadResponse, "etcd keepalive: " + body.value().substr(0, 300));
  return number(result->as_object(), "TTL");
}

}  // namespace tollgate
