#include "storage/schema.h"

#include <string>

#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

// Schemas 10 and 11 keep dimension strings as dim_values ids; their views (over a table aliased
// `r` with the *_id columns) look the strings up with these joins, and the rollup views show
// these columns.
#define TOLLGATE_DIM_JOINS                                          \
  "LEFT JOIN dim_values feature ON feature.id = r.feature_id\n"     \
  "LEFT JOIN dim_values team ON team.id = r.team_id\n"              \
  "LEFT JOIN dim_values customer ON customer.id = r.customer_id\n"  \
  "LEFT JOIN dim_values tags ON tags.id = r.tags_id\n"              \
  "LEFT JOIN dim_values provider ON provider.id = r.provider_id\n"  \
  "LEFT JOIN dim_values model ON model.id = r.model_id\n"           \
  "LEFT JOIN dim_values region ON region.id = r.region_id\n"        \
  "LEFT JOIN dim_values priority ON priority.id = r.priority_id\n"  \
  "LEFT JOIN dim_values status ON status.id = r.status_id\n"        \
  "LEFT JOIN dim_values priced_by ON priced_by.id = r.priced_by_id\n" \
  "LEFT JOIN dim_values currency ON currency.id = r.currency_id\n"
#define TOLLGATE_ROLLUP_COLUMNS                                                                  \
  "feature.value AS feature, team.value AS team, customer.value AS customer, "                   \
  "tags.value AS tags, provider.value AS provider, model.value AS model, "                        \
  "region.value AS region, priority.value AS priority, status.value AS status, "                  \
  "priced_by.value AS priced_by, currency.value AS currency, r.events, r.requests, "              \
  "r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.gpu_micros, " \
  "r.egress_bytes, r.cost_nanos, r.value_units_nanos, r.revenue_nanos, r.reasoning_tokens\n"

// Schema 17's raw rows (event_rows `r`): their dimensions of few values are a dim_sets row `s`;
// customer and tags stay in the row. The same aliases as TOLLGATE_DIM_JOINS.
#define TOLLGATE_SET_JOINS                                          \
  "LEFT JOIN dim_sets s ON s.id = r.set_id\n"                      \
  "LEFT JOIN dim_values feature ON feature.id = s.feature_id\n"     \
  "LEFT JOIN dim_values team ON team.id = s.team_id\n"              \
  "LEFT JOIN dim_values customer ON customer.id = r.customer_id\n"  \
  "LEFT JOIN dim_values tags ON tags.id = r.tags_id\n"              \
  "LEFT JOIN dim_values provider ON provider.id = s.provider_id\n"  \
  "LEFT JOIN dim_values model ON model.id = s.model_id\n"           \
  "LEFT JOIN dim_values region ON region.id = s.region_id\n"        \
  "LEFT JOIN dim_values priority ON priority.id = s.priority_id\n"  \
  "LEFT JOIN dim_values status ON status.id = s.status_id\n"        \
  "LEFT JOIN dim_values priced_by ON priced_by.id = s.priced_by_id\n" \
  "LEFT JOIN dim_values currency ON currency.id = s.currency_id\n"

// Schemas 16 and 17: a raw event's time changed by hand widens its event_ts_blocks row, so that
// retention and the reports across ledgers still find it (the daemon never changes a time).
#define TOLLGATE_WIDEN_TS_BLOCK_TRIGGER                                                       \
  "\nCREATE TRIGGER event_ts_blocks_widen AFTER UPDATE OF ts_ms ON event_rows BEGIN\n"        \
  "  INSERT INTO event_ts_blocks (block, min_ts_ms, max_ts_ms)\n"                             \
  "  VALUES (NEW.rowid >> 10, NEW.ts_ms, NEW.ts_ms) ON CONFLICT (block) DO UPDATE SET\n"      \
  "  min_ts_ms = MIN(min_ts_ms, excluded.min_ts_ms), max_ts_ms = MAX(max_ts_ms, "            \
  "excluded.max_ts_ms);\nEND;\n"

// A listed event's row (event_rows `r`) as a rollup row of one event (schema 14's views).
#define TOLLGATE_LISTED_COLUMNS                                                                \
  TOLLGATE_LISTED_HEAD "r.cache_write_tokens, r.output_tokens, r.gpu_micros, r.egress_bytes, " \
                       "r.cost_nanos, r.value_units_nanos, r.revenue_nanos, r.reasoning_tokens\n"
// Its dimensions and first counts, shared with schema 18's.
#define TOLLGATE_LISTED_HEAD                                                                    \
  "feature.value AS feature, team.value AS team, customer.value AS customer, "                  \
  "tags.value AS tags, provider.value AS provider, model.value AS model, "                       \
  "region.value AS region, priority.value AS priority, status.value AS status, "                 \
  "priced_by.value AS priced_by, currency.value AS currency, 1, r.requests, "                    \
  "r.input_tokens, r.cached_input_tokens, "

// Schema 18's: cache writes, egress, value units and revenue from event_extras `x`.
#define TOLLGATE_LISTED_COLUMNS_18 TOLLGATE_LISTED_HEAD TOLLGATE_EVENT_SUM_COLUMNS("r", "x") "\n"

// Schemas 17 and 18: the rollup views over the stored rollups, the listed raw rows (LISTED:
// their columns as a rollup row of one event, read through JOINS, schema 17's sets and what
// schema 18 adds) and the events past the watermark; daily_costs over them.
#define TOLLGATE_RAW_ROLLUP_VIEWS(LISTED, JOINS) \
  "CREATE VIEW rollup_15m AS\n" \
  "SELECT r.bucket_ms, r.day_local,\n" \
  TOLLGATE_ROLLUP_COLUMNS "FROM rollup_15m_rows r\n" TOLLGATE_DIM_JOINS "UNION ALL\n" \
  "SELECT r.ts_ms - ((r.ts_ms % 900000) + 900000) % 900000, g.day_local,\n" \
  LISTED "FROM rollup_raw_ranges g\n" \
  "CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid\n" \
  JOINS "WHERE r.listed AND " TOLLGATE_EVENT_DAY("r") " = g.day_local\n" \
  "UNION ALL\n" \
  "SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, "  \
  "tags,\n       provider, model, region, priority, status, priced_by, currency, 1, requests, " \
  "input_tokens,\n" \
  "       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,\n" \
  "       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens\n" \
  "FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);\n" \
  "CREATE VIEW rollup_daily AS\n" \
  "SELECT r.day_local,\n" \
  TOLLGATE_ROLLUP_COLUMNS "FROM rollup_daily_rows r\n" TOLLGATE_DIM_JOINS "UNION ALL\n" \
  "SELECT g.day_local,\n" \
  LISTED "FROM rollup_raw_ranges g\n" \
  "CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid\n" \
  JOINS "WHERE r.listed AND " TOLLGATE_EVENT_DAY("r") " = g.day_local\n" \
  "UNION ALL\n" \
  "SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,\n" \
  "       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, "                 \
  "cache_write_tokens,\n       output_tokens, gpu_micros, egress_bytes, cost_nanos, "           \
  "value_units_nanos, revenue_nanos,\n" \
  "       reasoning_tokens\n" \
  "FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);\n" \
  "CREATE VIEW daily_costs AS\n" \
  "SELECT day_local, feature, team, customer, provider, model, region, priority,\n" \
  "       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,\n" \
  "       SUM(cached_input_tokens) AS cached_input_tokens,\n" \
  "       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,\n" \
  "       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,\n" \
  "       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue\n" \
  "FROM rollup_daily\n" \
  "GROUP BY day_local, feature, team, customer, provider, model, region, priority;\n"

