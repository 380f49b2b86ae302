// Ledger tests on real SQLite files.
#include "storage/ledger.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <map>
#include <random>
#include <mutex>
#include <thread>

#include "storage/policy_store.h"
#include "storage/report.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"
#include "tests/unit/support/temp_dir.h"

// The listed events (left as their raw rows, schema 14) the flushes named: each marked row inside
// a range of its day. Columns event_rowid, day_local, bucket_ms, cost_nanos.
#define LISTED                                                                                  \
  "(SELECT e.rowid AS event_rowid, g.day_local AS day_local, "                                  \
  "e.ts_ms - ((e.ts_ms % 900000) + 900000) % 900000 AS bucket_ms, e.cost_nanos AS cost_nanos "   \
  "FROM rollup_raw_ranges g JOIN event_rows e ON e.rowid BETWEEN g.first_rowid AND "            \
  "g.last_rowid AND e.listed AND " TOLLGATE_EVENT_DAY("e") " = g.day_local)"
// What the flushes stored of the full-key rollups: their rows, and the listed events. Columns
// events, cost_nanos.
#define TOLLGATE_LISTED_EVENTS " UNION ALL SELECT 1, cost_nanos FROM " LISTED ")"
#define STORED_15M "(SELECT events, cost_nanos FROM rollup_15m_rows" TOLLGATE_LISTED_EVENTS
#define STORED_DAILY "(SELECT events, cost_nanos FROM rollup_daily_rows" TOLLGATE_LISTED_EVENTS

using namespace tollgate;

namespace {


const EpochMs kNow = *parse_rfc3339("2026-11-21T12:00:00Z");

UsageEvent make(const std::string& id, int64_t cost_nanos, EpochMs ts = kNow) {
  UsageEvent e;
  e.event_id = id;
  e.ts_ms = ts;
  e.feature = "chat";
  e.provider = "p";
  e.model = "m";
  e.input_tokens = 10;
  e.output_tokens = 5;
  e.cost = Money::from_nanos(cost_nanos);
  e.priced_by = PricedBy::kPriceBook;
  return e;
}

struct Outcome {
  Status status;
  std::vector<bool> duplicate;
  std::vector<bool> refused;  // cost_out_of_range: a day's sum would wrap
};

Outcome submit_and_wait(Ledger& l, std::vector<UsageEvent> events) {
  std::promise<Outcome> p;
  l.submit(std::move(events), [&](Status s, std::vector<Stored> d, std::vector<UsageEvent>) {
    Outcome o{s, {}, {}};
    for (Stored x : d) {
      o.duplicate.push_back(x == Stored::kDuplicate);
      o.refused.push_back(x == Stored::kOutOfRange);
    }
    p.set_value(std::move(o));
  });
  return p.get_future().get();
}

int64_t query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// The first column of the first row, as text.
std::string query_text(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  Statement st(raw, sql);
  REQUIRE(st.ok());
  REQUIRE(st.step() == SQLITE_ROW);
  std::string v = st.column_text(0);
  st = Statement();
  sqlite3_close(raw);
  return v;
}

// Every event marked listed at or below the watermark is inside exactly one range of its day.
void check_listed_named_once(const std::string& db) {
  const int64_t named = query_int(db, "SELECT COUNT(*) FROM " LISTED);
  CHECK(query_int(db, "SELECT COUNT(DISTINCT event_rowid) FROM " LISTED) == named);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_rows WHERE listed AND rowid <= (SELECT "
                      "through_rowid FROM rollup_watermark)") == named);
}

// An edit outside the daemon, on its closed ledger.
void delete_by_hand(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  REQUIRE(exec_sql(raw, sql).ok());
  sqlite3_close(raw);
}

LedgerOptions options(const testing::TempDir& dir, int window_ms = 5) {
  LedgerOptions o;
  o.path = dir.file("ledger.db");
  o.commit_interval_ms = window_ms;
  return o;
}

}  // namespace

TEST_CASE("dedup by event_id: first write wins, within a batch and across batches") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  auto first = submit_and_wait(*l.value(), {make("a", 100), make("b", 200), make("a", 999)});
  REQUIRE(first.status.ok());
  CHECK(first.duplicate == std::vector<bool>{false, false, true});
  auto again = submit_and_wait(*l.value(), {make("b", 555), make("c", 1)});
  CHECK(again.duplicate == std::vector<bool>{true, false});
  l.value()->stop();
  CHECK(query_int(dir.file("ledger.db"), "SELECT cost_nanos FROM events WHERE event_id='a'") ==
        100);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_15m") == 301);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(events) FROM rollup_15m") == 3);
}

TEST_CASE("group commit: concurrent submitters share transactions") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir, 20), [] { return kNow; });
  REQUIRE(l.ok());
  std::atomic<int> commits{0};
  std::atomic<size_t> committed{0};
  l.value()->set_commit_observer([&](const CommitInfo& info) {
    commits.fetch_add(1);
    committed.fetch_add(info.accepted.size());
  });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::vector<UsageEvent> batch;
        for (int k = 0; k < 10; ++k)
          batch.push_back(
              make("t" + std::to_string(t) + "-" + std::to_string(i) + "-" + std::to_string(k), 1));
        if (submit_and_wait(*l.value(), std::move(batch)).status.ok()) ok.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  l.value()->stop();
  CHECK(ok.load() == 80);
  CHECK(committed.load() == 800);
  CHECK(commits.load() < 80);  // requests were grouped
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events") == 800);
}

TEST_CASE("views: totals equal what was stored, to the nano; day_local in the zone") {
  testing::TempDir dir;
  auto o = options(dir);
  o.timezone = TimeZone::load("Asia/Kolkata").value();
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  std::vector<UsageEvent> events;
  int64_t total = 0;
  for (int i = 0; i < 100; ++i) {
    int64_t c = 1'000'000'007LL * i + 3;
    total += c;
    // Spread over 2026-11-21T17:00Z..19:00Z: the Kolkata day changes at 18:30Z.
    events.push_back(
        make("e" + std::to_string(i), c, *parse_rfc3339("2026-11-21T17:00:00Z") + i * 72'000));
  }
  REQUIRE(submit_and_wait(*l.value(), events).status.ok());
  l.value()->stop();
  const std::string db = dir.file("ledger.db");
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM events") == total);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
  CHECK(query_int(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs") == total);
  CHECK(query_int(db, "SELECT COUNT(*) FROM ledger_events WHERE day_local = '2026-11-22'") ==
        query_int(db, "SELECT COUNT(*) FROM events WHERE ts_ms >= 1795285800000"));
  CHECK(query_int(db, "SELECT SUM(requests) FROM daily_costs WHERE day_local = '2026-11-21'") +
            query_int(db, "SELECT SUM(requests) FROM daily_costs WHERE day_local = '2026-11-22'") ==
        100);
  CHECK(query_int(db,
                  "SELECT COUNT(*) FROM ledger_events WHERE ts_utc = '2026-11-21T17:01:12.000Z'") ==
        1);
}

TEST_CASE("restart keeps everything; re-sent events are all duplicates") {
  testing::TempDir dir;
  std::vector<UsageEvent> events;
  for (int i = 0; i < 50; ++i) events.push_back(make("r" + std::to_string(i), 7));
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), events).status.ok());
  }
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  auto again = submit_and_wait(*l.value(), events);
  CHECK(std::count(again.duplicate.begin(), again.duplicate.end(), true) == 50);
  l.value()->stop();
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_15m") == 350);
}

TEST_CASE("a second writer on the same database is refused with the owner's pid") {
  testing::TempDir dir;
  auto first = Ledger::open(options(dir));
  REQUIRE(first.ok());
  auto second = Ledger::open(options(dir));
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().rfind("database is locked by pid " + std::to_string(getpid()),
                                        0) == 0);
}

TEST_CASE("retention prunes raw events but keeps rollups") {
  testing::TempDir dir;
  EpochMs now = kNow;
  auto o = options(dir);
  o.raw_retention_days = 35;
  o.rollup_flush_interval_ms = 0;  // a raw event is pruned only once rolled up
  auto l = Ledger::open(o, [&] { return now; });
  REQUIRE(l.ok());
  REQUIRE(submit_and_wait(*l.value(), {make("old", 5, kNow - 40LL * 86'400'000), make("new", 6)})
              .status.ok());
  l.value()->stop();  // the writer prunes between commits when due (and at once after start)
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events") == 1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events WHERE event_id = 'new'") ==
        1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_15m") == 11);
}

// Events at or below the rollup watermark outside their block's times (event_ts_blocks, schema
// 16): retention and the reports across ledgers would miss them.
#define OUTSIDE_TS_BLOCKS                                                                    \
  "SELECT COUNT(*) FROM event_rows e LEFT JOIN event_ts_blocks b ON b.block = e.rowid >> 10 " \
  "WHERE e.rowid <= (SELECT through_rowid FROM rollup_watermark) AND (b.block IS NULL OR "    \
  "e.ts_ms NOT BETWEEN b.min_ts_ms AND b.max_ts_ms)"

