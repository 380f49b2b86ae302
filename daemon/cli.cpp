#include "daemon/cli.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/api.h"
#include "daemon/budget_service.h"
#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"
#include "daemon/daemon_metrics.h"
#include "daemon/http/server.h"
#include "daemon/finance/litellm_import.h"
#include "daemon/logging.h"
#include "daemon/systemd_notify.h"
#include "daemon/config/policies_file.h"
#include "daemon/finance/reports.h"
#include "daemon/worker_pool.h"
#include "storage/ledger.h"
#include "storage/policy_store.h"
#include "storage/report.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

constexpr const char* kUsage = R"(usage:
  tollgate serve --config FILE
  tollgate check --config FILE
  tollgate report daily (--config FILE | --db FILE) [--date YYYY-MM-DD] [--group-by DIMS]
                        [--format table|csv|json]
  tollgate export focus (--config FILE | --db FILE) --from DATE --to DATE
  tollgate backup (--config FILE | --db FILE) --out FILE
  tollgate prices import --litellm FILE [--out FILE]
  tollgate --version
global flags: --log-format text|json (default text), --log-level trace|debug|info|warn|error
)";

// Value of "--name VALUE" in args, or "".
std::string flag(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == name) return args[i + 1];
  return "";
}

// Loads the main file and every file it names; nullopt when any has an error (all in `errors`).
std::optional<Config> load_all(const std::string& path, std::shared_ptr<const PriceBook>& prices,
                               std::shared_ptr<const PolicySet>& policies, LoadErrors& errors) {
  Config config = load_config(path, errors);
  prices = std::make_shared<PriceBook>();
  policies = std::make_shared<PolicySet>();
  if (errors.ok()) {
    if (!config.prices_file.empty()) prices = load_prices(config.prices_file, config, errors);
    if (!config.policies_file.empty()) policies = load_policies(config.policies_file, errors);
  }
  if (!errors.ok()) return std::nullopt;
  return config;
}

int check(const std::string& path) {
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  LoadErrors errors;
  auto config = load_all(path, prices, policies, errors);
  for (const auto& line : errors.lines) std::cerr << line << "\n";  // every error, one a line
  if (!config) return 1;
  std::cout << path << ": ok (" << prices->size() << " prices, " << policies->budgets.size()
            << " budgets)\n";
  return 0;
}

int serve(const std::string& path) {
  std::shared_ptr<const PriceBook> prices;
  std::shared_ptr<const PolicySet> policies;
  LoadErrors errors;
  auto loaded = load_all(path, prices, policies, errors);
  if (!loaded) {
    // One line (CONTRACT §1); `tollgate check` lists them all.
    const size_t more = errors.lines.size() - 1;
    spdlog::error(
        "startup failed: {}{}", errors.lines.front(),
        more ? " (and " + std::to_string(more) + " more: run tollgate check --config " + path + ")"
             : "");
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
  ServerHooks hooks;
  hooks.on_ready = notify_ready;
  hooks.on_stopping = notify_stopping;
  // SIGHUP reloads on the worker pool: file reads stay off the I/O threads.
  hooks.on_reload = [&] { workers.post([&api] { api.reload(); }); };
  hooks.watchdog_every = watchdog_ping_interval();  // systemd's WatchdogSec=, when set
  hooks.on_watchdog = notify_watchdog;
  server.run(std::move(hooks));
  workers.shutdown();  // finishes a reload or report in progress while the Api still exists
  // Every answered request's events are committed; stop() commits anything still queued.
  budgets.engine().stop_ticker();
  ledger.value()->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

bool has_flag(const std::vector<std::string>& args, const std::string& name) {
  for (const auto& a : args)
    if (a == name) return true;
  return false;
}

// Where to read the ledger and how to report it: from --config, or from the ledger's own meta
// table with --db (the settings the daemon recorded).
std::optional<ReportSettings> report_settings(const std::vector<std::string>& args) {
  const std::string config_path = flag(args, "--config"), db = flag(args, "--db");
  if (config_path.empty() == db.empty()) {
    std::fprintf(stderr, "tollgate: give exactly one of --config FILE or --db FILE\n");
    return std::nullopt;
  }
  ReportSettings s;
  if (!config_path.empty()) {
    LoadErrors errors;
    Config c = load_config(config_path, errors);
    for (const auto& l : errors.lines) std::cerr << l << "\n";
    if (!errors.ok()) return std::nullopt;
    s.db_path = c.storage.path;
    s.currency = c.reporting.currency;
    s.tz = c.reporting.tz;
  } else {
    s.db_path = db;
  }
  auto conn = open_read_only(s.db_path);
  if (!conn.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", conn.status().message().c_str());
    return std::nullopt;
  }
  if (!db.empty()) {
    LedgerMeta meta = read_meta(conn.value());
    s.currency = meta.currency;
    auto tz = TimeZone::load(meta.timezone);
    if (tz.ok()) s.tz = tz.value();
  }
  sqlite3_close(conn.value());
  return s;
}

int print_or_fail(const Result<Rendered>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", r.status().message().c_str());
    return 1;
  }
  std::fwrite(r->body.data(), 1, r->body.size(), stdout);
  return 0;
}

int report(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] != "daily") {
    std::fprintf(stderr, "tollgate report: only \"report daily\" exists\n%s", kUsage);
    return 1;
  }
  auto s = report_settings(args);
  if (!s) return 1;
  ReportQuery q;
  if (has_flag(args, "--date")) q.date = flag(args, "--date");
  if (has_flag(args, "--group-by")) q.group_by = flag(args, "--group-by");
  q.format = has_flag(args, "--format") ? flag(args, "--format") : "table";
  return print_or_fail(render_daily_report(*s, q, system_now_ms()));
}

