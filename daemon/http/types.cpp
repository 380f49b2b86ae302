#include "daemon/http/types.h"

#include <boost/json.hpp>

namespace tollgate {

HttpResponse error_response(Code code, const std::string& message) {
  namespace json = boost::json;
  json::object err{{"code", code_name(code)}, {"message", message}};
  HttpResponse r;
  r.status = http_status(code);
  r.body = json::serialize(json::object{{"error", std::move(err)}});
  return r;
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

}  // namespace tollgate