TEST_CASE("retention finds old events among new ones through the blocks of rowids' times") {
  // A backfill: old and new events mixed in every block of 1024 rowids, over several flushes
  // (blocks span commits), with days far off; then retention prunes every old one and no other.
  // (kFarPast is pruned at once: it is older than 3,650 days too.)
  constexpr EpochMs kFarPast = -62'000'000'000'000, kFarFuture = 250'000'000'000'000;
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  const EpochMs cutoff = kNow - 35LL * 86'400'000;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 0;
  o.raw_retention_days = 3650;
  int64_t total = 0, old_events = 0, n = 0;
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    for (int b = 0; b < 5; ++b) {
      std::vector<UsageEvent> batch;
      for (int i = 0; i < 700; ++i, ++n) {
        EpochMs ts = n % 3 == 0 ? cutoff - 1 - n * 60'000 : cutoff + n * 1'000;
        if (n == 100) ts = kFarPast;
        if (n == 101) ts = kFarFuture;
        if (n == 102) ts = cutoff;  // kept: retention takes events before the cutoff
        UsageEvent e = make("b" + std::to_string(n), 1 + n % 7, ts);
        e.customer = "c" + std::to_string(n % 50);
        old_events += ts < cutoff;
        total += e.cost.nanos();
        batch.push_back(e);
      }
      REQUIRE(submit_and_wait(*l.value(), batch).status.ok());
      CHECK(query_int(db, OUTSIDE_TS_BLOCKS) == 0);
    }
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_ts_blocks") == 4);  // rowids 1..3500
  CHECK(query_int(db, "SELECT MAX(max_ts_ms) FROM event_ts_blocks") == kFarFuture);
  o.raw_retention_days = 35;
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("last", 1)}).status.ok());
    ++n;
    ++total;
    l.value()->stop();  // the writer prunes between commits when due, a chunk at a time
  }
  CHECK(old_events > 1000);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE ts_ms < " + std::to_string(cutoff)) == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == n - old_events);
  CHECK(query_int(db, OUTSIDE_TS_BLOCKS) == 0);
  // Narrowed to the events left: the next prune reads no block for nothing.
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_ts_blocks WHERE min_ts_ms < " +
                          std::to_string(cutoff)) == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == total);
  // A time corrected by hand, in a block now all of new events: the block widens with it (a
  // trigger), so the next prune finds it.
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    REQUIRE(exec_sql(raw, "UPDATE event_rows SET ts_ms = " + std::to_string(cutoff - 5) +
                              " WHERE event_id = 'b1'")
                .ok());
    sqlite3_close(raw);
  }
  CHECK(query_int(db, OUTSIDE_TS_BLOCKS) == 0);
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("last2", 1)}).status.ok());
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id = 'b1'") == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == n - old_events);
}

// The plan SQLite picks for `sql`: its steps' details, one per line.
std::string query_plan(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr) ==
          SQLITE_OK);
  std::string plan;
  while (sqlite3_step(st) == SQLITE_ROW)
    plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3)) + std::string("\n");
  sqlite3_finalize(st);
  sqlite3_close(db);
  return plan;
}

TEST_CASE("an event alone under its rollup key stays its raw row, and retention rolls it up") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  const EpochMs old = kNow - 40LL * 86'400'000;
  auto with_customer = [](UsageEvent e, const char* customer) {
    e.customer = customer;
    return e;
  };
  auto o = options(dir);
  o.rollup_flush_interval_ms = 0;
  o.raw_retention_days = 3650;  // first nothing is pruned
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("a1", 1), make("a2", 2),
                                         with_customer(make("b", 4), "globex"),
                                         with_customer(make("c", 8, old), "initech"),
                                         with_customer(make("d", 16, old), "umbrella")})
                .status.ok());
    l.value()->stop();
  }
  // a1 and a2 share their key: a1, the first, is listed, a2 a row in each table. b, c and d
  // are the first of theirs: listed, no rows.
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_daily_rows") == 1);
  CHECK(query_int(db, "SELECT events FROM rollup_daily_rows") == 1);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_15m_rows") == 1);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 4);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED " u JOIN events e ON e.rowid = "
                      "u.event_rowid AND e.day_local = u.day_local WHERE e.event_id IN "
                      "('a1', 'b', 'c', 'd')") == 4);
  check_listed_named_once(db);
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") == 5);
  // Every reader sees each event once.
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 31);
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_15m") == 5);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m WHERE bucket_ms = " +
                          std::to_string(bucket_of(old))) == 24);
  CHECK(query_int(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs") == 31);
  CHECK(query_int(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs WHERE "
                      "customer = 'initech'") == 8);
  // A reader of a day finds that day's listed events by their key, not by reading them all.
  const std::string day_plan =
      query_plan(db, "SELECT SUM(cost_nanos) FROM rollup_daily WHERE day_local = '2026-10-12'");
  CAPTURE(day_plan);
  CHECK(day_plan.find("SEARCH g USING PRIMARY KEY (day_local=?)") != std::string::npos);
  CHECK(day_plan.find("SCAN g") == std::string::npos);
  CHECK(day_plan.find("SEARCH r USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") !=
        std::string::npos);  // each range: its rowids only
  // A week's readers too: no automatic index over every event's day.
  const std::string week_plan = query_plan(
      db, "SELECT SUM(cost_nanos) FROM rollup_daily WHERE day_local BETWEEN '2026-10-06' AND "
          "'2026-10-12'");
  CAPTURE(week_plan);
  CHECK(week_plan.find("AUTOMATIC") == std::string::npos);
  CHECK(week_plan.find("SEARCH r USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") !=
        std::string::npos);
  // The budgets' scan of recent buckets (policy_store.cpp) reads the rows of rollup_15m from a
  // bucket on: the stored row, and the listed events by their time.
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    auto scanned = [&](EpochMs since) {
      int64_t cost = 0, rows = 0;
      REQUIRE(scan_rollup_costs(raw, since, [&](const SpendRow& r) {
                cost += r.cost;
                ++rows;
                CHECK(r.ts >= since);
              }).ok());
      return std::make_pair(rows, cost);
    };
    CHECK(scanned(bucket_of(old)) == std::make_pair(int64_t{5}, int64_t{31}));
    CHECK(scanned(bucket_of(old) + 1) == std::make_pair(int64_t{3}, int64_t{7}));  // not c, d
    CHECK(scanned(bucket_of(kNow)) == std::make_pair(int64_t{3}, int64_t{7}));  // a1, a2, b
    CHECK(scanned(bucket_of(kNow) + 900'000) == std::make_pair(int64_t{0}, int64_t{0}));
    CHECK(scanned(std::numeric_limits<int64_t>::min()) == std::make_pair(int64_t{5}, int64_t{31}));
    sqlite3_close(raw);
  }

  o.raw_retention_days = 35;  // now c and d are past it
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    // The first of a's key in this process (its recent keys start empty): listed too, though
    // a's key has a row.
    REQUIRE(submit_and_wait(*l.value(), {make("e", 32)}).status.ok());
    l.value()->stop();  // the writer prunes between commits when due (and at once after start)
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == 4);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 3);  // a1, b and e, still raw
  check_listed_named_once(db);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_daily_rows") == 3);  // a's, c's and d's
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_15m_rows") == 3);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily_rows WHERE customer_id = "
                      "(SELECT id FROM dim_values WHERE value = 'umbrella')") == 16);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 63);
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_15m") == 6);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily WHERE customer = ''") == 35);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m WHERE bucket_ms = " +
                          std::to_string(bucket_of(old))) == 24);
}

TEST_CASE("retention prunes no event after the rowid the budget checkpoints hold it to") {
  testing::TempDir dir;
  auto o = options(dir);
  o.raw_retention_days = 35;
  o.rollup_flush_interval_ms = 0;
  o.prune_held_at_open = true;  // as the daemon opens it: nothing goes until a hold is set
  const EpochMs old = kNow - 40LL * 86'400'000;
  const std::string db = dir.file("ledger.db");
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("old-1", 5, old), make("old-2", 5, old)}).status.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("new", 6)}).status.ok());
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == 3);
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    l.value()->hold_prune_after(1);  // the checkpoints count through old-1
    REQUIRE(submit_and_wait(*l.value(), {make("newer", 6)}).status.ok());
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id = 'old-1'") == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id = 'old-2'") == 1);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == 3);
}

