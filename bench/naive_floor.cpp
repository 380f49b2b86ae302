// The naive floor for the ingest benchmark: what a developer writes in an afternoon. One table,
// one row per event with every field as it comes (TEXT dimensions, the tags as JSON text), a TEXT
// unique key on the event id, 1,000 rows per transaction, WAL, no HTTP, no JSON parsing, no
// pricing, no rollups. The rows are event_rows.h's company shape, the same the daemon is sent.
// Prints rows/s and, after a checkpoint, bytes per row on disk.
//   naive_floor DB_PATH N [normal|full]

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/event_rows.h"

namespace {

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql, err);
    std::exit(1);
  }
}

long long file_size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tollgate::bench;
  if (argc < 3) {
    std::fprintf(stderr, "usage: naive_floor DB_PATH N [normal|full] [ID_PREFIX=ev|uuid]\n");
    return 2;
  }
  const std::string path = argv[1];
  const long long total = std::atoll(argv[2]);
  const std::string sync = argc > 3 ? argv[3] : "normal";
  const std::string id_prefix = argc > 4 ? argv[4] : "ev";  // the ids ingest_load sends
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, ("PRAGMA synchronous=" + sync).c_str());
  exec(db,
       "CREATE TABLE IF NOT EXISTS usage (event_id TEXT NOT NULL UNIQUE, ts TEXT NOT NULL, "
       "feature TEXT, team TEXT, customer TEXT, provider TEXT, model TEXT, region TEXT, "
       "priority TEXT, tags TEXT, input_tokens INTEGER, cached_input_tokens INTEGER, "
       "output_tokens INTEGER, latency_ms INTEGER, cost_nanos INTEGER)");
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT OR IGNORE INTO usage VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                         "?10, ?11, ?12, ?13, 420, ?14)",
                         -1, &insert, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
    return 1;
  }
  const char* ts = "2026-11-21T12:00:00Z";
  char feature[16], team[16], customer[24], tags[64];
  auto start = std::chrono::steady_clock::now();
  for (long long n = 0; n < total;) {
    exec(db, "BEGIN");
    for (int k = 0; k < 1000 && n < total; ++k, ++n) {
      const CompanyRow r = company_row(id_prefix, n);
      std::snprintf(feature, sizeof feature, "feature-%02d", r.feature);
      std::snprintf(team, sizeof team, "team-%d", r.team);
      std::snprintf(customer, sizeof customer, "customer-%04d", r.customer);
      std::snprintf(tags, sizeof tags, "{\"env\":\"%s\",\"cost_center\":\"cc-%02d\"}", kEnvs[r.env],
                    r.cost_center);
      sqlite3_bind_text(insert, 1, r.event_id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, ts, -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 3, feature, -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, team, -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, customer, -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 6, kProviders[r.model], -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, kModels[r.model], -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 8, kRegions[r.region], -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 9, kPriorities[r.priority], -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 10, tags, -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 11, r.input_tokens);
      sqlite3_bind_int64(insert, 12, r.cached_input_tokens);
      sqlite3_bind_int64(insert, 13, r.output_tokens);
      sqlite3_bind_int64(insert, 14, r.input_tokens * 1200 + r.output_tokens * 6000);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        return 1;
      }
      sqlite3_reset(insert);
    }
    exec(db, "COMMIT");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(insert);
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  std::printf(
      "naive:  %lld rows inserted in %.3f s = %.0f rows/s (1,000 per transaction, synchronous=%s); "
      "%.0f bytes/row on disk\n",
      total, secs, total / secs, sync.c_str(), double(file_size(path)) / double(total));
  return 0;
}