// Money, value units and revenue are integer nanos; gpu time is integer microseconds. The views
// of CONTRACT §6 expose REAL conversions for analysts.
const char* const kMigrations[] = {
    // 1: raw events, 15-minute rollups (every real-world UTC offset is a multiple of 15 minutes,
    //    so a local day is a whole number of buckets), the views of CONTRACT §6.
    R"sql(
CREATE TABLE events (
  event_id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  day_local TEXT NOT NULL,
  feature TEXT NOT NULL, team TEXT NOT NULL, customer TEXT NOT NULL, tags TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL, priority TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  status TEXT NOT NULL, cost_nanos INTEGER NOT NULL, currency TEXT NOT NULL,
  priced_by TEXT NOT NULL, price_ref TEXT NOT NULL, value_units_nanos INTEGER NOT NULL,
  revenue_nanos INTEGER NOT NULL, reservation_id TEXT NOT NULL, received_ms INTEGER NOT NULL
);
CREATE INDEX events_ts ON events(ts_ms);

CREATE TABLE rollup_15m (
  bucket_ms INTEGER NOT NULL,
  day_local TEXT NOT NULL,
  feature TEXT NOT NULL, team TEXT NOT NULL, customer TEXT NOT NULL, tags TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL, priority TEXT NOT NULL,
  status TEXT NOT NULL, priced_by TEXT NOT NULL, currency TEXT NOT NULL,
  events INTEGER NOT NULL, requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL,
  PRIMARY KEY (bucket_ms, feature, team, customer, tags, provider, model, region, priority,
               status, priced_by, currency)
) WITHOUT ROWID;
CREATE INDEX rollup_day ON rollup_15m(day_local);

CREATE VIEW ledger_events AS
SELECT event_id,
       strftime('%Y-%m-%dT%H:%M:%S', ts_ms / 1000, 'unixepoch') || printf('.%03dZ', ts_ms % 1000)
         AS ts_utc,
       day_local, feature, team, customer, provider, model, region, priority,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests,
       gpu_micros / 1e6 AS gpu_seconds, egress_bytes, status,
       cost_nanos / 1e9 AS cost, currency, priced_by,
       value_units_nanos / 1e9 AS value_units, revenue_nanos / 1e9 AS revenue
FROM events;

CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_15m
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 2: budget enforcement state that must survive restarts: overrides, alerts already fired
    //    (once per budget, threshold and period), and the audit log.
    R"sql(
CREATE TABLE overrides (
  id TEXT PRIMARY KEY, budget TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
  actor TEXT NOT NULL, created_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL,
  ended_ms INTEGER
);
CREATE TABLE alerts_fired (key TEXT PRIMARY KEY, fired_ms INTEGER NOT NULL);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL, budget TEXT NOT NULL,
  actor TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit(ts_ms);
)sql",
    // 3: the daemon's reporting settings, so readers given only --db report like the daemon.
    R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
    // 4: daily rollups beside the 15-minute ones: a report reads 8 days of these instead of
    //    8 × 96 buckets (measured: 4.5 s → well under a second at 10 million events a day).
    R"sql(
CREATE TABLE rollup_daily (
  day_local TEXT NOT NULL,
  feature TEXT NOT NULL, team TEXT NOT NULL, customer TEXT NOT NULL, tags TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL, priority TEXT NOT NULL,
  status TEXT NOT NULL, priced_by TEXT NOT NULL, currency TEXT NOT NULL,
  events INTEGER NOT NULL, requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL,
  PRIMARY KEY (day_local, feature, team, customer, tags, provider, model, region, priority,
               status, priced_by, currency)
) WITHOUT ROWID;
INSERT INTO rollup_daily
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, SUM(events), SUM(requests), SUM(input_tokens),
       SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), SUM(gpu_micros),
       SUM(egress_bytes), SUM(cost_nanos), SUM(value_units_nanos), SUM(revenue_nanos)
FROM rollup_15m
GROUP BY day_local, feature, team, customer, tags, provider, model, region, priority, status,
         priced_by, currency;
DROP VIEW daily_costs;
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 5: open admission reservations, so a restart does not forget spend already promised.
    R"sql(
CREATE TABLE reservations (
  id TEXT PRIMARY KEY, budgets TEXT NOT NULL, estimate_nanos INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
);
)sql",
    // 6: reasoning tokens, the part of the output tokens priced apart (CONTRACT §2.2, §3). Rows
    //    written before are kept as they are: they had none counted apart.
    R"sql(
ALTER TABLE events ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_15m ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_daily ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: itemised charges for the FOCUS export (CONTRACT §4.7): per local day, dimension, SKU
    //    component and price, the quantity (tokens, requests, GPU microseconds, bytes) and the
    //    component's share of the cost. Caller-priced usage is one "caller-priced" component.
    //    Events stored before have no charges: the export shows their cost as it was, on one row
    //    per day and group, unsplit (nothing is repriced).
    R"sql(
CREATE TABLE charges_daily (
  day_local TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL,
  feature TEXT NOT NULL, team TEXT NOT NULL, customer TEXT NOT NULL, priority TEXT NOT NULL,
  tags TEXT NOT NULL, priced_by TEXT NOT NULL, component TEXT NOT NULL,
  sku_price_id TEXT NOT NULL, pricing_currency TEXT NOT NULL, fx_nanos INTEGER NOT NULL,
  list_rate_nanos INTEGER NOT NULL, contracted_rate_nanos INTEGER NOT NULL,
  discount_nano_percent INTEGER NOT NULL,
  quantity INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  PRIMARY KEY (day_local, provider, model, region, feature, team, customer, priority, tags,
               priced_by, component, sku_price_id, pricing_currency, fx_nanos, list_rate_nanos,
               contracted_rate_nanos, discount_nano_percent)
) WITHOUT ROWID;
)sql",
    // 8: charges keyed by what a FOCUS row is (day, provider, model, region, feature, team, SKU
    //    component, price) instead of also by customer, priority and tags: at a company's
    //    cardinality (1,000 customers, tags) that key made nearly every event three rows of its
    //    own. A row keeps the smallest and largest customer, priority and tags it holds, so the
    //    export still names the one when a row has only one. And the day index of the
    //    15-minute rollups goes: nothing reads them by day (reports read rollup_daily, budgets
    //    read buckets by bucket_ms, the key's first column), yet every event paid a row in it.
    R"sql(
DROP INDEX rollup_day;
CREATE TABLE charges_daily_v8 (
  day_local TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL,
  feature TEXT NOT NULL, team TEXT NOT NULL,
  priced_by TEXT NOT NULL, component TEXT NOT NULL,
  sku_price_id TEXT NOT NULL, pricing_currency TEXT NOT NULL, fx_nanos INTEGER NOT NULL,
  list_rate_nanos INTEGER NOT NULL, contracted_rate_nanos INTEGER NOT NULL,
  discount_nano_percent INTEGER NOT NULL,
  customer_lo TEXT NOT NULL, customer_hi TEXT NOT NULL, priority_lo TEXT NOT NULL,
  priority_hi TEXT NOT NULL, tags_lo TEXT NOT NULL, tags_hi TEXT NOT NULL,
  quantity INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  PRIMARY KEY (day_local, provider, model, region, feature, team, priced_by, component,
               sku_price_id, pricing_currency, fx_nanos, list_rate_nanos, contracted_rate_nanos,
               discount_nano_percent)
) WITHOUT ROWID;
INSERT INTO charges_daily_v8
SELECT day_local, provider, model, region, feature, team, priced_by, component, sku_price_id,
       pricing_currency, fx_nanos, list_rate_nanos, contracted_rate_nanos, discount_nano_percent,
       MIN(customer), MAX(customer), MIN(priority), MAX(priority), MIN(tags), MAX(tags),
       SUM(quantity), SUM(cost_nanos)
FROM charges_daily
GROUP BY day_local, provider, model, region, feature, team, priced_by, component, sku_price_id,
         pricing_currency, fx_nanos, list_rate_nanos, contracted_rate_nanos, discount_nano_percent;
