#pragma once
// DimDictionary: the ids of dimension strings in dim_values (schema 10), where the ledger's raw
// events and rollups keep each distinct feature, team, customer, tags, model... once. A string is
// added when first seen, inside the caller's transaction, and cached.
//
// The cache is only what was seen since the last forget(): the ledger forgets after a rollback
// (the ids added in it are gone) and once the cache passes its bound, so a stream of new
// customers costs memory only until then. Not thread-safe: the ledger's writer thread only.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "metering/status.h"
#include "storage/sqlite_util.h"

namespace tollgate {

class DimDictionary {
 public:
  // The id of `value` in `db`'s dim_values, added when new.
  Result<int64_t> id(sqlite3* db, std::string_view value);
  void forget();
  size_t size() const { return ids_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> ids_;
  sqlite3* db_ = nullptr;  // the connection find_ and add_ were prepared on
  Statement find_, add_;
};

}  // namespace tollgate
