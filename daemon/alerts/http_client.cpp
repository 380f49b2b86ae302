#include "daemon/alerts/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace tollgate {

Result<HttpUrl> HttpUrl::parse(const std::string& url) {
  HttpUrl u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    u.port = "443";
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Status::error(Code::kInvalidUrl, "a URL starts with https:// or http://: " + url);
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.path = rest.substr(slash);
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    u.port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 2 && authority.front() == '[')
    authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) return Status::error(Code::kInvalidUrl, "no host in " + url);
  u.host = authority;
  return u;
}

HttpClient::~HttpClient() {
  close();
  if (ctx_) SSL_CTX_free(ctx_);
}

void HttpClient::close() {
  if (ssl_) SSL_free(ssl_);  // no close_notify: the connection is dropped either way
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

namespace {

std::string openssl_error(const char* what) {
  const unsigned long e = ERR_get_error();
  char text[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

}  // namespace

Status HttpClient::start_tls() {
  if (!ctx_) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return Status::error(Code::kConnectFailed, openssl_error("TLS"));
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const bool cas = tls_.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                         : SSL_CTX_load_verify_locations(ctx_, tls_.ca_file.c_str(), nullptr) == 1;
    if (!cas) return Status::error(Code::kConnectFailed, openssl_error("TLS trusted CAs"));
    if (!tls_.cert_file.empty() &&
        (SSL_CTX_use_certificate_chain_file(ctx_, tls_.cert_file.c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx_, tls_.key_file.c_str(), SSL_FILETYPE_PEM) != 1))
      return Status::error(Code::kConnectFailed, openssl_error("TLS client certificate"));
  }
  ssl_ = SSL_new(ctx_);
  if (!ssl_) return Status::error(Code::kConnectFailed, openssl_error("TLS"));
  SSL_set_fd(ssl_, fd_);
  // The certificate must name the host: an IP address as an IP SAN, a name as a DNS one (and
  // sent as SNI, which takes no addresses).
  in6_addr ip{};
  if (inet_pton(AF_INET, host_.c_str(), &ip) == 1 || inet_pton(AF_INET6, host_.c_str(), &ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host_.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, host_.c_str());
    SSL_set1_host(ssl_, host_.c_str());
  }
  if (SSL_connect(ssl_) != 1) {
    std::string why = openssl_error(("TLS handshake with " + host_ + ":" + port_).c_str());
    if (long v = SSL_get_verify_result(ssl_); v != X509_V_OK)
      why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
    return Status::error(Code::kConnectFailed, why);
  }
  return {};
}

ssize_t HttpClient::send_some(const char* data, size_t len) {
  tls_error_.clear();
  if (!ssl_) return ::send(fd_, data, len, MSG_NOSIGNAL);
  const int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(len, 1 << 30)));
  if (n > 0) return n;
  tls_error_ = openssl_error("TLS");
  return -1;
}

ssize_t HttpClient::recv_some(char* data, size_t len) {
  tls_error_.clear();
  if (!ssl_) return ::recv(fd_, data, len, 0);
  const int n = SSL_read(ssl_, data, static_cast<int>(std::min<size_t>(len, 1 << 30)));
  if (n > 0) return n;
  if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) return 0;
  // With TLS 1.3 a server that refuses our certificate says so only now, after the handshake.
  tls_error_ = openssl_error("TLS");
  return -1;
}

std::string HttpClient::io_error() const {
  if (!tls_error_.empty() && tls_error_ != "TLS: unknown error") return tls_error_;
  return errno != 0 ? std::strerror(errno) : "TLS connection failed";
}

Status HttpClient::connect() {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res); rc != 0)
    return Status::error(Code::kConnectFailed, host_ + ": " + gai_strerror(rc));
  Status s = Status::error(Code::kConnectFailed, "cannot connect to " + host_ + ":" + port_);
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
      s = Status();
      break;
    }
    s = Status::error(Code::kConnectFailed,
                      "cannot connect to " + host_ + ":" + port_ + ": " + std::strerror(errno));
    ::close(fd);
  }
  freeaddrinfo(res);
  if (s.ok() && tls_.enabled) {
    s = start_tls();
    if (!s.ok()) close();
  }
  return s;
}

