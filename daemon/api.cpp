#include "daemon/api.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "metering/event_decoder.h"
#include "metrics/text_format.h"

namespace tollgate {

namespace json = boost::json;

Api::Api(const Config& config, std::shared_ptr<const PriceBook> prices, Ledger& ledger,
         DaemonMetrics& metrics, BudgetService& budgets, WorkerPool& workers, Clock clock)
    : config_(config),
      prices_(std::move(prices)),
      ledger_(ledger),
      metrics_(metrics),
      budgets_(budgets),
      workers_(workers),
      clock_(std::move(clock)),
      auth_(config.tokens) {}

std::string Api::route_of(const std::string& path) {
  static const char* kRoutes[] = {"/v1/usage",
                                  "/v1/admit",
                                  "/v1/throttles",
                                  "/v1/budgets",
                                  "/v1/overrides",
                                  "/v1/audit",
                                  "/v1/reports/daily",
                                  "/v1/export/focus",
                                  "/healthz",
                                  "/readyz",
                                  "/metrics",
                                  "/-/reload",
                                  "/"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  if (path.rfind("/v1/overrides/", 0) == 0) return "/v1/overrides/{id}";
  return "other";
}

std::string Api::actor_of(const HttpRequest& req) const {
  const AuthToken* t = auth_.identify(req.authorization);
  return t ? t->name : "anonymous";
}

std::optional<HttpResponse> Api::authorize(const HttpRequest& req, Role role) const {
  if (!auth_.enabled()) return std::nullopt;  // loopback-only by config validation
  auto roles = auth_.roles(req.authorization);
  if (!roles) {
    auto r =
        error_response(401, "unauthorized",
                       req.authorization.empty() ? "send Authorization: Bearer TOKEN"
                                                 : "the bearer token is not known to this server");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (!has_role(*roles, role)) {
    static const char* kNames[] = {"", "ingest", "admit", "", "read", "", "", "", "admin"};
    return error_response(
        403, "forbidden",
        std::string("this token lacks the \"") + kNames[unsigned(role)] + "\" role");
  }
  return std::nullopt;
}

void Api::handle(HttpRequest req, Respond respond) {
  const auto start = std::chrono::steady_clock::now();
  const std::string route = route_of(req.path);
  // Every response goes through here: metrics, then the caller's completion.
  Respond done = [this, route, start, respond = std::move(respond)](HttpResponse r) {
    metrics_.record_http(
        route, r.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    respond(std::move(r));
  };
  auto method_not_allowed = [&](const char* allow) {
    auto r = error_response(405, "method_not_allowed",
                            req.method + " is not allowed on " + req.path + "; use " + allow);
    r.headers.emplace_back("Allow", allow);
    done(std::move(r));
  };

  if (req.path == "/healthz") {
    if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
    return done({200, "text/plain; charset=utf-8", "ok\n", {}});
  }
  if (req.path == "/readyz") {
    if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
    if (ready_.load() && !draining_.load())
      return done({200, "text/plain; charset=utf-8", "ready\n", {}});
    return done(
        {503, "text/plain; charset=utf-8", draining_.load() ? "draining\n" : "starting\n", {}});
  }
  if (req.path == "/metrics") {
    if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
    return done({200,
                 metrics::kTextContentType,
                 metrics::serialize_text(metrics_.registry().collect()),
                 {}});
  }
  if (req.path == "/v1/usage") {
    if (req.method != "POST") return method_not_allowed("POST");
    if (auto denied = authorize(req, Role::kIngest)) return done(std::move(*denied));
    return ingest(req, std::move(done));
  }
  if (req.path == "/v1/admit") {
    if (req.method != "GET" && req.method != "POST") return method_not_allowed("GET, POST");
    if (auto denied = authorize(req, Role::kAdmit)) return done(std::move(*denied));
    return admit(req, std::move(done));
  }
  if (req.path == "/v1/throttles" || req.path == "/v1/budgets" || req.path == "/v1/audit") {
    if (req.method != "GET") return method_not_allowed("GET");
    if (auto denied = authorize(req, Role::kRead)) return done(std::move(*denied));
    if (req.path == "/v1/throttles") return throttles(req, std::move(done));
    if (req.path == "/v1/budgets") return budgets(std::move(done));
    return audit(req, std::move(done));
  }
  if (req.path == "/v1/reports/daily" || req.path == "/v1/export/focus") {
    if (req.method != "GET") return method_not_allowed("GET");
    if (auto denied = authorize(req, Role::kRead)) return done(std::move(*denied));
    if (req.path == "/v1/reports/daily") return daily_report(req, std::move(done));
    return focus_export(req, std::move(done));
  }
  if (req.path == "/" || req.path == "/index.html") {
    if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
    return page(std::move(done));  // the page asks for a token itself when the API needs one
  }
  if (req.path == "/v1/overrides" || req.path.rfind("/v1/overrides/", 0) == 0) {
    const bool collection = req.path == "/v1/overrides";
    if (collection && req.method != "GET" && req.method != "POST")
      return method_not_allowed("GET, POST");
    if (!collection && req.method != "DELETE") return method_not_allowed("DELETE");
    if (auto denied = authorize(req, req.method == "GET" ? Role::kRead : Role::kAdmin))
      return done(std::move(*denied));
    return overrides(req, std::move(done));
  }
  if (req.path == "/-/reload") {
    if (req.method != "POST") return method_not_allowed("POST");
    if (auto denied = authorize(req, Role::kAdmin)) return done(std::move(*denied));
    return reload_route(std::move(done));
  }
  done(error_response(404, "not_found", "no route for " + req.method + " " + req.path));
}

void Api::ingest(HttpRequest& req, Respond respond) {
  if (draining_.load())
    return respond(error_response(503, "shutting_down", "the server is shutting down; retry"));
  const EpochMs now = clock_();
  const EpochMs oldest = now - int64_t(config_.storage.raw_retention_days) * 86'400'000;
  const bool ndjson = req.content_type.find("ndjson") != std::string::npos ||
                      req.content_type.find("jsonlines") != std::string::npos;
  auto decoded =
      decode_usage_body(req.body, ndjson ? BodyFormat::kNdjson : BodyFormat::kJson, now, oldest);
  if (!decoded.ok())
    return respond(error_response(400, decoded.status().code(), decoded.status().message()));

  auto prices = prices_.load();
  auto items = std::make_shared<std::vector<DecodedItem>>(std::move(decoded.value()));
  std::vector<UsageEvent> events;
  events.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    DecodedItem& item = (*items)[i];
    if (!item.status.ok()) continue;
    item.status = prices->price(item.event);
    if (!item.status.ok()) continue;
    events.push_back(std::move(item.event));
  }

  // Completes the request once the ledger answered (or at once when nothing is valid).
  auto finish = [this, items, respond = std::move(respond)](
                    Status status, std::vector<bool> duplicate, std::vector<UsageEvent> stored) {
    if (!status.ok()) {
      auto r = error_response(503, status.code(), status.message());
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r));
    }
    size_t accepted = 0, duplicates = 0, rejected = 0, unpriced = 0;
    json::array errors;
    std::vector<const UsageEvent*> fresh;
    for (size_t k = 0; k < duplicate.size(); ++k) {
      if (duplicate[k]) {
        ++duplicates;
        continue;
      }
      ++accepted;
      const UsageEvent& e = stored[k];
      if (e.priced_by == PricedBy::kUnpriced) ++unpriced;
      fresh.push_back(&e);
    }
    for (size_t i = 0; i < items->size(); ++i) {
      const DecodedItem& item = (*items)[i];
      if (item.status.ok()) continue;
      ++rejected;
      errors.push_back(json::object{{"index", i},
                                    {"event_id", item.event_id},
                                    {"code", item.status.code()},
                                    {"message", item.status.message()}});
    }
    metrics_.record_accepted(fresh);
    metrics_.record_ingest(accepted, duplicates, rejected);
    json::object body{{"accepted", accepted},
                      {"duplicates", duplicates},
                      {"rejected", rejected},
                      {"unpriced", unpriced},
                      {"errors", std::move(errors)}};
    respond({200, "application/json", json::serialize(body), {}});
  };

  if (events.empty()) return finish(Status(), {}, {});
  // The ledger calls back on its writer thread; the response (and metric work) moves back to an
  // I/O thread so the writer goes straight on to the next commit.
  ledger_.submit(std::move(events),
                 [this, finish = std::move(finish)](Status s, std::vector<bool> duplicate,
                                                    std::vector<UsageEvent> stored) mutable {
                   post_([s = std::move(s), duplicate = std::move(duplicate),
                          stored = std::move(stored), finish = std::move(finish)]() mutable {
                     finish(s, std::move(duplicate), std::move(stored));
                   });
                 });
}

std::vector<std::string> Api::reload() {
  std::lock_guard lock(reload_mu_);
  LoadErrors errors;
  auto prices = config_.prices_file.empty() ? std::make_shared<const PriceBook>()
                                            : load_prices(config_.prices_file, config_, errors);
  for (const auto& line : budgets_.check()) errors.lines.push_back(line);
  const double now_s = double(clock_()) / 1000;
  if (!errors.ok()) {
    for (const auto& l : errors.lines) spdlog::error("reload refused: {}", l);
    metrics_.record_reload(false, now_s);
    return errors.lines;
  }
  // Both files are valid: swap the price book and install the policies.
  prices_.store(prices);
  auto policy_errors = budgets_.reload();
  metrics_.record_reload(policy_errors.empty(), now_s);
  if (!policy_errors.empty()) return policy_errors;  // changed between check and load
  spdlog::info("reloaded {} ({} prices)", config_.prices_file, prices->size());
  return {};
}

void Api::reload_route(Respond respond) {
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
           json::object{{"code", "invalid_config"}, {"message", joined}, {"errors", list}}}});
    }
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

}  // namespace tollgate
