// Writes a ledger of N usage events spread evenly over the HOURS before now (UTC days), straight
// into SQLite with the ledger's own migration: raw events plus the 15-minute and daily rollups
// the daemon would have written for them. For benchmarks that need a big ledger fast (10 million
// events in well under a minute), not through HTTP.
//   make_ledger DB_PATH [N=10000000] [HOURS=6]

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "bench/event_sql.h"
#include "metering/time_util.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace {

struct Sums {
  int64_t events = 0, input = 0, output = 0, cost = 0;
};

constexpr int64_t kBucketMs = 15 * 60'000;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_ledger DB_PATH [N=10000000] [HOURS=6]\n");
    return 2;
  }
  const long long total = argc > 2 ? std::atoll(argv[2]) : 10'000'000;
  const long long hours = argc > 3 ? std::atoll(argv[3]) : 6;
  std::remove(argv[1]);
  tollgate::configure_sqlite();
  sqlite3* db = nullptr;
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) return 1;
  // No journal while generating (a failed run is simply rerun); WAL for the daemon at the end.
  tollgate::exec_sql(db, "PRAGMA journal_mode=OFF");
  tollgate::exec_sql(db, "PRAGMA synchronous=OFF");
  tollgate::exec_sql(db, "PRAGMA cache_size=-262144");
  // Written as schema 9 (text dimensions), then migrated as an upgrade stores them (ids).
  if (!tollgate::migrate(db, 9).ok()) return 1;
  tollgate::Statement insert(db, tollgate::bench::kInsertEvent);
  if (!insert.ok()) {
    std::fprintf(stderr, "%s\n", insert.error().c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now = tollgate::system_now_ms();
  const int64_t span = hours * 3'600'000, first = now - span;
  std::map<std::pair<int64_t, int>, Sums> buckets;  // (bucket start, row kind) → sums
  tollgate::exec_sql(db, "BEGIN");
  for (long long n = 0; n < total; ++n) {
    const auto r = tollgate::bench::row("old", n);
    const int64_t ts = first + static_cast<int64_t>(n * (span / double(total)));
    const std::string day = tollgate::format_date(ts / 86'400'000);
    const int64_t cost = tollgate::bench::cost_of(r);
    tollgate::bench::bind_event(insert, r, ts, day);
    if (insert.step() != SQLITE_DONE) {
      std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
      return 1;
    }
    insert.reset();
    Sums& s = buckets[{ts / kBucketMs * kBucketMs, static_cast<int>(n % 4)}];
    s.events += 1;
    s.input += r.input_tokens;
    s.output += r.output_tokens;
    s.cost += cost;
    if (n % 100'000 == 99'999) {
      tollgate::exec_sql(db, "COMMIT");
      tollgate::exec_sql(db, "BEGIN");
    }
  }
  const char* columns =
      "feature, team, customer, tags, provider, model, region, priority, status, priced_by, "
      "currency, events, requests, input_tokens, cached_input_tokens, cache_write_tokens, "
      "output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos";
  const char* values =
      "?3, 'cx', '', '{}', ?4, ?5, 'eu-fr', 'standard', 'ok', 'price_book', 'USD', ?6, ?6, ?7, 0, "
      "0, ?8, 0, 0, ?9, 0, 0";
  const char* add =
      " ON CONFLICT DO UPDATE SET events = events + excluded.events, requests = requests + "
      "excluded.requests, input_tokens = input_tokens + excluded.input_tokens, output_tokens = "
      "output_tokens + excluded.output_tokens, cost_nanos = cost_nanos + excluded.cost_nanos";
  tollgate::Statement bucket(db, std::string("INSERT INTO rollup_15m_rows (bucket_ms, day_local, ") +
                                     columns + ") VALUES (?1, ?2, " + values + ")" + add);
  tollgate::Statement daily(db, std::string("INSERT INTO rollup_daily_rows (day_local, ") + columns +
                                    ") VALUES (?2, " + values + ")" + add);
  if (!bucket.ok() || !daily.ok()) {
    std::fprintf(stderr, "%s%s\n", bucket.error().c_str(), daily.error().c_str());
    return 1;
  }
  for (const auto& [key, s] : buckets) {
    const auto r = tollgate::bench::row("", key.second);
    const std::string day = tollgate::format_date(key.first / 86'400'000);
    for (tollgate::Statement* st : {&bucket, &daily}) {
      st->bind(1, key.first).bind(2, day).bind(3, r.feature).bind(4, r.provider);
      st->bind(5, r.model).bind(6, s.events).bind(7, s.input).bind(8, s.output).bind(9, s.cost);
      if (st->step() != SQLITE_DONE) {
        std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        return 1;
      }
      st->reset();
    }
  }
  // Every event is in the stored rollups (schema 9's watermark).
  tollgate::exec_sql(db, "UPDATE rollup_watermark SET through_rowid = (SELECT MAX(rowid) FROM events)");
  tollgate::exec_sql(db, "COMMIT");
  if (const tollgate::Status s = tollgate::migrate(db); !s.ok()) {
    std::fprintf(stderr, "migration: %s\n", s.message().c_str());
    return 1;
  }
  tollgate::exec_sql(db, "PRAGMA journal_mode=WAL");
  sqlite3_close(db);
  std::printf("ledger: %lld events over the last %lld h written in %.1f s\n", total, hours,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
