#pragma once
// The raw-event INSERT of the benchmarks that write the ledger without the daemon
// (sqlite_floor, make_ledger): the rows of event_rows.h, as the daemon would store them; and the
// per-dimension rollups of the report benchmarks.

#include <string>

#include "bench/event_rows.h"
#include "storage/sqlite_util.h"

namespace tollgate::bench {

inline const char* kInsertEvent = R"sql(
INSERT INTO events (event_id, ts_ms, day_local, feature, team, customer, tags, provider, model,
  region, priority, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests,
  gpu_micros, egress_bytes, latency_ms, status, cost_nanos, currency, priced_by, price_ref,
  value_units_nanos, revenue_nanos, reservation_id, received_ms)
VALUES (?1, ?2, ?3, ?4, 'cx', '', '{}', ?5, ?6, 'eu-fr', 'standard', ?7, 0, 0, ?8, 1, 0,
  0, 420, 'ok', ?9, 'USD', 'price_book', 'p/m/*@always', 0, 0, '', ?2))sql";

inline int64_t cost_of(const Row& r) { return r.input_tokens * 1200 + r.output_tokens * 6000; }

// Binds `r` stamped `ts` on local day `day` (both must outlive the step()).
inline void bind_event(Statement& insert, const Row& r, const int64_t& ts, const std::string& day) {
  insert.bind(1, r.event_id).bind(2, ts).bind(3, day).bind(4, r.feature).bind(5, r.provider);
  insert.bind(6, r.model).bind(7, r.input_tokens).bind(8, r.output_tokens).bind(9, cost_of(r));
}

// The per-dimension daily rollups of what rollup_daily_rows holds, as schema 9's migration builds
// them (benchmarks that write the stored rollups directly).
inline Status build_dimension_rollups(sqlite3* db) {
  return exec_sql(db, R"sql(
INSERT INTO rollup_daily_dim_rows
SELECT day_local, d.name, CASE d.name WHEN 'feature' THEN feature WHEN 'team' THEN team
         WHEN 'customer' THEN customer WHEN 'model' THEN model WHEN 'provider' THEN provider
         WHEN 'region' THEN region WHEN 'priority' THEN priority END,
       SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens),
       SUM(output_tokens), SUM(gpu_micros), SUM(cost_nanos),
       SUM(CASE WHEN priced_by = 'unpriced' THEN requests ELSE 0 END), SUM(value_units_nanos),
       SUM(revenue_nanos)
FROM rollup_daily_rows, rollup_dimensions d GROUP BY 1, 2, 3)sql");
}

}  // namespace tollgate::bench
