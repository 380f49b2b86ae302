#include "daemon/http/server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "daemon/http/request_head.h"
#include "daemon/http/response_head.h"

namespace tollgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

struct Limits {
  uint64_t max_body;
  uint32_t max_header;
  std::chrono::seconds idle;
  uint64_t max_connections;
  uint64_t max_bytes_in_flight;
};

// One connection: read a request, hand it to the Api, write its response, repeat (keep-alive).
// Lives as long as an operation holds shared_from_this; every handler runs on the socket's
// executor (a strand when there are several I/O threads).
//
// Timeouts: instead of re-arming a timer around every read and write, the session keeps a
// deadline and a watchdog timer checks it every quarter of the idle timeout; past it, the socket
// is closed, which ends whatever operation is pending. Setting the deadline costs a clock read.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, RequestHandler& api, const Limits& limits, std::atomic<uint64_t>& connections,
          std::atomic<int>& in_flight, std::atomic<uint64_t>& bytes_in_flight)
      : socket_(std::move(socket)),
        watchdog_(socket_.get_executor()),
        api_(api),
        limits_(limits),
        connections_(connections),
        in_flight_(in_flight),
        bytes_in_flight_(bytes_in_flight) {}
  ~Session() {
    release_body_bytes();
    connections_.fetch_sub(1);
  }

  void start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->watch();
      self->do_read();
    });
  }

 private:
  using Clock = std::chrono::steady_clock;

  void watch() {
    watchdog_.expires_after(
        std::max<Clock::duration>(limits_.idle / 4, std::chrono::milliseconds(100)));
    watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (Clock::now() > self->deadline_) {
        beast::error_code ignored;
        self->socket_.close(ignored);  // ends the pending read or write
        self->closed_ = true;
        return;
      }
      self->watch();
    });
  }

  // A request is read in two steps: the header (up to server.max_header_bytes, checked for
  // strict framing and by the handler's check_head), then, only if both pass, the body.
  void do_read() {
    method_.clear();
    path_.clear();
    head_ = false;
    version_ = 11;
    scanned_ = 0;
    // Also bounds how long a request may take to arrive.
    deadline_ = Clock::now() + limits_.idle;
    read_raw_header();
  }

  // The raw header is looked at before Beast parses it (Beast unfolds obs-fold silently): read
  // until the blank line that ends it is in the buffer, at most server.max_header_bytes.
  void read_raw_header() {
    // Empty lines before a request line are skipped (RFC 9112 §2.2); the idle deadline bounds
    // how many a client may send.
    while (buffer_.size() >= 2 && static_cast<const char*>(buffer_.data().data())[0] == '\r' &&
           static_cast<const char*>(buffer_.data().data())[1] == '\n') {
      buffer_.consume(2);
      scanned_ = 0;
    }
    const size_t cap = size_t(limits_.max_header) + 4;
    const std::string_view data(static_cast<const char*>(buffer_.data().data()),
                                std::min(buffer_.size(), cap));
    // Not the start of a request line (a TLS hello, binary): Beast's parser answers 400 now.
    if (!data.empty() && !(data[0] >= 'A' && data[0] <= 'Z') && data[0] != '\r' && data[0] != '\n')
      return on_raw_header({}, 0);
    // Resume where the last look stopped: a slow client costs linear time, not quadratic.
    if (size_t end = data.find("\r\n\r\n", scanned_ > 3 ? scanned_ - 3 : 0);
        end != std::string_view::npos)
      return on_raw_header({}, end + 4);
    scanned_ = data.size();
    if (buffer_.size() >= cap) return on_raw_header(net::error::not_found, 0);
    socket_.async_read_some(buffer_.prepare(std::min<size_t>(cap - buffer_.size(), 65536)),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->on_raw_header(ec, 0);
                              self->buffer_.commit(n);
                              self->read_raw_header();
                            });
  }

  void on_raw_header(beast::error_code ec, std::size_t header_end) {
    // The request line's method, path and version, for counting whatever answer this request
    // gets, and so that a refusal before Beast reads the header (431, obs-fold) still answers a
    // HEAD without a body and an HTTP/1.0 client in its own version.
    const std::string_view seen(static_cast<const char*>(buffer_.data().data()),
                                std::min(buffer_.size(), size_t(limits_.max_header) + 4));
    if (size_t eol = seen.find("\r\n"); eol != std::string_view::npos) {
      const std::string_view line = seen.substr(0, eol);
      const size_t sp = line.find(' '), sp2 = line.find(' ', sp == line.npos ? line.size() : sp + 1);
      if (sp != line.npos && sp2 != line.npos) {
        method_ = std::string(line.substr(0, sp));
        const std::string_view target = line.substr(sp + 1, sp2 - sp - 1);
        path_ = std::string(target.substr(0, target.find('?')));
        head_ = method_ == "HEAD";
        if (line.substr(sp2 + 1) == "HTTP/1.0") version_ = 10;
      }
    }
    if (ec == net::error::not_found)  // no end of header within the limit
      return reply_and_close(error_response(
          Code::kHeadersTooLarge, "the request headers exceed server.max_header_bytes (" +
                                      std::to_string(limits_.max_header) + " bytes)"));
    if (ec) return on_read(ec, 0);
    const std::string_view raw(static_cast<const char*>(buffer_.data().data()), header_end);
    // obs-fold: a header line continued on the next line by leading whitespace (RFC 9112 §5.2).
    if (raw.find("\r\n ") != std::string_view::npos || raw.find("\r\n\t") != std::string_view::npos)
      return reply_and_close(error_response(
          Code::kBadRequest, "a header is folded over several lines (obs-fold); send each on one line"));
    // A plain bodyless GET (most of all an admission check) needs none of Beast's parser: read it
    // here. Anything else, or a header near the size limit, goes to Beast as before.
    if (header_end + 4 <= limits_.max_header)
      if (auto simple = parse_simple_get(raw)) {
        buffer_.consume(header_end);
        if (auto denied = api_.check_head(simple->request))  // counted by the handler
          return reply_and_close(std::move(*denied), /*counted=*/true);
        simple->request.head_checked = true;
        return dispatch(std::move(simple->request), simple->keep_alive);
      }
    // Beast holds a header's name and value in 16-bit sizes and throws past them (a crash of
    // the daemon): a line that long is refused here, whatever server.max_header_bytes allows.
    for (size_t at = 0, eol; (eol = raw.find("\r\n", at)) != std::string_view::npos; at = eol + 2)
      if (eol - at > kMaxHeaderLine)
        return reply_and_close(error_response(
            Code::kHeadersTooLarge, "a header line is longer than " +
                                        std::to_string(kMaxHeaderLine) + " bytes"));
    parser_.emplace();
    parser_->header_limit(limits_.max_header);
    parser_->body_limit(limits_.max_body);
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read(ec, 0);
    const auto& req = parser_->get();
    head_ = req.method() == http::verb::head;  // a refusal of a HEAD has no body either
    version_ = req.version();
    // Strict framing: a body is delimited by Content-Length or by "Transfer-Encoding: chunked"
    // alone; any other transfer coding, or both, is ambiguous (request smuggling): 400, close.
    auto te = req.find(http::field::transfer_encoding);
    if (te != req.end()) {
      std::string_view v = te->value();
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (!beast::iequals(v, "chunked") ||
          req.find(http::field::content_length) != req.end() ||
          req.count(http::field::transfer_encoding) > 1)
        return reply_and_close(error_response(
            Code::kBadRequest, "unsupported Transfer-Encoding \"" + std::string(te->value()) +
                                   "\": send Content-Length or \"chunked\" alone"));
    }
    HttpRequest head = plain_head(req);
    head.has_body = !parser_->is_done();
    if (auto denied = api_.check_head(head))  // counted by the handler
      return reply_and_close(std::move(*denied), /*counted=*/true);
    if (!parser_->is_done() && !reserve_body_bytes()) {
      api_.count_limit_hit("max_bytes_in_flight");
      auto r = error_response(Code::kOverloaded,
                              "limits.max_bytes_in_flight (" + std::to_string(limits_.max_bytes_in_flight) +
                                  " bytes) of request bodies are being read or processed; retry");
      r.headers.emplace_back("Retry-After", "1");
      return reply_and_close(std::move(r));
    }
    if (parser_->is_done()) return on_read({}, 0);
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  static constexpr size_t kMaxHeaderLine = 65000;

  // Beast's keep_alive() reads the first Connection header only; "close" in any of them (one
  // list, RFC 9110 §7.6.1) closes the connection.
  static bool keep_alive_of(const http::request<http::string_body>& req) {
    if (!req.keep_alive()) return false;
    auto [first, last] = req.equal_range(http::field::connection);
    for (auto it = first; it != last; ++it)
      for (const auto& token : http::token_list{it->value()})
        if (beast::iequals(token, "close")) return false;
    return true;
  }

  // The request line and the headers the routes read, as plain data.
  static HttpRequest plain_head(const http::request<http::string_body>& req) {
    HttpRequest plain;
    plain.method = std::string(req.method_string());
    std::string_view target = req.target();
    size_t q = target.find('?');
    plain.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) plain.query = std::string(target.substr(q + 1));
    plain.authorization = std::string(req[http::field::authorization]);
    plain.content_type = std::string(req[http::field::content_type]);
    plain.if_none_match = std::string(req[http::field::if_none_match]);
    if (plain.path.compare(0, kAllHeadersPrefix.size(), kAllHeadersPrefix) == 0)
      for (const auto& field : req) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        plain.headers.emplace_back(std::move(name), std::string(field.value()));
      }
    return plain;
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || closed_)
      return close();
    if (ec == http::error::body_limit)
      return reply_and_close(error_response(Code::kPayloadTooLarge, "the body exceeds server.max_body_bytes (" +
                                                std::to_string(limits_.max_body) +
                                                " bytes); split it into smaller batches"));
    if (ec == http::error::header_limit)
      return reply_and_close(error_response(Code::kHeadersTooLarge, "the request headers exceed server.max_header_bytes (" +
                                                std::to_string(limits_.max_header) + " bytes)"));
    if (ec)
      return reply_and_close(
          error_response(Code::kBadRequest, "malformed HTTP request: " + ec.message()));

    auto req = parser_->release();
    head_ = req.method() == http::verb::head;
    version_ = req.version();
    HttpRequest plain = plain_head(req);
    plain.body = std::move(req.body());
    plain.head_checked = true;  // on_header ran check_head on this head
    dispatch(std::move(plain), keep_alive_of(req));
  }

  // Hands a request read whole to the Api; its answer is written on this connection.
  void dispatch(HttpRequest plain, bool keep_alive) {
    keep_alive_ = keep_alive && !api_.draining();
    deadline_ = Clock::time_point::max();  // a request waiting on the ledger is not idle
    in_flight_.fetch_add(1);
    counted_ = true;
    // Most routes answer before handle() returns: write those directly. Answers that come later
    // (from the ledger's writer) are posted back onto this connection's executor.
    in_handler_ = true;
    api_.handle(std::move(plain),
                [self = shared_from_this(), thread = std::this_thread::get_id()](HttpResponse r) {
                  if (self->in_handler_ && std::this_thread::get_id() == thread) {
                    self->early_ = std::move(r);
                    return;
                  }
                  net::post(self->socket_.get_executor(),
                            [self, r = std::move(r)]() mutable { self->do_write(std::move(r)); });
                });
    in_handler_ = false;
    if (early_) {
      HttpResponse r = std::move(*early_);
      early_.reset();
      do_write(std::move(r));
    }
  }

  void do_write(HttpResponse r) {
    // The head and the body go out in one gathered write; both buffers are the connection's,
    // reused (responses on a connection are sequential).
    keep_alive_ = keep_alive_ && !api_.draining();
    write_response_head(head_out_, r, version_ >= 11 ? 1 : 0, keep_alive_);
    body_out_ = std::move(r.body);
    if (head_ || !status_has_body(r.status)) body_out_.clear();  // HEAD: the GET's Content-Length
    deadline_ = Clock::now() + limits_.idle;
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_out_), net::buffer(body_out_)};
    net::async_write(socket_, buffers,
                     beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  // Holds the body's size (a chunked body: the most it may reach) against the bytes all
  // connections may have in flight, from its header until its answer is written.
  bool reserve_body_bytes() {
    const uint64_t need = parser_->content_length().value_or(limits_.max_body);
    uint64_t held = bytes_in_flight_.load();
    do {
      if (need > limits_.max_bytes_in_flight - held) return false;
    } while (!bytes_in_flight_.compare_exchange_weak(held, held + need));
    reserved_ = need;
    api_.add_bytes_in_flight(int64_t(need));
    return true;
  }

  void release_body_bytes() {
    if (reserved_ == 0) return;
    bytes_in_flight_.fetch_sub(reserved_);
    api_.add_bytes_in_flight(-int64_t(reserved_));
    reserved_ = 0;
  }

  void on_write(beast::error_code ec, std::size_t) {
    // Only now is the request answered: the drain waits for this, not for the handler.
    if (counted_) in_flight_.fetch_sub(1);
    counted_ = false;
    release_body_bytes();
    if (!ec && linger_) return linger();
    if (ec || !keep_alive_) return close();
    do_read();
  }

  // An error answered before the request was read whole (413, 431): closing at once would make
  // the kernel reset the connection under a client still sending, which then never sees the
  // status. So stop sending, and read and discard what is left for a bounded time.
  void reply_and_close(HttpResponse r, bool counted = false) {
    // The server's own answers (400, 413, 431) are counted like every other one.
    if (!counted) api_.count_response(method_, path_, r.status);
    keep_alive_ = false;
    linger_ = true;
    do_write(std::move(r));
  }

  void linger() {
    if (discard_.empty()) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      deadline_ = Clock::now() + std::chrono::seconds(5);
      discard_.resize(64 * 1024);
    }
    socket_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) return self->linger();
                              self->close();
                            });
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    closed_ = true;
    watchdog_.cancel();  // lets the session go now, not at the watchdog's next tick
  }

  tcp::socket socket_;
  net::steady_timer watchdog_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_out_, body_out_;  // the response being written
  RequestHandler& api_;
  const Limits& limits_;
  std::atomic<uint64_t>& connections_;
  std::atomic<int>& in_flight_;
  std::atomic<uint64_t>& bytes_in_flight_;
  uint64_t reserved_ = 0;  // of bytes_in_flight_, by the request being read or handled
  Clock::time_point deadline_ = Clock::time_point::max();
  bool closed_ = false;
  bool counted_ = false;
  bool linger_ = false;
  std::vector<char> discard_;
  std::atomic<bool> in_handler_{false};
  std::optional<HttpResponse> early_;
  bool keep_alive_ = false;
  bool head_ = false;
  std::string method_, path_;  // of the request being read, once its request line is
  size_t scanned_ = 0;         // bytes of the buffer already searched for the header's end
  unsigned version_ = 11;
};

}  // namespace

