#include "storage/schema.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>

#include "storage/report.h"
#include "storage/sqlite_util.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {
// A new ledger file in `dir` at schema `version` (migrations 1 to `version`); the caller closes it.
sqlite3* ledger_of_version(const testing::TempDir& dir, int version) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.file("v" + std::to_string(version) + ".db").c_str(), &db) == SQLITE_OK);
  REQUIRE(migrate(db, version).ok());
  return db;
}

int64_t one(sqlite3* db, const char* sql) {
  Statement st(db, sql);
  REQUIRE(st.ok());
  REQUIRE(st.step() == SQLITE_ROW);
  return st.column_int(0);
}

std::string text(sqlite3* db, const char* sql) {
  Statement st(db, sql);
  REQUIRE(st.ok());
  REQUIRE(st.step() == SQLITE_ROW);
  return st.column_text(0);
}
}  // namespace

TEST_CASE("a ledger of schema 3 migrates to the current one with its rollups carried into days") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 3);
  CHECK(one(db, "PRAGMA user_version") == 3);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO rollup_15m VALUES
  (1795255200000, '2026-11-21', 'chat', 'cx', '', '{}', 'p', 'm', '', 'standard', 'ok', 'price_book', 'USD',
   2, 2, 100, 0, 0, 10, 0, 0, 5000, 0, 0),
  (1795256100000, '2026-11-21', 'chat', 'cx', '', '{}', 'p', 'm', '', 'standard', 'ok', 'price_book', 'USD',
   3, 3, 300, 0, 0, 30, 0, 0, 7000, 0, 0))sql")
              .ok());
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "PRAGMA user_version") == kSchemaVersion);
  CHECK(one(db, "SELECT COUNT(*) FROM rollup_daily") == 1);
  CHECK(one(db, "SELECT cost_nanos FROM rollup_daily") == 12000);
  CHECK(one(db, "SELECT requests FROM daily_costs") == 5);
  CHECK(migrate(db).ok());  // idempotent
  sqlite3_close(db);
}

TEST_CASE("a ledger newer than this binary is refused") {
  testing::TempDir dir;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.file("new.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(exec_sql(db, "PRAGMA user_version = 99").ok());
  Status s = migrate(db);
  CHECK(s.code_name() == "schema_too_new");
  sqlite3_close(db);
}

TEST_CASE("migration 6 adds reasoning tokens; nothing stored is lost or repriced") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 5);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO events VALUES ('e1', 1795255200000, '2026-11-21', 'chat', 'cx', '', '{}', 'p', 'm', '',
  'standard', 100, 0, 0, 10, 1, 0, 0, 5, 'ok', 5000, 'USD', 'price_book', 'p/m/*@always', 0, 0, '',
  1795255200000);
INSERT INTO rollup_15m VALUES
  (1795255200000, '2026-11-21', 'chat', 'cx', '', '{}', 'p', 'm', '', 'standard', 'ok', 'price_book', 'USD',
   1, 1, 100, 0, 0, 10, 0, 0, 5000, 0, 0);
INSERT INTO rollup_daily VALUES
  ('2026-11-21', 'chat', 'cx', '', '{}', 'p', 'm', '', 'standard', 'ok', 'price_book', 'USD',
   1, 1, 100, 0, 0, 10, 0, 0, 5000, 0, 0);
)sql")
              .ok());
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "PRAGMA user_version") == kSchemaVersion);
  CHECK(one(db, "SELECT cost_nanos FROM events WHERE event_id = 'e1'") == 5000);
  CHECK(one(db, "SELECT reasoning_tokens FROM events") == 0);
  CHECK(one(db, "SELECT cost_nanos + 10 * reasoning_tokens FROM rollup_15m") == 5000);
  CHECK(one(db, "SELECT output_tokens FROM rollup_daily WHERE reasoning_tokens = 0") == 10);
  CHECK(one(db, "SELECT cost * 1e9 FROM ledger_events") == 5000);
  CHECK(one(db, "SELECT requests FROM daily_costs") == 1);
  sqlite3_close(db);
}

