#include "storage/dim_dictionary.h"

namespace tollgate {

Result<int64_t> DimDictionary::id(sqlite3* db, std::string_view value) {
  if (auto it = ids_.find(value); it != ids_.end()) return it->second;
  if (db != db_ || !find_.ok() || !add_.ok()) {
    find_ = Statement(db, "SELECT id FROM dim_values WHERE value = ?1");
    add_ = Statement(db, "INSERT INTO dim_values (value) VALUES (?1)");
    db_ = db;
    if (!find_.ok() || !add_.ok())
      return Status::error(Code::kStorageError, find_.error() + add_.error());
  }
  find_.bind(1, value);
  int rc = find_.step();
  int64_t id = rc == SQLITE_ROW ? find_.column_int(0) : 0;
  find_.reset();
  if (rc != SQLITE_ROW) {
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    add_.bind(1, value);
    rc = add_.step();
    add_.reset();
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    id = sqlite3_last_insert_rowid(db);
  }
  ids_.emplace(value, id);
  return id;
}

void DimDictionary::forget() {
  ids_.clear();
  ids_.rehash(0);  // give the buckets back too: the bound is on memory
}

}  // namespace tollgate
