#pragma once
// RollupBuffer: the 15-minute and daily rollups and the itemised charges of committed events,
// held in memory until the ledger's writer flushes them into rollup_15m_rows, rollup_daily_rows
// and charges_daily_rows (schema 9), with the rollup watermark, in one transaction. At a
// company's cardinality nearly every event is a new rollup key, so writing rollups at every
// commit cost a random B-tree page per event and table; a flush writes many rows per page, sorted
// in key order. An event whose daily key no recent event had is left as its raw row instead,
// marked `listed` in event_rows as it is inserted (schema 14); a flush names the rowid ranges
// of those events by day in rollup_raw_ranges. A key seen again gets its rows.
//
// Until flushed, readers see the same sums through the views rollup_15m, rollup_daily and
// charges_daily (the stored rows plus the raw events past the watermark and their lines in
// event_charges, a view of event_charge_lines), and after a crash the ledger rolls those events
// up again at start (roll_up_past_watermark): the raw events stay the truth.
//
// Dimension strings are interned, so a pending row costs about 250 bytes whatever its names.
// The full-key rows stay in node-based maps: open-addressing tables (Boost's unordered_flat_map)
// cut the writer's allocations, but at a company's cardinality they doubled to 2^17-2^18 slots of
// ~150 bytes per full-key table and the daemon's RSS in run_memory.sh peaked at 193-277 MiB
// against 147-149 (bench/README.md, "Ingest vs the raw-SQLite floor"). The small tables (a row
// per day and dimension value, the name pool) are open-addressing, given back at clear().
// Not thread-safe: the ledger's writer thread only.

#include <sqlite3.h>

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "metering/status.h"
#include "metering/string_hash.h"
#include "metering/time_util.h"
#include "metering/usage_event.h"
#include "storage/dim_dictionary.h"

namespace tollgate {

// One rollup row's sums, also a local day's checked total.
struct RollupSums {
  int64_t events = 0, requests = 0, input = 0, cached = 0, cache_write = 0, output = 0, gpu = 0,
          egress = 0, cost = 0, value_units = 0, revenue = 0;
  int64_t reasoning = 0;  // a part of output: bounded by it, so not in the day's checked totals

  // Adds one event; false (and unchanged) when any sum would pass int64.
  bool add(const UsageEvent& e);
};

// The 15-minute bucket holding `ts`.
EpochMs bucket_of(EpochMs ts);

class RollupBuffer {
 public:
  // An event's rollup dimensions, as the ledger stores them.
  struct Dims {
    std::string_view day, feature, team, customer, tags, provider, model, region, priority,
        status, priced_by;
  };
  struct Key {
    int64_t bucket = 0;  // the 15-minute bucket; 0 in the daily rows
    uint32_t ids[11] = {};  // interned Dims, in its order (day first)
    bool operator==(const Key& o) const;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  template <typename Sums>
  using Table = std::unordered_map<Key, Sums, KeyHash>;
  using Rows = Table<RollupSums>;
  // A charges_daily row: ids[] holds day, provider, model, region, feature, team, priced_by
  // (Dims' order without customer, tags, priority, status); `bucket` is the charge_prices id.
  struct ChargeSums {
    int64_t quantity = 0, cost = 0;  // parts of the day's checked totals: they fit
    bool empty = true;
    uint32_t customer_lo = 0, customer_hi = 0, priority_lo = 0, priority_hi = 0, tags_lo = 0,
             tags_hi = 0;  // the range of those the row holds (one when lo == hi)
  };
  // The lines of one charges_daily key (ids[] as above, `bucket` 0), one per price: an event's
  // lines share their key, so it costs one lookup, not one per line.
  struct ChargeGroup {
    std::vector<std::pair<int64_t, ChargeSums>> prices;  // charge_prices id, sums; a few
  };
  using Charges = Table<ChargeGroup>;
  // A rollup_daily_dim row of one dimension, keyed by the interned day and value (dim_key()):
  // the sums a report reads. Seven rows an event: a key of one word, where the full Key cost six
  // rounds of hashing and twelve compares.
  struct DimSums {
    int64_t sums[10] = {};  // requests, input, cached, cache_write, output, gpu, cost,
                            // unpriced requests, value units, revenue
  };
  struct WordHash {
    using is_avalanching = void;  // a 64-bit finaliser: the open-addressing map needs no more
    size_t operator()(uint64_t k) const;
  };
  // Open addressing (unlike the full-key tables above): a day holds a row per dimension value,
  // about a thousand at a company's cardinality, looked up seven times an event.
  using DimRows = boost::unordered_flat_map<uint64_t, DimSums, WordHash>;
  static uint64_t dim_key(uint32_t day, uint32_t value) { return uint64_t{day} << 32 | value; }
  // The dimensions rollup_daily_dim has a row per day and value of (the events' columns).
  static constexpr const char* kDimensionColumns[] = {"feature",  "team",   "customer", "model",
                                                      "provider", "region", "priority"};