TEST_CASE("migration 7 adds itemised charges; cost stored before stays in the FOCUS export") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 6);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO rollup_daily (day_local, feature, team, customer, tags, provider, model, region,
  priority, status, priced_by, currency, events, requests, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
  revenue_nanos, reasoning_tokens) VALUES
  ('2026-11-21', 'chat', 'cx', 'acme', '{}', 'p', 'm', '', 'standard', 'ok', 'price_book', 'USD',
   3, 3, 100, 0, 0, 10, 0, 0, 5000, 0, 0, 0),
  ('2026-11-21', 'chat', 'cx', 'acme', '{}', 'p', 'm', '', 'batch', 'ok', 'unpriced', 'USD',
   1, 1, 100, 0, 0, 10, 0, 0, 0, 0, 0, 0);
)sql")
              .ok());
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "SELECT COUNT(*) FROM charges_daily") == 0);
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 5000);  // nothing repriced
  auto rows = focus_rows(db, *parse_date("2026-11-21"), *parse_date("2026-11-21"));
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK(rows->at(0).cost_nanos == 5000);
  CHECK(rows->at(0).component.empty());
  CHECK(*rows->at(0).customer == "acme");
  CHECK_FALSE(rows->at(0).priority.has_value());  // standard and batch
  // A charge written after the migration, the same day: itemised beside the old remainder.
  REQUIRE(exec_sql(db, R"sql(
INSERT OR IGNORE INTO dim_values (value) VALUES ('critical'), ('caller');
INSERT INTO rollup_daily_rows
SELECT '2026-11-21', f.id, t.id, c.id, g.id, p.id, m.id, r.id, pr.id, s.id, pb.id, cu.id,
       1, 1, 0, 0, 0, 0, 0, 0, 700, 0, 0, 0
FROM dim_values f, dim_values t, dim_values c, dim_values g, dim_values p, dim_values m,
     dim_values r, dim_values pr, dim_values s, dim_values pb, dim_values cu
WHERE f.value = 'chat' AND t.value = 'cx' AND c.value = 'acme' AND g.value = '{}'
  AND p.value = 'p' AND m.value = 'm' AND r.value = '' AND pr.value = 'critical'
  AND s.value = 'ok' AND pb.value = 'caller' AND cu.value = 'USD';
INSERT INTO charge_prices (component, sku_price_id, pricing_currency, fx_nanos,
  list_rate_nanos, contracted_rate_nanos, discount_nano_percent)
VALUES ('caller-priced', 'caller-priced', 'USD', 1000000000, 0, 0, 0);
INSERT INTO charges_daily_rows
SELECT '2026-11-21', p.id, m.id, r.id, f.id, t.id, pb.id, (SELECT MAX(id) FROM charge_prices),
       c.id, c.id, pr.id, pr.id, g.id, g.id, 1, 700
FROM dim_values f, dim_values t, dim_values c, dim_values g, dim_values p, dim_values m,
     dim_values r, dim_values pr, dim_values pb
WHERE f.value = 'chat' AND t.value = 'cx' AND c.value = 'acme' AND g.value = '{}'
  AND p.value = 'p' AND m.value = 'm' AND r.value = '' AND pr.value = 'critical'
  AND pb.value = 'caller';
)sql")
              .ok());
  rows = focus_rows(db, *parse_date("2026-11-21"), *parse_date("2026-11-21"));
  REQUIRE(rows->size() == 2);
  CHECK(rows->at(0).component == "caller-priced");
  CHECK(rows->at(0).cost_nanos == 700);
  CHECK(rows->at(1).component.empty());
  CHECK(rows->at(1).cost_nanos == 5000);
  sqlite3_close(db);
}

TEST_CASE("migration 8 keys charges by the FOCUS row; a row still names its one customer") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 7);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO rollup_daily (day_local, feature, team, customer, tags, provider, model, region,
  priority, status, priced_by, currency, events, requests, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
  revenue_nanos, reasoning_tokens) VALUES
  ('2026-11-21', 'chat', 'cx', 'acme', '{}', 'p', 'm', '', 'batch', 'ok', 'caller', 'USD',
   1, 1, 0, 0, 0, 0, 0, 0, 300, 0, 0, 0),
  ('2026-11-21', 'chat', 'cx', 'globex', '{}', 'p', 'm', '', 'batch', 'ok', 'caller', 'USD',
   1, 1, 0, 0, 0, 0, 0, 0, 400, 0, 0, 0),
  ('2026-11-21', 'search', 'cx', 'acme', '{}', 'p', 'm', '', 'batch', 'ok', 'caller', 'USD',
   2, 2, 0, 0, 0, 0, 0, 0, 500, 0, 0, 0);
INSERT INTO charges_daily VALUES
  ('2026-11-21', 'p', 'm', '', 'chat', 'cx', 'acme', 'batch', '{}', 'caller', 'caller-priced',
   'caller-priced', 'USD', 1000000000, 0, 0, 0, 1, 300),
  ('2026-11-21', 'p', 'm', '', 'chat', 'cx', 'globex', 'batch', '{}', 'caller', 'caller-priced',
   'caller-priced', 'USD', 1000000000, 0, 0, 0, 1, 400),
  ('2026-11-21', 'p', 'm', '', 'search', 'cx', 'acme', 'batch', '{}', 'caller', 'caller-priced',
   'caller-priced', 'USD', 1000000000, 0, 0, 0, 2, 500);
)sql")
              .ok());
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "SELECT COUNT(*) FROM charges_daily") == 2);  // chat's two customers: one row
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM charges_daily") == 1200);
  auto rows = focus_rows(db, *parse_date("2026-11-21"), *parse_date("2026-11-21"));
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK(rows->at(0).feature == "chat");
  CHECK(rows->at(0).cost_nanos == 700);
  CHECK(rows->at(0).quantity == 2);
  CHECK_FALSE(rows->at(0).customer.has_value());  // acme and globex
  CHECK(*rows->at(0).priority == "batch");
  CHECK(*rows->at(1).customer == "acme");
  sqlite3_close(db);
}

TEST_CASE("migration 10 stores the rollups' strings once: the views show the same rows") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 9);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO rollup_15m_rows VALUES
  (1795255200000, '2026-11-21', 'chat', 'cx', 'acme', '{"env":"prod"}', 'p', 'm', 'eu', 'batch',
   'ok', 'price_book', 'USD', 2, 2, 100, 1, 0, 10, 0, 0, 5000, 0, 0, 0),
  (1795256100000, '2026-11-21', 'search', 'cx', 'acme', '{}', 'p', 'm', '', 'standard', 'ok',
   'unpriced', 'USD', 3, 3, 300, 0, 0, 30, 0, 0, 0, 0, 0, 4);