DROP TABLE charges_daily;
ALTER TABLE charges_daily_v8 RENAME TO charges_daily;
)sql",
    // 9: rollups written every few seconds from memory instead of at every commit (at a company's
    //    cardinality nearly every event was a new row in each, a random page per event). The raw
    //    events stay the truth: rollup_watermark says through which events rowid the stored
    //    rollups hold, and `rollup_15m` / `rollup_daily` become views that add the events past
    //    it, so every reader (reports, views, budget rebuilds, analysts) sees exactly what is
    //    committed. After a crash the ledger rolls the events past the watermark up at start.
    R"sql(
ALTER TABLE rollup_15m RENAME TO rollup_15m_rows;
ALTER TABLE rollup_daily RENAME TO rollup_daily_rows;
CREATE TABLE rollup_watermark (through_rowid INTEGER NOT NULL);
INSERT INTO rollup_watermark SELECT IFNULL(MAX(rowid), 0) FROM events;
CREATE VIEW rollup_15m AS
SELECT bucket_ms, day_local, feature, team, customer, tags, provider, model, region, priority,
       status, priced_by, currency, events, requests, input_tokens, cached_input_tokens,
       cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
       revenue_nanos, reasoning_tokens
FROM rollup_15m_rows
UNION ALL
SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, tags,
       provider, model, region, priority, status, priced_by, currency, 1, requests, input_tokens,
       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW rollup_daily AS
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, events, requests, input_tokens, cached_input_tokens,
       cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
       revenue_nanos, reasoning_tokens
FROM rollup_daily_rows
UNION ALL
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos,
       reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
DROP VIEW daily_costs;
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
-- The itemised charges likewise: each event's charge lines are appended to event_charges (small
-- integer rows at the table's right edge, against charge_prices, the prices seen) and summed into
-- charges_daily_rows at the flush, which then deletes them: the table holds only the events past
-- the watermark. The view charges_daily adds them.
CREATE TABLE charge_prices (
  id INTEGER PRIMARY KEY,
  component TEXT NOT NULL, sku_price_id TEXT NOT NULL, pricing_currency TEXT NOT NULL,
  fx_nanos INTEGER NOT NULL, list_rate_nanos INTEGER NOT NULL,
  contracted_rate_nanos INTEGER NOT NULL, discount_nano_percent INTEGER NOT NULL,
  UNIQUE (component, sku_price_id, pricing_currency, fx_nanos, list_rate_nanos,
          contracted_rate_nanos, discount_nano_percent)
);
CREATE TABLE event_charges (
  event_rowid INTEGER NOT NULL, price_id INTEGER NOT NULL,
  quantity INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  PRIMARY KEY (event_rowid, price_id)
) WITHOUT ROWID;
ALTER TABLE charges_daily RENAME TO charges_daily_rows;
CREATE VIEW charges_daily AS
SELECT day_local, provider, model, region, feature, team, priced_by, component, sku_price_id,
       pricing_currency, fx_nanos, list_rate_nanos, contracted_rate_nanos, discount_nano_percent,
       customer_lo, customer_hi, priority_lo, priority_hi, tags_lo, tags_hi, quantity, cost_nanos
FROM charges_daily_rows
UNION ALL
SELECT e.day_local, e.provider, e.model, e.region, e.feature, e.team, e.priced_by, p.component,
       p.sku_price_id, p.pricing_currency, p.fx_nanos, p.list_rate_nanos, p.contracted_rate_nanos,
       p.discount_nano_percent, e.customer, e.customer, e.priority, e.priority, e.tags, e.tags,
       c.quantity, c.cost_nanos
FROM event_charges c JOIN events e ON e.rowid = c.event_rowid JOIN charge_prices p ON p.id = c.price_id
WHERE c.event_rowid > (SELECT through_rowid FROM rollup_watermark);
-- A report grouped by one dimension (feature, customer, ...) reads a day's values of it here, a
-- few rows, instead of every dimension set of the day in rollup_daily (at a company's cardinality
-- about one per event). Same watermark, same view over the raw events past it. The dimensions
-- are rows of rollup_dimensions, so one statement serves them all.
CREATE TABLE rollup_dimensions (name TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO rollup_dimensions VALUES
  ('feature'), ('team'), ('customer'), ('model'), ('provider'), ('region'), ('priority');
CREATE TABLE rollup_daily_dim_rows (
  day_local TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT NOT NULL,
  requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, gpu_micros INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL,
  PRIMARY KEY (dimension, day_local, value)
) WITHOUT ROWID;
INSERT INTO rollup_daily_dim_rows
SELECT day_local, d.name,
       CASE d.name WHEN 'feature' THEN feature WHEN 'team' THEN team WHEN 'customer' THEN customer
         WHEN 'model' THEN model WHEN 'provider' THEN provider WHEN 'region' THEN region
         WHEN 'priority' THEN priority END,
       SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens),
       SUM(output_tokens), SUM(gpu_micros), SUM(cost_nanos),
       SUM(CASE WHEN priced_by = 'unpriced' THEN requests ELSE 0 END), SUM(value_units_nanos),
       SUM(revenue_nanos)
FROM rollup_daily_rows, rollup_dimensions d GROUP BY 1, 2, 3;
CREATE VIEW rollup_daily_dim AS
SELECT day_local, dimension, value, requests, input_tokens, cached_input_tokens,
       cache_write_tokens, output_tokens, gpu_micros, cost_nanos, unpriced_requests,
       value_units_nanos, revenue_nanos
FROM rollup_daily_dim_rows
UNION ALL
SELECT day_local, d.name,
       CASE d.name WHEN 'feature' THEN feature WHEN 'team' THEN team WHEN 'customer' THEN customer
         WHEN 'model' THEN model WHEN 'provider' THEN provider WHEN 'region' THEN region
         WHEN 'priority' THEN priority END,
       requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros,
       cost_nanos, CASE WHEN priced_by = 'unpriced' THEN requests ELSE 0 END, value_units_nanos,
       revenue_nanos
FROM events, rollup_dimensions d
WHERE events.rowid > (SELECT through_rowid FROM rollup_watermark);
)sql",
    // 10: the rollups' dimensions dictionary-encoded. At a company's cardinality a 15-minute or
    //    daily rollup row is nearly one per event, and its eleven dimension strings were ~120 of
    //    its ~180 bytes; every distinct string is now one row of dim_values and the rollups hold
    //    its id (1-2 bytes). The views rollup_15m and rollup_daily still show the strings, so
    //    every reader sees the same columns. The day stays text: readers range over it. The
    //    joins are LEFT JOINs on dim_values' key so SQLite leaves out those a query does not
    //    read (a report by customer looks up one string per row, not eleven).
    R"sql(