TEST_CASE("submit after stop fails with storage_unavailable and returns the events") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir));
  REQUIRE(l.ok());
  l.value()->stop();
  size_t returned = 0;
  Status status;
  l.value()->submit({make("x", 1)}, [&](Status s, std::vector<Stored>, std::vector<UsageEvent> e) {
    status = s;
    returned = e.size();
  });
  CHECK(status.code_name() == "storage_unavailable");
  CHECK(returned == 1);
}

TEST_CASE("a failed commit stores nothing of the batch and reports storage_unavailable") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  REQUIRE(submit_and_wait(*l.value(), {make("before", 1)}).status.ok());
  {
    // A real SQLite failure mid-transaction: a trigger aborts the insert of one event.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.file("ledger.db").c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);  // the writer may be mid-transaction (commit or prune)
    REQUIRE(sqlite3_exec(db,
                         "CREATE TRIGGER poison BEFORE INSERT ON event_rows "
                         "WHEN NEW.event_id = 'bad' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto caller_priced = [](UsageEvent e) {  // a charge line each, so charges are rolled back too
    e.priced_by = PricedBy::kCaller;
    return e;
  };
  // A customer first seen in the failed batch: its dim_values row goes with the rollback, and
  // the next commit must not reuse the id the ledger was given for it.
  auto new_customer = [](UsageEvent e) {
    e.customer = "first-seen";
    return e;
  };
  auto failed = submit_and_wait(*l.value(), {new_customer(caller_priced(make("good", 10))),
                                             caller_priced(make("bad", 20))});
  CHECK(failed.status.code_name() == "storage_unavailable");
  CHECK(failed.status.message().find("disk on fire") != std::string::npos);
  // The failed batch's dimension set (chat, caller) went with it too: another new set takes
  // its dim_sets id before it comes again, and each event must keep its own.
  UsageEvent other = make("other", 1000);
  other.feature = "search";
  REQUIRE(submit_and_wait(*l.value(), {other}).status.ok());
  auto after = submit_and_wait(*l.value(), {new_customer(caller_priced(make("later", 100)))});
  CHECK(after.status.ok());
  l.value()->stop();
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events WHERE event_id = 'good'") ==
        0);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events WHERE event_id = 'later' "
                                         "AND feature = 'chat' AND priced_by = 'caller'") == 1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events WHERE event_id = 'other' "
                                         "AND feature = 'search' AND priced_by = 'price_book'") ==
        1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM dim_sets") == 3);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_15m") == 1101);
  // The failed commit's rows were in the rollup buffer: the flush rolled up from the raw events.
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM " STORED_15M) == 1101);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(events) FROM " STORED_DAILY) == 3);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM charges_daily_rows") == 100);
  // Its price was first seen in the failed batch too: the row it names is the one added again.
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM charges_daily WHERE component = "
                                         "'caller-priced' AND cost_nanos = 100") == 1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM event_charges") == 0);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_daily_dim_rows "
                                         "WHERE dimension = 'customer'") == 1101);
  CHECK(query_int(dir.file("ledger.db"), "SELECT COUNT(*) FROM events WHERE event_id = 'later' "
                                         "AND customer = 'first-seen'") == 1);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(cost_nanos) FROM rollup_daily "
                                         "WHERE customer = 'first-seen'") == 100);
}

TEST_CASE("a rollup flush that fails keeps its rows and a later one writes them once") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 20;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  const std::string db = dir.file("ledger.db");
  auto with_sql = [&](const char* sql) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    REQUIRE(exec_sql(raw, sql).ok());
    sqlite3_close(raw);
  };
  with_sql("CREATE TRIGGER no_room BEFORE INSERT ON rollup_daily_rows "
           "BEGIN SELECT RAISE(ABORT, 'disk full'); END; "
           "CREATE TRIGGER no_room_raw BEFORE INSERT ON rollup_raw_ranges "  // an event listed
           "BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  UsageEvent e = make("f1", 7);
  e.priced_by = PricedBy::kCaller;
  REQUIRE(submit_and_wait(*l.value(), {e}).status.ok());
  for (int i = 0; i < 100 && l.value()->rollup_flushes().failures == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(l.value()->rollup_flushes().failures >= 1);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " STORED_15M) == 0);  // rolled back whole
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 7);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM charges_daily") == 7);
  with_sql("DROP TRIGGER no_room; DROP TRIGGER no_room_raw");
  for (int i = 0; i < 200 && l.value()->rollup_flushes().interval == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(l.value()->rollup_flushes().interval == 1);
  l.value()->stop();
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 7);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 7);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM charges_daily") == 7);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily_dim WHERE dimension = 'feature'") ==
        7);
}

TEST_CASE("a watermark left past the last event (events removed by hand) follows it at open") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("a", 1), make("b", 2), make("c", 4)}).status.ok());
  }
  delete_by_hand(db, "DELETE FROM event_rows WHERE event_id IN ('b', 'c')");
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") == 1);
  REQUIRE(submit_and_wait(*l.value(), {make("d", 8)}).status.ok());
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 15);  // seen, not hidden
  l.value()->stop();
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 15);
}

TEST_CASE("a key with one event in each of many flushes is listed once, then gets its rows") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  auto o = options(dir);
  o.rollup_flush_interval_ms = 0;  // a flush after every commit
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    for (int i = 0; i < 20; ++i)
      REQUIRE(submit_and_wait(*l.value(), {make("k" + std::to_string(i), 1 + i)}).status.ok());
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 1);  // the day's first
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_daily_rows") == 19);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_daily_rows") == 1);
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_15m_rows") == 19);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 210);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 210);
}

TEST_CASE("listed events removed by hand do not count the events that reuse their rowids") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  auto for_customer = [](UsageEvent e, const char* customer) {
    e.customer = customer;
    return e;
  };
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {for_customer(make("a", 1), "x"),
                                         for_customer(make("b", 2), "y"),
                                         for_customer(make("c", 4), "z")})
                .status.ok());
    l.value()->stop();
  }
  REQUIRE(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 3);  // each alone
  delete_by_hand(db, "DELETE FROM event_rows WHERE event_id IN ('b', 'c')");
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 1);  // a's
  // d and e take b's and c's rowids, and share a key: one row, not listed.
  REQUIRE(submit_and_wait(*l.value(), {for_customer(make("d", 8), "w"),
                                       for_customer(make("e", 16), "w")})
              .status.ok());
  CHECK(query_int(db, "SELECT MAX(rowid) FROM event_rows") == 3);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 25);
  l.value()->stop();
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 25);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_DAILY) == 25);
}

TEST_CASE("no day sum can wrap: an event that would pass int64 is refused, alone") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // Two events near the edge in different rollup rows (features): each row fits, the day would not.
  UsageEvent a = make("edge-a", kMax - 10);
  UsageEvent b = make("edge-b", 11);
  b.feature = "other";
  UsageEvent c = make("edge-c", 10);
  c.feature = "third";
  auto out = submit_and_wait(*l.value(), {a, b, c});
  REQUIRE(out.status.ok());
  CHECK(out.refused == std::vector<bool>{false, true, false});
  CHECK(out.duplicate == std::vector<bool>{false, false, false});
  // Across batches and restarts the day's total is read back from the rollups.
  l = Status();  // closes the ledger and its lock before the restart
  l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  auto more = submit_and_wait(*l.value(), {make("edge-d", 1), make("edge-a", 1)});
  CHECK(more.refused == std::vector<bool>{true, false});
  CHECK(more.duplicate == std::vector<bool>{false, true});
  // Token counts are summed the same way.
  UsageEvent t = make("tokens", 0);
  t.input_tokens = kMax;
  auto tokens = submit_and_wait(*l.value(), {t});
  CHECK(tokens.refused == std::vector<bool>{true});
  l.value()->stop();
  const std::string db = dir.file("ledger.db");
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == kMax);
  CHECK(query_int(db, "SELECT MIN(cost_nanos) FROM rollup_15m") == 10);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events") == 2);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id = 'edge-b'") == 0);
}

TEST_CASE("reasoning tokens are kept per event and in the rollups") {
  testing::TempDir dir;
  auto l = Ledger::open(options(dir), [] { return kNow; });
  REQUIRE(l.ok());
  UsageEvent e = make("r1", 100);
  e.output_tokens = 50;
  e.reasoning_tokens = 30;
  UsageEvent f = make("r2", 100);
  f.output_tokens = 20;
  f.reasoning_tokens = 5;
  REQUIRE(submit_and_wait(*l.value(), {e, f}).status.ok());
  l.value()->stop();
  const std::string db = dir.file("ledger.db");
  CHECK(query_int(db, "SELECT reasoning_tokens FROM events WHERE event_id = 'r1'") == 30);
  CHECK(query_int(db, "SELECT SUM(reasoning_tokens) FROM rollup_15m") == 35);
  CHECK(query_int(db, "SELECT SUM(reasoning_tokens) FROM rollup_daily") == 35);
}