INSERT INTO rollup_daily_rows SELECT day_local, feature, team, customer, tags, provider, model,
  region, priority, status, priced_by, currency, events, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos,
  value_units_nanos, revenue_nanos, reasoning_tokens FROM rollup_15m_rows;
)sql")
              .ok());
  const char* as_text =
      "SELECT group_concat(feature || team || customer || tags || provider || model || region || "
      "priority || status || priced_by || currency || events || cost_nanos || reasoning_tokens, "
      "'|') FROM (SELECT * FROM %s ORDER BY feature)";
  auto text = [&](const char* view) {
    char sql[512];
    std::snprintf(sql, sizeof sql, as_text, view);
    Statement st(db, sql);
    REQUIRE(st.ok());
    REQUIRE(st.step() == SQLITE_ROW);
    return st.column_text(0);
  };
  // An analyst's views over what the migration replaces: they must neither stop it nor go stale.
  REQUIRE(exec_sql(db, "CREATE VIEW team_costs AS SELECT team, SUM(cost_nanos) AS c FROM "
                       "rollup_daily GROUP BY team; CREATE VIEW raw_rows AS SELECT COUNT(*) AS n "
                       "FROM rollup_15m_rows")
              .ok());
  const std::string m15 = text("rollup_15m"), daily = text("rollup_daily");
  CHECK(m15 == daily);
  REQUIRE(migrate(db).ok());
  CHECK(text("rollup_15m") == m15);
  CHECK(text("rollup_daily") == daily);
  CHECK(one(db, "SELECT COUNT(*) FROM dim_values") == 16);  // each distinct string once
  CHECK(one(db, "SELECT typeof(customer_id) = 'integer' FROM rollup_daily_rows LIMIT 1") == 1);
  CHECK(one(db, "SELECT SUM(requests) FROM daily_costs") == 5);
  CHECK(one(db, "SELECT c FROM team_costs WHERE team = 'cx'") == 5000);
  CHECK(one(db, "SELECT n FROM raw_rows") == 2);
  sqlite3_close(db);
}

TEST_CASE("migration 11 stores the raw events' strings once: same rows, same rowids") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 10);
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO events (rowid, event_id, ts_ms, day_local, feature, team, customer, tags, provider,
  model, region, priority, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
  requests, gpu_micros, egress_bytes, latency_ms, status, cost_nanos, currency, priced_by,
  price_ref, value_units_nanos, revenue_nanos, reservation_id, received_ms, reasoning_tokens)
VALUES
  (7, 'e7', 1795255200000, '2026-11-21', 'chat', 'cx', 'acme', '{"env":"prod"}', 'openai',
   'gpt-4o', 'eu', 'batch', 100, 20, 0, 10, 1, 0, 0, 420, 'ok', 5000, 'USD', 'price_book',
   'openai/gpt-4o/*@always', 0, 0, 'r1', 1795255200100, 3),
  (9, 'e9', 1795255300000, '2026-11-21', 'search', 'cx', '', '{}', 'openai', 'gpt-4o', '',
   'standard', 5, 0, 0, 1, 1, 0, 0, 1, 'error', 0, 'USD', 'unpriced', '', 0, 0, '',
   1795255300100, 0);
INSERT INTO event_charges VALUES (9, 1, 5, 0);
UPDATE rollup_watermark SET through_rowid = 7;
)sql")
              .ok());
  auto rows = [&] {
    Statement st(db, "SELECT group_concat(r || event_id || ts_ms || day_local || feature || "
                     "team || customer || tags || provider || model || region || priority || "
                     "input_tokens || cached_input_tokens || output_tokens || latency_ms || "
                     "status || cost_nanos || currency || priced_by || price_ref || "
                     "reservation_id || received_ms || reasoning_tokens, '|') "
                     "FROM (SELECT rowid AS r, * FROM events ORDER BY rowid)");
    REQUIRE(st.ok());
    REQUIRE(st.step() == SQLITE_ROW);
    return st.column_text(0);
  };
  const std::string before = rows(), ledger_events = "SELECT COUNT(*) FROM ledger_events";
  CHECK(one(db, ledger_events.c_str()) == 2);
  REQUIRE(migrate(db).ok());
  CHECK(rows() == before);
  CHECK(one(db, "SELECT COUNT(*) FROM event_rows") == 2);
  CHECK(one(db, "SELECT MAX(rowid) FROM events") == 9);
  CHECK(one(db, "SELECT typeof(customer_id) = 'integer' FROM event_rows LIMIT 1") == 1);
  CHECK(one(db, ledger_events.c_str()) == 2);
  // The views over the events past the watermark read the new table through the view.
  CHECK(one(db, "SELECT SUM(requests) FROM rollup_daily") == 1);
  CHECK(one(db, "SELECT COUNT(*) FROM rollup_15m WHERE status = 'error'") == 1);
  sqlite3_close(db);
}

TEST_CASE("migration 14 marks the listed events in their rows and names them by day ranges") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 13);
  // e1 and e3 listed (schema 13), e2 in stored rows between them, e4 past the watermark.
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'chat'), (2, 'cx'), (3, 'acme'), (4, '{}'), (5, 'p'),
  (6, 'm'), (7, ''), (8, 'standard'), (9, 'ok'), (10, 'USD'), (11, 'price_book'),
  (12, 'p/m/*@always'), (13, 'globex');
