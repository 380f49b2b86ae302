#pragma once
// A small blocking HTTP/1.1 client over POSIX sockets, for `tollgate wait`, the etcd coordinator
// (and the benchmark's load generator): plain http://, Content-Length or chunked answers,
// keep-alive. Not for I/O threads.
// Not thread-safe: one client per thread.

#include <string>
#include <utility>
#include <vector>

#include "metering/status.h"

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

class HttpClient {
 public:
  HttpClient(std::string host, std::string port, int timeout_ms = 5000)
      : host_(std::move(host)), port_(std::move(port)), timeout_ms_(timeout_ms) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the kept-alive connection (reconnecting once if it was closed).
  Result<ClientResponse> request(
      const std::string& method, const std::string& path, const std::string& content_type,
      const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  Status connect();
  Result<ClientResponse> exchange(const std::string& raw);
  Status fill(size_t at_least);         // reads until the buffer holds this many bytes
  Result<std::string> read_chunked();  // a chunked body from the buffer on
  void close();

  std::string host_, port_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace tollgate
