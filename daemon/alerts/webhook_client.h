#pragma once
// post_webhook: one blocking HTTP POST of a JSON body to an http:// or https:// URL, with Beast
// and Asio (OpenSSL for https, verifying the server's certificate chain and host name against
// the system's CAs, or `ca_file` when given). For the alert sender's own thread; never on an
// I/O thread. Thread-safe (no shared state). This header includes no Beast.

#include <string>

#include "metering/status.h"

namespace tollgate {

struct WebhookOptions {
  std::string ca_file;    // PEM bundle to trust instead of the system's; "" = system CAs
  int timeout_ms = 5000;  // the whole exchange: connect, TLS handshake, request, response
};

// The HTTP status of the answer; an error (connect_failed, tls_failed, request_failed,
// invalid_url) when there is none.
Result<int> post_webhook(const std::string& url, const std::string& json_body,
                         const WebhookOptions& options);

}  // namespace tollgate