INSERT INTO event_rows (rowid, event_id, ts_ms, day_local, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_ms, reasoning_tokens) VALUES
  (1, 'e1', 1795255200000, '2026-11-21', 1, 2, 3, 4, 5, 6, 7, 8, 100, 0, 0, 10, 1, 0, 0, 5, 9,
   5000, 10, 11, 12, 0, 0, '', 1795255200000, 0),
  (2, 'e2', 1795255200000, '2026-11-21', 1, 2, 13, 4, 5, 6, 7, 8, 100, 0, 0, 10, 1, 0, 0, 5, 9,
   7000, 10, 11, 12, 0, 0, '', 1795255200000, 0),
  (3, 'e3', 1795256100000, '2026-11-21', 1, 2, 3, 4, 5, 6, 7, 8, 100, 0, 0, 10, 1, 0, 0, 5, 9,
   11000, 10, 11, 12, 0, 0, '', 1795256100000, 0),
  (4, 'e4', 1795256100000, '2026-11-21', 1, 2, 3, 4, 5, 6, 7, 8, 100, 0, 0, 10, 1, 0, 0, 5, 9,
   13000, 10, 11, 12, 0, 0, '', 1795256100000, 0);
INSERT INTO rollup_daily_rows (day_local, feature_id, team_id, customer_id, tags_id, provider_id,
  model_id, region_id, priority_id, status_id, priced_by_id, currency_id, events, requests,
  input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
  cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens)
  VALUES ('2026-11-21', 1, 2, 13, 4, 5, 6, 7, 8, 9, 11, 10, 1, 1, 100, 0, 0, 10, 0, 0, 7000, 0, 0, 0);
INSERT INTO rollup_15m_rows (bucket_ms, day_local, feature_id, team_id, customer_id, tags_id,
  provider_id, model_id, region_id, priority_id, status_id, priced_by_id, currency_id, events,
  requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros,
  egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens)
  VALUES (1795255200000, '2026-11-21', 1, 2, 13, 4, 5, 6, 7, 8, 9, 11, 10, 1, 1, 100, 0, 0, 10, 0,
          0, 7000, 0, 0, 0);
INSERT INTO rollup_raw_events VALUES ('2026-11-21', 1795255200000, 1), ('2026-11-21', 1795256100000, 3);
UPDATE rollup_watermark SET through_rowid = 3;
)sql")
              .ok());
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 36000);
  REQUIRE(migrate(db, 14).ok());
  // Migration 15 rewrites the raw rows (the day and receive time as offsets): the view `events`
  // and every rollup view read the same, at odd days and times too: a day past 9999 (kept as
  // text), a receive time whose offset passes int64, a day a UTC day either side of ts.
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO event_rows (rowid, event_id, ts_ms, day_local, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_ms, reasoning_tokens) VALUES
  (5, 'e5', 253402387200000, '10000-01-02', 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 1, 1, 0, 0, 5, 9,
   1, 10, 11, 12, 0, 0, '', 1795255200000, 0),
  (6, 'e6', -9223372036854775000, '-292277022-01-01', 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 1, 1, 0,
   0, 5, 9, 2, 10, 11, 12, 0, 0, 'r6', 1795255200000, 3),
  (7, 'e7', 1795255199999, '2026-11-21', 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 1, 1, 0, 0, 5, 9,
   4, 10, 11, 12, 0, 0, '', 1795255200000, 0),
  (8, 'e8', 1795255200000, '2026-11-20', 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 1, 1, 0, 0, 5, 9,
   8, 10, 11, 12, 0, 0, '', 1795255100000, 0);
)sql")
              .ok());
  const char* kEvents =
      "SELECT group_concat(rowid || '|' || event_id || '|' || ts_ms || '|' || day_local || '|' || "
      "feature || customer || tags || provider || model || region || priority || status || "
      "currency || priced_by || price_ref || '|' || input_tokens || '|' || cost_nanos || '|' || "
      "reservation_id || '|' || received_ms || '|' || reasoning_tokens, ';') FROM (SELECT * FROM "
      "events ORDER BY rowid)";
  const char* kRollups =
      "SELECT (SELECT group_concat(day_local || ':' || c, ',') FROM (SELECT day_local, "
      "SUM(cost_nanos) AS c FROM rollup_daily GROUP BY day_local ORDER BY day_local)) || '/' || "
      "(SELECT group_concat(bucket_ms || ':' || c, ',') FROM (SELECT bucket_ms, SUM(cost_nanos) "
      "AS c FROM rollup_15m GROUP BY bucket_ms ORDER BY bucket_ms))";
  const std::string events_14 = text(db, kEvents), rollups_14 = text(db, kRollups);
  CHECK(events_14.find("10000-01-02") != std::string::npos);
  REQUIRE(migrate(db).ok());
  CHECK(text(db, kEvents) == events_14);
  CHECK(text(db, kRollups) == rollups_14);
  CHECK(one(db, "SELECT COUNT(*) FROM event_rows WHERE typeof(day_offset) = 'text'") == 2);
  CHECK(one(db, "SELECT COUNT(*) FROM event_rows WHERE typeof(received_offset_ms) = 'text'") == 1);
  CHECK(one(db, "SELECT day_offset FROM event_rows WHERE event_id = 'e8'") == -1);
  CHECK(one(db, "SELECT received_offset_ms FROM event_rows WHERE event_id = 'e8'") == -100000);
  CHECK(exec_sql(db, "DELETE FROM event_rows WHERE rowid > 4").ok());  // the checks below: 4
  CHECK(one(db, "PRAGMA user_version") == kSchemaVersion);
  CHECK(one(db, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'rollup_raw_events'") == 0);
  CHECK(one(db, "SELECT SUM(rowid * rowid) FROM event_rows WHERE listed") == 1 + 9);  // e1, e3
  CHECK(one(db, "SELECT COUNT(*) FROM rollup_raw_ranges WHERE first_rowid = 1 AND last_rowid = 3 "
                "AND first_bucket_ms = 1795255200000 AND last_bucket_ms = 1795256100000") == 1);
  // Every view counts each event once: e2 inside the range is not listed, e4 is past it.
  CHECK(one(db, "SELECT COUNT(*) FROM rollup_daily") == 4);
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 36000);
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 36000);
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_15m WHERE bucket_ms = 1795256100000") == 24000);
  CHECK(one(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs WHERE customer = "
                "'globex'") == 7000);
  CHECK(one(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs WHERE day_local = "
                "'2026-11-21' AND customer = 'acme'") == 29000);
  CHECK(migrate(db).ok());  // idempotent
  sqlite3_close(db);
}

