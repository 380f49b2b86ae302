#include "daemon/http/types.h"

#include "metering/json_text.h"

namespace tollgate {

HttpResponse error_response(Code code, const std::string& message) {
  // A message may quote what the client sent (a method, a path, a header): JsonWriter writes
  // bytes that are not UTF-8 as U+FFFD, so the body stays JSON whatever they were.
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.key("code").string(code_name(code)).key("message").string(message);
  w.end_object().end_object();
  HttpResponse r;
  r.status = http_status(code);
  r.body = w.take();
  return r;
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

}  // namespace tollgate