TEST_CASE("the fields an event rarely sets read back exactly from their own table") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  const EpochMs old = kNow - 40LL * 86'400'000;
  auto o = options(dir);
  o.raw_retention_days = 3650;
  // x1 (old, alone under its key: listed) sets them all, and a reservation id (in the row) of
  // odd characters; x2 only a reservation id; x3 none; x4 the largest counts and money of either
  // sign.
  UsageEvent x1 = make("x1", 100, old);
  x1.customer = "initech";
  x1.cache_write_tokens = 7;
  x1.egress_bytes = 1000;
  x1.value_units = Money::from_nanos(3'500'000'000);
  x1.revenue = Money::from_nanos(12);
  x1.reservation_id = "rsv \"q\" \\ caf\xc3\xa9 \xe2\x80\xa8 end";
  UsageEvent x2 = make("x2", 100);
  x2.reservation_id = "r2";
  UsageEvent x3 = make("x3", 100);
  UsageEvent x4 = make("x4", 100);
  x4.cache_write_tokens = 1'000'000'000'000;
  x4.egress_bytes = std::numeric_limits<int64_t>::max() / 4;
  x4.value_units = Money::from_nanos(std::numeric_limits<int64_t>::min() / 4);
  x4.revenue = Money::from_nanos(-5);
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {x1, x2, x3, x4}).status.ok());
    l.value()->stop();
  }
  auto text = [&](const std::string& sql) { return query_text(db, sql); };
  auto field = [&](const char* id, const char* column) {
    return query_int(db, std::string("SELECT ") + column + " FROM events WHERE event_id = '" + id +
                             "'");
  };
  auto check_all = [&] {
    CHECK(field("x1", "cache_write_tokens") == 7);
    CHECK(field("x1", "egress_bytes") == 1000);
    CHECK(field("x1", "value_units_nanos") == 3'500'000'000);
    CHECK(field("x1", "revenue_nanos") == 12);
    CHECK(text("SELECT reservation_id FROM events WHERE event_id = 'x1'") == x1.reservation_id);
    CHECK(text("SELECT reservation_id FROM events WHERE event_id = 'x2'") == "r2");
    CHECK(text("SELECT typeof(reservation_id) FROM events WHERE event_id = 'x3'") == "text");
    CHECK(text("SELECT reservation_id FROM events WHERE event_id = 'x3'").empty());
    for (const char* c :
         {"cache_write_tokens", "egress_bytes", "value_units_nanos", "revenue_nanos"}) {
      CAPTURE(c);
      CHECK(field("x2", c) == 0);
      CHECK(field("x3", c) == 0);
      CHECK(text(std::string("SELECT typeof(") + c + ") FROM events WHERE event_id = 'x3'") ==
            "integer");
    }
    CHECK(field("x4", "cache_write_tokens") == x4.cache_write_tokens);
    CHECK(field("x4", "egress_bytes") == x4.egress_bytes);
    CHECK(field("x4", "value_units_nanos") == x4.value_units.nanos());
    CHECK(field("x4", "revenue_nanos") == -5);
    // The rollups (listed x1 read from its row, the others from the flushed rows) and a report.
    CHECK(query_int(db, "SELECT SUM(cache_write_tokens) FROM rollup_daily") ==
          7 + x4.cache_write_tokens);
    CHECK(query_int(db, "SELECT SUM(egress_bytes) FROM rollup_15m") == 1000 + x4.egress_bytes);
    CHECK(query_int(db, "SELECT SUM(value_units_nanos) FROM rollup_daily") ==
          3'500'000'000 + x4.value_units.nanos());
    CHECK(query_int(db, "SELECT SUM(revenue_nanos) FROM rollup_15m") == 12 - 5);
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    auto report = daily_report(raw, day_of_ms(old), {"feature", "customer"}, "USD");
    REQUIRE(report.ok());
    CHECK(report.value().total.sums.cache_write_tokens == 7);
    CHECK(report.value().total.sums.value_units_nanos == 3'500'000'000);
    CHECK(report.value().total.sums.revenue_nanos == 12);
    sqlite3_close(raw);
  };
  // A row of event_extras for each event that sets one of its fields.
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_extras") == 2);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_extras x JOIN event_rows r ON r.rowid = "
                      "x.event_rowid WHERE r.event_id IN ('x1', 'x4')") == 2);
  for (const char* c :
       {"cache_write_tokens", "egress_bytes", "value_units_nanos", "revenue_nanos"}) {
    CAPTURE(c);
    CHECK(text(std::string("SELECT typeof(") + c + ") FROM events WHERE event_id = 'x4'") ==
          "integer");
    // The column keeps its INTEGER affinity: compared with text, as before.
    CHECK(query_int(db, std::string("SELECT COUNT(*) FROM events WHERE ") + c + " = '0'") == 2);
  }
  check_all();
  o.raw_retention_days = 35;  // x1 is rolled up into the stored rows, and its raw row pruned
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("x5", 1)}).status.ok());  // the writer prunes
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_rows WHERE event_id = 'x1'") == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_extras") == 1);  // x4's: x1's went with it
  CHECK(query_int(db, "SELECT cache_write_tokens FROM rollup_daily_rows WHERE customer_id = "
                      "(SELECT id FROM dim_values WHERE value = 'initech')") == 7);
  CHECK(query_int(db, "SELECT SUM(cache_write_tokens) FROM rollup_daily") ==
        7 + x4.cache_write_tokens);
  CHECK(query_int(db, "SELECT SUM(revenue_nanos) FROM rollup_15m") == 12 - 5);
  // The newest event, with extras, removed by hand: the next event takes its rowid, not its
  // extras (the trigger removed them with it).
  UsageEvent x6 = make("x6", 1);
  x6.egress_bytes = 77;
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {x6}).status.ok());
    l.value()->stop();
  }
  const int64_t x6_rowid = query_int(db, "SELECT rowid FROM event_rows WHERE event_id = 'x6'");
  delete_by_hand(db, "DELETE FROM event_rows WHERE event_id = 'x6'");
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("x7", 1)}).status.ok());
    l.value()->stop();
  }
  CHECK(query_int(db, "SELECT rowid FROM event_rows WHERE event_id = 'x7'") == x6_rowid);
  CHECK(field("x7", "egress_bytes") == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_extras") == 1);
}

namespace {

// A ledger of `n` events, closed, with pages past the first few overwritten with garbage.
void damaged_ledger(const testing::TempDir& dir, int n) {
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    std::vector<UsageEvent> events;
    for (int i = 0; i < n; ++i) events.push_back(make("q" + std::to_string(i * 7919 % 100003), 7));
    REQUIRE(submit_and_wait(*l.value(), events).status.ok());
  }
  FILE* f = std::fopen(dir.file("ledger.db").c_str(), "r+b");
  REQUIRE(f);
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fseek(f, size / 2, SEEK_SET);
  std::vector<char> garbage(8192);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char(i * 131 + 7);
  std::fwrite(garbage.data(), 1, garbage.size(), f);
  std::fclose(f);
}

}  // namespace

TEST_CASE("quick_check: damage is refused at open when open can check the whole file") {
  testing::TempDir dir;
  damaged_ledger(dir, 3000);
  LedgerOptions o = options(dir);
  o.quick_check_at_open_ms = 10'000;
  o.quick_check_in_background = true;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE_FALSE(l.ok());
  CHECK(l.status().message().find("is damaged") != std::string::npos);
  CHECK(l.status().message().find("tollgate backup") != std::string::npos);
}

TEST_CASE("quick_check: what open did not check is checked in the background, and damage found "
          "then marks the ledger unhealthy") {
  testing::TempDir dir;
  damaged_ledger(dir, 3000);
  LedgerOptions o = options(dir);
  o.quick_check_at_open_ms = 0;  // nothing at open: the background check is all there is
  o.quick_check_in_background = true;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  for (int i = 0; i < 500 && l.value()->unhealthy_reason().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(l.value()->unhealthy_reason().find("damaged (SQLite's quick_check, in the background") !=
        std::string::npos);
  CHECK(submit_and_wait(*l.value(), {make("after", 1)}).status.code() == Code::kStorageUnavailable);
}

TEST_CASE("quick_check: a sound ledger checked in the background stays healthy; stop ends the check") {
  testing::TempDir dir;
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    std::vector<UsageEvent> events;
    for (int i = 0; i < 2000; ++i) events.push_back(make("s" + std::to_string(i), 7));
    REQUIRE(submit_and_wait(*l.value(), events).status.ok());
  }
  LedgerOptions o = options(dir);
  o.quick_check_in_background = true;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  CHECK(submit_and_wait(*l.value(), {make("during", 1)}).status.ok());
  l.value()->stop();  // joins the checker, finished or not
  CHECK(l.value()->unhealthy_reason().empty());
}