CREATE TABLE dim_values (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
INSERT INTO dim_values (value)
SELECT feature FROM rollup_daily_rows
UNION SELECT team FROM rollup_daily_rows
UNION SELECT customer FROM rollup_daily_rows
UNION SELECT tags FROM rollup_daily_rows
UNION SELECT provider FROM rollup_daily_rows
UNION SELECT model FROM rollup_daily_rows
UNION SELECT region FROM rollup_daily_rows
UNION SELECT priority FROM rollup_daily_rows
UNION SELECT status FROM rollup_daily_rows
UNION SELECT priced_by FROM rollup_daily_rows
UNION SELECT currency FROM rollup_daily_rows
UNION SELECT feature FROM rollup_15m_rows
UNION SELECT team FROM rollup_15m_rows
UNION SELECT customer FROM rollup_15m_rows
UNION SELECT tags FROM rollup_15m_rows
UNION SELECT provider FROM rollup_15m_rows
UNION SELECT model FROM rollup_15m_rows
UNION SELECT region FROM rollup_15m_rows
UNION SELECT priority FROM rollup_15m_rows
UNION SELECT status FROM rollup_15m_rows
UNION SELECT priced_by FROM rollup_15m_rows
UNION SELECT currency FROM rollup_15m_rows;
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
CREATE TABLE rollup_15m_v10 (
  bucket_ms INTEGER NOT NULL, day_local TEXT NOT NULL,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
  tags_id INTEGER NOT NULL, provider_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
  region_id INTEGER NOT NULL, priority_id INTEGER NOT NULL, status_id INTEGER NOT NULL,
  priced_by_id INTEGER NOT NULL, currency_id INTEGER NOT NULL,
  events INTEGER NOT NULL, requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  PRIMARY KEY (bucket_ms, feature_id, team_id, customer_id, tags_id, provider_id, model_id,
               region_id, priority_id, status_id, priced_by_id, currency_id)
) WITHOUT ROWID;
INSERT INTO rollup_15m_v10
SELECT bucket_ms, day_local,
       (SELECT id FROM dim_values WHERE value = feature),
       (SELECT id FROM dim_values WHERE value = team),
       (SELECT id FROM dim_values WHERE value = customer),
       (SELECT id FROM dim_values WHERE value = tags),
       (SELECT id FROM dim_values WHERE value = provider),
       (SELECT id FROM dim_values WHERE value = model),
       (SELECT id FROM dim_values WHERE value = region),
       (SELECT id FROM dim_values WHERE value = priority),
       (SELECT id FROM dim_values WHERE value = status),
       (SELECT id FROM dim_values WHERE value = priced_by),
       (SELECT id FROM dim_values WHERE value = currency),
       events, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
       gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM rollup_15m_rows ORDER BY 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13;
DROP TABLE rollup_15m_rows;
ALTER TABLE rollup_15m_v10 RENAME TO rollup_15m_rows;
CREATE TABLE rollup_daily_v10 (
  day_local TEXT NOT NULL,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
  tags_id INTEGER NOT NULL, provider_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
  region_id INTEGER NOT NULL, priority_id INTEGER NOT NULL, status_id INTEGER NOT NULL,
  priced_by_id INTEGER NOT NULL, currency_id INTEGER NOT NULL,
  events INTEGER NOT NULL, requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  PRIMARY KEY (day_local, feature_id, team_id, customer_id, tags_id, provider_id, model_id,
               region_id, priority_id, status_id, priced_by_id, currency_id)
) WITHOUT ROWID;
INSERT INTO rollup_daily_v10
SELECT day_local,
       (SELECT id FROM dim_values WHERE value = feature),
       (SELECT id FROM dim_values WHERE value = team),
       (SELECT id FROM dim_values WHERE value = customer),
       (SELECT id FROM dim_values WHERE value = tags),
       (SELECT id FROM dim_values WHERE value = provider),
       (SELECT id FROM dim_values WHERE value = model),
       (SELECT id FROM dim_values WHERE value = region),
       (SELECT id FROM dim_values WHERE value = priority),
       (SELECT id FROM dim_values WHERE value = status),
       (SELECT id FROM dim_values WHERE value = priced_by),
       (SELECT id FROM dim_values WHERE value = currency),
       events, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
       gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM rollup_daily_rows ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
DROP TABLE rollup_daily_rows;
ALTER TABLE rollup_daily_v10 RENAME TO rollup_daily_rows;
CREATE VIEW rollup_15m AS
SELECT r.bucket_ms, r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_15m_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, tags,
       provider, model, region, priority, status, priced_by, currency, 1, requests, input_tokens,
       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW rollup_daily AS
SELECT r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_daily_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos,
       reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 11: the raw events' strings dictionary-encoded like the rollups' (schema 10): the table is
    //    event_rows, with dim_values ids, and `events` a view with the old columns and rowid,
    //    so every reader (the views of CONTRACT §6, the rollup views, analysts) is unchanged.
    //    Rowids are kept: the watermark and event_charges name them. The views that read
    //    `events` are left as they are and read the new view (DROP TABLE leaves them be).
    R"sql(
CREATE TABLE event_rows (
  event_id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  day_local TEXT NOT NULL,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
  tags_id INTEGER NOT NULL, provider_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
  region_id INTEGER NOT NULL, priority_id INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  status_id INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, currency_id INTEGER NOT NULL,
  priced_by_id INTEGER NOT NULL, price_ref_id INTEGER NOT NULL, value_units_nanos INTEGER NOT NULL,
  revenue_nanos INTEGER NOT NULL, reservation_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL
);
INSERT OR IGNORE INTO dim_values (value)
SELECT feature FROM events
UNION SELECT team FROM events
UNION SELECT customer FROM events
UNION SELECT tags FROM events
UNION SELECT provider FROM events
UNION SELECT model FROM events
UNION SELECT region FROM events
UNION SELECT priority FROM events
UNION SELECT status FROM events
UNION SELECT currency FROM events
UNION SELECT priced_by FROM events
UNION SELECT price_ref FROM events;
INSERT INTO event_rows (rowid, event_id, ts_ms, day_local, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_ms, reasoning_tokens)
SELECT rowid, event_id, ts_ms, day_local,
       (SELECT id FROM dim_values WHERE value = feature),
       (SELECT id FROM dim_values WHERE value = team),
       (SELECT id FROM dim_values WHERE value = customer),
       (SELECT id FROM dim_values WHERE value = tags),
       (SELECT id FROM dim_values WHERE value = provider),
       (SELECT id FROM dim_values WHERE value = model),
       (SELECT id FROM dim_values WHERE value = region),
       (SELECT id FROM dim_values WHERE value = priority),
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests, gpu_micros,
       egress_bytes, latency_ms, (SELECT id FROM dim_values WHERE value = status), cost_nanos,
       (SELECT id FROM dim_values WHERE value = currency),
       (SELECT id FROM dim_values WHERE value = priced_by),
       (SELECT id FROM dim_values WHERE value = price_ref),
       value_units_nanos, revenue_nanos, reservation_id, received_ms, reasoning_tokens
FROM events ORDER BY rowid;
DROP TABLE events;
CREATE INDEX events_ts ON event_rows(ts_ms);
CREATE VIEW events AS
SELECT r.event_id, r.ts_ms, r.day_local, feature.value AS feature, team.value AS team,
       customer.value AS customer, tags.value AS tags, provider.value AS provider,
       model.value AS model, region.value AS region, priority.value AS priority, r.input_tokens,
       r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.requests, r.gpu_micros,
       r.egress_bytes, r.latency_ms, status.value AS status, r.cost_nanos,
       currency.value AS currency, priced_by.value AS priced_by, price_ref.value AS price_ref,
       r.value_units_nanos, r.revenue_nanos, r.reservation_id, r.received_ms, r.reasoning_tokens,
       r.rowid AS rowid
FROM event_rows r
)sql" TOLLGATE_DIM_JOINS R"sql(LEFT JOIN dim_values price_ref ON price_ref.id = r.price_ref_id;
)sql",
    // 12: each budget's period spend as the engine counted it through the events up to
    //    budget_spend_through's rowid, written every few seconds and at a stop, so a start
    //    reads one row per budget and the events since, not a month of daily rollups (at a
    //    company's cardinality about a row per event: minutes for a monthly budget). `scope` is
    //    what the spend was counted under (period, match, zone, currency, burn windows); a
    //    budget whose scope changed is rebuilt from the rollups. `ahead`: spend stamped in later
    //    periods, "start:nanos" separated by ';'. budget_spend_minutes: the spend per minute of
    //    the budgets' burn-rate windows (the last hours), so a start need not read hours of
    //    15-minute rollups either. A row is rewritten only when its budget's state changed:
    //    unchanged, it is still the state through the newer rowid.
    R"sql(
CREATE TABLE budget_spend (
  budget TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  period_start_ms INTEGER NOT NULL,
  spend_nanos INTEGER NOT NULL,
  ahead TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE budget_spend_through (through_rowid INTEGER NOT NULL);
INSERT INTO budget_spend_through VALUES (0);
CREATE TABLE budget_spend_minutes (
  budget TEXT NOT NULL,
  minute INTEGER NOT NULL,
  nanos INTEGER NOT NULL,
  PRIMARY KEY (budget, minute)
) WITHOUT ROWID;
)sql",
    // 13: an event alone in its full-key rollup rows is left as its raw row. At a company's
    //    cardinality (1,000 customers, tags) nearly every event was a 15-minute and a daily row
    //    of its own, as wide as the event row (136 bytes of ~317 an event). A flush that holds
    //    one event under a daily key (its 15-minute key then holds it alone too) that no recent
    //    flush wrote writes no rollup row for it and lists it here instead (~30 bytes), by day
    //    and bucket: the views add the listed events, a reader of days (reports, daily_costs)
    //    finds them by the day, the budgets' scan of recent buckets by the days and buckets.
    //    Retention rolls a listed event up into the stored rows before it prunes it: the
    //    rollups are still kept forever. One key may now have several rows in the views (stored
    //    and listed): every reader adds them up.
    R"sql(
