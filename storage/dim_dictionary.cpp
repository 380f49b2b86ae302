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

Result<int64_t> DimDictionary::find_or_add(sqlite3* db, Statement& find, Statement& add,
                                           const std::function<void(Statement&)>& bind) {
  bind(find);
  int rc = find.step();
  int64_t id = rc == SQLITE_ROW ? find.column_int(0) : 0;
  find.reset();
  if (rc == SQLITE_ROW) return id;
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  bind(add);
  rc = add.step();
  add.reset();
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return sqlite3_last_insert_rowid(db);
}

Result<int64_t> DimDictionary::set_id(sqlite3* db, const Set& set) {
  if (auto it = set_ids_.find(set); it != set_ids_.end()) return it->second;
  if (Status s = prepare(db); !s.ok()) return s;
  auto id = find_or_add(db, find_set_, add_set_, [&](Statement& st) {
    for (int i = 0; i < 10; ++i) st.bind(i + 1, set[size_t(i)]);
  });
  if (id.ok()) set_ids_.emplace(set, id.value());
  return id;
}

Result<int64_t> DimDictionary::id(sqlite3* db, std::string_view value) {
  if (auto it = ids_.find(value); it != ids_.end()) return it->second;
  if (Status s = prepare(db); !s.ok()) return s;
  auto id = find_or_add(db, find_, add_, [&](Statement& st) { st.bind(1, value); });
  if (id.ok()) ids_.emplace(value, id.value());
  return id;
}

void DimDictionary::forget() {
  ids_.clear();
  ids_.rehash(0);  // give the buckets back too: the bound is on memory
  set_ids_.clear();
  set_ids_.rehash(0);
}

}  // namespace tollgate