int export_focus(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] != "focus") {
    std::fprintf(stderr, "tollgate export: only \"export focus\" exists\n%s", kUsage);
    return 1;
  }
  auto s = report_settings(args);
  if (!s) return 1;
  if (flag(args, "--from").empty() || flag(args, "--to").empty()) {
    std::fprintf(stderr, "tollgate export focus: --from DATE and --to DATE are required\n");
    return 1;
  }
  return print_or_fail(render_focus_export(*s, flag(args, "--from"), flag(args, "--to")));
}

int backup(const std::vector<std::string>& args) {
  auto s = report_settings(args);
  if (!s) return 1;
  const std::string out = flag(args, "--out");
  if (out.empty()) {
    std::fprintf(stderr, "tollgate backup: --out FILE is required\n");
    return 1;
  }
  Status st = backup_database(s->db_path, out);
  if (!st.ok()) {
    std::fprintf(stderr, "tollgate backup: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "backed up %s to %s (integrity_check ok)\n", s->db_path.c_str(),
               out.c_str());
  return 0;
}

int prices_import(const std::vector<std::string>& args) {
  const std::string in = flag(args, "--litellm"), out = flag(args, "--out");
  if (args.size() < 2 || args[1] != "import" || in.empty()) {
    std::fprintf(stderr, "usage: tollgate prices import --litellm FILE [--out FILE]\n");
    return 1;
  }
  std::ifstream file(in);
  if (!file) {
    std::fprintf(stderr, "tollgate: cannot read %s\n", in.c_str());
    return 1;
  }
  std::stringstream text;
  text << file.rdbuf();
  auto result = import_litellm(text.str(), in);
  if (!result.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", result.status().message().c_str());
    return 1;
  }
  if (out.empty()) {
    std::fwrite(result->yaml.data(), 1, result->yaml.size(), stdout);
  } else {
    std::ofstream(out) << result->yaml;
  }
  std::fprintf(stderr, "imported %zu prices from %s\n", result->imported, in.c_str());
  for (const auto& [reason, n] : result->skipped)
    std::fprintf(stderr, "skipped %zu: %s\n", n, reason.c_str());
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  configure_sqlite();
  std::vector<std::string> args(argv + 1, argv + argc);
  // Global flags, anywhere on the line.
  std::string log_format = "text", log_level = "info";
  for (size_t i = 0; i + 1 < args.size();) {
    if (args[i] == "--log-format" || args[i] == "--log-level") {
      (args[i] == "--log-format" ? log_format : log_level) = args[i + 1];
      args.erase(args.begin() + i, args.begin() + i + 2);
    } else {
      ++i;
    }
  }
  if (!setup_logging(log_format, log_level)) {
    std::fprintf(stderr,
                 "tollgate: --log-format is text or json; --log-level is trace, debug, info, warn "
                 "or error\n");
    return 1;
  }
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
  if (args[0] == "report") return report(args);
  if (args[0] == "export") return export_focus(args);
  if (args[0] == "backup") return backup(args);
  if (args[0] == "prices") return prices_import(args);
  std::fprintf(stderr, "tollgate: unknown command \"%s\"\n%s", args[0].c_str(), kUsage);
  return 1;
}

}  // namespace tollgate