struct HttpServer::Impl {
  Impl(const Config& c, RequestHandler& a)
      : config(c),
        api(a),
        ioc(c.server.threads),
        acceptor(net::make_strand(ioc)),
        limits{c.server.max_body_bytes, static_cast<uint32_t>(c.server.max_header_bytes),
               std::chrono::seconds(c.server.idle_timeout_s), c.server.max_connections,
               c.limits.max_bytes_in_flight} {}

  void do_accept() {
    // One I/O thread needs no strand: its handlers never run concurrently.
    auto executor = config.server.threads > 1 ? net::any_io_executor(net::make_strand(ioc))
                                              : net::any_io_executor(ioc.get_executor());
    acceptor.async_accept(executor, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != net::error::operation_aborted && acceptor.is_open()) accept_failed(ec);
        return;
      }
      accept_backoff = std::chrono::milliseconds(0);
      if (connections.fetch_add(1) >= limits.max_connections) {
        connections.fetch_sub(1);
        beast::error_code ignored;
        socket.close(ignored);  // over server.max_connections: refuse at once
        api.count_limit_hit("max_connections");
      } else {
        std::make_shared<Session>(std::move(socket), api, limits, connections, in_flight,
                                  bytes_in_flight)
            ->start();
      }
      do_accept();
    });
  }

  // Out of file descriptors (or another accept error): retry after a pause that doubles up to a
  // second, instead of spinning a core; logged at most once a second, with how many failed.
  void accept_failed(const beast::error_code& ec) {
    ++accept_failures;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_accept_log >= std::chrono::seconds(1)) {
      spdlog::warn("accept failed {} times since the last report: {} (server.max_connections is "
                   "{}; raise the open-files limit, LimitNOFILE=)",
                   accept_failures, ec.message(), limits.max_connections);
      accept_failures = 0;
      last_accept_log = now;
    }
    accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(10),
                                std::chrono::milliseconds(1000));
    accept_timer.expires_after(accept_backoff);
    accept_timer.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) do_accept();
    });
  }

  void drain_then_stop(std::chrono::steady_clock::time_point deadline) {
    if (in_flight.load() == 0 || std::chrono::steady_clock::now() > deadline) {
      if (in_flight.load() != 0)
        spdlog::warn("drain deadline passed with {} requests unanswered", in_flight.load());
      watchdog_timer.cancel();
      ioc.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(10));
    drain_timer.async_wait([this, deadline](beast::error_code) { drain_then_stop(deadline); });
  }

  void wait_signal() {
    signals.async_wait([this](beast::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading");
        hooks.on_reload();  // queues the reload off the I/O threads
        wait_signal();
        return;
      }
      spdlog::info("signal {}: draining (no new connections, answering requests in flight)", sig);
      hooks.on_stopping();
      api.set_draining();
      // The acceptor and its backoff timer live on the acceptor's strand.
      net::post(acceptor.get_executor(), [this] {
        beast::error_code ignored;
        acceptor.close(ignored);
        accept_timer.cancel();
      });
      drain_then_stop(std::chrono::steady_clock::now() + std::chrono::seconds(30));
    });
  }

  // Pings the watchdog from the I/O loop itself, so a stuck loop gets the service restarted.
  void watchdog(std::chrono::microseconds every) {
    hooks.on_watchdog();
    watchdog_timer.expires_after(every);
    watchdog_timer.async_wait([this, every](beast::error_code ec) {
      if (!ec) watchdog(every);
    });
  }

  const Config& config;
  RequestHandler& api;
  ServerHooks hooks;
  // Before the io_context: sessions its destructor still destroys count themselves out of these.
  std::atomic<uint64_t> connections{0};
  std::atomic<int> in_flight{0};  // requests read and not yet fully written
  std::atomic<uint64_t> bytes_in_flight{0};  // limits.max_bytes_in_flight
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::signal_set signals{ioc, SIGINT, SIGTERM, SIGHUP};
  net::steady_timer drain_timer{ioc};
  net::steady_timer watchdog_timer{ioc};
  net::steady_timer accept_timer{acceptor.get_executor()};  // on the acceptor's strand
  std::chrono::milliseconds accept_backoff{0};
  uint64_t accept_failures = 0;
  std::chrono::steady_clock::time_point last_accept_log{};
  Limits limits;
};

