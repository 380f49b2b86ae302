#pragma once
// HttpServer: the Beast/Asio HTTP/1.1 server (listener / session split of Beast's advanced
// server). This header includes no Beast; only http_server.cpp does.
//
// run() blocks until SIGTERM/SIGINT: it then stops accepting, marks the Api draining, waits for
// every in-flight request to be answered (bounded), and returns. SIGHUP calls `on_reload` on an
// I/O thread: it must only hand the work elsewhere.

#include <functional>
#include <memory>
#include <string>

#include "daemon/api.h"
#include "daemon/config.h"
#include "metering/status.h"

namespace tollgate {

class HttpServer {
 public:
  HttpServer(const Config& config, Api& api);
  ~HttpServer();
  // Binds and listens; a failed bind is fatal (the caller exits 1 with this status).
  Status bind();
  // The bound port (after bind()).
  uint16_t port() const;
  // Serves until a termination signal and the drain are done.
  void run(std::function<void()> on_reload);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate
