#pragma once
// The status line and headers of a response, written as bytes (the body is sent after them as
// it is, with no copy). No Beast: one string append per part, into a buffer the connection
// reuses.

#include <string>

#include "daemon/http/types.h"

namespace tollgate {

// Replaces `out` with the head of `r` for an HTTP/1.`minor` request: the status line, Server,
// Content-Type, r's own headers in their order, Connection where it differs from the version's
// default, and Content-Length (the body's size, also for HEAD; none for 1xx, 204 and 304, whose
// body is never sent). A control byte in a header value is written as a space, so no value can
// end the head early or add a header (response splitting).
void write_response_head(std::string& out, const HttpResponse& r, unsigned minor, bool keep_alive);

// Whether a response with this status carries a body at all (RFC 9110 §6.4.1).
bool status_has_body(int status);

// The reason phrase of RFC 9110's status codes; "" for others (a valid, empty reason phrase).
const char* reason_phrase(int status);

}  // namespace tollgate