TEST_CASE("rollups wait in memory; the views show them at once; a stop flushes them") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 60'000;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  auto caller_priced = [](UsageEvent e) {  // one charge line each (no price book here)
    e.priced_by = PricedBy::kCaller;
    return e;
  };
  UsageEvent other = caller_priced(make("b", 20));
  other.customer = "globex";
  REQUIRE(submit_and_wait(*l.value(), {caller_priced(make("a", 10)), other, make("a", 99)})
              .status.ok());
  REQUIRE(submit_and_wait(*l.value(), {caller_priced(make("c", 5))}).status.ok());
  const std::string db = dir.file("ledger.db");
  // a and b are each the first of their keys: listed (their rows stand for their rollups); c
  // shares a's key: a row. Pending: the listed events and the row.
  CHECK(l.value()->pending_rollup_rows() == 3);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " STORED_15M) == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 35);
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_daily") == 3);
  CHECK(query_int(db, "SELECT CAST(ROUND(SUM(cost) * 1e9) AS INTEGER) FROM daily_costs") == 35);
  // The charge lines wait beside their events too; the view adds them.
  CHECK(query_int(db, "SELECT COUNT(*) FROM charges_daily_rows") == 0);
  CHECK(query_int(db, "SELECT COUNT(DISTINCT event_rowid) FROM event_charges") == 3);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM charges_daily") == 35);
  CHECK(query_int(db, "SELECT COUNT(*) FROM charges_daily WHERE customer_lo = 'globex'") > 0);
  l.value()->stop();
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_charges") == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM charges_daily_rows") == 35);
  CHECK(query_int(db, "SELECT COUNT(*) FROM charges_daily WHERE customer_lo = '' AND "
                      "customer_hi = 'globex'") > 0);
  CHECK(l.value()->rollup_flushes().stop == 1);
  CHECK(l.value()->pending_rollup_rows() == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM " STORED_15M) == 3);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_15m_rows") == 1);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_DAILY) == 35);
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") ==
        query_int(db, "SELECT MAX(rowid) FROM events"));
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 35);  // nothing counted twice
}

TEST_CASE("an event's charge lines share one pending row per price; the customer range widens") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 60'000;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  // Unpriced: a line per component with a quantity, so one event has several prices. Two
  // features interleaved, so the buffer's last-key shortcut is left and taken again.
  auto unpriced = [](const std::string& id, const std::string& feature,
                     const std::string& customer, int64_t cached) {
    UsageEvent e = make(id, 0);
    e.priced_by = PricedBy::kUnpriced;
    e.feature = feature;
    e.customer = customer;
    e.cached_input_tokens = cached;
    return e;
  };
  REQUIRE(submit_and_wait(*l.value(), {unpriced("1", "chat", "m", 0),
                                       unpriced("2", "search", "q", 0),
                                       unpriced("3", "chat", "a", 7),
                                       unpriced("4", "chat", "z", 0),
                                       unpriced("5", "search", "q", 0),
                                       unpriced("6", "chat", "k", 3)})
              .status.ok());
  l.value()->stop();
  const std::string db = dir.file("ledger.db");
  auto rows = [&](const std::string& where) {
    return query_int(db, "SELECT COUNT(*) FROM charges_daily WHERE " + where);
  };
  // chat: input and output lines of all four events, cached of two; search: two events.
  CHECK(rows("feature = 'chat' AND sku_price_id = 'unpriced/input-tokens' AND quantity = 40 AND "
             "customer_lo = 'a' AND customer_hi = 'z'") == 1);
  CHECK(rows("feature = 'chat' AND sku_price_id = 'unpriced/output-tokens' AND quantity = 20") == 1);
  CHECK(rows("feature = 'chat' AND component = 'cached-input-tokens' AND quantity = 10 AND "
             "customer_lo = 'a' AND customer_hi = 'k'") == 1);
  CHECK(rows("feature = 'search' AND sku_price_id = 'unpriced/input-tokens' AND quantity = 20 AND "
             "customer_lo = 'q' AND customer_hi = 'q'") == 1);
  CHECK(rows("feature = 'search' AND component = 'cached-input-tokens'") == 0);
  CHECK(query_int(db, "SELECT SUM(quantity) FROM charges_daily WHERE component != "
                      "'requests'") == 4 * 15 + 10 + 2 * 15);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_charges") == 0);  // all in the stored rows
  // Across flushes the stored row's range widens by the strings (schema 19 stores their ids:
  // "b" is added after "m", "a" and "z", so its id is the highest, its string not).
  auto chat_range = [&] {
    return query_text(db, "SELECT customer_lo || '-' || customer_hi || '-' || quantity FROM "
                          "charges_daily WHERE feature = 'chat' AND sku_price_id = "
                          "'unpriced/input-tokens'");
  };
  l.value().reset();  // the ledger's lock goes with it
  for (const char* customer : {"b", "zz", "0"}) {
    auto again = Ledger::open(o, [] { return kNow; });
    REQUIRE(again.ok());
    REQUIRE(submit_and_wait(*again.value(), {unpriced(std::string("w") + customer, "chat",
                                                      customer, 0)})
                .status.ok());
    again.value()->stop();
  }
  CHECK(chat_range() == "0-zz-70");
}

TEST_CASE("rollups flush at the interval and at max_pending_rollup_rows, counted") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 50;
  o.max_pending_rollup_rows = 3;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  std::vector<UsageEvent> many;
  for (int i = 0; i < 4; ++i) {
    many.push_back(make("m" + std::to_string(i), 1));
    many.back().customer = "c" + std::to_string(i);
  }
  REQUIRE(submit_and_wait(*l.value(), many).status.ok());
  REQUIRE(submit_and_wait(*l.value(), {make("x", 1)}).status.ok());  // after the commit: flushed
  CHECK(l.value()->rollup_flushes().pending_rows == 1);
  for (int i = 0; i < 100 && l.value()->rollup_flushes().interval == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(l.value()->rollup_flushes().interval == 1);
  CHECK(l.value()->pending_rollup_rows() == 0);
  CHECK(query_int(dir.file("ledger.db"), "SELECT SUM(events) FROM " STORED_15M) == 5);
}

TEST_CASE("a flush before a read (a budget rebuild) writes the pending rollups at once, once") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 60'000;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  REQUIRE(submit_and_wait(*l.value(), {make("a", 10), make("b", 20)}).status.ok());
  const std::string db = dir.file("ledger.db");
  REQUIRE(l.value()->pending_rollup_rows() == 2);  // a listed, b's row
  std::promise<int64_t> stored;
  l.value()->run_on_writer([&](sqlite3*) {
    l.value()->flush_rollups_before_read();
    l.value()->flush_rollups_before_read();  // nothing pending: no second flush
    stored.set_value(query_int(db, "SELECT COUNT(*) FROM " STORED_15M));
  });
  CHECK(stored.get_future().get() == 2);
  CHECK(l.value()->rollup_flushes().read == 1);
  CHECK(l.value()->pending_rollup_rows() == 0);
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") ==
        query_int(db, "SELECT MAX(rowid) FROM events"));
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 30);  // nothing counted twice
  REQUIRE(submit_and_wait(*l.value(), {make("c", 5)}).status.ok());
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 35);
  l.value()->stop();
  CHECK(l.value()->rollup_flushes().stop == 1);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_DAILY) == 35);
}

TEST_CASE("events past the rollup watermark (an unclean stop) are rolled up at the next open") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    UsageEvent late = make("b", 20, kNow + 3'600'000);
    late.team = "infra";
    REQUIRE(submit_and_wait(*l.value(), {make("a", 10), late}).status.ok());
  }
  // What a kill leaves: the first event's rollups flushed, the second event committed after.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  REQUIRE(exec_sql(raw,
                   "DELETE FROM rollup_15m_rows WHERE team_id = "
                   "(SELECT id FROM dim_values WHERE value = 'infra'); "
                   "DELETE FROM rollup_daily_rows WHERE team_id = "
                   "(SELECT id FROM dim_values WHERE value = 'infra'); "
                   "DELETE FROM rollup_raw_ranges WHERE first_rowid > (SELECT MIN(rowid) FROM "
                   "events); "
                   "UPDATE rollup_raw_ranges SET last_rowid = (SELECT MIN(rowid) FROM events); "
                   "UPDATE rollup_watermark SET through_rowid = (SELECT MIN(rowid) FROM events)")
              .ok());
  sqlite3_close(raw);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 30);  // the views add it
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 10);
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
  }
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") ==
        query_int(db, "SELECT MAX(rowid) FROM events"));
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 30);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_DAILY) == 30);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == 30);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_15m WHERE team = 'infra' AND "
                      "bucket_ms = " + std::to_string(kNow + 3'600'000)) == 1);
}

