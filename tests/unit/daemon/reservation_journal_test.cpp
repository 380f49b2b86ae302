// The reservation journal on a real SQLite file with the ledger's schema.
#include "daemon/reservation_journal.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>

#include "storage/policy_store.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {

std::vector<std::string> stored(sqlite3* db) {
  std::vector<std::string> ids;
  for (const auto& r : load_reservations(db, 0)) ids.push_back(r.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

TEST_CASE("the journal writes what is open in one go, inside a transaction or on its own") {
  testing::TempDir dir;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.file("ledger.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(migrate(db).ok());
  ReservationJournal journal;
  journal.opened({"r1", {"b"}, 5, 1'000'000});
  journal.opened({"r2", {"b"}, 5, 1'000'000});
  journal.closed("r2");  // opened and closed between flushes: never written
  CHECK_FALSE(journal.empty());
  REQUIRE(journal.flush(db).ok());  // its own transaction
  CHECK(journal.empty());
  CHECK(stored(db) == std::vector<std::string>{"r1"});

  journal.opened({"r3", {"b"}, 5, 1'000'000});
  journal.closed("r1");
  REQUIRE(exec_sql(db, "BEGIN IMMEDIATE").ok());  // riding along in a group commit
  REQUIRE(journal.flush(db).ok());
  REQUIRE(exec_sql(db, "COMMIT").ok());
  CHECK(stored(db) == std::vector<std::string>{"r3"});

  // A failed write keeps everything pending for the next flush.
  REQUIRE(exec_sql(db, "ALTER TABLE reservations RENAME TO parked").ok());
  journal.opened({"r4", {"b"}, 5, 1'000'000});
  CHECK_FALSE(journal.flush(db).ok());
  CHECK_FALSE(journal.empty());
  REQUIRE(exec_sql(db, "ALTER TABLE parked RENAME TO reservations").ok());
  REQUIRE(journal.flush(db).ok());
  CHECK(stored(db) == std::vector<std::string>{"r3", "r4"});
  sqlite3_close(db);
}
