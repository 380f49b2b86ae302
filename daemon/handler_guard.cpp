#include "daemon/handler_guard.h"

#include <atomic>
#include <exception>
#include <memory>

namespace tollgate {

void call_guarded(const std::function<void(HttpRequest&, Respond)>& handler, HttpRequest& req,
                  Respond respond, const std::function<void(const std::string& what)>& failed) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Respond once = [answered, respond = std::move(respond)](HttpResponse r) {
    if (!answered->exchange(true)) respond(std::move(r));
  };
  std::string what;
  try {
    handler(req, once);
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  failed(what);
  once(error_response(Code::kInternal, "the request failed inside Tollgate; it is logged"));
}

}  // namespace tollgate