TEST_CASE("migration 14 names a day's listed events by ranges split where they lie far apart") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 13);
  // Rowids 1, 2 and 100 of one day listed (100: a late event, 98 rowids on), 101 of the next.
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'x');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 101)
INSERT INTO event_rows (rowid, event_id, ts_ms, day_local, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_ms, reasoning_tokens)
SELECT i, 'e' || i, CASE WHEN i = 101 THEN 1795341600000 ELSE 1795255200000 END,
       CASE WHEN i = 101 THEN '2026-11-22' ELSE '2026-11-21' END, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
       1, 1, 0, 0, 1, 1, i, 1, 1, 1, 0, 0, '', 1795255200000, 0 FROM n;
INSERT INTO rollup_raw_events SELECT day_local, ts_ms, rowid FROM event_rows
  WHERE rowid IN (1, 2, 100, 101);
DELETE FROM event_rows WHERE rowid NOT IN (1, 2, 100, 101);
UPDATE rollup_watermark SET through_rowid = 101;
)sql")
              .ok());
  REQUIRE(migrate(db).ok());
  {
    Statement ranges(db,
                     "SELECT group_concat(day_local || ':' || first_rowid || '-' || last_rowid, "
                     "' ') FROM (SELECT * FROM rollup_raw_ranges ORDER BY day_local, first_rowid)");
    REQUIRE(ranges.step() == SQLITE_ROW);
    CHECK(ranges.column_text(0) == "2026-11-21:1-2 2026-11-21:100-100 2026-11-22:101-101");
  }  // finalized before the close below
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 1 + 2 + 100 + 101);
  CHECK(one(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 1 + 2 + 100 + 101);
  sqlite3_close(db);
}

TEST_CASE("migration 16 trades the events' ts index for the times of each block of rowids") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 15);
  // Blocks of 1024 rowids: 5 and 1023 share block 0; 1024 and 2047 block 1; 5000 is block 4.
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO event_rows (rowid, event_id, ts_ms, day_offset, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_offset_ms, reasoning_tokens)
SELECT column1, 'e' || column1, column2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0,
       1, 1, 1, 0, 0, '', 0, 0
FROM (VALUES (5, 1795255200000), (1023, 1000), (1024, -7), (2047, 1795255300000),
             (5000, 42));
UPDATE rollup_watermark SET through_rowid = 5000;
)sql")
              .ok());
  CHECK(one(db, "SELECT COUNT(*) FROM pragma_index_list('event_rows') WHERE name = 'events_ts'") ==
        1);
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "SELECT COUNT(*) FROM pragma_index_list('event_rows') WHERE name = 'events_ts'") ==
        0);
  Statement st(db, "SELECT group_concat(block || ':' || min_ts_ms || ':' || max_ts_ms, ' ') FROM "
                   "(SELECT * FROM event_ts_blocks ORDER BY block)");
  REQUIRE(st.ok());
  REQUIRE(st.step() == SQLITE_ROW);
  CHECK(st.column_text(0) == "0:1000:1795255200000 1:-7:1795255300000 4:42:42");
  st = Statement();
  CHECK(one(db, "SELECT COUNT(*) FROM events") == 5);
  sqlite3_close(db);
}

TEST_CASE("migration 16 upgrades a ledger whose ts index an analyst dropped") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 15);
  REQUIRE(exec_sql(db, "DROP INDEX events_ts").ok());
  CHECK(migrate(db).ok());
  CHECK(one(db, "PRAGMA user_version") == kSchemaVersion);
  sqlite3_close(db);
}

TEST_CASE("migration 17 keeps a raw event's dimensions of few values as one set: same rows") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 16);
  // Four events over three sets (e1 and e3 share theirs), one listed inside its day's range,
  // one past the watermark; dim_values ids as the writer adds them.
  REQUIRE(exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'chat'), (2, 'cx'), (3, 'acme'), (4, '{}'),
  (5, 'openai'), (6, 'gpt-4o'), (7, 'eu'), (8, 'batch'), (9, 'ok'), (10, 'USD'),
  (11, 'price_book'), (12, 'openai/gpt-4o/*@always'), (13, 'search'), (14, 'error'),
  (15, 'unpriced'), (16, '');
INSERT INTO event_rows (rowid, event_id, ts_ms, day_offset, feature_id, team_id, customer_id,
  tags_id, provider_id, model_id, region_id, priority_id, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, requests, gpu_micros, egress_bytes, latency_ms, status_id,
  cost_nanos, currency_id, priced_by_id, price_ref_id, value_units_nanos, revenue_nanos,
  reservation_id, received_offset_ms, reasoning_tokens, listed)
