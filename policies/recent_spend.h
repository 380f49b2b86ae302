#pragma once
// RecentSpend: every committed event's cost of the last hours, per minute and dimension set. A
// budget that a reload adds or changes gets its burn-rate windows from here, to the minute,
// instead of from hours of raw events; what happened before this process started comes from the
// 15-minute rollups (see covered_from()).
//
// Bounded: past max_entries (dimension set × minute entries; at a company's cardinality nearly
// every event is one) the oldest 15-minute blocks are dropped and covered_from() moves on, so a
// rebuild takes those minutes from the 15-minute rollups instead (exact sums, coarser timing).
// A rebuild pins the minutes it will read (pin/unpin): those are never dropped meanwhile.
//
// Not thread-safe: PolicyEngine guards it with its mutex.

#include <boost/unordered/unordered_flat_map.hpp>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "metering/dimensions.h"
#include "metering/string_hash.h"
#include "metering/time_util.h"

namespace tollgate {

class RecentSpend {
 public:
  // Holds every event recorded from `start` on.
  explicit RecentSpend(EpochMs start, size_t max_entries = 100'000)
      : start_(start), max_entries_(max_entries) {}
  void set_max_entries(size_t n) { max_entries_ = n; }

  // `key` is the dimension set's append_key (with tags): the entry keeps only it, and for_each
  // decodes the dimensions from it (a rebuild is rare; ingest adds an entry per event).
  void add(const std::string& key, EpochMs ts, int64_t nanos);
  // Forgets minutes older than keep_ms before now.
  void trim(EpochMs now, int64_t keep_ms);
  // Complete from this 15-minute boundary on: rollup buckets starting before it hold what is
  // missing here, and nothing here from then on is also in a bucket taken from the rollups.
  EpochMs covered_from() const;
  // Every (dimensions, minute start, nanos) at or after `from` (a covered_from() read earlier).
  void for_each(EpochMs from,
                const std::function<void(const Dimensions&, EpochMs, int64_t)>& fn) const;
  // While pinned, nothing at or after `from` is dropped for the bound.
  void pin(EpochMs from) { pinned_ = from; }
  void unpin() { pinned_ = kNotPinned; }
  size_t entries() const { return entries_; }
  uint64_t sheds() const { return sheds_; }  // times the bound dropped minutes early
  size_t slots() const;  // the minutes' table slots, entries or not (memory, for tests)

 private:
  static constexpr EpochMs kNotPinned = INT64_MAX;
  void shed();
  void drop_before(EpochMs ts);  // the minutes before ts's, counted out of entries_

  EpochMs start_;
  size_t max_entries_;
  size_t entries_ = 0;
  uint64_t sheds_ = 0;
  EpochMs pinned_ = kNotPinned;
  size_t dropped_minute_size_ = 0;  // entries of the newest minute shed() or trim() dropped
  // minute → key → nanos. Open addressing: at a company's cardinality nearly every event is a
  // new entry, and a node per entry was a malloc and a free on the ledger's writer.
  std::map<int64_t, boost::unordered_flat_map<std::string, int64_t, StringHash, std::equal_to<>>>
      minutes_;
};

}  // namespace tollgate