CREATE TABLE rollup_raw_events (
  day_local TEXT NOT NULL,
  bucket_ms INTEGER NOT NULL,
  event_rowid INTEGER NOT NULL,
  PRIMARY KEY (day_local, bucket_ms, event_rowid)
) WITHOUT ROWID;
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
CREATE VIEW rollup_15m AS
SELECT r.bucket_ms, r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_15m_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT u.bucket_ms, u.day_local, e.feature, e.team, e.customer, e.tags, e.provider, e.model,
       e.region, e.priority, e.status, e.priced_by, e.currency, 1, e.requests, e.input_tokens,
       e.cached_input_tokens, e.cache_write_tokens, e.output_tokens, e.gpu_micros, e.egress_bytes,
       e.cost_nanos, e.value_units_nanos, e.revenue_nanos, e.reasoning_tokens
FROM rollup_raw_events u CROSS JOIN events e ON e.rowid = u.event_rowid
UNION ALL
SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, tags,
       provider, model, region, priority, status, priced_by, currency, 1, requests, input_tokens,
       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW rollup_daily AS
SELECT r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_daily_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT u.day_local, e.feature, e.team, e.customer, e.tags, e.provider, e.model, e.region,
       e.priority, e.status, e.priced_by, e.currency, 1, e.requests, e.input_tokens,
       e.cached_input_tokens, e.cache_write_tokens, e.output_tokens, e.gpu_micros, e.egress_bytes,
       e.cost_nanos, e.value_units_nanos, e.revenue_nanos, e.reasoning_tokens
FROM rollup_raw_events u CROSS JOIN events e ON e.rowid = u.event_rowid
UNION ALL
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos,
       reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 14: the listed events marked in their own rows instead of a list beside them (~30 bytes an
    //    event at a company's cardinality, where nearly every event is listed, and a B-tree
    //    insert each). `listed` costs a row no byte past its header's (0 and 1 are stored in the
    //    header). The writer decides it as it inserts the event: the first event under a daily
    //    key no recent event had. A flush names, per day, the range of rowids and buckets of the
    //    listed events it passes in rollup_raw_ranges (a row per flush and day): a flush's events
    //    are past every earlier range, so a day's ranges never overlap, and the listed events of
    //    the day inside a range are exactly that flush's. Readers of a day seek its ranges and
    //    read each as a rowid range. The list's events are marked and named by ranges as a
    //    flush would (a new one where the day's next is more than 64 rowids on). The `+`
    //    of `+r.day_local`: without it SQLite may build an automatic index on event_rows' days
    //    (a scan of every event) instead of reading the ranges' rowids.
    R"sql(
ALTER TABLE event_rows ADD COLUMN listed INTEGER NOT NULL DEFAULT 0;
UPDATE event_rows SET listed = 1 WHERE rowid IN (SELECT event_rowid FROM rollup_raw_events);
CREATE TABLE rollup_raw_ranges (
  day_local TEXT NOT NULL,
  first_rowid INTEGER NOT NULL,
  last_rowid INTEGER NOT NULL,
  first_bucket_ms INTEGER NOT NULL,
  last_bucket_ms INTEGER NOT NULL,
  PRIMARY KEY (day_local, first_rowid)
) WITHOUT ROWID;
INSERT INTO rollup_raw_ranges
SELECT day_local, MIN(event_rowid), MAX(event_rowid), MIN(bucket_ms), MAX(bucket_ms)
FROM (SELECT day_local, event_rowid, bucket_ms,
             SUM(starts) OVER (PARTITION BY day_local ORDER BY event_rowid) AS range_no
      FROM (SELECT day_local, event_rowid, bucket_ms,
                   CASE WHEN event_rowid - LAG(event_rowid) OVER (PARTITION BY day_local
                             ORDER BY event_rowid) <= 64 THEN 0 ELSE 1 END AS starts
            FROM rollup_raw_events))
GROUP BY day_local, range_no;
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
DROP TABLE rollup_raw_events;
CREATE VIEW rollup_15m AS
SELECT r.bucket_ms, r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_15m_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT r.ts_ms - ((r.ts_ms % 900000) + 900000) % 900000, g.day_local,
)sql" TOLLGATE_LISTED_COLUMNS R"sql(FROM rollup_raw_ranges g
CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid
)sql" TOLLGATE_DIM_JOINS R"sql(WHERE r.listed AND +r.day_local = g.day_local
UNION ALL
SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, tags,
       provider, model, region, priority, status, priced_by, currency, 1, requests, input_tokens,
       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW rollup_daily AS
SELECT r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_daily_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT g.day_local,
)sql" TOLLGATE_LISTED_COLUMNS R"sql(FROM rollup_raw_ranges g
CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid
)sql" TOLLGATE_DIM_JOINS R"sql(WHERE r.listed AND +r.day_local = g.day_local
UNION ALL
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos,
       reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 15: the raw row's day and receive time as small offsets. The day was 10 bytes of text in
    //    every row, yet it is ts_ms's UTC day or one either side (zones are within 14 hours of
    //    UTC): `day_offset` holds that -1, 0 or 1 (0 and 1 cost no byte past the header), or the
    //    day's text where SQLite's date() cannot write it (before year 0 or after 9999: only the
    //    ledger's own API takes such times). `received_offset_ms` holds the receive time less
    //    ts_ms (a few bytes, not 6), or the time as text where that passes int64. Columns of no
    //    type, so each holds what it was given. The view `events` shows both as before.
    R"sql(
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
DROP VIEW events;
CREATE TABLE event_rows_v15 (
  event_id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  day_offset NOT NULL,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
  tags_id INTEGER NOT NULL, provider_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
  region_id INTEGER NOT NULL, priority_id INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  status_id INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, currency_id INTEGER NOT NULL,
  priced_by_id INTEGER NOT NULL, price_ref_id INTEGER NOT NULL, value_units_nanos INTEGER NOT NULL,
  revenue_nanos INTEGER NOT NULL, reservation_id TEXT NOT NULL, received_offset_ms NOT NULL,
  reasoning_tokens INTEGER NOT NULL, listed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO event_rows_v15 (rowid, event_id, ts_ms, day_offset, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_offset_ms, reasoning_tokens, listed)
SELECT rowid, event_id, ts_ms,
       CASE day_local WHEN date(utc_s, 'unixepoch') THEN 0
                      WHEN date(utc_s + 86400, 'unixepoch') THEN 1
                      WHEN date(utc_s - 86400, 'unixepoch') THEN -1 ELSE day_local END,
       feature_id, team_id, customer_id, tags_id, provider_id, model_id, region_id, priority_id,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests, gpu_micros,
       egress_bytes, latency_ms, status_id, cost_nanos, currency_id, priced_by_id, price_ref_id,
       value_units_nanos, revenue_nanos, reservation_id,
       CASE WHEN typeof(received_ms - ts_ms) = 'integer' THEN received_ms - ts_ms
            ELSE CAST(received_ms AS TEXT) END,
       reasoning_tokens, listed
FROM (SELECT rowid, *, (ts_ms - ((ts_ms % 86400000) + 86400000) % 86400000) / 1000 AS utc_s
      FROM event_rows) ORDER BY rowid;
DROP TABLE event_rows;
ALTER TABLE event_rows_v15 RENAME TO event_rows;
CREATE INDEX events_ts ON event_rows(ts_ms);
CREATE VIEW events AS
SELECT r.event_id, r.ts_ms, )sql" TOLLGATE_EVENT_DAY("r") R"sql( AS day_local,
       feature.value AS feature, team.value AS team,
       customer.value AS customer, tags.value AS tags, provider.value AS provider,
       model.value AS model, region.value AS region, priority.value AS priority, r.input_tokens,
       r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.requests, r.gpu_micros,
       r.egress_bytes, r.latency_ms, status.value AS status, r.cost_nanos,
       currency.value AS currency, priced_by.value AS priced_by, price_ref.value AS price_ref,
       r.value_units_nanos, r.revenue_nanos, r.reservation_id,
       )sql" TOLLGATE_EVENT_RECEIVED("r") R"sql( AS received_ms, r.reasoning_tokens,
       r.rowid AS rowid
FROM event_rows r
)sql" TOLLGATE_DIM_JOINS R"sql(LEFT JOIN dim_values price_ref ON price_ref.id = r.price_ref_id;
CREATE VIEW rollup_15m AS
SELECT r.bucket_ms, r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_15m_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT r.ts_ms - ((r.ts_ms % 900000) + 900000) % 900000, g.day_local,
)sql" TOLLGATE_LISTED_COLUMNS R"sql(FROM rollup_raw_ranges g
CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid
)sql" TOLLGATE_DIM_JOINS "WHERE r.listed AND " TOLLGATE_EVENT_DAY("r") R"sql( = g.day_local
UNION ALL
SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000, day_local, feature, team, customer, tags,
       provider, model, region, priority, status, priced_by, currency, 1, requests, input_tokens,
       cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
       cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW rollup_daily AS
SELECT r.day_local,
)sql" TOLLGATE_ROLLUP_COLUMNS "FROM rollup_daily_rows r\n" TOLLGATE_DIM_JOINS R"sql(UNION ALL
SELECT g.day_local,
)sql" TOLLGATE_LISTED_COLUMNS R"sql(FROM rollup_raw_ranges g
CROSS JOIN event_rows r ON r.rowid BETWEEN g.first_rowid AND g.last_rowid
)sql" TOLLGATE_DIM_JOINS "WHERE r.listed AND " TOLLGATE_EVENT_DAY("r") R"sql( = g.day_local
UNION ALL
SELECT day_local, feature, team, customer, tags, provider, model, region, priority, status,
       priced_by, currency, 1, requests, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, revenue_nanos,
       reasoning_tokens
FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark);
CREATE VIEW daily_costs AS
SELECT day_local, feature, team, customer, provider, model, region, priority,
       SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
       SUM(gpu_micros) / 1e6 AS gpu_seconds, SUM(cost_nanos) / 1e9 AS cost,
       SUM(value_units_nanos) / 1e9 AS value_units, SUM(revenue_nanos) / 1e9 AS revenue
FROM rollup_daily
GROUP BY day_local, feature, team, customer, provider, model, region, priority;
)sql",
    // 16: event_rows' index on ts_ms (17 bytes an event at a company's traffic, and a B-tree
    //    insert each) gives way to event_ts_blocks: per block of 1024 rowids (rowid >> 10), the
    //    lowest and highest ts_ms of its events. Retention and the reports across ledgers read
    //    the blocks whose times meet theirs, and in them the events whose times do. Every event
    //    at or below the rollup watermark lies within its block's times (the flush writes them
    //    with the watermark; events past it are read whole); a prune narrows the blocks it
    //    touched. An analyst who filters `events` by ts_ms often may add an index of their own.
    //    A time edited by hand widens its block (a trigger). The blocks are read block by block
    //    (a GROUP BY would sort every event: the index is gone).
    R"sql(