VALUES
  (3, 'e1', 1795255200000, 0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 20, 3, 10, 1, 7, 9, 420, 9, 5000, 10,
   11, 12, 4, 2, 'r1', 100, 3, 1),
  (4, 'e2', 1795255300000, 0, 13, 2, 16, 4, 5, 6, 16, 8, 5, 0, 0, 1, 1, 0, 0, 1, 14, 0, 10, 15,
   16, 0, 0, '', 100, 0, 0),
  (9, 'e3', 1795255400000, 0, 1, 2, 16, 4, 5, 6, 7, 8, 7, 0, 0, 2, 2, 0, 0, 3, 9, 70, 10, 11,
   12, 0, 0, '', 'x', 0, 0),
  (12, 'e4', 1795255500000, 1, 13, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 1, 1, 0, 0, 3, 9, 11, 10, 11,
   12, 0, 0, '', 5, 0, 0);
INSERT INTO rollup_raw_ranges VALUES ('2026-11-21', 3, 3, 1795254300000, 1795254300000);
INSERT INTO rollup_daily_rows (day_local, feature_id, team_id, customer_id, tags_id,
  provider_id, model_id, region_id, priority_id, status_id, priced_by_id, currency_id, events,
  requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros,
  egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens)
SELECT '2026-11-21', feature_id, team_id, customer_id, tags_id, provider_id, model_id, region_id,
  priority_id, status_id, priced_by_id, currency_id, 1, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos,
  value_units_nanos, revenue_nanos, reasoning_tokens FROM event_rows WHERE rowid IN (4, 9);
UPDATE rollup_watermark SET through_rowid = 9;
)sql")
              .ok());
  const char* events = "SELECT group_concat(rowid || ':' || event_id || ts_ms || day_local || "
                       "feature || team || customer || tags || provider || model || region || "
                       "priority || input_tokens || cached_input_tokens || cache_write_tokens || "
                       "output_tokens || requests || gpu_micros || egress_bytes || latency_ms || "
                       "status || cost_nanos || currency || priced_by || price_ref || "
                       "value_units_nanos || revenue_nanos || reservation_id || received_ms || "
                       "reasoning_tokens, '|') FROM (SELECT * FROM events ORDER BY rowid)";
  const char* daily = "SELECT group_concat(day_local || feature || team || customer || status || "
                      "priced_by || currency || events || cost_nanos, '|') FROM (SELECT * FROM "
                      "rollup_daily ORDER BY day_local, feature, customer, cost_nanos)";
  const char* m15 = "SELECT group_concat(bucket_ms || feature || customer || events || "
                    "cost_nanos, '|') FROM (SELECT * FROM rollup_15m ORDER BY bucket_ms, "
                    "feature, customer, cost_nanos)";
  const std::string events_before = text(db, events), daily_before = text(db, daily);
  const std::string m15_before = text(db, m15);
  CHECK(one(db, "SELECT COUNT(*) FROM rollup_daily") == 4);
  // Every event and row is in the strings (a NULL field would drop its row from group_concat).
  CHECK(std::count(events_before.begin(), events_before.end(), '|') == 3);
  CHECK(std::count(daily_before.begin(), daily_before.end(), '|') == 3);
  CHECK(std::count(m15_before.begin(), m15_before.end(), '|') == 1);  // e1 listed, e4 past
  REQUIRE(migrate(db).ok());
  CHECK(text(db, events) == events_before);
  CHECK(text(db, daily) == daily_before);
  CHECK(text(db, m15) == m15_before);
  CHECK(one(db, "SELECT COUNT(*) FROM dim_sets") == 3);
  CHECK(one(db, "SELECT COUNT(DISTINCT set_id) FROM event_rows") == 3);
  CHECK(one(db, "SELECT MAX(rowid) FROM event_rows") == 12);
  CHECK(one(db, "SELECT SUM(listed) FROM event_rows") == 1);
  CHECK(one(db, "SELECT COUNT(*) FROM pragma_table_info('event_rows') WHERE name = 'feature_id'") ==
        0);
  sqlite3_close(db);
}

TEST_CASE("migration 18 moves the fields an event rarely sets to their own table: same rows") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 17);
  // e1 sets all four, e2 one, e3 none, e4 int64's edges, e5 a BLOB put there by hand; e1 is
  // listed in its day's range, e4 and e5 past the watermark.
  const Status filled = exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'chat'), (2, 'cx'), (3, 'acme'), (4, '{}'),
  (5, 'openai'), (6, 'gpt-4o'), (7, 'eu'), (8, 'batch'), (9, 'ok'), (10, 'USD'),
  (11, 'price_book'), (12, 'openai/gpt-4o/*@always');
INSERT INTO dim_sets (id, feature_id, team_id, provider_id, model_id, region_id, priority_id,
  status_id, currency_id, priced_by_id, price_ref_id) VALUES (1, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12);
INSERT INTO event_rows (rowid, event_id, ts_ms, day_offset, set_id, customer_id, tags_id,
  input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests, gpu_micros,
  egress_bytes, latency_ms, cost_nanos, value_units_nanos, revenue_nanos, reservation_id,
  received_offset_ms, reasoning_tokens, listed)
VALUES
  (3, 'e1', 1795255200000, 0, 1, 3, 4, 100, 20, 3, 10, 1, 7, 9, 420, 5000, 4, 2,
   'r "1" \ caf' || char(233) || ' ' || char(8232), 100, 3, 1),
  (4, 'e2', 1795255300000, 0, 1, 2, 4, 5, 0, 0, 1, 1, 0, 0, 1, 0, 0, -7, '', 100, 0, 0),
  (9, 'e3', 1795255400000, 0, 1, 12, 4, 7, 0, 0, 2, 2, 0, 0, 3, 70, 0, 0, '', 'x', 0, 0),
  (12, 'e4', 1795255500000, 1, 1, 3, 4, 1, 0, 9223372036854775807, 1, 1, 0,
   -9223372036854775808, 3, 11, 9223372036854775807, -9223372036854775808, 'r4', 5, 0, 0),
  (13, 'e5', 1795255500000, 0, 1, 5, 4, 1, 0, 0, 1, 1, 0, x'00', 3, 11, 0, 0, '', 5, 0, 0);
