#include "daemon/alerts/webhook_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

#include "daemon/alerts/http_client.h"

namespace tollgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

// The stream's deadline (set by the caller) bounds the write and the read.
template <typename Stream>
Result<int> exchange(net::io_context& ioc, Stream& stream, const HttpUrl& t,
                     const std::string& body) {
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "tollgate/" TOLLGATE_VERSION);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code result;
  http::async_write(stream, req, [&](beast::error_code ec, size_t) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_read(stream, buffer, res, [&](beast::error_code rec, size_t) { result = rec; });
  });
  ioc.restart();
  ioc.run();
  if (result) return Status::error(Code::kRequestFailed, result.message());
  return static_cast<int>(res.result_int());
}

}  // namespace

Result<int> post_webhook(const std::string& url, const std::string& json_body,
                         const WebhookOptions& options) {
  auto target = HttpUrl::parse(url);
  if (!target.ok()) return target.status();
  const HttpUrl& t = target.value();
  const auto timeout = std::chrono::milliseconds(options.timeout_ms);
  net::io_context ioc;
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(t.host, t.port, ec);
  if (ec) return Status::error(Code::kConnectFailed, t.host + ": " + ec.message());

  if (!t.tls) {
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    beast::error_code cec;
    stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { cec = e; });
    ioc.run();
    if (cec) return Status::error(Code::kConnectFailed, "cannot connect to " + t.host + ":" + t.port + ": " + cec.message());
    stream.expires_after(timeout);
    return exchange(ioc, stream, t, json_body);
  }

  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  if (options.ca_file.empty())
    ctx.set_default_verify_paths(ec);
  else
    ctx.load_verify_file(options.ca_file, ec);
  if (ec)
    return Status::error(Code::kTlsFailed, "cannot load CA certificates " + options.ca_file + ": " + ec.message());
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  // SNI and the host name the certificate must name.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str()))
    return Status::error(Code::kTlsFailed, "cannot set the TLS server name " + t.host);
  stream.set_verify_callback(ssl::host_name_verification(t.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::error_code step;
  beast::get_lowest_layer(stream).async_connect(
      endpoints, [&](beast::error_code e, const tcp::endpoint&) { step = e; });
  ioc.run();
  if (step) return Status::error(Code::kConnectFailed, "cannot connect to " + t.host + ":" + t.port + ": " + step.message());
  stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) { step = e; });
  ioc.restart();
  ioc.run();
  if (step)
    return Status::error(Code::kTlsFailed, "TLS handshake with " + t.host + " failed: " + step.message());
  beast::get_lowest_layer(stream).expires_after(timeout);
  return exchange(ioc, stream, t, json_body);
}

}  // namespace tollgate
