// Daily report speed on a ledger the size of a busy deployment: 15-minute rollups equivalent to
// EVENTS_PER_DAY events a day over 8 days (the day and the 7 before it, which the report reads),
// spread over 100 features × 10 models × 4 teams, and the daily rollups built from them. Prints
// the report times, and as the reference the same report computed from the 15-minute buckets.
//   report_bench DB_PATH [EVENTS_PER_DAY=10000000]

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/event_sql.h"
#include "storage/report.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: report_bench DB_PATH [EVENTS_PER_DAY=10000000]\n");
    return 2;
  }
  const long long per_day = argc > 2 ? std::atoll(argv[2]) : 10'000'000;
  std::remove(argv[1]);
  sqlite3* db = nullptr;
  // Written as schema 9 (text dimensions), then migrated as an upgrade stores them (ids).
  if (sqlite3_open(argv[1], &db) != SQLITE_OK || !tollgate::migrate(db, 9).ok()) return 1;
  tollgate::exec_sql(db, "PRAGMA journal_mode=WAL");
  tollgate::Statement insert(db, R"sql(
INSERT INTO rollup_15m_rows (bucket_ms, day_local, feature, team, customer, tags, provider, model,
  region, priority, status, priced_by, currency, events, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos,
  value_units_nanos, revenue_nanos)
VALUES (?1, ?2, ?3, ?4, '', '{}', 'p', ?5, 'eu', 'standard', 'ok', 'price_book', 'USD', ?6, ?6,
  ?7, 0, 0, ?8, 0, 0, ?9, 0, 0))sql");
  const int64_t first_day = *tollgate::parse_date("2026-11-13");
  long long rows = 0;
  auto t0 = std::chrono::steady_clock::now();
  tollgate::exec_sql(db, "BEGIN");
  for (int day = 0; day < 8; ++day) {
    const std::string date = tollgate::format_date(first_day + day);
    // Each of the 4,000 dimension sets is active in every bucket it has events for.
    const long long events_per_combo_bucket = std::max(1LL, per_day / 4000 / 96);
    for (int bucket = 0; bucket < 96; ++bucket)
      for (int f = 0; f < 100; ++f)
        for (int m = 0; m < 10; ++m)
          for (int t = 0; t < 4; ++t) {
            // bind() keeps pointers: the strings must live until step().
            const std::string feature = "feature-" + std::to_string(f),
                              team = "team-" + std::to_string(t),
                              model = "model-" + std::to_string(m);
            insert.bind(1, (first_day + day) * 86'400'000 + bucket * 900'000);
            insert.bind(2, date).bind(3, feature).bind(4, team).bind(5, model);
            insert.bind(6, events_per_combo_bucket).bind(7, events_per_combo_bucket * 1200);
            insert.bind(8, events_per_combo_bucket * 300)
                .bind(9, events_per_combo_bucket * 3'240'000);
            if (insert.step() != SQLITE_DONE) return 1;
            insert.reset();
            ++rows;
          }
  }
  tollgate::exec_sql(db, "COMMIT");
  // The daily rollups the ledger keeps beside the buckets, as its migration builds them.
  // Every column named: the table has grown since (reasoning_tokens, schema 6), and a failed
  // statement here would leave the report reading an empty table.
  const tollgate::Status daily = tollgate::exec_sql(db,
                     R"sql(INSERT INTO rollup_daily_rows (day_local, feature, team, customer, tags,
    provider, model, region, priority, status, priced_by, currency, events, requests, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos,
    value_units_nanos, revenue_nanos) SELECT day_local, feature, team, customer, tags,
    provider, model, region, priority, status, priced_by, currency, SUM(events), SUM(requests),
    SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens),
    SUM(gpu_micros), SUM(egress_bytes), SUM(cost_nanos), SUM(value_units_nanos), SUM(revenue_nanos)
    FROM rollup_15m_rows GROUP BY day_local, feature, team, customer, tags, provider, model, region,
    priority, status, priced_by, currency)sql");
  if (!daily.ok()) {
    std::fprintf(stderr, "daily rollups: %s\n", daily.message().c_str());
    return 1;
  }
  // And the per-dimension daily rollups (schema 9), as the migration builds them: a report by
  // one dimension reads those.
  if (const tollgate::Status s = tollgate::bench::build_dimension_rollups(db); !s.ok()) {
    std::fprintf(stderr, "per-dimension rollups: %s\n", s.message().c_str());
    return 1;
  }
  if (const tollgate::Status s = tollgate::migrate(db); !s.ok()) {
    std::fprintf(stderr, "migration: %s\n", s.message().c_str());
    return 1;
  }
  double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("rollups: %lld rows for 8 days of %lld events/day (built in %.1f s)\n", rows, per_day,
              load);
  const int64_t day = first_day + 7;
  for (const char* dims : {"feature", "feature,model", "feature,model,team"}) {
    std::vector<std::string> group_by;
    std::string d = dims;
    for (size_t pos = 0; pos <= d.size();) {
      size_t c = d.find(',', pos);
      if (c == std::string::npos) c = d.size();
      group_by.push_back(d.substr(pos, c - pos));
      pos = c + 1;
    }
    auto start = std::chrono::steady_clock::now();
    auto report = tollgate::daily_report(db, day, group_by, "USD");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!report.ok()) return 1;
    // Reference: the same grouping over the 15-minute buckets (what the report would cost
    // without daily rollups), the days chosen by the buckets' key (bucket_ms, the first column;
    // the benchmark's days are UTC days).
    std::string sql = "SELECT day_local, " + d + ", SUM(cost_nanos) FROM rollup_15m WHERE bucket_ms >= " +
                      std::to_string((day - 7) * 86'400'000) + " AND bucket_ms < " +
                      std::to_string((day + 1) * 86'400'000) + " GROUP BY day_local, " + d;
    start = std::chrono::steady_clock::now();
    tollgate::Statement ref(db, sql);
    while (ref.step() == SQLITE_ROW) {
    }
    double ref_secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "report daily --group-by %-20s %5zu rows in %.3f s; from 15-minute buckets %.3f s "
        "(%.0fx)\n",
        dims, report->rows.size(), secs, ref_secs, ref_secs / secs);
  }
  sqlite3_close(db);
  return 0;
}
