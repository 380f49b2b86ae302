#pragma once
// The common request read without Beast: a GET over HTTP/1.1 with no body and plain headers
// (an admission check, a probe, a scrape, a report). Beast parses everything else.
//
// The parser is strict in one direction only: it takes a header only when it understands all of
// it exactly as Beast would, and says "not mine" for anything else (another method or version, a
// body-framing header, a byte outside printable ASCII, a repeated header it reads, a Connection
// value other than "close" or "keep-alive", a bare LF...). "Not mine" is not an error: the server
// then hands the same bytes to Beast, which answers as it always did. So what is refused, and how,
// stays Beast's; this only saves its cost on the requests that need none of it
// (tests/fuzz/fuzz_request_head.cpp holds the two parsers to the same reading).

#include <optional>
#include <string_view>

#include "daemon/http/types.h"

namespace tollgate {

struct SimpleHead {
  HttpRequest request;  // method "GET", path, query and the headers the routes read
  bool keep_alive = true;
};

// `raw` is the whole header, request line to the blank line that ends it (CRLF CRLF included).
// Requests under kAllHeadersPrefix are not taken (their routes read every header).
std::optional<SimpleHead> parse_simple_get(std::string_view raw);

}  // namespace tollgate
