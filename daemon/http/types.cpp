#include "daemon/http/types.h"

#include <boost/json.hpp>

namespace tollgate {

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  namespace json = boost::json;
  json::object err{{"code", code}, {"message", message}};
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(json::object{{"error", std::move(err)}});
  return r;
}

}  // namespace tollgate
