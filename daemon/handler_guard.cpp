#include "daemon/handler_guard.h"

#include <atomic>
#include <exception>
#include <memory>

namespace tollgate {

void call_guarded(const std::function<void(HttpRequest&, Respond)>& handler, HttpRequest& req,
                  Respond respond, const std::function<void(const std::string& what)>& failed) {
  // One shared state, so the copies of `once` (the handler takes it by value) copy a pointer,
  // not the chain of completions inside it.
  struct Once {
    std::atomic<bool> answered{false};
    Respond respond;
  };
  auto state = std::make_shared<Once>();
  state->respond = std::move(respond);
  Respond once = [state](HttpResponse r) {
    if (!state->answered.exchange(true)) state->respond(std::move(r));
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