// What a crash before any flush leaves: no stored rollup rows, the watermark at 0.
static void forget_stored_rollups(const std::string& db) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  REQUIRE(exec_sql(raw, "DELETE FROM rollup_15m_rows; DELETE FROM rollup_daily_rows; "
                        "DELETE FROM rollup_raw_ranges; "
                        "DELETE FROM rollup_daily_dim_rows; UPDATE rollup_watermark SET "
                        "through_rowid = 0")
              .ok());
  sqlite3_close(raw);
}

TEST_CASE("events past the watermark at open are rolled up after it, a chunk at a time") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  constexpr int kTail = 2000;
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    std::vector<UsageEvent> tail;
    for (int i = 0; i < kTail; ++i) tail.push_back(make("r" + std::to_string(i), 10));
    REQUIRE(submit_and_wait(*l.value(), tail).status.ok());
  }
  forget_stored_rollups(db);
  auto o = options(dir);
  o.max_pending_rollup_rows = 2;         // a thousand chunks of 2
  o.rollup_flush_interval_ms = 60'000;  // a recovery does not wait for the interval
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  // The writer held between two chunks while a commit queues: it lands mid-recovery, is not
  // buffered, and is rolled up from the ledger with the tail, once.
  std::promise<int64_t> held;
  std::promise<void> go;
  l.value()->run_on_writer([&](sqlite3* conn) {
    Statement mark(conn, "SELECT through_rowid FROM rollup_watermark");
    held.set_value(mark.step() == SQLITE_ROW ? mark.column_int(0) : -1);
    go.get_future().wait();
  });
  const int64_t watermark_then = held.get_future().get();
  CHECK(watermark_then >= 0);
  CHECK(watermark_then < kTail);  // still under way
  CHECK(l.value()->recovery_backlog_events() > 0);  // and shown
  std::promise<Status> committed;
  l.value()->submit({make("late", 7)}, [&](Status st, std::vector<Stored>, std::vector<UsageEvent>) {
    committed.set_value(st);
  });
  go.set_value();
  REQUIRE(committed.get_future().get().ok());
  // The gauge is set on the writer just after the flush that moved the watermark commits.
  const auto caught_up = [&] {
    return query_int(db, "SELECT through_rowid FROM rollup_watermark") == kTail + 1 &&
           l.value()->recovery_backlog_events() == 0;
  };
  for (int i = 0; i < 1000 && !caught_up(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(caught_up());  // with no stop and no interval: the recovery took the late event too
  CHECK(l.value()->recovery_backlog_events() == 0);
  CHECK(l.value()->rollup_flushes().recovery >= 2);
  CHECK(l.value()->rollup_flushes().stop == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == kTail * 10 + 7);
  CHECK(query_int(db, "SELECT SUM(events) FROM " STORED_DAILY) == kTail + 1);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == kTail * 10 + 7);
  l.value()->stop();
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == kTail * 10 + 7);
  CHECK(query_int(db, "SELECT SUM(events) FROM rollup_daily") == kTail + 1);
}

TEST_CASE("a recovery held at open waits for release_recovery(), and writer ops go first") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("a", 10), make("b", 20)}).status.ok());
  }
  forget_stored_rollups(db);
  auto o = options(dir);
  o.recovery_held_at_open = true;
  o.max_pending_rollup_rows = 1;  // a chunk per event
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  // The daemon's start-up reads run on the writer meanwhile, none behind a chunk.
  for (int i = 0; i < 3; ++i) {
    std::promise<int64_t> read;
    l.value()->run_on_writer([&](sqlite3* conn) {
      Statement mark(conn, "SELECT through_rowid FROM rollup_watermark");
      read.set_value(mark.step() == SQLITE_ROW ? mark.column_int(0) : -1);
    });
    CHECK(read.get_future().get() == 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == 30);  // the views have them
  l.value()->release_recovery();
  const auto caught_up = [&] {
    return query_int(db, "SELECT through_rowid FROM rollup_watermark") == 2;
  };
  for (int i = 0; i < 500 && !caught_up(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(caught_up());
  CHECK(l.value()->rollup_flushes().stop == 0);  // not left to the stop
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 30);
}

TEST_CASE("a long tail past the watermark is rolled up in chunks of max_pending_rollup_rows") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  {
    auto l = Ledger::open(options(dir), [] { return kNow; });
    REQUIRE(l.ok());
    for (int i = 0; i < 5; ++i) {
      UsageEvent e = make("t" + std::to_string(i), 10 + i, kNow + i * 1'000'000);
      e.customer = "c" + std::to_string(i % 2);
      REQUIRE(submit_and_wait(*l.value(), {e}).status.ok());
    }
  }
  // Every rollup gone, the watermark at 0: five events to roll up again (the charges they had
  // are already in charges_daily_rows, and their lines gone with the flush).
  forget_stored_rollups(db);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  // One event stored under another reporting currency (changed since): its rollup keeps it.
  REQUIRE(exec_sql(raw, "INSERT OR IGNORE INTO dim_values (value) VALUES ('EUR'); "
                        "INSERT INTO dim_sets (feature_id, team_id, provider_id, model_id, "
                        "region_id, priority_id, status_id, currency_id, priced_by_id, "
                        "price_ref_id) SELECT feature_id, team_id, provider_id, model_id, "
                        "region_id, priority_id, status_id, (SELECT id FROM dim_values WHERE "
                        "value = 'EUR'), priced_by_id, price_ref_id FROM dim_sets WHERE id = "
                        "(SELECT set_id FROM event_rows WHERE event_id = 't2'); "
                        "UPDATE event_rows SET set_id = last_insert_rowid() WHERE event_id = 't2'")
              .ok());
  sqlite3_close(raw);
  auto o = options(dir);
  o.max_pending_rollup_rows = 2;  // three chunks: 2, 2, 1
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
  }
  CHECK(query_int(db, "SELECT through_rowid FROM rollup_watermark") ==
        query_int(db, "SELECT MAX(rowid) FROM events"));
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 60);
  CHECK(query_int(db, "SELECT SUM(events) FROM " STORED_DAILY) == 5);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily_dim_rows WHERE "
                      "dimension = 'customer' AND value = 'c1'") == 11 + 13);
  CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_daily WHERE customer IS NULL") == 0);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily WHERE currency = 'EUR'") == 12);
  CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM " STORED_15M) == 60);
}

TEST_CASE("request_timeout counts from the request's arrival, time queued before the ledger included") {
  testing::TempDir dir;
  // Declared before the ledger: a failed REQUIRE must not leave it calling into dead promises.
  std::promise<Status> late_answer, later_answer, fresh_answer;
  std::promise<void> go;
  auto o = options(dir);
  o.request_timeout_ms = 5000;
  auto l = Ledger::open(o, [] { return kNow; });
  REQUIRE(l.ok());
  struct Release {  // the writer goes on however the test ends
    std::promise<void>& go;
    bool done = false;
    ~Release() {
      if (!done) go.set_value();
    }
  } release{go};
  std::shared_future<void> going = go.get_future().share();
  l.value()->run_on_writer([going](sqlite3*) { going.wait(); });  // the writer holds
  const auto now = std::chrono::steady_clock::now();
  auto answer_to = [](std::promise<Status>& p) {
    return [&p](Status s, std::vector<Stored>, std::vector<UsageEvent>) { p.set_value(s); };
  };
  // Arrived 6 s ago (it waited to be decoded): out of time before the ledger saw it.
  l.value()->submit({make("late", 5)}, answer_to(late_answer), now - std::chrono::seconds(6));
  auto late = late_answer.get_future();
  REQUIRE(late.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK(late.get().code() == Code::kOverloaded);
  // Arrived 4 s ago: 1 s left, then the expiry thread answers it while the writer still holds
  // (counted from its queueing it would wait 5 s).
  l.value()->submit({make("later", 6)}, answer_to(later_answer), now - std::chrono::seconds(4));
  // Arrives now: committed once the writer goes on.
  l.value()->submit({make("fresh", 7)}, answer_to(fresh_answer));
  auto later = later_answer.get_future();
  REQUIRE(later.wait_for(std::chrono::milliseconds(3500)) == std::future_status::ready);
  const Status expired = later.get();
  CHECK(expired.code() == Code::kOverloaded);
  CHECK(expired.message().find("request_timeout_s") != std::string::npos);
  release.done = true;
  go.set_value();
  CHECK(fresh_answer.get_future().get().ok());
  l.value()->stop();
  const std::string db = dir.file("ledger.db");
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id IN ('late', 'later')") == 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE event_id = 'fresh'") == 1);
}

// The listing (schema 13) against the views, at odd times, zones and clocks.

