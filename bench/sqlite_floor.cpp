// The raw-SQLite floor for the ingest benchmark: the same rows into the ledger's events table as
// schema 10 stored them (its own migration), same pragmas (WAL, synchronous as given), one
// prepared statement, 1,000 rows per transaction, no HTTP, no JSON, no rollups. Prints events/s.
//   sqlite_floor DB_PATH N [normal|full]

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/event_sql.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: sqlite_floor DB_PATH N [normal|full]\n");
    return 2;
  }
  const long long total = std::atoll(argv[2]);
  const std::string sync = argc > 3 ? argv[3] : "normal";
  tollgate::configure_sqlite();  // the daemon's process-wide SQLite settings
  sqlite3* db = nullptr;
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) return 1;
  tollgate::exec_sql(db, "PRAGMA journal_mode=WAL");
  tollgate::exec_sql(db, "PRAGMA synchronous=" + sync);
  // Schema 10's events table, the last with text dimensions in every row (kInsertEvent's).
  if (!tollgate::migrate(db, 10).ok()) return 1;
  tollgate::Statement insert(db, tollgate::bench::kInsertEvent);
  if (!insert.ok()) {
    std::fprintf(stderr, "%s\n", insert.error().c_str());
    return 1;
  }
  const int64_t ts = 1'795'255'200'000;
  const std::string day = "2026-11-21";
  auto start = std::chrono::steady_clock::now();
  for (long long n = 0; n < total;) {
    tollgate::exec_sql(db, "BEGIN");
    for (int k = 0; k < 1000 && n < total; ++k, ++n) {
      auto r = tollgate::bench::row("ev", n);
      tollgate::bench::bind_event(insert, r, ts, day);
      if (insert.step() != SQLITE_DONE) return 1;
      insert.reset();
    }
    tollgate::exec_sql(db, "COMMIT");
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "floor:  %lld rows inserted in %.3f s = %.0f rows/s (1,000 per transaction, "
      "synchronous=%s)\n",
      total, secs, total / secs, sync.c_str());
  sqlite3_close(db);
  return 0;
}
