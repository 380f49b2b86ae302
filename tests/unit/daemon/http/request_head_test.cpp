#include "daemon/http/request_head.h"

#include <doctest/doctest.h>

#include "daemon/http/response_head.h"

namespace tollgate {

TEST_CASE("request head: a plain GET is read with its path, query and the headers routes use") {
  auto h = parse_simple_get(
      "GET /v1/admit?feature=f1&priority=batch HTTP/1.1\r\nHost: x\r\n"
      "authorization:   Bearer t0k \t\r\nIF-NONE-MATCH: \"abc\"\r\nContent-Type: text/plain\r\n"
      "X-Other: anything at all ~!\r\n\r\n");
  REQUIRE(h);
  CHECK(h->request.method == "GET");
  CHECK(h->request.path == "/v1/admit");
  CHECK(h->request.query == "feature=f1&priority=batch");
  CHECK(h->request.authorization == "Bearer t0k");  // trimmed both sides, as Beast does
  CHECK(h->request.if_none_match == "\"abc\"");
  CHECK(h->request.content_type == "text/plain");
  CHECK_FALSE(h->request.has_body);
  CHECK(h->keep_alive);

  auto bare = parse_simple_get("GET / HTTP/1.1\r\n\r\n");
  REQUIRE(bare);
  CHECK(bare->request.path == "/");
  CHECK(bare->request.query.empty());
  auto closing = parse_simple_get("GET /healthz HTTP/1.1\r\nConnection: Close\r\n\r\n");
  REQUIRE(closing);
  CHECK_FALSE(closing->keep_alive);
  CHECK(parse_simple_get("GET /healthz HTTP/1.1\r\nconnection: keep-alive\r\n\r\n")->keep_alive);
}

TEST_CASE("request head: whatever it does not fully understand is left to Beast") {
  const char* others[] = {
      "",
      "GET / HTTP/1.1\r\n",                                        // no end of header
      "POST /v1/usage HTTP/1.1\r\nContent-Length: 2\r\n\r\n",      // another method
      "HEAD / HTTP/1.1\r\n\r\n",
      "get / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",                                    // another version
      "GET / HTTP/2.0\r\n\r\n",
      "GET http://x/ HTTP/1.1\r\n\r\n",                            // not origin-form
      "GET  / HTTP/1.1\r\n\r\n",
      "GET /a\x80 HTTP/1.1\r\n\r\n",                                // obs-text in the target
      "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",               // framing is Beast's
      "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",  // a token list
      "GET / HTTP/1.1\r\nConnection: close\r\nConnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",  // repeated: which one?
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                         // space before the colon
      "GET / HTTP/1.1\r\n: x\r\n\r\n",                              // empty name
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",               // obs-fold
      "GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n",                     // a control byte
      "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n",                // obs-text in a value
      "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",                    // a bare LF
      "GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",                        // a bare CR
      "GET / HTTP/1.1\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",               // more than one header
      "GET /v1/authz/check HTTP/1.1\r\n\r\n",                       // its routes read every header
  };
  for (const char* raw : others) {
    CAPTURE(raw);
    CHECK_FALSE(parse_simple_get(raw));
  }
}

TEST_CASE("response head: status line, fields in order, Connection and Content-Length") {
  HttpResponse r;
  r.status = 429;
  r.body = "{\"decision\":\"throttle\"}";
  r.headers = {{"Retry-After", "7"}, {"X-Tollgate-Budget", "b"}};
  std::string out;
  write_response_head(out, r, 1, true);
  CHECK(out == "HTTP/1.1 429 Too Many Requests\r\nServer: tollgate/" TOLLGATE_VERSION
               "\r\nContent-Type: application/json\r\nRetry-After: 7\r\nX-Tollgate-Budget: b\r\n"
               "Content-Length: 23\r\n\r\n");
  write_response_head(out, r, 1, false);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
  write_response_head(out, r, 0, true);
  CHECK(out.rfind("HTTP/1.0 429 Too Many Requests\r\n", 0) == 0);
  CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
  write_response_head(out, r, 0, false);
  CHECK(out.find("Connection:") == std::string::npos);

  // 304 and 204 carry no body, so no Content-Length; an unknown status, an empty reason.
  r.status = 304;
  write_response_head(out, r, 1, true);
  CHECK(out.find("Content-Length") == std::string::npos);
  CHECK_FALSE(status_has_body(204));
  CHECK(status_has_body(200));
  r.status = 299;
  write_response_head(out, r, 1, true);
  CHECK(out.rfind("HTTP/1.1 299 \r\n", 0) == 0);

  // A value can neither end the head nor add a header.
  r.status = 200;
  r.headers = {{"X-Tollgate-Model", "m\r\nSet-Cookie: x=1\r\n\r\nhi"}};
  write_response_head(out, r, 1, true);
  CHECK(out.find("X-Tollgate-Model: m  Set-Cookie: x=1    hi\r\n") != std::string::npos);
  CHECK(out.find("\r\nSet-Cookie") == std::string::npos);
}

}  // namespace tollgate
