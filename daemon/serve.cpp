#include "daemon/serve.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "daemon/api.h"
#include "daemon/budget_service.h"
#include "daemon/config/config.h"
#include "daemon/config/policies_file.h"
#include "daemon/config/prices_file.h"
#include "daemon/coordination/coordinator.h"
#include "daemon/daemon_metrics.h"
#include "daemon/http/server.h"
#include "daemon/systemd_notify.h"
#include "daemon/worker_pool.h"
#include "storage/ledger.h"

namespace tollgate {

namespace {

// Loads the main file and every file it names; nullopt when any has an error (all in `errors`).
std::optional<Config> load_all(const std::string& path, std::shared_ptr<const PriceBook>& prices,
                               std::shared_ptr<const PolicySet>& policies, LoadErrors& errors) {
  Config config = load_config(path, errors);
  prices = std::make_shared<PriceBook>();
  policies = std::make_shared<PolicySet>();
  if (errors.ok()) {
    if (!config.prices_file.empty()) prices = load_prices(config.prices_file, config, errors);
    if (!config.policies_file.empty()) policies = load_policies(config.policies_file, errors, config.coordinated());
  }
  if (!errors.ok()) return std::nullopt;
  return config;
}

}  // namespace

int check(const std::string& config_path) {
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  LoadErrors errors;
  auto config = load_all(config_path, prices, policies, errors);
  for (const auto& line : errors.lines) std::cerr << line << "\n";  // every error, one a line
  if (!config) return 1;
  std::cout << config_path << ": ok (" << prices->size() << " prices, " << policies->budgets.size()
            << " budgets)\n";
  return 0;
}

int serve(const std::string& config_path) {
#ifdef __GLIBC__
  // glibc gives each thread that meets a locked arena a new one, up to 8 per core. The
  // daemon's threads (I/O, ingest pool, writer, ticker) allocate in one and free in another,
  // and every arena keeps its freed pages: run_memory.sh held about 10 MiB more RSS with the
  // default than with 2 arenas, at the same ingest rate (bench/README.md, "Memory at a
  // company's cardinality"). Set before any thread starts; GLIBC_TUNABLES, when set, decides.
  if (!std::getenv("GLIBC_TUNABLES")) mallopt(M_ARENA_MAX, 2);
#endif
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  LoadErrors errors;
  auto loaded = load_all(config_path, prices, policies, errors);
  if (!loaded) {
    // One line (CONTRACT §1); `tollgate check` lists them all.
    const size_t more = errors.lines.size() - 1;
    spdlog::error("startup failed: {}{}", errors.lines.front(),
                  more ? " (and " + std::to_string(more) + " more: run tollgate check --config " +
                             config_path + ")"
                       : "");
    return 1;
  }
  const Config& config = *loaded;
  LedgerOptions lo;
  lo.path = config.storage.path;
  lo.synchronous_full = config.storage.synchronous_full;
  lo.max_queued_events = config.limits.max_queued_events;
  // A damaged ledger is refused at start; a large one is checked for a second at start and then
  // whole in the background, so readiness does not wait on it (README, "Durability").
  lo.quick_check_at_open_ms = 1000;
  lo.quick_check_in_background = true;
  lo.request_timeout_ms = config.limits.request_timeout_s * 1000;
  lo.commit_interval_ms = config.storage.commit_interval_ms;
  lo.raw_retention_days = config.storage.raw_retention_days;
  lo.rollup_flush_interval_ms = config.storage.rollup_flush_interval_ms;
  lo.max_pending_rollup_rows = config.limits.max_pending_rollup_rows;
  lo.prune_held_at_open = true;     // until the budget service has read its checkpoints
  lo.recovery_held_at_open = true;  // until the budget service's start-up reads are done
  lo.currency = config.reporting.currency;
  lo.timezone = config.reporting.tz;
  auto ledger = Ledger::open(lo);
  if (!ledger.ok()) {
    spdlog::error("startup failed: {}", ledger.status().message());
    return 1;
  }
  DaemonMetrics metrics(config.metric_labels, config.max_series, config.reporting.currency);
  WorkerPool workers(2, "tg-worker");
  WorkerPool scrapes(1, "tg-scrape");
  // Usage and trace batches, off the I/O threads, at a lower CPU priority than the daemon's other
  // threads: where they compete for a core, the ledger's writer (which every acknowledgement
  // waits for) and the I/O threads (admission) go first. Idle cores they use in full.
  WorkerPool ingests(ingest_pool_size(config), "tg-ingest", kIngestNiceness);
  BudgetService budgets(config, *ledger.value(), metrics.registry());
  // Right after each commit, before any client hears of it: metrics and budget spend.
  ledger.value()->set_commit_observer([&metrics, &budgets](const CommitInfo& info) {
    metrics.record_commit(info.duration_s, info.events);
    budgets.engine().record(info.accepted);
  });
  budgets.start(policies);
  ledger.value()->release_recovery();
  // scope: global budgets: spend and grants exchanged with the other instances through etcd.
  std::optional<Coordinator> coordinator;
  if (config.coordinated()) {
    coordinator.emplace(config, budgets.engine(), metrics.registry());
    coordinator->start();
    spdlog::info("coordinating global budgets as instance {} through etcd {}",
                 config.coordination.instance, config.coordination.endpoints.front());
  }
  Api api(config, prices, *ledger.value(), metrics, budgets, workers, scrapes, ingests);
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
  // Each connection is a file descriptor, and the ledger, its WAL and the log need a few more.
  if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
      nofile.rlim_cur < config.server.max_connections + 64)
    spdlog::warn(
        "the open-files limit ({}) is below server.max_connections ({}) + 64: past it new "
        "connections fail (accept backs off); raise it (ulimit -n, systemd LimitNOFILE=) or "
        "lower server.max_connections",
        static_cast<uint64_t>(nofile.rlim_cur), config.server.max_connections);
  api.set_ready(true);
  ServerHooks hooks;
  hooks.on_ready = notify_ready;
  hooks.on_stopping = notify_stopping;
  // SIGHUP reloads on the worker pool: file reads stay off the I/O threads.
  hooks.on_reload = [&] { workers.post([&api] { api.reload(); }); };
  hooks.watchdog_every = watchdog_ping_interval();  // systemd's WatchdogSec=, when set
  hooks.on_watchdog = notify_watchdog;
  server.run(std::move(hooks));
  workers.shutdown();  // finishes a reload or report in progress while the Api still exists
  scrapes.shutdown();
  ingests.shutdown();
  // Every answered request's events are committed; stop() commits anything still queued.
  if (coordinator) coordinator->stop();
  budgets.stop();
  ledger.value()->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace tollgate