  // Adds an event as its commit writes it. A commit that fails leaves rows here for events that
  // were never stored: the ledger then clear()s the buffer and rolls the raw events past the
  // watermark up from the ledger instead (roll_up_past_watermark), which is exact.
  // Returns the event's interned Dims (in Dims' order), for its charge lines.
  struct Interned {
    uint32_t ids[11] = {};
  };
  // `rowid`: the event's row; `e.ts_ms` its time (the bucket, and its event_ts_blocks row).
  // `listed`: the row is marked listed (schema 14): it stands for its own rollup rows, so none
  // are added; the flush names its rowid in rollup_raw_ranges.
  // `stored`: when the caller has them, the dim_values ids of `dims` past the day, in its order
  // (stable while the buffer holds them: a rolled-back commit clears it); the strings are then
  // interned by id, without hashing them.
  using StoredIds = std::array<int64_t, 10>;
  Interned add(const Dims& dims, const UsageEvent& e, int64_t rowid, bool listed,
               const StoredIds* stored = nullptr);
  // Whether an event about to be stored under this daily key (listing_key()) is to be listed:
  // no recent event had the key. Either answer is exact (a listed event is read as its raw row,
  // another is added into the rows); it decides only which costs less. Takes the key: the next
  // events of it get rows.
  bool claim_listing(uint64_t key);
  // A daily key's hash: its day and the dim_values ids of its dimensions (stable from commit to
  // commit), never 0.
  static uint64_t listing_key(std::string_view day, const int64_t* stored_ids, size_t n);
  // One charge line of an event added above, priced by charge_prices row `price_id`.
  void add_charge(const Interned& dims, int64_t price_id, int64_t quantity, int64_t cost);
  void clear();
  // 15-minute rows and listed events pending (the daily rows are at most as many).
  size_t rows() const { return m15_.size() + listed_events_; }
  bool empty() const { return ts_blocks_.empty(); }  // no event added
  size_t slots() const;  // the open-addressing tables' slots, used or not (memory, for tests)
  // Writes every pending row (adding into stored rows, their strings as `dictionary` ids) and
  // moves the watermark to the last event stored, in one transaction; on success the buffer is
  // empty, on failure unchanged (and `dictionary` must forget: ids it added are rolled back).
  // `through_rowid`: the last event the buffer holds (-1: every event stored).
  Status flush(sqlite3* db, const std::string& currency, DimDictionary& dictionary,
               int64_t through_rowid = -1);

 private:
  uint32_t intern(std::string_view s);
  uint32_t intern(int64_t stored_id, std::string_view s);
  std::string_view name(uint32_t id) const { return names_[id]; }
  void widen(ChargeSums& c, uint32_t customer, uint32_t priority, uint32_t tags) const;

  // Open addressing: a few thousand names at most between flushes, looked up for every event.
  boost::unordered_flat_map<std::string_view, uint32_t, StringHash> ids_;  // views into names_
  std::deque<std::string> names_;                       // stable addresses
  // Interned ids by dim_values id (the writer's events), and the day last interned: most events
  // of a commit share it.
  boost::unordered_flat_map<int64_t, uint32_t> by_stored_id_;
  std::string last_day_;
  uint32_t last_day_id_ = 0;
  Rows m15_, daily_;
  // The listed events of each day (interned), as the flush names them: ranges of rowids (and
  // their buckets). A range ends where the next listed event of its day is more than
  // kMaxRangeGap rowids on: events of several days interleaved (a backfill) would otherwise make
  // each day's readers read every day's rows; at worst a range per event.
  struct ListedRange {
    int64_t first_rowid, last_rowid, first_bucket, last_bucket;
  };
  static constexpr int64_t kMaxRangeGap = 64;
  std::unordered_map<uint32_t, std::vector<ListedRange>> listed_;
  size_t listed_events_ = 0;
  // The times of the events added, per block of rowids (event_ts_blocks, schema 16), in rowid
  // order; the flush widens the stored blocks with them before it moves the watermark.
  struct TsBlock {
    int64_t block, min_ts, max_ts;
  };
  std::vector<TsBlock> ts_blocks_;
  // The daily keys (listing_key()) of recent events, one slot per hash's top bits: an event under
  // one of them gets its rows, so a key of many events a day is listed about once a day, not
  // once per event. A fixed 2 MiB whatever the cardinality (allocated at the first claim); a key
  // overwritten here is at worst listed again. Kept across flushes (clear() keeps it).
  static constexpr int kRecentKeyBits = 18;
  std::vector<uint64_t> recent_keys_;
  Charges charges_;
  Key last_charge_key_;                  // the key of the last line added, and its group
  ChargeGroup* last_charge_group_ = nullptr;  // (node-based: stays valid until clear())
  std::array<DimRows, std::size(kDimensionColumns)> dims_;  // by kDimensionColumns' index
};

// After an unclean stop: rolls the raw events past the watermark (and their charge lines) up into
// the stored rollups and charges through a RollupBuffer, `chunk_events` events a flush (fewer
// where the events' currency changes: a flush writes one), each moving the watermark, at most
// `max_chunks` flushes (0: only the watermark is checked). Says whether it reached the last event
// and about how many events are still past the watermark (the rowid distance: at least as many).
struct RolledUp {
  bool caught_up = false;
  int64_t left = 0;
};
Result<RolledUp> roll_up_past_watermark(sqlite3* db, DimDictionary& dictionary,
                                        int64_t chunk_events, int64_t max_chunks = INT64_MAX);

// Retention: the listed events (left as raw rows, schema 14) among those the connection's
// temp.prune_batch (rowid INTEGER PRIMARY KEY) names are added into the stored rollups, so the
// rollups keep them once their raw rows are pruned. Runs inside the caller's transaction, which
// then deletes the batch and calls drop_emptied_ranges().
Status roll_up_listed_in_prune_batch(sqlite3* db);
// After the batch's events are deleted: the rollup_raw_ranges of their days that name no listed
// event any more go (a range left would only cost its readers a seek).
Status drop_emptied_ranges(sqlite3* db);
// After the batch's events are deleted: the event_ts_blocks (schema 16) they were in are narrowed
// to the times of the events left in them, or dropped.
Status narrow_pruned_ts_blocks(sqlite3* db);

}  // namespace tollgate
