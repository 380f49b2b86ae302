#pragma once
// A small blocking HTTP/1.1 client over POSIX sockets (and OpenSSL for https://), for `tollgate
// wait`, the etcd coordinator (and the benchmark's load generator): Content-Length or chunked
// answers, keep-alive. Not for I/O threads.
// Not thread-safe: one client per thread.

#include <string>
#include <utility>
#include <vector>

#include "metering/status.h"

struct ssl_ctx_st;
struct ssl_st;

namespace tollgate {

struct HttpUrl {
  bool tls = false;  // https://
  std::string host, port = "80", path = "/";
  static Result<HttpUrl> parse(const std::string& url);  // http(s)://host[:port][/path]
};

struct ClientResponse {
  int status = 0;
  std::string body;
};

// https://: the server's chain and name are verified (against ca_file, or the system's CAs); a
// client certificate is presented when cert_file and key_file are given (etcd's client-cert-auth).
struct TlsOptions {
  bool enabled = false;
  std::string ca_file, cert_file, key_file;
};

class HttpClient {
 public:
  HttpClient(std::string host, std::string port, int timeout_ms = 5000, TlsOptions tls = {})
      : host_(std::move(host)), port_(std::move(port)), timeout_ms_(timeout_ms), tls_(std::move(tls)) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the kept-alive connection (reconnecting once if it was closed).
  Result<ClientResponse> request(
      const std::string& method, const std::string& path, const std::string& content_type,
      const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  Status connect();
  Status start_tls();
  ssize_t send_some(const char* data, size_t len);
  ssize_t recv_some(char* data, size_t len);
  std::string io_error() const;  // why the last send_some or recv_some failed
  Result<ClientResponse> exchange(const std::string& raw);
  Status fill(size_t at_least);         // reads until the buffer holds this many bytes
  Result<std::string> read_chunked();  // a chunked body from the buffer on
  void close();

  std::string host_, port_;
  int timeout_ms_;
  TlsOptions tls_;
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;  // OpenSSL's SSL_CTX and SSL, opaque here
  ssl_st* ssl_ = nullptr;
  std::string tls_error_;
  std::string buffer_;
};

}  // namespace tollgate