namespace {
// A ledger in `zone` that flushes after every commit and keeps raw events `retention_days`.
LedgerOptions zoned_options(const testing::TempDir& dir, const char* zone, int retention_days) {
  auto o = options(dir);
  o.timezone = TimeZone::load(zone).value();
  o.raw_retention_days = retention_days;
  o.rollup_flush_interval_ms = 0;
  return o;
}
std::map<int64_t, int64_t> view_buckets(sqlite3* raw, EpochMs since) {
  std::map<int64_t, int64_t> out;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw,
                             "SELECT bucket_ms, SUM(cost_nanos) FROM rollup_15m WHERE bucket_ms >= "
                             "?1 GROUP BY bucket_ms",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, since);
  while (sqlite3_step(st) == SQLITE_ROW) out[sqlite3_column_int64(st, 0)] = sqlite3_column_int64(st, 1);
  sqlite3_finalize(st);
  return out;
}
std::map<int64_t, int64_t> scan_buckets(sqlite3* raw, EpochMs since) {
  std::map<int64_t, int64_t> out;
  REQUIRE(scan_rollup_costs(raw, since, [&](const SpendRow& r) { out[r.ts] += r.cost; }).ok());
  for (auto it = out.begin(); it != out.end();) it = it->second == 0 ? out.erase(it) : std::next(it);
  return out;
}
}  // namespace

TEST_CASE("listing: scan_rollup_costs equals rollup_15m, and every view counts each event once") {
  for (const char* zone : {"UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14"}) {
    CAPTURE(zone);
    testing::TempDir dir;
    const std::string db = dir.file("ledger.db");
    auto o = zoned_options(dir, zone, 3650);
    std::mt19937_64 rng(42);
    int n = 0;
    std::vector<EpochMs> tss;
    auto batch = [&](int size) {
      std::vector<UsageEvent> b;
      for (int i = 0; i < size; ++i) {
        // a few keys; days with gaps; bucket edges
        EpochMs ts = kNow - int64_t(rng() % 9) * 86'400'000 * (rng() % 3 == 0 ? 7 : 1) -
                     int64_t(rng() % 96) * 900'000 - int64_t(rng() % 3) * 1;
        const int id = n++;
        UsageEvent e = make("e" + std::to_string(id), int64_t(1) << (id % 40), ts);
        e.customer = "c" + std::to_string(rng() % 5);
        tss.push_back(ts);
        b.push_back(e);
      }
      return b;
    };
    {
      auto l = Ledger::open(o, [] { return kNow; });
      REQUIRE(l.ok());
      for (int k = 0; k < 60; ++k)
        REQUIRE(submit_and_wait(*l.value(), batch(1 + int(rng() % 3))).status.ok());
      l.value()->stop();
    }
    o.rollup_flush_interval_ms = 1'000'000'000;  // the last events stay past the watermark
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    for (int k = 0; k < 5; ++k) REQUIRE(submit_and_wait(*l.value(), batch(2)).status.ok());
    CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) > 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM rollup_15m_rows") > 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE rowid > (SELECT through_rowid FROM "
                        "rollup_watermark)") > 0);
    const int64_t total = query_int(db, "SELECT SUM(cost_nanos) FROM events");
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == total);
    CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED " u JOIN events e ON e.rowid = "
                        "u.event_rowid WHERE u.day_local <> e.day_local OR u.bucket_ms <> "
                        "e.ts_ms - ((e.ts_ms % 900000) + 900000) % 900000") == 0);
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    std::vector<EpochMs> sinces = {std::numeric_limits<int64_t>::min(), 0, kNow + 86'400'000LL * 4000,
                                   std::numeric_limits<int64_t>::max(), kNow - 86'400'000LL * 400};
    for (EpochMs ts : tss) {
      sinces.push_back(bucket_of(ts));
      sinces.push_back(bucket_of(ts) + 1);
      sinces.push_back(ts - 14 * 3'600'000 + 1);
    }
    for (EpochMs since : sinces) {
      CAPTURE(since);
      CHECK(scan_buckets(raw, since) == view_buckets(raw, since));
    }
    sqlite3_close(raw);
    l.value()->stop();
  }
}

TEST_CASE("listing: listed events at negative and odd ts: scan, views and the prune agree") {
  for (const char* zone : {"UTC", "Pacific/Kiritimati", "Etc/GMT+12"}) {
    CAPTURE(zone);
    testing::TempDir dir;
    const std::string db = dir.file("ledger.db");
    auto o = zoned_options(dir, zone, 100000);
    const EpochMs tss[] = {-1, -900'000, -900'001, -899'999, 0, 899'999, 900'000, -86'400'001,
                           -43'200'000, 50'400'000 - 1, 1, -7};
    int64_t total = 0;
    {
      auto l = Ledger::open(o, [] { return kNow; });
      REQUIRE(l.ok());
      int i = 0;
      for (EpochMs ts : tss) {
        UsageEvent e = make("n" + std::to_string(i), int64_t(1) << i, ts);
        e.customer = "c" + std::to_string(i++);
        total += e.cost.nanos();
        REQUIRE(submit_and_wait(*l.value(), {e}).status.ok());
      }
      l.value()->stop();
    }
    CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 12);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == total);
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    for (EpochMs ts : tss)
      for (EpochMs since : {bucket_of(ts), bucket_of(ts) + 1, ts - 54'000'000, ts - 54'000'001,
                            std::numeric_limits<int64_t>::min()}) {
        CAPTURE(since);
        CHECK(scan_buckets(raw, since) == view_buckets(raw, since));
      }
    sqlite3_close(raw);
    o.raw_retention_days = 35;  // now all are pruned
    {
      auto l = Ledger::open(o, [] { return kNow; });
      REQUIRE(l.ok());
      REQUIRE(submit_and_wait(*l.value(), {make("last", 0)}).status.ok());
      l.value()->stop();
    }
    CHECK(query_int(db, "SELECT COUNT(*) FROM events") == 1);
    CHECK(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 1);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == total);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m_rows") == total);
  }
}

TEST_CASE("listing: the recent scan seeks the listing by day and bucket (plan and cost)") {
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  auto o = options(dir);
  o.raw_retention_days = 3650;
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    std::vector<UsageEvent> b;
    for (int i = 0; i < 30000; ++i) {
      UsageEvent e = make("s" + std::to_string(i), 1, kNow - int64_t(i) * 86'400'000 / 1000);
      e.customer = "c" + std::to_string(i);  // every event alone under its key: listed
      b.push_back(e);
    }
    REQUIRE(submit_and_wait(*l.value(), b).status.ok());
    l.value()->stop();
  }
  REQUIRE(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 30000);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  for (EpochMs since : std::vector<EpochMs>{kNow - 3600000, std::numeric_limits<int64_t>::max(),
                        kNow + EpochMs{86400000} * 365 * 8000}) {
    int64_t ops = 0;
    sqlite3_progress_handler(raw, 100, [](void* n) { return ++*static_cast<int64_t*>(n), 0; }, &ops);
    int64_t rows = 0;
    REQUIRE(scan_rollup_costs(raw, since, [&](const SpendRow&) { ++rows; }).ok());
    CAPTURE(since);
    CAPTURE(rows);
    CAPTURE(ops);
    CHECK(ops * 100 < 20000);
  }
  sqlite3_close(raw);
}

TEST_CASE("listing: the recent scan's cost does not grow with the calendar span of the listing") {
  // One event stored while the clock was decades ahead (the decoder bounds ts by now + 5 min, of
  // the clock at the time) stays listed; the scan seeks the listed days, not every day up to it.
  testing::TempDir dir;
  const std::string db = dir.file("ledger.db");
  auto o = options(dir);
  o.raw_retention_days = 3650;
  const EpochMs skewed = kNow + EpochMs{86'400'000} * 365 * 70;  // a clock 70 years ahead
  {
    EpochMs clock = skewed;
    auto l = Ledger::open(o, [&] { return clock; });
    REQUIRE(l.ok());
    UsageEvent far = make("far", 1, skewed);
    far.customer = "x";
    REQUIRE(submit_and_wait(*l.value(), {far}).status.ok());
    l.value()->stop();
  }
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    REQUIRE(submit_and_wait(*l.value(), {make("now", 2)}).status.ok());
    l.value()->stop();
  }
  REQUIRE(query_int(db, "SELECT COUNT(*) FROM " LISTED) == 2);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  int64_t ops = 0, cost = 0;
  sqlite3_progress_handler(raw, 100, [](void* n) { return ++*static_cast<int64_t*>(n), 0; }, &ops);
  REQUIRE(scan_rollup_costs(raw, kNow - 3'600'000, [&](const SpendRow& r) { cost += r.cost; }).ok());
  sqlite3_close(raw);
  CHECK(cost == 3);
  CHECK(ops * 100 < 20000);  // the listed days, not the ~25,000 calendar days up to the far one
}

