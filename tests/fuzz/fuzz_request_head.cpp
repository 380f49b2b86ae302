// The request head's own parser (daemon/http/request_head.cpp) against Beast's: whenever it takes
// a header, Beast must take the same bytes too and read the same method, target, version,
// keep-alive, no body, and the same values of the headers the routes use. Anything it declines
// goes to Beast in the server, so only what it accepts needs to agree.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdlib>
#include <cstring>

#include "daemon/http/request_head.h"
#include "tests/fuzz/fuzz_input.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = tollgate::fuzz::as_text(data, size);
  // The server hands over the bytes up to the first blank line, which is what a header is.
  const size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const std::string_view raw = input.substr(0, end + 4);
  auto ours = tollgate::parse_simple_get(raw);
  if (!ours) return 0;

  http::request_parser<http::string_body> beast;
  beast.eager(true);
  beast.header_limit(1 << 20);  // the server's own bound on header size comes before either
  boost::beast::error_code ec;
  const size_t used = beast.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  auto fail = [&](const char* what) {
    std::fprintf(stderr, "taken here, read otherwise by Beast (%s): %s\n[%.*s]\n", what,
                 ec.message().c_str(), int(raw.size()), raw.data());
    std::abort();
  };
  if (ec || used != raw.size() || !beast.is_header_done()) fail("parse");
  if (!beast.is_done() || beast.content_length() || beast.chunked()) fail("a body");
  if (beast.upgrade()) fail("an upgrade");
  const auto& req = beast.get();
  if (req.method() != http::verb::get || req.version() != 11) fail("request line");
  std::string target(req.target());
  const size_t q = target.find('?');
  if (target.substr(0, q) != ours->request.path) fail("path");
  if ((q == std::string::npos ? "" : target.substr(q + 1)) != ours->request.query) fail("query");
  if (req.keep_alive() != ours->keep_alive) fail("keep-alive");
  if (req[http::field::authorization] != ours->request.authorization) fail("authorization");
  if (req[http::field::content_type] != ours->request.content_type) fail("content-type");
  if (req[http::field::if_none_match] != ours->request.if_none_match) fail("if-none-match");
  return 0;
}