DROP INDEX IF EXISTS events_ts;
CREATE TABLE event_ts_blocks (
  block INTEGER PRIMARY KEY,
  min_ts_ms INTEGER NOT NULL,
  max_ts_ms INTEGER NOT NULL
);
INSERT INTO event_ts_blocks (block, min_ts_ms, max_ts_ms)
SELECT n, lo, hi FROM (
  WITH RECURSIVE b(n) AS (
    SELECT (SELECT MIN(rowid) >> 10 FROM event_rows) UNION ALL
    SELECT n + 1 FROM b WHERE n < (SELECT MAX(rowid) >> 10 FROM event_rows))
  SELECT n, (SELECT MIN(ts_ms) FROM event_rows WHERE rowid BETWEEN n << 10 AND (n << 10) + 1023)
         AS lo,
         (SELECT MAX(ts_ms) FROM event_rows WHERE rowid BETWEEN n << 10 AND (n << 10) + 1023)
         AS hi
  FROM b)
WHERE lo IS NOT NULL;
)sql" TOLLGATE_WIDEN_TS_BLOCK_TRIGGER,
    // 17: a raw row's ten dimensions of few values (feature, team, provider, model, region,
    //    priority, status, currency, priced_by, price_ref) are one `dim_sets` row: ten columns
    //    (a header byte and one or two bytes each) become `set_id`, about 18 bytes an event. At a
    //    company's traffic the sets number thousands where the events number millions; customer
    //    and tags, which have many values, stay in the row. The views show the same columns.
    R"sql(
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
DROP VIEW events;
CREATE TABLE dim_sets (
  id INTEGER PRIMARY KEY,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, provider_id INTEGER NOT NULL,
  model_id INTEGER NOT NULL, region_id INTEGER NOT NULL, priority_id INTEGER NOT NULL,
  status_id INTEGER NOT NULL, currency_id INTEGER NOT NULL, priced_by_id INTEGER NOT NULL,
  price_ref_id INTEGER NOT NULL,
  UNIQUE (feature_id, team_id, provider_id, model_id, region_id, priority_id, status_id,
          currency_id, priced_by_id, price_ref_id)
);
INSERT INTO dim_sets (feature_id, team_id, provider_id, model_id, region_id, priority_id,
  status_id, currency_id, priced_by_id, price_ref_id)
SELECT DISTINCT feature_id, team_id, provider_id, model_id, region_id, priority_id, status_id,
       currency_id, priced_by_id, price_ref_id
FROM event_rows ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
CREATE TABLE event_rows_v17 (
  event_id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  day_offset NOT NULL,
  set_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, tags_id INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, requests INTEGER NOT NULL,
  gpu_micros INTEGER NOT NULL, egress_bytes INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL, value_units_nanos INTEGER NOT NULL,
  revenue_nanos INTEGER NOT NULL, reservation_id TEXT NOT NULL, received_offset_ms NOT NULL,
  reasoning_tokens INTEGER NOT NULL, listed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO event_rows_v17 (rowid, event_id, ts_ms, day_offset, set_id, customer_id, tags_id,
  input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests, gpu_micros,
  egress_bytes, latency_ms, cost_nanos, value_units_nanos, revenue_nanos, reservation_id,
  received_offset_ms, reasoning_tokens, listed)
SELECT r.rowid, r.event_id, r.ts_ms, r.day_offset, s.id, r.customer_id, r.tags_id,
       r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.requests,
       r.gpu_micros, r.egress_bytes, r.latency_ms, r.cost_nanos, r.value_units_nanos,
       r.revenue_nanos, r.reservation_id, r.received_offset_ms, r.reasoning_tokens, r.listed
FROM event_rows r JOIN dim_sets s ON s.feature_id = r.feature_id AND s.team_id = r.team_id
  AND s.provider_id = r.provider_id AND s.model_id = r.model_id AND s.region_id = r.region_id
  AND s.priority_id = r.priority_id AND s.status_id = r.status_id
  AND s.currency_id = r.currency_id AND s.priced_by_id = r.priced_by_id
  AND s.price_ref_id = r.price_ref_id
ORDER BY r.rowid;
DROP TABLE event_rows;
ALTER TABLE event_rows_v17 RENAME TO event_rows;
)sql" TOLLGATE_WIDEN_TS_BLOCK_TRIGGER R"sql(
CREATE VIEW events AS
SELECT r.event_id, r.ts_ms, )sql" TOLLGATE_EVENT_DAY("r") R"sql( AS day_local,
       feature.value AS feature, team.value AS team,
       customer.value AS customer, tags.value AS tags, provider.value AS provider,
       model.value AS model, region.value AS region, priority.value AS priority, r.input_tokens,
       r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.requests, r.gpu_micros,
       r.egress_bytes, r.latency_ms, status.value AS status, r.cost_nanos,
       currency.value AS currency, priced_by.value AS priced_by, price_ref.value AS price_ref,
       r.value_units_nanos, r.revenue_nanos, r.reservation_id,
       )sql" TOLLGATE_EVENT_RECEIVED("r") R"sql( AS received_ms, r.reasoning_tokens,
       r.rowid AS rowid
FROM event_rows r
)sql" TOLLGATE_SET_JOINS R"sql(LEFT JOIN dim_values price_ref ON price_ref.id = s.price_ref_id;
)sql" TOLLGATE_RAW_ROLLUP_VIEWS(TOLLGATE_LISTED_COLUMNS, TOLLGATE_SET_JOINS),
    // 18: cache writes, egress, value units and revenue, which a typical event leaves at zero,
    //    move to event_extras, a row for each event that sets one (none for the others): four
    //    header bytes fewer an event (schema.h). GPU time and reasoning tokens, which whole
    //    providers set on every event, and the reservation id, which every event of a reserving
    //    client carries, stay in the row. A trigger deletes an event's extras with its row, so
    //    a rowid used again never finds another event's. The views show the same columns and
    //    rows. The values move as they are stored (whatever an analyst put there).
    R"sql(
