#include "storage/policy_store.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <limits>

#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

Status step_done(sqlite3* db, Statement& st) {
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  if (st.step() != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return {};
}

// The tags column ({"key":"value",...}, as UsageEvent::tags_json wrote it), sorted by key.
std::vector<std::pair<std::string, std::string>> parse_tags(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> tags;
  if (text.size() <= 2) return tags;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (!ec && v.is_object())
    for (const auto& kv : v.get_object())
      if (kv.value().is_string())
        tags.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
  std::sort(tags.begin(), tags.end());
  return tags;
}

// Column 0 is the time (ts_ms) or, for daily rollups, the day; then the dimensions and the cost.
// Columns 0..9: a time (or a day), feature, team, customer, tags, provider, model, region,
// priority, cost_nanos.
SpendRow read_cost_row(const Statement& st, bool daily) {
  SpendRow r;
  if (daily)
    r.day_local = st.column_text(0);
  else
    r.ts = st.column_int(0);
  r.dims.feature = st.column_text(1);
  r.dims.team = st.column_text(2);
  r.dims.customer = st.column_text(3);
  r.dims.tags = parse_tags(st.column_text(4));
  r.dims.provider = st.column_text(5);
  r.dims.model = st.column_text(6);
  r.dims.region = st.column_text(7);
  r.dims.priority = parse_priority(st.column_text(8)).value_or(Priority::kStandard);
  r.cost = st.column_int(9);
  return r;
}

Status scan_costs(Statement& st, sqlite3* db, bool daily,
                  const std::function<void(const SpendRow&)>& row) {
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) row(read_cost_row(st, daily));
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return {};
}

Status scan_since(sqlite3* db, const char* sql, EpochMs since,
                  const std::function<void(const SpendRow&)>& row) {
  Statement st(db, sql);
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, since);
  return scan_costs(st, db, false, row);
}

}  // namespace

Status insert_override(sqlite3* db, const Override& o) {
  Statement st(db,
               "INSERT INTO overrides (id, budget, action, reason, actor, created_ms, until_ms) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (st.ok()) {
    st.bind(1, o.id).bind(2, o.budget).bind(3, o.action).bind(4, o.reason).bind(5, o.actor);
    st.bind(6, o.created).bind(7, o.until);
  }
  return step_done(db, st);
}

Status end_override(sqlite3* db, const std::string& id, EpochMs ended_ms) {
  Statement st(db, "UPDATE overrides SET ended_ms = ?2 WHERE id = ?1");
  if (st.ok()) st.bind(1, id).bind(2, ended_ms);
  return step_done(db, st);
}

std::vector<Override> load_active_overrides(sqlite3* db, EpochMs now) {
  std::vector<Override> out;
  Statement st(db,
               "SELECT id, budget, action, reason, actor, created_ms, until_ms FROM overrides "
               "WHERE ended_ms IS NULL AND until_ms > ?1 ORDER BY created_ms");
  if (!st.ok()) return out;
  st.bind(1, now);
  while (st.step() == SQLITE_ROW)
    out.push_back({st.column_text(0), st.column_text(1), st.column_text(2), st.column_text(3),
                   st.column_text(4), st.column_int(5), st.column_int(6)});
  return out;
}

Status insert_reservation(sqlite3* db, const StoredReservation& r) {
  std::string names;
  for (const auto& b : r.budgets)
    names += (names.empty() ? "" : "\n") + b;  // names hold no newline
  Statement st(db,
               "INSERT OR REPLACE INTO reservations (id, budgets, estimate_nanos, expires_ms) "
               "VALUES (?1, ?2, ?3, ?4)");
  if (st.ok()) st.bind(1, r.id).bind(2, names).bind(3, r.estimate_nanos).bind(4, r.expires);
  return step_done(db, st);
}

Status delete_reservation(sqlite3* db, const std::string& id) {
  Statement st(db, "DELETE FROM reservations WHERE id = ?1");
  if (st.ok()) st.bind(1, id);
  return step_done(db, st);
}