INSERT INTO rollup_raw_ranges VALUES ('2026-11-21', 3, 3, 1795254300000, 1795254300000);
INSERT INTO rollup_daily_rows (day_local, feature_id, team_id, customer_id, tags_id,
  provider_id, model_id, region_id, priority_id, status_id, priced_by_id, currency_id, events,
  requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros,
  egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens)
SELECT '2026-11-21', 1, 2, customer_id, tags_id, 5, 6, 7, 8, 9, 11, 10, 1, requests,
  input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes,
  cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens FROM event_rows
WHERE rowid IN (4, 9);
UPDATE rollup_watermark SET through_rowid = 9;
)sql");
  INFO(filled.message());
  REQUIRE(filled.ok());
  const char* events =
      "SELECT group_concat(rowid || ':' || event_id || '/' || cache_write_tokens || '/' || "
      "egress_bytes || '/' || value_units_nanos || '/' || revenue_nanos || '/' || reservation_id "
      "|| '/' || typeof(cache_write_tokens) || typeof(egress_bytes) || typeof(value_units_nanos) "
      "|| typeof(revenue_nanos) || typeof(reservation_id) || '/' || day_local || received_ms || "
      "cost_nanos || reasoning_tokens, '|') FROM (SELECT * FROM events WHERE rowid < 13 ORDER BY "
      "rowid)";
  const char* daily = "SELECT group_concat(day_local || customer || events || cache_write_tokens "
                      "|| egress_bytes || value_units_nanos || revenue_nanos, '|') FROM (SELECT * "
                      "FROM rollup_daily WHERE customer <> 'openai' ORDER BY day_local, "
                      "customer, cost_nanos)";
  const char* m15 = "SELECT group_concat(bucket_ms || customer || events || cache_write_tokens "
                    "|| egress_bytes || value_units_nanos || revenue_nanos, '|') FROM (SELECT * "
                    "FROM rollup_15m WHERE customer <> 'openai' ORDER BY bucket_ms, customer, "
                    "cost_nanos)";
  const std::string events_before = text(db, events), daily_before = text(db, daily);
  const std::string m15_before = text(db, m15);
  CHECK(std::count(events_before.begin(), events_before.end(), '|') == 3);
  CHECK(std::count(daily_before.begin(), daily_before.end(), '|') == 3);
  REQUIRE(migrate(db).ok());
  CHECK(text(db, events) == events_before);
  CHECK(text(db, daily) == daily_before);
  CHECK(text(db, m15) == m15_before);
  CHECK(text(db, "SELECT group_concat(event_rowid) FROM (SELECT event_rowid FROM event_extras "
                 "ORDER BY 1)") == "3,4,12,13");
  CHECK(text(db, "SELECT typeof(egress_bytes) FROM event_extras WHERE event_rowid = 13") ==
        "blob");
  CHECK(one(db, "SELECT MAX(rowid) FROM event_rows") == 13);
  CHECK(one(db, "SELECT SUM(listed) FROM event_rows") == 1);
  CHECK(one(db, "SELECT COUNT(*) FROM pragma_table_info('event_rows')") == 17);
  sqlite3_close(db);
}

TEST_CASE("migration 19 keeps the daily charges as ids: the same rows, ranges by their strings") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 18);
  // Two rows of one price (a new one to charge_prices, as a ledger of schema 8 to 18 may hold
  // rows whose price is no longer there), one of another already known; strings new to
  // dim_values, and one row's range of customers.
  const Status filled = exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'p'), (2, 'm');
INSERT INTO charge_prices (id, component, sku_price_id, pricing_currency, fx_nanos,
  list_rate_nanos, contracted_rate_nanos, discount_nano_percent)
VALUES (5, 'output-tokens', 'p/m/out', 'USD', 1000000000, 6000, 5400, 10000000000);
INSERT INTO charges_daily_rows VALUES
  ('2026-11-21', 'p', 'm', 'eu', 'chat', 'cx', 'price_book', 'input-tokens', 'p/m/in', 'CNY',
   138900000, 1200, 1200, 0, 'acme', 'globex', 'batch', 'standard', '{}', '{"env":"prod"}',
   1000, 166680),
  ('2026-11-22', 'p', 'm', 'eu', 'chat', 'cx', 'price_book', 'input-tokens', 'p/m/in', 'CNY',
   138900000, 1200, 1200, 0, '', '', 'batch', 'batch', '{}', '{}', 7, 9),
  ('2026-11-21', 'p', 'm', '', 'search', 'cx', 'price_book', 'output-tokens', 'p/m/out', 'USD',
   1000000000, 6000, 5400, 10000000000, 'acme', 'acme', 'critical', 'critical', '{}', '{}',
   20, 108000);
)sql");
  INFO(filled.message());
  REQUIRE(filled.ok());
  const char* charges =
      "SELECT group_concat(day_local || '|' || provider || '|' || model || '|' || region || '|' "
      "|| feature || '|' || team || '|' || priced_by || '|' || component || '|' || sku_price_id "
      "|| '|' || pricing_currency || '|' || fx_nanos || '|' || list_rate_nanos || '|' || "
      "contracted_rate_nanos || '|' || discount_nano_percent || '|' || customer_lo || '|' || "
      "customer_hi || '|' || priority_lo || '|' || priority_hi || '|' || tags_lo || '|' || "
      "tags_hi || '|' || quantity || '|' || cost_nanos || '|' || typeof(fx_nanos) || "
      "typeof(quantity), ';') FROM (SELECT * FROM charges_daily ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, "
      "9)";
  const std::string before = text(db, charges);
  CHECK(std::count(before.begin(), before.end(), ';') == 2);
  REQUIRE(migrate(db).ok());
  CHECK(text(db, charges) == before);
  CHECK(one(db, "SELECT COUNT(*) FROM charge_prices") == 2);  // the known one reused
  CHECK(one(db, "SELECT COUNT(*) FROM charges_daily_rows WHERE price_id = 5") == 1);
  CHECK(one(db, "SELECT COUNT(*) FROM pragma_table_info('charges_daily_rows') WHERE name = "
                "'feature'") == 0);
  auto rows = focus_rows(db, *parse_date("2026-11-21"), *parse_date("2026-11-22"));
  REQUIRE(rows.ok());
  CHECK(rows->size() == 3);
  sqlite3_close(db);
}