DROP VIEW daily_costs;
DROP VIEW rollup_15m;
DROP VIEW rollup_daily;
DROP VIEW events;
CREATE TABLE event_extras (
  event_rowid INTEGER PRIMARY KEY,
  cache_write_tokens INTEGER NOT NULL, egress_bytes INTEGER NOT NULL,
  value_units_nanos INTEGER NOT NULL, revenue_nanos INTEGER NOT NULL
);
INSERT INTO event_extras (event_rowid, cache_write_tokens, egress_bytes, value_units_nanos,
  revenue_nanos)
SELECT rowid, cache_write_tokens, egress_bytes, value_units_nanos, revenue_nanos FROM event_rows
WHERE NOT (cache_write_tokens IS 0 AND egress_bytes IS 0 AND value_units_nanos IS 0
           AND revenue_nanos IS 0)
ORDER BY rowid;
CREATE TABLE event_rows_v18 (
  event_id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  day_offset NOT NULL,
  set_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, tags_id INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, gpu_micros INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, reservation_id TEXT NOT NULL,
  received_offset_ms NOT NULL, reasoning_tokens INTEGER NOT NULL,
  listed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO event_rows_v18 (rowid, event_id, ts_ms, day_offset, set_id, customer_id, tags_id,
  input_tokens, cached_input_tokens, output_tokens, requests, gpu_micros, latency_ms, cost_nanos,
  reservation_id, received_offset_ms, reasoning_tokens, listed)
SELECT rowid, event_id, ts_ms, day_offset, set_id, customer_id, tags_id, input_tokens,
       cached_input_tokens, output_tokens, requests, gpu_micros, latency_ms, cost_nanos,
       reservation_id, received_offset_ms, reasoning_tokens, listed
FROM event_rows ORDER BY rowid;
DROP TABLE event_rows;
ALTER TABLE event_rows_v18 RENAME TO event_rows;
CREATE TRIGGER event_extras_follow AFTER DELETE ON event_rows BEGIN
  DELETE FROM event_extras WHERE event_rowid = OLD.rowid;
END;
)sql" TOLLGATE_WIDEN_TS_BLOCK_TRIGGER R"sql(
CREATE VIEW events AS
SELECT r.event_id, r.ts_ms, )sql" TOLLGATE_EVENT_DAY("r") R"sql( AS day_local,
       feature.value AS feature, team.value AS team,
       customer.value AS customer, tags.value AS tags, provider.value AS provider,
       model.value AS model, region.value AS region, priority.value AS priority, r.input_tokens,
       r.cached_input_tokens, )sql" TOLLGATE_EVENT_EXTRA("x", "cache_write_tokens") R"sql(
       AS cache_write_tokens, r.output_tokens, r.requests, r.gpu_micros,
       )sql" TOLLGATE_EVENT_EXTRA("x", "egress_bytes") R"sql( AS egress_bytes, r.latency_ms,
       status.value AS status, r.cost_nanos, currency.value AS currency,
       priced_by.value AS priced_by, price_ref.value AS price_ref,
       )sql" TOLLGATE_EVENT_EXTRA("x", "value_units_nanos") R"sql( AS value_units_nanos,
       )sql" TOLLGATE_EVENT_EXTRA("x", "revenue_nanos") R"sql( AS revenue_nanos, r.reservation_id,
       )sql" TOLLGATE_EVENT_RECEIVED("r") R"sql( AS received_ms, r.reasoning_tokens,
       r.rowid AS rowid
FROM event_rows r
)sql" TOLLGATE_SET_JOINS TOLLGATE_EXTRAS_JOIN("x", "r") R"sql(LEFT JOIN dim_values price_ref ON price_ref.id = s.price_ref_id;
)sql" TOLLGATE_RAW_ROLLUP_VIEWS(TOLLGATE_LISTED_COLUMNS_18,
                                          TOLLGATE_SET_JOINS TOLLGATE_EXTRAS_JOIN("x", "r")),
    // 19: charges_daily_rows holds dim_values ids and its charge_prices id where it held their
    //    strings (schema 10 did the same for the rollups): a row of about 60 bytes where it was
    //    about 280. At 10,000 features a day has hundreds of thousands of these rows, each flush
    //    upserts one per charge line of nearly every event, and the wide rows made that half of
    //    the writer's time. The key is the day, the ids and the price; the view charges_daily
    //    shows the same columns and rows. The ranges (customer, priority, tags lo/hi) stay the
    //    lowest and highest by their strings.
    R"sql(
DROP VIEW charges_daily;
INSERT OR IGNORE INTO dim_values (value)
SELECT provider FROM charges_daily_rows UNION SELECT model FROM charges_daily_rows
UNION SELECT region FROM charges_daily_rows UNION SELECT feature FROM charges_daily_rows
UNION SELECT team FROM charges_daily_rows UNION SELECT priced_by FROM charges_daily_rows
UNION SELECT customer_lo FROM charges_daily_rows UNION SELECT customer_hi FROM charges_daily_rows
UNION SELECT priority_lo FROM charges_daily_rows UNION SELECT priority_hi FROM charges_daily_rows
UNION SELECT tags_lo FROM charges_daily_rows UNION SELECT tags_hi FROM charges_daily_rows;
INSERT OR IGNORE INTO charge_prices (component, sku_price_id, pricing_currency, fx_nanos,
  list_rate_nanos, contracted_rate_nanos, discount_nano_percent)
SELECT DISTINCT component, sku_price_id, pricing_currency, fx_nanos, list_rate_nanos,
       contracted_rate_nanos, discount_nano_percent FROM charges_daily_rows;
