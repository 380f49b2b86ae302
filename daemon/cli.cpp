#include "daemon/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/api.h"
#include "daemon/budget_service.h"
#include "daemon/policy_file.h"
#include "daemon/worker_pool.h"
#include "daemon/config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/http_server.h"
#include "storage/ledger.h"

namespace tollgate {

namespace {

constexpr const char* kUsage = R"(usage:
  tollgate serve --config FILE
  tollgate check --config FILE
  tollgate --version
)";

// Value of "--name VALUE" in args, or "".
std::string flag(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == name) return args[i + 1];
  return "";
}

// Loads the main file and every file it names; prints every error. nullopt when any.
std::optional<Config> load_all(const std::string& path, std::shared_ptr<const PriceBook>& prices,
                               std::shared_ptr<const PolicySet>& policies) {
  LoadErrors errors;
  Config config = load_config(path, errors);
  prices = std::make_shared<PriceBook>();
  policies = std::make_shared<PolicySet>();
  if (errors.ok()) {
    if (!config.prices_file.empty()) prices = load_prices(config.prices_file, config, errors);
    if (!config.policies_file.empty()) policies = load_policies(config.policies_file, errors);
  }
  for (const auto& line : errors.lines) std::cerr << line << "\n";
  if (!errors.ok()) return std::nullopt;
  return config;
}

int check(const std::string& path) {
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  auto config = load_all(path, prices, policies);
  if (!config) return 1;
  std::cout << path << ": ok (" << prices->size() << " prices, " << policies->budgets.size()
            << " budgets)\n";
  return 0;
}

int serve(const std::string& path) {
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  auto loaded = load_all(path, prices, policies);
  if (!loaded) {
    spdlog::error("startup failed: invalid configuration {}", path);
    return 1;
  }
  const Config& config = *loaded;
  LedgerOptions lo;
  lo.path = config.storage.path;
  lo.synchronous_full = config.storage.synchronous_full;
  lo.commit_interval_ms = config.storage.commit_interval_ms;
  lo.raw_retention_days = config.storage.raw_retention_days;
  lo.currency = config.reporting.currency;
  lo.timezone = config.reporting.tz;
  auto ledger = Ledger::open(lo);
  if (!ledger.ok()) {
    spdlog::error("startup failed: {}", ledger.status().message());
    return 1;
  }
  DaemonMetrics metrics(config.metric_labels, config.max_series, config.reporting.currency);
  WorkerPool workers(2);
  BudgetService budgets(config, *ledger.value(), metrics.registry());
  // Right after each commit, before any client hears of it: metrics and budget spend.
  ledger.value()->set_commit_observer([&metrics, &budgets](const CommitInfo& info) {
    metrics.record_commit(info.duration_s, info.events);
    budgets.engine().record(info.accepted);
  });
  budgets.start(policies);
  Api api(config, prices, *ledger.value(), metrics, budgets, workers);
  metrics.record_reload(true, double(system_now_ms()) / 1000);
  HttpServer server(config, api);
  Status s = server.bind();
  if (!s.ok()) {
    spdlog::error("startup failed: {}", s.message());
    return 1;
  }
  spdlog::info("ledger {} open ({} prices, {} budgets{}, synchronous={})", config.storage.path,
               prices->size(), policies->budgets.size(), policies->dry_run ? ", dry run" : "",
               config.storage.synchronous_full ? "full" : "normal");
  spdlog::info("listening on {}:{}", config.server.host, server.port());
  api.set_ready(true);
  server.run([&api] { api.reload(); });
  // Every answered request's events are committed; stop() commits anything still queued.
  budgets.engine().stop_ticker();
  ledger.value()->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("tollgate");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  if (args[0] == "--version") {
    std::printf("tollgate %s\n", TOLLGATE_VERSION);
    return 0;
  }
  const std::string config = flag(args, "--config");
  if (args[0] == "serve" || args[0] == "check") {
    if (config.empty()) {
      std::fprintf(stderr, "tollgate %s: --config FILE is required\n", args[0].c_str());
      return 1;
    }
    return args[0] == "serve" ? serve(config) : check(config);
  }
  std::fprintf(stderr, "tollgate: unknown command \"%s\"\n%s", args[0].c_str(), kUsage);
  return 1;
}

}  // namespace tollgate
