#pragma once
// The exception boundary around a route handler: a bug in one handler costs its request (500,
// `internal`), never the process. Envoy's rule holds (no exceptions on the data path); this is
// the net for when one escapes anyway.

#include <functional>
#include <string>

#include "daemon/http/types.h"

namespace tollgate {

// Calls handler(req, respond). If it throws, `failed` gets the exception's text and the request
// is answered 500, unless the handler already answered (a request is answered exactly once).
void call_guarded(const std::function<void(HttpRequest&, Respond)>& handler, HttpRequest& req,
                  Respond respond, const std::function<void(const std::string& what)>& failed);

}  // namespace tollgate