Result<ClientResponse> HttpClient::exchange(const std::string& raw) {
  for (size_t off = 0; off < raw.size();) {
    ssize_t n = send_some(raw.data() + off, raw.size() - off);
    if (n <= 0) return Status::error(Code::kSendFailed, io_error());
    off += static_cast<size_t>(n);
  }
  char tmp[65536];
  for (;;) {
    size_t end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      ClientResponse r;
      if (buffer_.size() < 12) return Status::error(Code::kBadResponse, "short status line");
      r.status = std::atoi(buffer_.c_str() + 9);
      size_t length = 0;
      bool close_after = false, chunked = false;
      for (size_t pos = buffer_.find("\r\n") + 2; pos < end;) {
        size_t eol = buffer_.find("\r\n", pos);
        std::string line = buffer_.substr(pos, eol - pos);
        if (strncasecmp(line.c_str(), "content-length:", 15) == 0)
          length = std::strtoul(line.c_str() + 15, nullptr, 10);
        if (strncasecmp(line.c_str(), "connection:", 11) == 0 &&
            line.find("close") != std::string::npos)
          close_after = true;
        if (strncasecmp(line.c_str(), "transfer-encoding:", 18) == 0 &&
            strcasestr(line.c_str(), "chunked") != nullptr)
          chunked = true;
        pos = eol + 2;
      }
      if (chunked) {
        buffer_.erase(0, end + 4);
        auto body = read_chunked();
        if (!body.ok()) return body.status();
        r.body = std::move(body.value());
        if (close_after) close();
        return r;
      }
      while (buffer_.size() < end + 4 + length) {
        ssize_t n = recv_some(tmp, sizeof tmp);
        if (n <= 0) return Status::error(Code::kRecvFailed, "connection closed mid-body");
        buffer_.append(tmp, n);
      }
      r.body = buffer_.substr(end + 4, length);
      buffer_.erase(0, end + 4 + length);
      if (close_after) close();
      return r;
    }
    ssize_t n = recv_some(tmp, sizeof tmp);
    if (n <= 0)
      return Status::error(Code::kRecvFailed, n == 0 ? "connection closed" : io_error());
    buffer_.append(tmp, n);
  }
}

Status HttpClient::fill(size_t at_least) {
  char tmp[65536];
  while (buffer_.size() < at_least) {
    ssize_t n = recv_some(tmp, sizeof tmp);
    if (n <= 0) return Status::error(Code::kRecvFailed, "connection closed mid-body");
    buffer_.append(tmp, n);
  }
  return {};
}

Result<std::string> HttpClient::read_chunked() {
  constexpr size_t kMaxBody = 64 * 1024 * 1024;  // what one answer may hold here
  std::string body;
  auto line_end = [this]() -> Result<size_t> {
    size_t eol;
    while ((eol = buffer_.find("\r\n")) == std::string::npos) {
      if (buffer_.size() > 1024) return Status::error(Code::kBadResponse, "chunk line too long");
      if (Status s = fill(buffer_.size() + 1); !s.ok()) return s;
    }
    return eol;
  };
  for (;;) {
    auto eol = line_end();
    if (!eol.ok()) return eol.status();
    // chunk-size = 1*HEXDIG, then optional ;extensions: nothing else (no sign, no blanks).
    size_t size = 0, i = 0;
    for (; i < eol.value() && std::isxdigit(static_cast<unsigned char>(buffer_[i])); ++i) {
      if (size > (kMaxBody >> 4)) return Status::error(Code::kBadResponse, "chunk too large");
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(buffer_[i])));
      size = size * 16 + static_cast<size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (i == 0 || (i < eol.value() && buffer_[i] != ';') || size > kMaxBody - body.size())
      return Status::error(Code::kBadResponse, "bad chunk size line");
    buffer_.erase(0, eol.value() + 2);
    if (size == 0) {
      // Trailer fields until the empty line, so none is read as the next answer.
      for (;;) {
        auto end = line_end();
        if (!end.ok()) return end.status();
        buffer_.erase(0, end.value() + 2);
        if (end.value() == 0) return body;
      }
    }
    if (Status s = fill(size + 2); !s.ok()) return s;
    if (buffer_.compare(size, 2, "\r\n") != 0)
      return Status::error(Code::kBadResponse, "chunk data not followed by CRLF");
    body.append(buffer_, 0, size);
    buffer_.erase(0, size + 2);
  }
}

Result<ClientResponse> HttpClient::request(const std::string& method, const std::string& path,
                                           const std::string& content_type,
                                           const std::string& body,
                                           const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string raw =
      method + " " + path + " HTTP/1.1\r\nHost: " + host_ + "\r\nUser-Agent: tollgate\r\n";
  if (!content_type.empty()) raw += "Content-Type: " + content_type + "\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  raw += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = fd_ < 0;
    if (fresh) {
      Status s = connect();
      if (!s.ok()) return s;
    }
    const size_t buffered = buffer_.size();
    auto r = exchange(raw);
    if (r.ok()) return r;
    const bool nothing_back = buffer_.size() == buffered;
    close();
    // A kept-alive connection the peer had closed: send once more on a new one. Only then: after
    // a timeout the request may have been applied (an etcd transaction), and sending it again
    // would apply it twice or misread its outcome.
    const bool peer_closed = r.status().code() == Code::kSendFailed ||
                             (r.status().message() == "connection closed" && nothing_back);
    if (fresh || !peer_closed) return r;
  }
  return Status::error(Code::kRequestFailed, "no response");
}

}  // namespace tollgate
