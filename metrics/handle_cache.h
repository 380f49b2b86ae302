#pragma once
// HandleCache: a per-thread cache of a family's children by label values, for hot paths whose
// label values vary (route and code, feature and decision). A hit is one hash lookup in the
// calling thread's own map: no lock, no allocation. Misses go to Family::with(), so the series
// cap still applies, and a set it folds into __other__ is not kept: the cache holds at most the
// family's series. Thread-safe; the family must outlive every thread that used the cache.

#include <atomic>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
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
    // Indexed by the cache's id (a few per process): no second hash lookup on the hot path.
    thread_local std::vector<std::unordered_map<std::string, T*>> caches;
    thread_local std::string key;
    key.clear();
    for (std::string_view v : values) {
      key.append(v);
      key += '\x1f';
    }
    if (caches.size() <= id_) caches.resize(id_ + 1);
    auto& cache = caches[id_];
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    if (cache.size() >= kMaxEntries) cache.clear();  // bounded like the series themselves
    std::vector<std::string> labels(values.begin(), values.end());
    bool folded = false;
    T* child = family_.with(labels, &folded);
    // A set folded into __other__ is not kept: past the family's cap, every new set would be an
    // entry here (a flood of new features or teams would fill each thread's cache).
    if (!folded) cache.emplace(key, child);
    return child;
  }

 private:
  static constexpr size_t kMaxEntries = 100'000;
  static uint64_t next_id() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
  }
  Family<T>& family_;
  const uint64_t id_;  // never reused, so a destroyed cache's entries are never found again
};

}  // namespace tollgate::metrics