std::vector<StoredReservation> load_reservations(sqlite3* db, EpochMs now) {
  std::vector<StoredReservation> out;
  {
    Statement del(db, "DELETE FROM reservations WHERE expires_ms <= ?1");
    if (del.ok()) del.bind(1, now).step();
  }
  Statement st(db, "SELECT id, budgets, estimate_nanos, expires_ms FROM reservations");
  while (st.ok() && st.step() == SQLITE_ROW) {
    StoredReservation r{st.column_text(0), {}, st.column_int(2), st.column_int(3)};
    std::string names = st.column_text(1);
    for (size_t pos = 0; pos < names.size();) {
      size_t nl = names.find('\n', pos);
      if (nl == std::string::npos) nl = names.size();
      r.budgets.push_back(names.substr(pos, nl - pos));
      pos = nl + 1;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Status insert_alert_fired(sqlite3* db, const std::string& key, EpochMs ts) {
  Statement st(db, "INSERT OR IGNORE INTO alerts_fired (key, fired_ms) VALUES (?1, ?2)");
  if (st.ok()) st.bind(1, key).bind(2, ts);
  return step_done(db, st);
}

std::set<std::string> load_alerts_fired(sqlite3* db) {
  std::set<std::string> out;
  Statement st(db, "SELECT key FROM alerts_fired");
  while (st.ok() && st.step() == SQLITE_ROW) out.insert(st.column_text(0));
  return out;
}

Status insert_audit(sqlite3* db, const AuditEntry& row) {
  Statement st(
      db, "INSERT INTO audit (ts_ms, kind, budget, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (st.ok())
    st.bind(1, row.ts)
        .bind(2, row.kind)
        .bind(3, row.budget)
        .bind(4, row.actor)
        .bind(5, row.detail);
  return step_done(db, st);
}

Result<std::vector<AuditEntry>> read_audit(sqlite3* db, EpochMs since, int limit) {
  Statement st(db,
               "SELECT ts_ms, kind, budget, actor, detail FROM audit WHERE ts_ms >= ?1 "
               "ORDER BY ts_ms, id LIMIT ?2");
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, since).bind(2, int64_t(limit));
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3),
                   st.column_text(4)});
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return out;
}

Status scan_rollup_costs(sqlite3* db, EpochMs since,
                         const std::function<void(const SpendRow&)>& row) {
  // The rows of the view rollup_15m from `since`, read from its tables, each by its key: the
  // stored rows by bucket; the listed events by the ranges of each listed day that can hold such
  // a bucket (a local day is within 14 hours of UTC's) and reach it, each a rowid range; the
  // events past the watermark by rowid (few: a flush's worth). The view itself finds listed
  // events by day only, not by bucket.
#define TOLLGATE_SPEND_COLUMNS                                                                 \
  "f.value, t.value, c.value, g.value, p.value, m.value, rg.value, pr.value, r.cost_nanos "     \
  "FROM "
// The strings of row `r`'s ids; `d`: the alias that holds the dimensions of few values (the raw
// rows' dim_sets row, schema 17).
#define TOLLGATE_SPEND_JOINS_OF(d)                                                               \
  " LEFT JOIN dim_values f ON f.id = " d ".feature_id LEFT JOIN dim_values t ON t.id = " d      \
  ".team_id LEFT JOIN dim_values c ON c.id = r.customer_id LEFT JOIN dim_values g ON g.id = "   \
  "r.tags_id LEFT JOIN dim_values p ON p.id = " d ".provider_id LEFT JOIN dim_values m ON m.id " \
  "= " d ".model_id LEFT JOIN dim_values rg ON rg.id = " d ".region_id "                         \
  "LEFT JOIN dim_values pr ON pr.id = " d ".priority_id "
#define TOLLGATE_SPEND_JOINS TOLLGATE_SPEND_JOINS_OF("r")
  return scan_since(
      db,
      // The listed days from the first that can hold such a bucket, one seek each (not every
      // calendar day: one event stored under a clock far ahead would make that a long walk).
      "WITH RECURSIVE days(d) AS (SELECT (SELECT MIN(day_local) FROM rollup_raw_ranges WHERE "
      "day_local >= IFNULL(date(?1 / 1000 - 54000, 'unixepoch'), '')) UNION ALL SELECT (SELECT "
      "MIN(day_local) FROM rollup_raw_ranges WHERE day_local > d) FROM days WHERE d IS NOT NULL) "
      "SELECT r.bucket_ms, " TOLLGATE_SPEND_COLUMNS "rollup_15m_rows r" TOLLGATE_SPEND_JOINS
      "WHERE r.bucket_ms >= ?1 "
      "UNION ALL "
      "SELECT r.ts_ms - ((r.ts_ms % 900000) + 900000) % 900000 AS bucket, " TOLLGATE_SPEND_COLUMNS
      "rollup_raw_ranges u CROSS JOIN event_rows r ON r.rowid BETWEEN u.first_rowid AND "
      "u.last_rowid LEFT JOIN dim_sets s ON s.id = r.set_id" TOLLGATE_SPEND_JOINS_OF("s")
      "WHERE u.day_local IN days AND u.last_bucket_ms >= ?1 AND r.listed AND "
      TOLLGATE_EVENT_DAY("r") " = u.day_local AND bucket >= ?1 "
      "UNION ALL "
      "SELECT ts_ms - ((ts_ms % 900000) + 900000) % 900000 AS bucket, feature, team, customer, "
      "tags, provider, model, region, priority, cost_nanos FROM events WHERE rowid > (SELECT "
      "through_rowid FROM rollup_watermark) AND bucket >= ?1",
      since, row);
#undef TOLLGATE_SPEND_JOINS
#undef TOLLGATE_SPEND_JOINS_OF
#undef TOLLGATE_SPEND_COLUMNS
}

