#pragma once
// Api: the HTTP routes of CONTRACT §4 as functions of a plain HttpRequest; it never sees a socket.
// Handlers run on I/O threads and never block; ingest's (usage and traces) run on the ingest pool
// (off_io), hand events to the Ledger and complete the request from the ledger's commit callback
// back on that pool, the answer written by an I/O thread (`post`).
//
// Thread-safety: handle() may be called concurrently. The price book is an immutable snapshot
// swapped atomically on reload.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/http/auth.h"
#include "daemon/budget_service.h"
#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"
#include "daemon/daemon_metrics.h"
#include "daemon/http/routes.h"
#include "daemon/http/server.h"
#include "daemon/http/types.h"
#include "daemon/worker_pool.h"
#include "metering/event_decoder.h"
#include "metering/price_book.h"
#include "metering/shared_slot.h"
#include "metering/time_util.h"
#include "storage/ledger.h"

namespace tollgate {

class Api final : public RequestHandler {
 public:
  // Everything passed by reference must outlive the Api.
  Api(const Config& config, std::shared_ptr<const PriceBook> prices, Ledger& ledger,
      DaemonMetrics& metrics, BudgetService& budgets, WorkerPool& workers, WorkerPool& scrapes,
      WorkerPool& ingests, Clock clock = system_now_ms);

  // Runs work on an I/O thread (set by the server before it starts accepting).
  void set_post(std::function<void(std::function<void()>)> post) override { post_ = std::move(post); }
  void handle(HttpRequest req, Respond respond) override;
  std::optional<HttpResponse> check_head(const HttpRequest& head) override;
  void count_response(const std::string& method, const std::string& path, int status) override;
  void count_limit_hit(const char* limit) override { metrics_.record_limit_hit(limit); }
  void add_bytes_in_flight(int64_t delta) override { metrics_.add_bytes_in_flight(delta); }

  // Re-reads the prices and policies files; on any error neither is replaced. Returns every
  // error line (empty on success). Blocking (file I/O): never on an I/O thread. Serialised.
  std::vector<std::string> reload();

  void set_ready(bool ready) { ready_.store(ready); }
  void set_draining() override { draining_.store(true); }
  bool draining() const override { return draining_.load(); }

  // Every route, with its metric label: the one table of routes.
  const RouteTable& routes() const { return routes_; }

 private:
  std::optional<HttpResponse> refusal(const HttpRequest& req, const RouteTable::Match& match) const;
  std::optional<HttpResponse> reservations_full(const std::optional<Money>& estimate);
  RouteTable make_routes();
  // Operations and ingest (api.cpp).
  void healthz(const HttpRequest& req, Respond respond);
  void readyz(const HttpRequest& req, Respond respond);
  void metrics_text(const HttpRequest& req, Respond respond);
  using Handler = std::function<void(HttpRequest&, Respond)>;
  // `handler` on the ingest pool (guarded like every handler), its answer back on an I/O thread:
  // decoding, pricing and answering a batch of 1,000 events takes milliseconds, which on an I/O
  // thread every admission check behind it on that thread would wait out.
  Handler off_io(Handler handler);
  void ingest(HttpRequest& req, Respond respond);  // takes the body
  void otlp_traces(const HttpRequest& req, Respond respond);  // otlp_route.cpp
  // Prices the valid items and commits them; `done` runs on the ingest pool once the ledger
  // answered, or at once when nothing is valid. The items are consumed at once: what the request
  // keeps while it waits is the events and a small record per rejected item.
  struct Rejection {
    size_t index;  // in the request
    std::string event_id;
    Status status;
  };
  struct StoreResult {
    std::vector<Rejection> rejections;  // by index: invalid, unpriceable or refused by the ledger
    std::vector<Stored> outcome;        // per stored event
    std::vector<UsageEvent> stored;
  };
  using StoreDone = std::function<void(Status, StoreResult)>;
  // `received`: when the request was read (HttpRequest::received); request_timeout_s counts from
  // there, the ingest pool's queue included.
  void store(std::vector<DecodedItem> items, StoreDone done,
             std::chrono::steady_clock::time_point received);
  void reload_route(const HttpRequest& req, Respond respond);
  // Budget routes (budget_routes.cpp).
  void admit(const HttpRequest& req, Respond respond);
  void authz(const HttpRequest& req, Respond respond);  // a proxy's inline admission check
  void cancel_reservation(const HttpRequest& req, Respond respond);
  AdmitDecision decide(const Dimensions& d, std::optional<Money> estimate);  // counted
  void throttles(const HttpRequest& req, Respond respond);
  void budgets(const HttpRequest& req, Respond respond);
  void list_overrides(const HttpRequest& req, Respond respond);
  void create_override(const HttpRequest& req, Respond respond);
  void delete_override(const HttpRequest& req, Respond respond);
  void audit(const HttpRequest& req, Respond respond);
  // Finance routes (report_routes.cpp).
  void daily_report(const HttpRequest& req, Respond respond);
  void focus_export(const HttpRequest& req, Respond respond);
  void page(const HttpRequest& req, Respond respond);
  std::string actor_of(const HttpRequest& req) const;

  const Config& config_;
  SharedSlot<const PriceBook> prices_;
  Ledger& ledger_;
  DaemonMetrics& metrics_;
  BudgetService& budgets_;
  WorkerPool& workers_;
  WorkerPool& scrapes_;  // renders /metrics: not behind a report, not on an I/O thread
  WorkerPool& ingests_;  // decodes, prices and answers ingest requests (off_io)
  Clock clock_;
  Authenticator auth_;
  RouteTable routes_;  // after everything its handlers use
  std::function<void(std::function<void()>)> post_ = [](std::function<void()> f) { f(); };
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::mutex reload_mu_;
};

}  // namespace tollgate
