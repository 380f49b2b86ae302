#pragma once
// DimDictionary: the ids of dimension strings in dim_values (schema 10), where the ledger's raw
// events and rollups keep each distinct feature, team, customer, tags, model... once; and of the
// sets of them a raw event keeps as one id in dim_sets (schema 17). A string or a set is added
// when first seen, inside the caller's transaction, and cached.
//
// The cache is only what was seen since the last forget(): the ledger forgets after a rollback
// (the ids added in it are gone) and once the cache passes its bound, so a stream of new
// customers costs memory only until then. Not thread-safe: the ledger's writer thread only.

#include <sqlite3.h>

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "metering/status.h"
#include "metering/string_hash.h"
#include "storage/sqlite_util.h"

namespace tollgate {

class DimDictionary {
 public:
  // The id of `value` in `db`'s dim_values, added when new.
  Result<int64_t> id(sqlite3* db, std::string_view value);
  // A raw event's dimensions of few values as dim_values ids, in dim_sets' column order: feature,
  // team, provider, model, region, priority, status, currency, priced_by, price_ref.
  using Set = std::array<int64_t, 10>;
  // The id of `set` in `db`'s dim_sets, added when new.
  Result<int64_t> set_id(sqlite3* db, const Set& set);
  void forget();
  size_t size() const { return ids_.size() + set_ids_.size(); }

 private:
  struct SetHash {
    size_t operator()(const Set& s) const {
      uint64_t h = 0x9E3779B97F4A7C15ull;
      for (int64_t id : s) h = (h ^ static_cast<uint64_t>(id)) * 0xBF58476D1CE4E5B9ull;
      return static_cast<size_t>(h ^ (h >> 31));
    }
  };
  Status prepare(sqlite3* db);
  // The row `find` selects once `bind` has bound it, else the one `add` inserts.
  static Result<int64_t> find_or_add(sqlite3* db, Statement& find, Statement& add,
                                     const std::function<void(Statement&)>& bind);
  // Open addressing: every event looks up about seven strings and a set here, on the writer; a
  // node-based map's chains were a cache miss each, and its nodes took more memory a value.
  boost::unordered_flat_map<std::string, int64_t, StringHash, std::equal_to<>> ids_;
  boost::unordered_flat_map<Set, int64_t, SetHash> set_ids_;
  sqlite3* db_ = nullptr;  // the connection the statements were prepared on
  Statement find_, add_, find_set_, add_set_;
};

}  // namespace tollgate
