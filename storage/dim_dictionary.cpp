#include "storage/dim_dictionary.h"

namespace tollgate {

namespace {
#define TOLLGATE_SET_COLUMNS                                                                  \
  "feature_id, team_id, provider_id, model_id, region_id, priority_id, status_id, currency_id, " \
  "priced_by_id, price_ref_id"
const char* kFindSet =
    "SELECT id FROM dim_sets WHERE (" TOLLGATE_SET_COLUMNS
    ") = (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const char* kAddSet = "INSERT INTO dim_sets (" TOLLGATE_SET_COLUMNS
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
#undef TOLLGATE_SET_COLUMNS
}  // namespace

Status DimDictionary::prepare(sqlite3* db) {
  if (db == db_ && find_.ok() && add_.ok() && find_set_.ok() && add_set_.ok()) return {};
  find_ = Statement(db, "SELECT id FROM dim_values WHERE value = ?1");
  add_ = Statement(db, "INSERT INTO dim_values (value) VALUES (?1)");
  find_set_ = Statement(db, kFindSet);
  add_set_ = Statement(db, kAddSet);
  db_ = db;
  if (!find_.ok() || !add_.ok() || !find_set_.ok() || !add_set_.ok())
    return Status::error(Code::kStorageError,
                         find_.error() + add_.error() + find_set_.error() + add_set_.error());
  return {};
}

Result<int64_t> DimDictionary::set_id(sqlite3* db, const Set& set) {
  if (auto it = set_ids_.find(set); it != set_ids_.end()) return it->second;
  if (Status s = prepare(db); !s.ok()) return s;
  for (int i = 0; i < 10; ++i) find_set_.bind(i + 1, set[size_t(i)]);
  int rc = find_set_.step();
  int64_t id = rc == SQLITE_ROW ? find_set_.column_int(0) : 0;
  find_set_.reset();
  if (rc != SQLITE_ROW) {
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    for (int i = 0; i < 10; ++i) add_set_.bind(i + 1, set[size_t(i)]);
    rc = add_set_.step();
    add_set_.reset();
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    id = sqlite3_last_insert_rowid(db);
  }
  set_ids_.emplace(set, id);
  return id;
}

Result<int64_t> DimDictionary::id(sqlite3* db, std::string_view value) {
  if (auto it = ids_.find(value); it != ids_.end()) return it->second;
  if (Status s = prepare(db); !s.ok()) return s;
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
  set_ids_.clear();
  set_ids_.rehash(0);
}

}  // namespace tollgate
