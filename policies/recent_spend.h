#pragma once
// RecentSpend: every committed event's cost of the last hours, per minute and dimension set. A
// budget that a reload adds or changes gets its burn-rate windows from here, to the minute,
// instead of from hours of raw events; what happened before this process started comes from the
// 15-minute rollups (see covered_from()).
//
// Not thread-safe: PolicyEngine guards it with its mutex.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "metering/dimensions.h"
#include "metering/time_util.h"

namespace tollgate {

class RecentSpend {
 public:
  // Holds every event recorded from `start` on.
  explicit RecentSpend(EpochMs start) : start_(start) {}

  // `key` identifies the dimension set (append_key); `dims` is read only on its first use.
  void add(const std::string& key, const std::function<Dimensions()>& dims, EpochMs ts,
           int64_t nanos);
  // Forgets minutes older than keep_ms before now.
  void trim(EpochMs now, int64_t keep_ms);
  // Complete from this 15-minute boundary on: rollup buckets starting before it hold what is
  // missing here, and nothing here from then on is also in a bucket taken from the rollups.
  EpochMs covered_from() const;
  // Every (dimensions, minute start, nanos) at or after `from` (a covered_from() read earlier).
  void for_each(EpochMs from,
                const std::function<void(const Dimensions&, EpochMs, int64_t)>& fn) const;

 private:
  EpochMs start_;
  std::map<int64_t, std::unordered_map<std::string, std::pair<Dimensions, int64_t>>> minutes_;
};

}  // namespace tollgate
