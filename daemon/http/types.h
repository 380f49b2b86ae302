#pragma once
// Plain HTTP request/response types, so routing and handlers never include Beast (only
// http_server.cpp does).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metering/status.h"

namespace tollgate {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after '?', undecoded
  std::string authorization, content_type, if_none_match;
  // Every header, names lower-cased: only for the routes that read arbitrary headers
  // (kAllHeadersPrefix), so the hot routes copy nothing more.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The head announces a body (Content-Length above 0 or chunked): set before the body is read.
  bool has_body = false;
  // The server ran RequestHandler::check_head on this request's head and it passed: handle()
  // need not find the same refusal again (for a token: a second SHA-256).
  bool head_checked = false;
  // When a handler was handed the request (steady clock), set by routes that queue it for a
  // worker pool: request_timeout_s counts from here. Unset: the handler runs at once.
  std::chrono::steady_clock::time_point received{};

  // The header's value ("" when absent); `lower_name` must be lower case.
  std::string_view header(std::string_view lower_name) const;
};

// Requests whose path starts with this carry all their headers (proxies' inline admission).
inline constexpr std::string_view kAllHeadersPrefix = "/v1/authz";

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Completes a request; may be called from any thread, exactly once.
using Respond = std::function<void(HttpResponse)>;

// {"error":{"code":...,"message":...}} with the code's HTTP status (metering/status.cpp's table).
HttpResponse error_response(Code code, const std::string& message);
inline HttpResponse error_response(const Status& s) { return error_response(s.code(), s.message()); }

}  // namespace tollgate
