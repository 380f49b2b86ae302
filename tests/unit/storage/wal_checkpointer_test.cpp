// WalCheckpointer on a real SQLite file in WAL mode: commits that dirty pages all over a table
// (as random event ids do) are checkpointed by its thread, the WAL stays bounded, and SQLite's
// own automatic checkpoint is back once it is gone.
#include "storage/wal_checkpointer.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <random>

#include "storage/sqlite_util.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {
int64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}
}  // namespace

TEST_CASE("WAL checkpoints run on their own thread and the WAL stays bounded") {
  testing::TempDir dir;
  const std::string path = dir.file("wal.db");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(exec_sql(db, "PRAGMA journal_mode=WAL").ok());
  REQUIRE(exec_sql(db, "PRAGMA synchronous=NORMAL").ok());
  REQUIRE(exec_sql(db, "CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID").ok());
  auto checkpointer = WalCheckpointer::start(path, db);
  REQUIRE(checkpointer.ok());
  std::mt19937_64 rng(7);
  Statement insert(db, "INSERT INTO t VALUES (?1, zeroblob(200))");
  REQUIRE(insert.ok());
  auto commit_500 = [&] {
    REQUIRE(exec_sql(db, "BEGIN").ok());
    for (int i = 0; i < 500; ++i) {
      const std::string key = std::to_string(rng());
      insert.bind(1, key);
      REQUIRE(insert.step() == SQLITE_DONE);
      insert.reset();
    }
    REQUIRE(exec_sql(db, "COMMIT").ok());
  };
  // Random keys: each commit of 500 rows dirties pages all over the table (about 20k pages in
  // all, several times kRewindFrames of WAL).
  int64_t largest_wal = 0;
  for (int commit = 0; commit < 160; ++commit) {
    commit_500();
    largest_wal = std::max(largest_wal, file_size(path + "-wal"));
  }
  CHECK(checkpointer.value()->checkpoints() > 0);    // the thread copied
  // How often the writer had to copy the rest itself depends on the thread's pace: not checked.
  MESSAGE("writer's checkpoints: " << checkpointer.value()->writer_checkpoints());
  CHECK(checkpointer.value()->failures() == 0);
  // Bounded: past kRewindFrames the writer copies what is left, and the next commit rewinds.
  // A commit here writes at most ~1,500 pages; a WAL frame is a page and 24 bytes.
  const int64_t bound = int64_t(WalCheckpointer::kRewindFrames + 2 * 1500) * (4096 + 24);
  CHECK(largest_wal > int64_t(WalCheckpointer::kWakeFrames) * 4096);
  CHECK(largest_wal < bound);
  checkpointer.value().reset();  // SQLite's own automatic checkpoint (1,000 pages) from here
  REQUIRE(exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)").ok());
  for (int commit = 0; commit < 40; ++commit) commit_500();
  CHECK(file_size(path + "-wal") <
        int64_t(WalCheckpointer::kSqliteAutoCheckpointFrames + 2 * 1500) * (4096 + 24));
  Statement count(db, "SELECT COUNT(*) FROM t");
  REQUIRE(count.step() == SQLITE_ROW);
  CHECK(count.column_int(0) == 160 * 500 + 40 * 500);
  count = Statement();
  insert = Statement();
  sqlite3_close(db);
}
