// The request router: one request in (request line, headers, body), one response out, no socket.
// The Api runs on a real ledger file with the example prices and policies, so ingest commits,
// admissions reserve, overrides and reloads happen. Every request is answered exactly once, with
// a status of 100..599 and, when the answer is JSON, a body that parses. A request never answered
// is a hang libFuzzer's -timeout reports. The daemon starts afresh (new ledger) every
// kInputsPerDaemon inputs, so state (overrides, open reservations, rows) does not pile up over
// millions of runs; a crash found late may need its predecessors: libFuzzer's -runs on the
// artifact alone usually reproduces it, since most routes depend on little state.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "daemon/api.h"
#include "daemon/config/policies_file.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

namespace {

// A token for every role: sha256("fuzz"); the seeds send "Authorization: Bearer fuzz".
constexpr const char* kConfig = R"(server: {listen: 127.0.0.1:0}
storage: {path: ledger.db, commit_interval_ms: 0}
reporting: {currency: USD, timezone: Europe/Berlin, fx: {CNY: {rate: 0.1389, as_of: 2026-11-20}}}
prices_file: prices.yaml
policies_file: policies.yaml
auth:
  tokens:
    - {name: fuzz, sha256: 93850b707585e404e4951a3ddc1f05a34b3d4f5fc081d616f46d8a2e8f1c8e68,
       roles: [ingest, admit, read, admin]}
    - {name: gateway, sha256: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b,
       roles: [ingest]}
limits: {max_items_per_request: 1000, max_open_reservations: 1000}
)";

constexpr int kInputsPerDaemon = 20000;

struct Daemon {
  std::filesystem::path dir;
  Config config;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<DaemonMetrics> metrics;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<WorkerPool> scrapes;  // /metrics renders on a pool of its own, as in serve
  std::unique_ptr<WorkerPool> ingests;  // so do usage and trace batches
  std::unique_ptr<BudgetService> budgets;
  std::unique_ptr<Api> api;

  Daemon() {
    spdlog::set_level(spdlog::level::warn);  // reloads and overrides log at info: millions of lines
    namespace fs = std::filesystem;
    dir = fs::temp_directory_path() / ("tollgate-fuzz-router-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(TOLLGATE_EXAMPLES_DIR "/prices.yaml", dir / "prices.yaml");
    fs::copy_file(TOLLGATE_EXAMPLES_DIR "/policies.yaml", dir / "policies.yaml");
    std::ofstream(dir / "tollgate.yaml") << kConfig;
    LoadErrors errors;
    config = load_config((dir / "tollgate.yaml").string(), errors);
    auto prices = load_prices(config.prices_file, config, errors);
    auto policies = load_policies(config.policies_file, errors);
    if (!errors.ok()) abort();
    LedgerOptions lo;
    lo.path = config.storage.path;
    lo.commit_interval_ms = 0;
    lo.currency = config.reporting.currency;
    lo.timezone = config.reporting.tz;
    auto opened = Ledger::open(lo);
    if (!opened.ok()) abort();
    ledger = std::move(opened.value());
    metrics = std::make_unique<DaemonMetrics>(config.metric_labels, config.max_series,
                                              config.reporting.currency);
    workers = std::make_unique<WorkerPool>(1, "tg-fuzz");
    scrapes = std::make_unique<WorkerPool>(1, "tg-fuzz");
    ingests = std::make_unique<WorkerPool>(1, "tg-fuzz");
    budgets = std::make_unique<BudgetService>(config, *ledger, metrics->registry());
    ledger->set_commit_observer([this](const CommitInfo& info) {
      metrics->record_commit(info.duration_s, info.events);
      budgets->engine().record(info.accepted);
    });
    budgets->start(policies);
    api = std::make_unique<Api>(config, prices, *ledger, *metrics, *budgets, *workers,
                                *scrapes, *ingests);
    api->set_post([](std::function<void()> f) { f(); });  // no I/O threads: run where posted
    api->set_ready(true);
  }

  // As serve stops: the worker pools, then the budgets, then the ledger; then the files go.
  ~Daemon() {
    workers->shutdown();
    scrapes->shutdown();
    ingests->shutdown();
    budgets->stop();
    ledger->stop();
    api.reset();
    budgets.reset();
    workers.reset();
    scrapes.reset();
    ingests.reset();
    metrics.reset();
    ledger.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

// One request's answer, shared with the responder: an answer that comes after the input ended
// (or a second one) still finds it.
struct Answer {
  std::mutex m;
  std::condition_variable cv;
  int count = 0;
  HttpResponse response;
};

// "METHOD TARGET\nName: value\n...\n\nbody" (CRLF or LF).
HttpRequest parse(std::string_view in) {
  HttpRequest req;
  auto line = [&in]() {
    size_t eol = in.find('\n');
    std::string_view l = in.substr(0, eol);
    in.remove_prefix(eol == std::string_view::npos ? in.size() : eol + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    return l;
  };
  std::string_view first = line();
  size_t sp = first.find(' ');
  req.method = std::string(first.substr(0, sp));
  std::string_view target = sp == std::string_view::npos ? "" : first.substr(sp + 1);
  size_t q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  for (std::string_view h = line(); !h.empty(); h = line()) {
    size_t colon = h.find(':');
    std::string name(h.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(colon == std::string_view::npos ? "" : h.substr(colon + 1));
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (name == "authorization") req.authorization = value;
    if (name == "content-type") req.content_type = value;
    if (name == "if-none-match") req.if_none_match = value;
    if (req.path.compare(0, kAllHeadersPrefix.size(), kAllHeadersPrefix) == 0)
      req.headers.emplace_back(std::move(name), std::move(value));
  }
  req.body = std::string(in);
  return req;
}

void check(const HttpResponse& r) {
  if (r.status < 100 || r.status > 599) abort();
  if (r.content_type.find("json") != std::string::npos && !r.body.empty()) {
    boost::system::error_code ec;
    (void)boost::json::parse(r.body, ec);
    if (ec) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Daemon* d = nullptr;
  static int inputs = 0;
  if (!d || ++inputs % kInputsPerDaemon == 0) {
    const bool first = d == nullptr;
    delete d;
    d = new Daemon();
    // Registered after the logger exists, so it runs before the logger goes: the files go too.
    if (first) std::atexit([] { delete d; });
  }
  HttpRequest req = parse(fuzz::as_text(data, size));
  if (auto refused = d->api->check_head(req)) {
    check(*refused);
    return 0;
  }
  auto answer = std::make_shared<Answer>();
  d->api->handle(std::move(req), [answer](HttpResponse r) {
    std::lock_guard lock(answer->m);
    if (++answer->count > 1) abort();  // answered twice
    answer->response = std::move(r);
    answer->cv.notify_one();
  });
  std::unique_lock lock(answer->m);
  answer->cv.wait(lock, [&] { return answer->count == 1; });
  check(answer->response);
  return 0;
}