CREATE TABLE charges_daily_v19 (
  day_local TEXT NOT NULL,
  provider_id INTEGER NOT NULL, model_id INTEGER NOT NULL, region_id INTEGER NOT NULL,
  feature_id INTEGER NOT NULL, team_id INTEGER NOT NULL, priced_by_id INTEGER NOT NULL,
  price_id INTEGER NOT NULL,
  customer_lo_id INTEGER NOT NULL, customer_hi_id INTEGER NOT NULL,
  priority_lo_id INTEGER NOT NULL, priority_hi_id INTEGER NOT NULL,
  tags_lo_id INTEGER NOT NULL, tags_hi_id INTEGER NOT NULL,
  quantity INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
  PRIMARY KEY (day_local, provider_id, model_id, region_id, feature_id, team_id, priced_by_id,
               price_id)
) WITHOUT ROWID;
INSERT INTO charges_daily_v19
SELECT c.day_local, (SELECT id FROM dim_values WHERE value = c.provider),
       (SELECT id FROM dim_values WHERE value = c.model),
       (SELECT id FROM dim_values WHERE value = c.region),
       (SELECT id FROM dim_values WHERE value = c.feature),
       (SELECT id FROM dim_values WHERE value = c.team),
       (SELECT id FROM dim_values WHERE value = c.priced_by),
       (SELECT id FROM charge_prices p WHERE p.component = c.component
          AND p.sku_price_id = c.sku_price_id AND p.pricing_currency = c.pricing_currency
          AND p.fx_nanos = c.fx_nanos AND p.list_rate_nanos = c.list_rate_nanos
          AND p.contracted_rate_nanos = c.contracted_rate_nanos
          AND p.discount_nano_percent = c.discount_nano_percent),
       (SELECT id FROM dim_values WHERE value = c.customer_lo),
       (SELECT id FROM dim_values WHERE value = c.customer_hi),
       (SELECT id FROM dim_values WHERE value = c.priority_lo),
       (SELECT id FROM dim_values WHERE value = c.priority_hi),
       (SELECT id FROM dim_values WHERE value = c.tags_lo),
       (SELECT id FROM dim_values WHERE value = c.tags_hi), c.quantity, c.cost_nanos
FROM charges_daily_rows c;
DROP TABLE charges_daily_rows;
ALTER TABLE charges_daily_v19 RENAME TO charges_daily_rows;
CREATE VIEW charges_daily AS
SELECT c.day_local, provider.value AS provider, model.value AS model, region.value AS region,
       feature.value AS feature, team.value AS team, priced_by.value AS priced_by, p.component,
       p.sku_price_id, p.pricing_currency, p.fx_nanos, p.list_rate_nanos,
       p.contracted_rate_nanos, p.discount_nano_percent, customer_lo.value AS customer_lo,
       customer_hi.value AS customer_hi, priority_lo.value AS priority_lo,
       priority_hi.value AS priority_hi, tags_lo.value AS tags_lo, tags_hi.value AS tags_hi,
       c.quantity, c.cost_nanos
FROM charges_daily_rows c
LEFT JOIN dim_values provider ON provider.id = c.provider_id
LEFT JOIN dim_values model ON model.id = c.model_id
LEFT JOIN dim_values region ON region.id = c.region_id
LEFT JOIN dim_values feature ON feature.id = c.feature_id
LEFT JOIN dim_values team ON team.id = c.team_id
LEFT JOIN dim_values priced_by ON priced_by.id = c.priced_by_id
LEFT JOIN charge_prices p ON p.id = c.price_id
LEFT JOIN dim_values customer_lo ON customer_lo.id = c.customer_lo_id
LEFT JOIN dim_values customer_hi ON customer_hi.id = c.customer_hi_id
LEFT JOIN dim_values priority_lo ON priority_lo.id = c.priority_lo_id
LEFT JOIN dim_values priority_hi ON priority_hi.id = c.priority_hi_id
LEFT JOIN dim_values tags_lo ON tags_lo.id = c.tags_lo_id
LEFT JOIN dim_values tags_hi ON tags_hi.id = c.tags_hi_id
UNION ALL
SELECT e.day_local, e.provider, e.model, e.region, e.feature, e.team, e.priced_by, p.component,
       p.sku_price_id, p.pricing_currency, p.fx_nanos, p.list_rate_nanos, p.contracted_rate_nanos,
       p.discount_nano_percent, e.customer, e.customer, e.priority, e.priority, e.tags, e.tags,
       c.quantity, c.cost_nanos
FROM event_charges c JOIN events e ON e.rowid = c.event_rowid JOIN charge_prices p ON p.id = c.price_id
WHERE c.event_rowid > (SELECT through_rowid FROM rollup_watermark);
)sql",
    // 20: the charge lines of the events past the watermark are a row for the events of a commit
    //    that fill about 16 KB: a JSON array of [event rowid, charge_prices id, quantity,
    //    cost_nanos] in rowid order, keyed by the last event rowid it names. Each line was a row
    //    of its own (about three an event), inserted at the commit and deleted again at the
    //    flush: two B-tree operations a line, about a third of the writer's time at a company's
    //    traffic (bench/README.md). `event_charges`
    //    becomes a view with the same columns and rows, so charges_daily (which reads it) and
    //    analysts are unchanged; like the table, it shows the lines past the watermark. A flush
    //    deletes the rows whose last event it passed; a row a recovery chunk passes only in part
    //    stays, and every reader keeps only its lines past the watermark. The migration groups
    //    the lines by blocks of 512 rowids, so no row is unbounded.
    R"sql(
CREATE TABLE event_charge_lines (
  last_rowid INTEGER PRIMARY KEY,
  first_rowid INTEGER NOT NULL,
  lines TEXT NOT NULL
);
INSERT INTO event_charge_lines (last_rowid, first_rowid, lines)
SELECT MAX(event_rowid), MIN(event_rowid),
       json_group_array(json_array(event_rowid, price_id, quantity, cost_nanos))
FROM (SELECT * FROM event_charges
      WHERE event_rowid > (SELECT through_rowid FROM rollup_watermark)
      ORDER BY event_rowid, price_id)
GROUP BY event_rowid >> 9;
DROP TABLE event_charges;
CREATE VIEW event_charges AS
SELECT json_extract(j.value, '$[0]') AS event_rowid, json_extract(j.value, '$[1]') AS price_id,
       json_extract(j.value, '$[2]') AS quantity, json_extract(j.value, '$[3]') AS cost_nanos
FROM event_charge_lines b, json_each(b.lines) j
WHERE b.last_rowid > (SELECT through_rowid FROM rollup_watermark)
  AND json_extract(j.value, '$[0]') > (SELECT through_rowid FROM rollup_watermark);
)sql",
};
#undef TOLLGATE_LISTED_COLUMNS_18
#undef TOLLGATE_LISTED_HEAD
#undef TOLLGATE_RAW_ROLLUP_VIEWS
#undef TOLLGATE_LISTED_COLUMNS
#undef TOLLGATE_DIM_JOINS
#undef TOLLGATE_SET_JOINS
#undef TOLLGATE_WIDEN_TS_BLOCK_TRIGGER
#undef TOLLGATE_ROLLUP_COLUMNS

constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion);

}  // namespace

Status migrate(sqlite3* db, int target) {
  Statement version(db, "PRAGMA user_version");
  if (!version.ok() || version.step() != SQLITE_ROW)
    return Status::error(Code::kStorageError, "cannot read the schema version: " + version.error());
  int current = static_cast<int>(version.column_int(0));
  version = Statement();
  if (current > kSchemaVersion)
    return Status::error(Code::kSchemaTooNew, "the database has schema version " +
                                               std::to_string(current) + "; this tollgate knows " +
                                               std::to_string(kSchemaVersion) + " (downgrade?)");
  if (current >= target) return {};
  // A rename leaves the views as they are: since SQLite 3.26 it re-checks (and rewrites) every
  // view, so a view of an analyst's over a table a migration replaces would abort the migration,
  // and one over a renamed table would follow it to the raw rows instead of the new view.
  Status s = exec_sql(db, "PRAGMA legacy_alter_table = ON");
  if (s.ok()) s = exec_sql(db, "BEGIN IMMEDIATE");
  for (int v = current; s.ok() && v < target; ++v) {
    s = exec_sql(db, kMigrations[v]);
    if (!s.ok())
      s = Status::error(s.code(), "migration " + std::to_string(v + 1) + ": " + s.message());
  }
  if (s.ok()) s = exec_sql(db, "PRAGMA user_version = " + std::to_string(target));
  if (s.ok()) s = exec_sql(db, "COMMIT");
  if (!s.ok()) exec_sql(db, "ROLLBACK");
  exec_sql(db, "PRAGMA legacy_alter_table = OFF");
  return s;
}

}  // namespace tollgate