HttpServer::HttpServer(const Config& config, RequestHandler& api)
    : impl_(std::make_unique<Impl>(config, api)) {
  api.set_post([this](std::function<void()> f) { net::post(impl_->ioc, std::move(f)); });
}

HttpServer::~HttpServer() = default;

Status HttpServer::bind() {
  beast::error_code ec;
  auto address = net::ip::make_address(
      impl_->config.server.host == "localhost" ? "127.0.0.1" : impl_->config.server.host, ec);
  if (ec)
    return Status::error(Code::kBindFailed, "server.listen host \"" + impl_->config.server.host +
                                            "\" is not an IP address");
  tcp::endpoint endpoint(address, impl_->config.server.port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::error(Code::kBindFailed, "cannot listen on " + impl_->config.server.host + ":" +
                                            std::to_string(impl_->config.server.port) + ": " +
                                            ec.message());
  return {};
}

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::run(ServerHooks hooks) {
  impl_->hooks = std::move(hooks);
  impl_->wait_signal();
  impl_->do_accept();
  if (impl_->hooks.watchdog_every) impl_->watchdog(*impl_->hooks.watchdog_every);
  impl_->hooks.on_ready();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->config.server.threads; ++i)
    threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "tg-io");
      impl_->ioc.run();
    });
  impl_->ioc.run();  // on the main thread, named after the process
  for (auto& t : threads) t.join();
}

}  // namespace tollgate
