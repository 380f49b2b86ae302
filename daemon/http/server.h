#pragma once
// HttpServer: the Beast/Asio HTTP/1.1 server (listener / session split of Beast's advanced
// server). This header includes no Beast; only server.cpp does.
//
// run() blocks until SIGTERM/SIGINT: it then stops accepting, marks the handler draining, waits
// for every in-flight request to be answered (bounded), and returns. The hooks tell the program
// around it (systemd, reloads) what happens; they run on an I/O thread and must not block.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config/config.h"
#include "daemon/http/types.h"
#include "metering/status.h"

namespace tollgate {

// What serves the requests: the routes, as a function of a plain request (never the socket).
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // May answer before returning or later from any thread, exactly once.
  virtual void handle(HttpRequest req, Respond respond) = 0;
  // Called with the request line and headers only (no body yet): an answer here is sent at once
  // and the body is never read or held (authentication before the body, CONTRACT §4.1).
  virtual std::optional<HttpResponse> check_head(const HttpRequest& head) = 0;
  // Counts an answer the server made itself (bad framing, 413, 431); method and path are empty
  // when the header could not be read.
  virtual void count_response(const std::string& method, const std::string& path, int status) = 0;
  // Counts a bound of the server that bit ("max_connections").
  virtual void count_limit_hit(const char* limit) = 0;
  // Request bodies held against limits.max_bytes_in_flight changed by `delta` bytes.
  virtual void add_bytes_in_flight(int64_t delta) = 0;
  virtual bool draining() const = 0;
  virtual void set_draining() = 0;
  // How the handler runs work back on an I/O thread (set once, before serving).
  virtual void set_post(std::function<void(std::function<void()>)> post) = 0;
};

struct ServerHooks {
  std::function<void()> on_ready = [] {};     // listening; requests are being served
  std::function<void()> on_stopping = [] {};  // a termination signal: the drain begins
  std::function<void()> on_reload = [] {};    // SIGHUP: must only hand the work elsewhere
  // Called every `watchdog_every` from the I/O loop itself, so a stuck loop is noticed.
  std::optional<std::chrono::microseconds> watchdog_every;
  std::function<void()> on_watchdog = [] {};
};

class HttpServer {
 public:
  // `config` and `handler` must outlive the server.
  HttpServer(const Config& config, RequestHandler& handler);
  ~HttpServer();
  // Binds and listens; a failed bind is fatal (the caller exits 1 with this status).
  Status bind();
  // The bound port (after bind()).
  uint16_t port() const;
  // Serves until a termination signal and the drain are done.
  void run(ServerHooks hooks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate
