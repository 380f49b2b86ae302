// The daily report at a company's cardinality (event_rows.h's company shape: 50 features, 7
// teams, 1,000 customers, 4 models, 2 regions, 3 priorities, two tags): EVENTS events in one day
// make nearly as many dimension sets, so the full daily rollups hold about a row per event. The
// ledger is written as the daemon leaves it after a flush (rollup_daily_rows, the per-dimension
// rollup_daily_dim_rows, the watermark past every event), then the report is read grouped by
// feature, by customer, and by both, against the reference of the same grouping summed over the
// rollup_daily view (what the report read before per-dimension rollups and ids).
//   report_company_bench DB_PATH [EVENTS=10000000]

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/event_rows.h"
#include "bench/event_sql.h"
#include "storage/policy_store.h"
#include "storage/report.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tollgate::bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: report_company_bench DB_PATH [EVENTS=10000000]\n");
    return 2;
  }
  const long long n = argc > 2 ? std::atoll(argv[2]) : 10'000'000;
  std::remove(argv[1]);
  tollgate::configure_sqlite();
  sqlite3* db = nullptr;
  // Written as schema 9 (text dimensions), then migrated as an upgrade stores them (ids).
  if (sqlite3_open(argv[1], &db) != SQLITE_OK || !tollgate::migrate(db, 9).ok()) return 1;
  tollgate::exec_sql(db, "PRAGMA journal_mode=OFF");
  tollgate::exec_sql(db, "PRAGMA synchronous=OFF");
  tollgate::exec_sql(db, "PRAGMA cache_size=-262144");
  tollgate::Statement insert(db, R"sql(
INSERT INTO rollup_daily_rows (day_local, feature, team, customer, tags, provider, model, region,
  priority, status, priced_by, currency, events, requests, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
  revenue_nanos)
VALUES ('2026-11-20', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'ok', 'price_book', 'USD', 1, 1, ?9, ?10, 0,
  ?11, 0, 0, ?12, 0, 0)
ON CONFLICT DO UPDATE SET events = events + 1, requests = requests + 1,
  input_tokens = input_tokens + excluded.input_tokens,
  cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
  output_tokens = output_tokens + excluded.output_tokens,
  cost_nanos = cost_nanos + excluded.cost_nanos)sql");
  if (!insert.ok()) {
    std::fprintf(stderr, "%s\n", insert.error().c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  tollgate::exec_sql(db, "BEGIN");
  for (long long i = 0; i < n; ++i) {
    const CompanyRow r = company_row("e", i);
    const std::string feature = "feature-" + std::to_string(r.feature),
                      team = "team-" + std::to_string(r.team),
                      customer = "customer-" + std::to_string(r.customer),
                      tags = std::string("{\"cost_center\":\"cc-") + std::to_string(r.cost_center) +
                             "\",\"env\":\"" + kEnvs[r.env] + "\"}";
    insert.bind(1, feature).bind(2, team).bind(3, customer).bind(4, tags);
    insert.bind(5, kProviders[r.model]).bind(6, kModels[r.model]).bind(7, kRegions[r.region]);
    insert.bind(8, kPriorities[r.priority]).bind(9, r.input_tokens).bind(10, r.cached_input_tokens);
    insert.bind(11, r.output_tokens).bind(12, (r.input_tokens + r.output_tokens) * 1000);
    if (insert.step() != SQLITE_DONE) {
      std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
      return 1;
    }
    insert.reset();
  }
  if (const tollgate::Status s = tollgate::bench::build_dimension_rollups(db); !s.ok()) {
    std::fprintf(stderr, "per-dimension rollups: %s\n", s.message().c_str());
    return 1;
  }
  tollgate::exec_sql(db, "COMMIT");
  if (const tollgate::Status s = tollgate::migrate(db); !s.ok()) {
    std::fprintf(stderr, "migration: %s\n", s.message().c_str());
    return 1;
  }
  tollgate::Statement rows(db, "SELECT COUNT(*) FROM rollup_daily_rows");
  rows.step();
  std::printf("ledger: %lld events in one day, %lld full daily rollup rows (built in %.1f s)\n", n,
              static_cast<long long>(rows.column_int(0)), seconds_since(t0));
  rows = tollgate::Statement();
  tollgate::exec_sql(db, "PRAGMA journal_mode=WAL");
  sqlite3_close(db);
  db = tollgate::open_read_only(argv[1]).value();  // as the daemon's report route reads it
  // By one dimension (the per-dimension rollups), then by two (the full rollups, grouped by ids).
  for (const std::string dim : {"feature", "customer", "feature,customer"}) {
    std::vector<std::string> group_by{dim.substr(0, dim.find(','))};
    if (dim.find(',') != std::string::npos) group_by.push_back(dim.substr(dim.find(',') + 1));
    auto start = std::chrono::steady_clock::now();
    auto report = tollgate::daily_report(db, *tollgate::parse_date("2026-11-20"), group_by, "USD");
    const double secs = seconds_since(start);
    if (!report.ok()) {
      std::fprintf(stderr, "%s\n", report.status().message().c_str());
      return 1;
    }
    start = std::chrono::steady_clock::now();
    tollgate::Statement ref(db, std::string("SELECT day_local, ") + dim +
                                    ", SUM(cost_nanos) FROM rollup_daily WHERE day_local "
                                    "BETWEEN '2026-11-13' AND '2026-11-20' GROUP BY day_local, " +
                                    dim);
    long long ref_rows = 0;
    while (ref.step() == SQLITE_ROW) ++ref_rows;
    const double ref_secs = seconds_since(start);
    std::printf("report daily --group-by %-16s %6zu rows in %.3f s (target <= 0.200); from the "
                "full daily rollups %.3f s (%.0fx)\n",
                dim.c_str(), report->rows.size(), secs, ref_secs, ref_secs / secs);
  }
  sqlite3_close(db);
  return 0;
}
