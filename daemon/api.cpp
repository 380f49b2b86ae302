#include "daemon/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "daemon/handler_guard.h"
#include "metering/event_decoder.h"
#include "metering/json_text.h"
#include "metrics/text_format.h"

namespace tollgate {

namespace json = boost::json;

Api::Api(const Config& config, std::shared_ptr<const PriceBook> prices, Ledger& ledger,
         DaemonMetrics& metrics, BudgetService& budgets, WorkerPool& workers,
         WorkerPool& scrapes, WorkerPool& ingests, Clock clock)
    : config_(config),
      prices_(std::move(prices)),
      ledger_(ledger),
      metrics_(metrics),
      budgets_(budgets),
      workers_(workers),
      scrapes_(scrapes),
      ingests_(ingests),
      clock_(std::move(clock)),
      auth_(config.tokens),
      routes_(make_routes()) {}

RouteTable Api::make_routes() {
  // Handlers take the request by reference and complete `respond` exactly once.
  auto h = [this](void (Api::*fn)(const HttpRequest&, Respond)) {
    return [this, fn](HttpRequest& req, Respond respond) { (this->*fn)(req, std::move(respond)); };
  };
  return RouteTable({
      {"/healthz", kGet | kHead, std::nullopt, "", h(&Api::healthz)},
      {"/readyz", kGet | kHead, std::nullopt, "", h(&Api::readyz)},
      {"/metrics", kGet | kHead,
       config_.metrics_need_token ? std::optional<Role>(Role::kRead) : std::nullopt, "",
       h(&Api::metrics_text)},
      {"/v1/usage", kPost, Role::kIngest, "", off_io([this](HttpRequest& req, Respond respond) {
         ingest(req, std::move(respond));
       })},
      {"/v1/traces", kPost, Role::kIngest, "", off_io(h(&Api::otlp_traces))},
      {"/v1/admit", kGet | kPost, Role::kAdmit, "", h(&Api::admit)},
      // Envoy appends the original request's path to the prefix it is given, and a proxy's
      // check may come with the original method.
      {"/v1/authz", kAnyMethod, Role::kAdmit, "", h(&Api::authz)},
      {"/v1/authz/{path}", kAnyMethod, Role::kAdmit, "/v1/authz", h(&Api::authz)},
      {"/v1/reservations/{id}", kDelete, Role::kAdmit, "", h(&Api::cancel_reservation)},
      {"/v1/throttles", kGet, Role::kRead, "", h(&Api::throttles)},
      {"/v1/budgets", kGet, Role::kRead, "", h(&Api::budgets)},
      {"/v1/audit", kGet, Role::kRead, "", h(&Api::audit)},
      {"/v1/overrides", kGet, Role::kRead, "", h(&Api::list_overrides)},
      {"/v1/overrides", kPost, Role::kAdmin, "", h(&Api::create_override)},
      {"/v1/overrides/{id}", kDelete, Role::kAdmin, "", h(&Api::delete_override)},
      {"/v1/reports/daily", kGet, Role::kRead, "", h(&Api::daily_report)},
      {"/v1/export/focus", kGet, Role::kRead, "", h(&Api::focus_export)},
      // The page asks for a read token itself when the API needs one (a browser navigating to
      // it cannot send one).
      {"/", kGet | kHead, std::nullopt, "", h(&Api::page)},
      {"/index.html", kGet | kHead, std::nullopt, "/", h(&Api::page)},
      {"/-/reload", kPost, Role::kAdmin, "", h(&Api::reload_route)},
  });
}

std::string Api::actor_of(const HttpRequest& req) const {
  const AuthToken* t = auth_.identify(req.authorization);
  return t ? t->name : "anonymous";
}

// The answer to a request refused on its head alone: unknown path (404), method (405), token
// (401) or role (403); nullopt when the route may run.
std::optional<HttpResponse> Api::refusal(const HttpRequest& req,
                                         const RouteTable::Match& match) const {
  if (!match.route) {
    if (match.allow.empty())
      return error_response(Code::kNotFound, "no route for " + req.method + " " + req.path);
    auto r = error_response(Code::kMethodNotAllowed,
                            req.method + " is not allowed on " + req.path + "; use " + match.allow);
    r.headers.emplace_back("Allow", match.allow);
    return r;
  }
  if (match.route->role) return authorize(auth_, req, *match.route->role);
  // Routes open to anyone (probes, metrics, the page) take no body: otherwise a client without a
  // token could hold limits.max_bytes_in_flight with bodies it never sends.
  if (req.has_body || !req.body.empty())
    return error_response(Code::kBadRequest,
                          req.method + " " + req.path + " takes no body; send the request without one");
  return std::nullopt;
}

std::optional<HttpResponse> Api::check_head(const HttpRequest& head) {
  const RouteTable::Match match = routes_.find(head.method, head.path);
  auto refused = refusal(head, match);
  if (refused) metrics_.record_http(match.metric, refused->status, 0.0);
  return refused;
}

void Api::count_response(const std::string& method, const std::string& path, int status) {
  metrics_.record_http(routes_.find(method, path).metric, status, 0.0);
}

void Api::handle(HttpRequest req, Respond respond) {
  const auto start = std::chrono::steady_clock::now();
  const RouteTable::Match match = routes_.find(req.method, req.path);
  // Every response goes through here: metrics, then the caller's completion.
  Respond done = [this, route = match.metric, start, respond = std::move(respond)](HttpResponse r) {
    metrics_.record_http(
        route, r.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    respond(std::move(r));
  };
  if (!req.head_checked)
    if (auto refused = refusal(req, match)) return done(std::move(*refused));
  call_guarded(match.route->handler, req, std::move(done), [&](const std::string& what) {
    metrics_.record_handler_exception();
    spdlog::error("{} {}: handler failed: {}", req.method, req.path, what);
  });
}

void Api::healthz(const HttpRequest&, Respond respond) {
  respond({200, "text/plain; charset=utf-8", "ok\n", {}});
}

void Api::readyz(const HttpRequest&, Respond respond) {
  if (std::string why = ledger_.unhealthy_reason(); !why.empty() && !draining_.load())
    return respond({503, "text/plain; charset=utf-8", why + "\n", {}});
  if (std::string why = budgets_.unready_reason(); !why.empty() && !draining_.load())
    return respond({503, "text/plain; charset=utf-8", why + "\n", {}});
  if (ready_.load() && !draining_.load())
    return respond({200, "text/plain; charset=utf-8", "ready\n", {}});
  respond({503, "text/plain; charset=utf-8", draining_.load() ? "draining\n" : "starting\n", {}});
}

void Api::metrics_text(const HttpRequest&, Respond respond) {
  // Tens of thousands of series take milliseconds to render: on an I/O thread that would stall
  // every ingest and admission request behind it, and on the worker pool it could wait behind a
  // long report. A thread of its own renders, and the answer goes back to an I/O thread.
  scrapes_.post([this, respond = std::move(respond)]() mutable {
    HttpResponse r{200, metrics::kTextContentType,
                   metrics::serialize_text(metrics_.registry().collect()), {}};
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

Api::Handler Api::off_io(Handler handler) {
  return [this, handler = std::move(handler)](HttpRequest& req, Respond respond) {
    // Read before a stop began: handled (and committed) like any request in flight, however long
    // it then waits in the pool's queue.
    if (draining_.load())
      return respond(error_response(Code::kShuttingDown, "the server is shutting down; retry"));
    // Answered from an I/O thread, as every answer is.
    Respond to_io = [this, respond = std::move(respond)](HttpResponse r) {
      post_([respond, r = std::move(r)]() mutable { respond(std::move(r)); });
    };
    req.received = std::chrono::steady_clock::now();
    ingests_.post([this, handler, req = std::move(req), to_io = std::move(to_io)]() mutable {
      call_guarded(handler, req, std::move(to_io), [&](const std::string& what) {
        metrics_.record_handler_exception();
        spdlog::error("{} {}: handler failed: {}", req.method, req.path, what);
      });
    });
  };
}

void Api::ingest(HttpRequest& req, Respond respond) {
  const EpochMs now = clock_();
  const EpochMs oldest = now - int64_t(config_.storage.raw_retention_days) * 86'400'000;
  const bool ndjson = req.content_type.find("ndjson") != std::string::npos ||
                      req.content_type.find("jsonlines") != std::string::npos;
  auto decoded =
      decode_usage_body(req.body, ndjson ? BodyFormat::kNdjson : BodyFormat::kJson, now, oldest,
                        config_.limits.max_event_cost, config_.limits.max_items_per_request);
  if (!decoded.ok()) {
    if (decoded.status().code() == Code::kTooManyItems) metrics_.record_limit_hit("max_items_per_request");
    return respond(error_response(decoded.status()));
  }
  req.body = std::string();  // decoded: the body's memory goes back now, not after the commit

  // Completes the request once the ledger answered (or at once when nothing is valid).
  auto finish = [this, respond = std::move(respond)](Status status, StoreResult result) {
    if (!status.ok()) {
      if (status.code() == Code::kOverloaded)
        metrics_.record_limit_hit(status.message().find("request_timeout_s") != std::string::npos
                                      ? "request_timeout_s"
                                      : "max_queued_events");
      auto r = error_response(status);
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r));
    }
    size_t accepted = 0, duplicates = 0, unpriced = 0;
    std::vector<const UsageEvent*> fresh;
    for (size_t k = 0; k < result.outcome.size(); ++k) {
      if (result.outcome[k] == Stored::kOutOfRange) continue;  // among the rejections
      if (result.outcome[k] == Stored::kDuplicate) {
        ++duplicates;
        continue;
      }
      ++accepted;
      const UsageEvent& e = result.stored[k];
      if (e.priced_by == PricedBy::kUnpriced) ++unpriced;
      fresh.push_back(&e);
    }
    const size_t rejected = result.rejections.size();
    metrics_.record_accepted(fresh);
    metrics_.record_ingest(accepted, duplicates, rejected);
    JsonWriter body;
    body.begin_object();
    body.key("accepted").number(int64_t(accepted));
    body.key("duplicates").number(int64_t(duplicates));
    body.key("rejected").number(int64_t(rejected));
    body.key("unpriced").number(int64_t(unpriced));
    // The first limits.max_errors_listed errors are listed; the rest only counted.
    const size_t listed = std::min<size_t>(rejected, config_.limits.max_errors_listed);
    body.key("errors").begin_array();
    for (size_t i = 0; i < listed; ++i) {
      const Rejection& r = result.rejections[i];
      body.begin_object();
      body.key("index").number(int64_t(r.index));
      body.key("event_id").string(r.event_id);
      body.key("code").string(r.status.code_name());
      body.key("message").string(r.status.message());
      body.end_object();
    }
    body.end_array();
    if (listed < rejected) {
      metrics_.record_limit_hit("max_errors_listed");
      body.key("errors_omitted").number(int64_t(rejected - listed));
    }
    respond({200, "application/json", body.end_object().take(), {}});
  };
  store(std::move(decoded.value()), std::move(finish), req.received);
}

void Api::store(std::vector<DecodedItem> items, StoreDone done,
                std::chrono::steady_clock::time_point received) {
  if (received == std::chrono::steady_clock::time_point{}) received = std::chrono::steady_clock::now();
  auto prices = prices_.load();
  std::vector<UsageEvent> events;
  events.reserve(items.size());
  std::vector<Rejection> rejections;
  std::vector<size_t> submitted;  // the request index of each event handed to the ledger
  submitted.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    DecodedItem& item = items[i];
    if (item.status.ok()) item.status = prices->price(item.event);
    if (!item.status.ok()) {
      rejections.push_back({i, std::move(item.event_id), std::move(item.status)});
      continue;
    }
    events.push_back(std::move(item.event));
    submitted.push_back(i);
  }
  items = std::vector<DecodedItem>();  // the decoded items' memory goes back before the commit
  if (events.empty()) return done(Status(), {std::move(rejections), {}, {}});
  // The ledger calls back on its writer thread; the response (and metric work) moves back to the
  // ingest pool so the writer goes straight on to the next commit. `prices` rides along: the
  // events' itemizations point into it until the ledger has written their charges.
  ledger_.submit(
      std::move(events),
      [this, prices, rejections = std::move(rejections), submitted = std::move(submitted),
       done = std::move(done)](Status s, std::vector<Stored> outcome,
                               std::vector<UsageEvent> stored) mutable {
        ingests_.post_first([s = std::move(s), outcome = std::move(outcome), stored = std::move(stored),
               rejections = std::move(rejections), submitted = std::move(submitted),
               done = std::move(done)]() mutable {
          // Events the ledger refused (a day's sum would pass int64) join the rejections.
          for (size_t k = 0; k < outcome.size() && k < stored.size(); ++k)
            if (outcome[k] == Stored::kOutOfRange)
              rejections.push_back(
                  {submitted[k], stored[k].event_id,
                   Status::error(Code::kCostOutOfRange,
                                 "the ledger refused it: a sum of its day would pass 9.2e18 "
                                 "nanos")});
          std::stable_sort(rejections.begin(), rejections.end(),
                           [](const Rejection& a, const Rejection& b) { return a.index < b.index; });
          done(s, {std::move(rejections), std::move(outcome), std::move(stored)});
        });
      },
      received);
}

std::vector<std::string> Api::reload() {
  std::lock_guard lock(reload_mu_);
  // All or nothing: both files are read once and validated before anything changes; the policies
  // go in first (their spend rebuild can still fail), the prices only once they are in force.
  LoadErrors errors;
  auto prices = config_.prices_file.empty() ? std::make_shared<const PriceBook>()
                                            : load_prices(config_.prices_file, config_, errors);
  auto policies = budgets_.read_policies(errors);
  const double now_s = double(clock_()) / 1000;
  if (errors.ok()) errors.lines = budgets_.install_policies(policies);
  if (!errors.ok()) {
    for (const auto& l : errors.lines) spdlog::error("reload refused: {}", l);
    metrics_.record_reload(false, now_s);
    return errors.lines;
  }
  prices_.store(prices);
  metrics_.record_reload(true, now_s);
  spdlog::info("reloaded {} ({} prices)", config_.prices_file, prices->size());
  return {};
}

void Api::reload_route(const HttpRequest&, Respond respond) {
  // File reads are not for an I/O thread: the worker pool does it and posts the answer back.
  workers_.post([this, respond = std::move(respond)]() mutable {
    auto errors = reload();
    HttpResponse r;
    if (errors.empty()) {
      r.body = R"({"reloaded":true})";
    } else {
      json::array list;
      std::string joined;
      for (const auto& e : errors) {
        list.push_back(json::string(e));
        joined += (joined.empty() ? "" : "; ") + e;
      }
      r.status = 400;
      r.body = json::serialize(json::object{
          {"error",
           json::object{{"code", code_name(Code::kInvalidConfig)}, {"message", joined}, {"errors", list}}}});
    }
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

}  // namespace tollgate