Status scan_daily_costs(sqlite3* db, const std::string& from, const std::string& to,
                        const std::function<void(const SpendRow&)>& row) {
  Statement st(
      db,
      "SELECT day_local, feature, team, customer, tags, provider, model, region, priority, "
      "cost_nanos FROM rollup_daily WHERE day_local BETWEEN ?1 AND ?2");
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, from).bind(2, to);
  return scan_costs(st, db, true, row);
}

Status scan_events_after(sqlite3* db, int64_t after_rowid,
                         const std::function<void(const SpendRow&)>& row) {
  return scan_since(db,
                    "SELECT ts_ms, feature, team, customer, tags, provider, model, region, "
                    "priority, cost_nanos FROM events WHERE rowid > ?1 ORDER BY rowid",
                    after_rowid, row);
}

Result<int64_t> last_event_rowid(sqlite3* db) {
  Statement st(db, "SELECT IFNULL(MAX(rowid), 0) FROM event_rows");
  if (!st.ok() || st.step() != SQLITE_ROW) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return st.column_int(0);
}

Result<SpendSeeds> load_spend_checkpoints(sqlite3* db) {
  SpendSeeds seeds;
  Statement through(db, "SELECT through_rowid FROM budget_spend_through");
  if (!through.ok() || through.step() != SQLITE_ROW)
    return Status::error(Code::kStorageError, "budget_spend_through has no row");
  seeds.through_rowid = through.column_int(0);
  Statement st(db, "SELECT budget, scope, period_start_ms, spend_nanos, ahead FROM budget_spend");
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  std::vector<SpendCheckpoint>& out = seeds.checkpoints;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    SpendCheckpoint cp;
    cp.budget = st.column_text(0);
    cp.scope = st.column_text(1);
    cp.period_start = st.column_int(2);
    cp.spend = st.column_int(3);
    const std::string ahead = st.column_text(4);
    // "start:nanos;start:nanos"
    for (size_t pos = 0; pos < ahead.size();) {
      size_t end = ahead.find(';', pos);
      if (end == std::string::npos) end = ahead.size();
      long long start = 0, nanos = 0;
      int used = 0;
      const std::string item = ahead.substr(pos, end - pos);
      if (std::sscanf(item.c_str(), "%lld:%lld%n", &start, &nanos, &used) != 2 ||
          size_t(used) != item.size())
        return Status::error(Code::kStorageError, "budget_spend.ahead of " + cp.budget +
                                                      " is not start:nanos;...: " + ahead);
      cp.ahead[start] = nanos;
      pos = end + 1;
    }
    out.push_back(std::move(cp));
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  std::map<std::string_view, SpendCheckpoint*> by_budget;
  for (SpendCheckpoint& cp : out) by_budget[cp.budget] = &cp;
  Statement minutes(db, "SELECT budget, minute, nanos FROM budget_spend_minutes");
  if (!minutes.ok()) return Status::error(Code::kStorageError, minutes.error());
  while ((rc = minutes.step()) == SQLITE_ROW) {
    auto it = by_budget.find(minutes.column_text(0));
    if (it != by_budget.end()) it->second->per_minute[minutes.column_int(1)] = minutes.column_int(2);
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return seeds;
}

Status save_spend_checkpoints(sqlite3* db, int64_t through_rowid,
                              const std::vector<SpendCheckpoint>& changed,
                              const std::vector<std::string>& gone) {
  Status s = exec_sql(db, "BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  Statement put(db,
                "INSERT INTO budget_spend (budget, scope, period_start_ms, spend_nanos, ahead) "
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (budget) DO UPDATE "
                "SET scope = excluded.scope, period_start_ms = excluded.period_start_ms, "
                "spend_nanos = excluded.spend_nanos, ahead = excluded.ahead");
  // One row: written whole, so a row gone missing comes back.
  Statement clear_through(db, "DELETE FROM budget_spend_through");
  Statement through(db, "INSERT INTO budget_spend_through (through_rowid) VALUES (?1)");
  Statement drop(db, "DELETE FROM budget_spend WHERE budget = ?1");
  Statement put_minute(db,
                       "INSERT INTO budget_spend_minutes (budget, minute, nanos) VALUES (?1, ?2, "
                       "?3) ON CONFLICT DO UPDATE SET nanos = excluded.nanos");
  // Minutes before ?2 (INT64_MAX: all of them) have left the budget's windows.
  Statement drop_minutes(db, "DELETE FROM budget_spend_minutes WHERE budget = ?1 AND minute < ?2");
  if (!put.ok() || !drop.ok() || !put_minute.ok() || !drop_minutes.ok() || !through.ok() ||
      !clear_through.ok())
    s = Status::error(Code::kStorageError, put.error() + drop.error() + put_minute.error() +
                                               drop_minutes.error() + through.error());
  constexpr int64_t kAll = std::numeric_limits<int64_t>::max();
  auto drop_minutes_before = [&](const std::string& budget, int64_t minute) {
    drop_minutes.reset();
    drop_minutes.bind(1, budget).bind(2, minute);
    s = step_done(db, drop_minutes);
  };
  for (size_t i = 0; s.ok() && i < changed.size(); ++i) {
    const SpendCheckpoint& cp = changed[i];
    std::string ahead;
    for (auto [start, nanos] : cp.ahead)
      ahead += (ahead.empty() ? "" : ";") + std::to_string(start) + ":" + std::to_string(nanos);
    put.reset();
    put.bind(1, cp.budget).bind(2, cp.scope).bind(3, cp.period_start).bind(4, cp.spend);
    put.bind(5, ahead);
    s = step_done(db, put);
    if (s.ok()) drop_minutes_before(cp.budget, cp.all_minutes ? kAll : cp.minutes_from);
    for (auto it = cp.per_minute.begin(); s.ok() && it != cp.per_minute.end(); ++it) {
      put_minute.reset();
      put_minute.bind(1, cp.budget).bind(2, it->first).bind(3, it->second);
      s = step_done(db, put_minute);
    }
  }
  for (size_t i = 0; s.ok() && i < gone.size(); ++i) {
    drop.reset();
    drop.bind(1, gone[i]);
    s = step_done(db, drop);
    if (s.ok()) drop_minutes_before(gone[i], kAll);
  }
  if (s.ok()) s = step_done(db, clear_through);
  if (s.ok()) {
    through.bind(1, through_rowid);
    s = step_done(db, through);
  }
  if (s.ok()) s = exec_sql(db, "COMMIT");
  if (!s.ok()) exec_sql(db, "ROLLBACK");  // also after a failed COMMIT: the writer goes on
  return s;
}

Result<sqlite3*> open_read_only(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::error(Code::kStorageUnavailable, "cannot open " + path + " read-only: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace tollgate