TEST_CASE("migration 20 keeps the charge lines past the watermark as one row: the same lines") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 19);
  // Three events past the watermark, two lines for one of them, one line with int64's edges, and
  // one event's line at the watermark (already in the stored rows, not shown).
  const Status filled = exec_sql(db, R"sql(
INSERT INTO dim_values (id, value) VALUES (1, 'chat'), (2, 'cx'), (3, 'acme'), (4, '{}'),
  (5, 'p'), (6, 'm'), (7, ''), (8, 'standard'), (9, 'ok'), (10, 'USD'), (11, 'price_book'),
  (12, 'p/m/*@always');
INSERT INTO dim_sets (id, feature_id, team_id, provider_id, model_id, region_id, priority_id,
  status_id, currency_id, priced_by_id, price_ref_id) VALUES (1, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12);
INSERT INTO charge_prices (id, component, sku_price_id, pricing_currency, fx_nanos,
  list_rate_nanos, contracted_rate_nanos, discount_nano_percent)
VALUES (1, 'input-tokens', 'p/m/in', 'USD', 1000000000, 1200, 1200, 0),
       (2, 'output-tokens', 'p/m/out', 'USD', 1000000000, 6000, 6000, 0);
INSERT INTO event_rows (rowid, event_id, ts_ms, day_offset, set_id, customer_id, tags_id,
  input_tokens, cached_input_tokens, output_tokens, requests, gpu_micros, latency_ms, cost_nanos,
  reservation_id, received_offset_ms, reasoning_tokens) VALUES
  (4, 'e4', 1795255200000, 0, 1, 3, 4, 100, 0, 10, 1, 0, 5, 180000, '', 0, 0),
  (5, 'e5', 1795255200000, 0, 1, 3, 4, 100, 0, 10, 1, 0, 5, 180000, '', 0, 0),
  (7, 'e7', 1795255200000, 0, 1, 3, 4, 100, 0, 10, 1, 0, 5, -9223372036854775807, '', 0, 0),
  (9, 'e9', 1795255200000, 0, 1, 3, 4, 9223372036854775807, 0, 0, 1, 0, 5, 0, '', 0, 0);
UPDATE rollup_watermark SET through_rowid = 4;
INSERT INTO event_charges VALUES (4, 1, 100, 120000), (5, 2, 10, 60000), (5, 1, 100, 120000),
  (7, 1, 100, -9223372036854775807), (9, 1, 9223372036854775807, 0);
)sql");
  INFO(filled.message());
  REQUIRE(filled.ok());
  const char* lines =
      "SELECT group_concat(event_rowid || ':' || price_id || ':' || quantity || ':' || "
      "cost_nanos || ':' || typeof(quantity), ';') FROM (SELECT * FROM event_charges ORDER BY "
      "event_rowid, price_id)";
  const char* charges =
      "SELECT group_concat(feature || '|' || sku_price_id || '|' || quantity || '|' || "
      "cost_nanos, ';') FROM (SELECT * FROM charges_daily ORDER BY sku_price_id, quantity)";
  const std::string lines_before = text(db, lines), charges_before = text(db, charges);
  CHECK(lines_before ==
        "4:1:100:120000:integer;5:1:100:120000:integer;5:2:10:60000:integer;"
        "7:1:100:-9223372036854775807:integer;9:1:9223372036854775807:0:integer");
  REQUIRE(migrate(db).ok());
  // The lines past the watermark, as they were (the one at it was rolled up: not kept).
  CHECK(text(db, lines) == lines_before.substr(lines_before.find(';') + 1));
  CHECK(text(db, charges) == charges_before);
  CHECK(one(db, "SELECT COUNT(*) FROM event_charge_lines") == 1);  // one block of 512 rowids
  CHECK(text(db, "SELECT first_rowid || '-' || last_rowid FROM event_charge_lines") == "5-9");
  sqlite3_close(db);
}

TEST_CASE("migration 20 of a ledger without pending charge lines adds no row") {
  testing::TempDir dir;
  sqlite3* db = ledger_of_version(dir, 19);
  REQUIRE(migrate(db).ok());
  CHECK(one(db, "SELECT COUNT(*) FROM event_charge_lines") == 0);
  CHECK(one(db, "SELECT COUNT(*) FROM event_charges") == 0);
  CHECK(one(db, "SELECT COUNT(*) FROM charges_daily") == 0);
  sqlite3_close(db);
}
