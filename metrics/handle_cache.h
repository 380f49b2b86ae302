#pragma once
// HandleCache: a per-thread cache of a family's children by label values, for hot paths whose
// label values vary (route and code, feature and decision). A hit is one hash lookup in the
// calling thread's own map: no lock, no allocation. Misses go to Family::with(), so the series
// cap still applies; of the sets it folds into __other__ the cache keeps a bounded number.
// Thread-safe; the family must outlive every thread that used the cache.

#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/registry.h"

namespace tollgate::metrics {

template <typename T>
class HandleCache {
 public:
  explicit HandleCache(Family<T>& family) : family_(family), id_(next_id()) {}

  T* get(std::initializer_list<std::string_view> values) { return get_of(values); }
  // The same for label values chosen at run time (a container of std::string_view).
  template <typename Values>
  T* get_of(const Values& values) {
    PerThread& mine = per_thread();
    std::string& key = mine.key;
    key.clear();
    for (std::string_view v : values) {
      key.append(v);
      key += '\x1f';
    }
    // Indexed by the cache's id (a few per process): no second hash lookup on the hot path.
    if (mine.caches.size() <= id_) mine.caches.resize(id_ + 1);
    Cache& cache = mine.caches[id_];
    if (auto it = cache.children.find(key); it != cache.children.end()) return it->second;
    if (cache.children.size() >= kMaxEntries) cache = Cache();  // bounded like the series
    std::vector<std::string> labels(values.begin(), values.end());
    bool folded = false;
    T* child = family_.with(labels, &folded);
    // Sets folded into __other__ are kept up to kMaxFolded: past the family's cap a flood of new
    // sets would otherwise fill every thread's cache (those past the bound are asked of the
    // family, and counted as dropped, each time).
    if (!folded || cache.folded < kMaxFolded) {
      cache.children.emplace(key, child);
      cache.folded += folded;
    }
    return child;
  }

 private:
  static constexpr size_t kMaxEntries = 100'000;
  static constexpr size_t kMaxFolded = 1'000;
  // std::hash, not Boost 1.81's boost::hash<std::string>, which mixes the key's bytes one at a
  // time (3x slower at these keys' 60 bytes). metering/string_hash.h's twin: metrics/ includes
  // nothing of metering/.
  struct KeyHash {
    size_t operator()(const std::string& s) const { return std::hash<std::string>{}(s); }
  };
  struct Cache {
    // Open addressing: at a company's cardinality the cost family has thousands of series a
    // thread, and a node-based map's chains were cache misses on every event.
    boost::unordered_flat_map<std::string, T*, KeyHash> children;
    size_t folded = 0;  // of them, sets the family folded into __other__
  };
  // One per thread and T, whichever container of values a call passes.
  struct PerThread {
    std::vector<Cache> caches;
    std::string key;
  };
  static PerThread& per_thread() {
    thread_local PerThread mine;
    return mine;
  }
  static uint64_t next_id() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
  }
  Family<T>& family_;
  const uint64_t id_;  // never reused, so a destroyed cache's entries are never found again
};

}  // namespace tollgate::metrics