// Schema 15 keeps the day and the receive time as offsets from ts_ms where they fit, as text
// where they do not; the view `events` shows them as they were stored.
TEST_CASE("the raw row's day and receive time read back exactly, at odd times and zones") {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  for (const char* zone : {"UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns"}) {
    CAPTURE(zone);
    testing::TempDir dir;
    const std::string db = dir.file("ledger.db");
    auto o = zoned_options(dir, zone, 36500000);
    const auto tz = TimeZone::load(zone).value();
    const EpochMs tss[] = {kNow, 0, -1, 86'399'999, 86'400'000, -86'400'001, 50'400'000 - 1,
                           kNow - 43'200'001,
                           -62'167'219'200'001,  // a millisecond before 0000-01-01 (UTC)
                           -52'695'014'400'000,  // 0300-03-01 12:00 UTC: date() writes 02-29
                           -2'208'988'800'001, -2'208'988'800'000,  // 1900-01-01 (UTC) edge
                           -62'167'219'200'000 + 86'400'000, 253'402'300'799'999,  // 9999-12-31
                           253'402'300'800'000 + 86'400'000,  // past 9999
                           kMin / 2, std::numeric_limits<int64_t>::max() / 2,
                           kMin + 1'000'000'000'000};  // receive time less it passes int64
    {
      auto l = Ledger::open(o, [] { return kNow; });
      REQUIRE(l.ok());
      int i = 0;
      for (EpochMs ts : tss)
        REQUIRE(submit_and_wait(*l.value(), {make("t" + std::to_string(i++), 1, ts)}).status.ok());
      l.value()->stop();
    }
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    int i = 0;
    for (EpochMs ts : tss) {
      CAPTURE(ts);
      Statement st(raw,
                   "SELECT e.day_local, e.received_ms, typeof(r.day_offset), "
                   "typeof(r.received_offset_ms) FROM events e JOIN event_rows r ON r.rowid = "
                   "e.rowid WHERE e.event_id = ?1");
      const std::string id = "t" + std::to_string(i++);
      st.bind(1, id);
      REQUIRE(st.step() == SQLITE_ROW);
      const int64_t day = tz->local_day(ts);
      CHECK(st.column_text(0) == format_date(day));
      CHECK(st.column_int(1) == kNow);
      const bool sql_day = day >= kFirstSqlDay && day <= kLastSqlDay;
      CHECK(st.column_text(2) == std::string(sql_day ? "integer" : "text"));
      CHECK(st.column_text(3) == std::string(ts == tss[std::size(tss) - 1] ? "text" : "integer"));
    }
    sqlite3_close(raw);
    // Compared with text, the receive time is still a number (the column's affinity).
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE received_ms = '" +
                            std::to_string(kNow) + "'") == int64_t(std::size(tss)));
    // Every reader of days agrees with the raw events.
    const int64_t total = query_int(db, "SELECT SUM(cost_nanos) FROM events");
    CHECK(total == int64_t(std::size(tss)));
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_daily") == total);
    CHECK(query_int(db, "SELECT SUM(cost_nanos) FROM rollup_15m") == total);
    CHECK(query_int(db, "SELECT COUNT(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM "
                        "rollup_daily r WHERE r.day_local = e.day_local)") == 0);
    check_listed_named_once(db);
  }
}

TEST_CASE("a commit's charge lines are one row; a recovery passing it in part counts each once") {
  testing::TempDir dir;
  auto o = options(dir);
  o.rollup_flush_interval_ms = 60'000;  // nothing flushed while the crash image is taken
  const std::string db = dir.file("ledger.db"), crashed = dir.file("crashed.db");
  // Unpriced: a line per component with a quantity, two or three an event.
  auto unpriced = [](int i) {
    UsageEvent e = make("u" + std::to_string(i), 0);
    e.priced_by = PricedBy::kUnpriced;
    e.feature = i % 3 ? "chat" : "search";
    e.customer = "c" + std::to_string(i % 4);
    e.input_tokens = 10 + i;
    e.cached_input_tokens = i % 2 ? i : 0;
    return e;
  };
  {
    auto l = Ledger::open(o, [] { return kNow; });
    REQUIRE(l.ok());
    for (int commit = 0; commit < 2; ++commit) {
      std::vector<UsageEvent> events;
      for (int i = 0; i < 5; ++i) events.push_back(unpriced(commit * 5 + i));
      REQUIRE(submit_and_wait(*l.value(), events).status.ok());
    }
    // What a kill -9 now leaves: the events and their lines committed, no flush.
    sqlite3* live = nullptr;
    sqlite3* image = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &live) == SQLITE_OK);
    REQUIRE(sqlite3_open(crashed.c_str(), &image) == SQLITE_OK);
    sqlite3_backup* copy = sqlite3_backup_init(image, "main", live, "main");
    REQUIRE(copy != nullptr);
    CHECK(sqlite3_backup_step(copy, -1) == SQLITE_DONE);
    sqlite3_backup_finish(copy);
    sqlite3_close(image);
    sqlite3_close(live);
  }
  // The charges of the ten events, by feature and price, as the stop's flush stored them.
  const std::string charges =
      "SELECT group_concat(feature || '|' || sku_price_id || '|' || q || '|' || c || '|' || lo "
      "|| '|' || hi, ';') FROM (SELECT feature, sku_price_id, SUM(quantity) AS q, "
      "SUM(cost_nanos) AS c, MIN(customer_lo) AS lo, MAX(customer_hi) AS hi FROM charges_daily "
      "GROUP BY 1, 2 ORDER BY 1, 2)";
  const std::string stored = query_text(db, charges);
  CHECK(stored.find("chat|unpriced/input-tokens|") != std::string::npos);
  CHECK(query_int(db, "SELECT COUNT(*) FROM event_charge_lines") == 0);
  // The image: a row of lines a commit, every line shown once by the views.
  CHECK(query_text(crashed, "SELECT group_concat(first_rowid || '-' || last_rowid, ' ') FROM "
                      "event_charge_lines") == "1-5 6-10");
  CHECK(query_int(crashed, "SELECT COUNT(*) FROM event_charges") ==
        query_int(crashed, "SELECT COUNT(*) FROM (SELECT DISTINCT event_rowid, price_id FROM "
                           "event_charges)"));
  CHECK(query_text(crashed, charges) == stored);
  // Rolled up two events a flush: the watermark passes a commit's row in part (at 2, 4, 8), and
  // neither the view nor the next chunk counts a line of it twice.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(crashed.c_str(), &raw) == SQLITE_OK);
  DimDictionary dictionary;
  std::vector<std::string> seen;
  for (int chunk = 0; chunk < 10; ++chunk) {
    auto done = roll_up_past_watermark(raw, dictionary, 2, 1);
    REQUIRE(done.ok());
    CHECK(query_text(crashed, charges) == stored);
    seen.push_back(query_text(crashed,
                              "SELECT (SELECT through_rowid FROM rollup_watermark) || ':' || "
                              "IFNULL((SELECT group_concat(first_rowid || '-' || last_rowid, ' ') "
                              "FROM event_charge_lines), '')"));
    if (done->caught_up) break;
  }
  CHECK(seen == std::vector<std::string>{"2:1-5 6-10", "4:1-5 6-10", "6:6-10", "8:6-10", "10:"});
  CHECK(query_int(crashed, "SELECT COUNT(*) FROM charges_daily_rows") > 0);
  // A watermark left past the last event (events removed by hand): the lines of events past
  // the last are dropped, so events that reuse their rowids are not charged them. Rows of lines
  // like the image's (1-5 and 6-10), the events past 7 removed, the watermark left at 9.
  delete_by_hand(crashed,
                 "DELETE FROM charges_daily_rows; DELETE FROM rollup_15m_rows; "
                 "DELETE FROM rollup_daily_rows; DELETE FROM rollup_daily_dim_rows; "
                 "DELETE FROM rollup_raw_ranges; DELETE FROM event_charge_lines; "
                 "INSERT INTO event_charge_lines (last_rowid, first_rowid, lines) VALUES "
                 "(5, 1, '[[1,1,10,0],[5,1,14,0]]'), (10, 6, '[[6,1,16,0],[9,1,19,0]]'); "
                 "DELETE FROM event_rows WHERE rowid > 7; "
                 "UPDATE rollup_watermark SET through_rowid = 9");
  REQUIRE(roll_up_past_watermark(raw, dictionary, 100).ok());
  sqlite3_close_v2(raw);  // closed once the dictionary's statements are finalized, with it
  CHECK(query_int(crashed, "SELECT through_rowid FROM rollup_watermark") == 7);
  CHECK(query_text(crashed, "SELECT group_concat(last_rowid || ':' || lines, ' ') FROM "
                            "event_charge_lines") == "5:[[1,1,10,0],[5,1,14,0]] 7:[[6,1,16,0]]");
  CHECK(query_int(crashed, "SELECT COUNT(*) FROM event_charges") == 0);  // none past the watermark
}
