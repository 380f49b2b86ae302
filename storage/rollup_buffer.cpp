#include "storage/rollup_buffer.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "metering/money.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

constexpr EpochMs kBucketMs = 15 * 60 * 1000;

// The upserts of a flush: the stored rows are added into. ?1 is the bucket (unused for days).
// A rollup's key past its bucket: the day, then dim_values ids (schema 10).
#define TOLLGATE_ID_COLUMNS                                                                  \
  "day_local, feature_id, team_id, customer_id, tags_id, provider_id, model_id, region_id, " \
  "priority_id, status_id, priced_by_id, currency_id"
#define TOLLGATE_ROLLUP_COLUMNS                                                         \
  TOLLGATE_ID_COLUMNS ", events, requests, input_tokens, cached_input_tokens, "         \
  "cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, "           \
  "value_units_nanos, revenue_nanos, reasoning_tokens"
#define TOLLGATE_ROLLUP_VALUES \
  "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, " \
  "?22, ?23, ?24, ?25)"
#define TOLLGATE_ROLLUP_ADD                                                                        \
  " ON CONFLICT DO UPDATE SET events = events + excluded.events, "                                 \
  "requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens, " \
  "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "                     \
  "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "                        \
  "output_tokens = output_tokens + excluded.output_tokens, "                                       \
  "gpu_micros = gpu_micros + excluded.gpu_micros, egress_bytes = egress_bytes + "                  \
  "excluded.egress_bytes, "                                                                        \
  "cost_nanos = cost_nanos + excluded.cost_nanos, "                                                \
  "value_units_nanos = value_units_nanos + excluded.value_units_nanos, "                           \
  "revenue_nanos = revenue_nanos + excluded.revenue_nanos, "                                       \
  "reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens"

const char* kUpsert15m = "INSERT INTO rollup_15m_rows (bucket_ms, " TOLLGATE_ROLLUP_COLUMNS
                         ") VALUES (?1, " TOLLGATE_ROLLUP_VALUES TOLLGATE_ROLLUP_ADD;
const char* kUpsertDaily = "INSERT INTO rollup_daily_rows (" TOLLGATE_ROLLUP_COLUMNS
                           ") VALUES (" TOLLGATE_ROLLUP_VALUES TOLLGATE_ROLLUP_ADD;

// A charges row (schema 19: dim_values ids, ?2-?7 and ?9-?14), its price checked in
// charge_prices (?8: no row there, no row here, and the flush fails rather than drop a cost). On
// conflict the sums add and each lo/hi range widens to the lower or higher string: the new one
// is bound too (?17-?22), so only the stored one is looked up, and only when the ids differ.
#define TOLLGATE_CHARGE_WIDEN(col, cmp, param)                                                  \
  col " = CASE WHEN excluded." col " = charges_daily_rows." col " THEN excluded." col           \
  " WHEN " param " " cmp " (SELECT value FROM dim_values WHERE id = charges_daily_rows." col    \
  ") THEN excluded." col " ELSE charges_daily_rows." col " END"
const char* kUpsertCharge =
    "INSERT INTO charges_daily_rows (day_local, provider_id, model_id, region_id, feature_id, "
    "team_id, priced_by_id, price_id, customer_lo_id, customer_hi_id, priority_lo_id, "
    "priority_hi_id, tags_lo_id, tags_hi_id, quantity, cost_nanos) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, id, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16 "
    "FROM charge_prices WHERE id = ?8 ON CONFLICT DO UPDATE SET "
    "quantity = quantity + excluded.quantity, cost_nanos = cost_nanos + excluded.cost_nanos, "
    TOLLGATE_CHARGE_WIDEN("customer_lo_id", "<", "?17") ", "
    TOLLGATE_CHARGE_WIDEN("customer_hi_id", ">", "?18") ", "
    TOLLGATE_CHARGE_WIDEN("priority_lo_id", "<", "?19") ", "
    TOLLGATE_CHARGE_WIDEN("priority_hi_id", ">", "?20") ", "
    TOLLGATE_CHARGE_WIDEN("tags_lo_id", "<", "?21") ", "
    TOLLGATE_CHARGE_WIDEN("tags_hi_id", ">", "?22");
#undef TOLLGATE_CHARGE_WIDEN

const char* kDimSums[] = {"requests",       "input_tokens",   "cached_input_tokens",
                          "cache_write_tokens", "output_tokens", "gpu_micros",
                          "cost_nanos",     "unpriced_requests", "value_units_nanos",
                          "revenue_nanos"};

// The upsert of one rollup_daily_dim_rows row (?1 day, ?2 dimension, ?3 value, ?4.. the sums).
// Built once and never destroyed: the writer thread may still flush while exit() runs the static
// destructors (a string destroyed there was read after free by a last flush).
const std::string& upsert_dim_sql() {
  static const std::string* upsert = new std::string([] {
    std::string sql = "INSERT INTO rollup_daily_dim_rows (day_local, dimension, value";
    for (const char* s : kDimSums) sql += std::string(", ") + s;
    sql += ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
           "ON CONFLICT DO UPDATE SET ";
    for (size_t i = 0; i < std::size(kDimSums); ++i)
      sql += std::string(i ? ", " : "") + kDimSums[i] + " = " + kDimSums[i] + " + excluded." +
             kDimSums[i];
    return sql;
  }());
  return *upsert;
}

// The listed events (left as their raw rows, schema 14) of one day among those a flush passes:
// their rowid and bucket ranges. The flush's events are past every earlier range, so ranges of a
// day never overlap, and the listed events of the day inside a range are its events. A watermark
// moved back by hand rolls events up twice, into the stored rows as much as into the ranges: the
// watermark is the daemon's alone.
const char* kNameListed =
    "INSERT INTO rollup_raw_ranges (day_local, first_rowid, last_rowid, first_bucket_ms, "
    "last_bucket_ms) VALUES (?1, ?2, ?3, ?4, ?5)";

// The times of a block of rowids (event_ts_blocks, schema 16), widened to hold the flush's
// events of it (a block may span flushes; a prune may have narrowed it).
const char* kWidenTsBlock =
    "INSERT INTO event_ts_blocks (block, min_ts_ms, max_ts_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (block) DO UPDATE SET min_ts_ms = MIN(min_ts_ms, excluded.min_ts_ms), "
    "max_ts_ms = MAX(max_ts_ms, excluded.max_ts_ms)";

// The watermark moves to the last event flushed (?1; -1: the last event stored); the charge
// lines it passes are in charges_daily_rows now.
const char* kMoveWatermark =
    "UPDATE rollup_watermark SET through_rowid = MAX(through_rowid, CASE WHEN ?1 < 0 THEN "
    "(SELECT IFNULL(MAX(rowid), 0) FROM event_rows) ELSE ?1 END)";
// A commit's row of lines goes once the watermark passes its last event (schema 20); readers
// skip the lines a recovery chunk passed in a row it passed in part.
const char* kDropRolledCharges =
    "DELETE FROM event_charge_lines WHERE last_rowid <= (SELECT through_rowid FROM "
    "rollup_watermark)";
// A flush of every event stored passes every line: a DELETE without WHERE lets SQLite free the
// table's pages whole instead of visiting each row (its truncate optimisation).
const char* kDropAllCharges = "DELETE FROM event_charge_lines";
// The listed events among those temp.prune_batch names (at or below the watermark), added into
// the stored rollups (the events' own dim_values ids are the rollups' key); their days noted for
// drop_emptied_ranges.
#define TOLLGATE_BUCKET "(e.ts_ms - ((e.ts_ms % 900000) + 900000) % 900000)"
#define TOLLGATE_LISTED_SUMS                                                                  \
  TOLLGATE_EVENT_DAY("e") ", s.feature_id, s.team_id, e.customer_id, e.tags_id, s.provider_id, " \
  "s.model_id, s.region_id, s.priority_id, s.status_id, s.priced_by_id, s.currency_id, 1, "    \
  "e.requests, e.input_tokens, e.cached_input_tokens, " TOLLGATE_EVENT_SUM_COLUMNS("e", "x")  \
  " FROM temp.prune_batch b CROSS JOIN event_rows e ON e.rowid = b.rowid "                      \
  "LEFT JOIN dim_sets s ON s.id = e.set_id " TOLLGATE_EXTRAS_JOIN("x", "e")                    \
  "WHERE e.listed AND e.rowid <= (SELECT through_rowid FROM rollup_watermark)"
const char* kRollUpListed15m =
    "INSERT INTO rollup_15m_rows (bucket_ms, " TOLLGATE_ROLLUP_COLUMNS
    ") SELECT " TOLLGATE_BUCKET ", " TOLLGATE_LISTED_SUMS
        TOLLGATE_ROLLUP_ADD;
const char* kRollUpListedDaily = "INSERT INTO rollup_daily_rows (" TOLLGATE_ROLLUP_COLUMNS
                                 ") SELECT " TOLLGATE_LISTED_SUMS TOLLGATE_ROLLUP_ADD;
const char* kNotePrunedDays =
    "INSERT OR IGNORE INTO temp.prune_days SELECT DISTINCT " TOLLGATE_EVENT_DAY("e") " FROM "
    "temp.prune_batch b "
    "CROSS JOIN event_rows e ON e.rowid = b.rowid WHERE e.listed";
// The ranges of those days that start at or below the batch's last event (those a prune in
// time order empties) and hold no listed event of their day any more.
const char* kDropEmptiedRanges =
    "DELETE FROM rollup_raw_ranges WHERE day_local IN (SELECT day FROM temp.prune_days) AND "
    "first_rowid <= (SELECT IFNULL(MAX(rowid), 0) FROM temp.prune_batch) AND NOT EXISTS (SELECT "
    "1 FROM event_rows e WHERE e.rowid BETWEEN rollup_raw_ranges.first_rowid AND "
    "rollup_raw_ranges.last_rowid AND e.listed AND " TOLLGATE_EVENT_DAY("e") " = "
    "rollup_raw_ranges.day_local)";
#undef TOLLGATE_LISTED_SUMS
#undef TOLLGATE_BUCKET
#undef TOLLGATE_ROLLUP_COLUMNS
#undef TOLLGATE_ROLLUP_VALUES
#undef TOLLGATE_ROLLUP_ADD
#undef TOLLGATE_ID_COLUMNS

// MurmurHash3's 64-bit finaliser.
uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

}  // namespace

EpochMs bucket_of(EpochMs ts) {
  return (ts >= 0 ? ts : ts - kBucketMs + 1) / kBucketMs * kBucketMs;
}

bool RollupSums::add(const UsageEvent& e) {
  RollupSums next = *this;
  std::pair<int64_t*, int64_t> terms[] = {{&next.events, 1},
                                          {&next.requests, e.requests},
                                          {&next.input, e.input_tokens},
                                          {&next.cached, e.cached_input_tokens},
                                          {&next.cache_write, e.cache_write_tokens},
                                          {&next.output, e.output_tokens},
                                          {&next.gpu, e.gpu_micros},
                                          {&next.egress, e.egress_bytes},
                                          {&next.cost, e.cost.nanos()},
                                          {&next.value_units, e.value_units.nanos()},
                                          {&next.revenue, e.revenue.nanos()}};
  for (auto [sum, term] : terms) {
    auto r = checked_add(*sum, term);
    if (!r) return false;
    *sum = *r;
  }
  next.reasoning += e.reasoning_tokens;
  *this = next;
  return true;
}

bool RollupBuffer::Key::operator==(const Key& o) const {
  // Element by element: the compiler unrolls it, where memcmp was a call per probe.
  if (bucket != o.bucket) return false;
  for (int i = 0; i < 11; ++i)
    if (ids[i] != o.ids[i]) return false;
  return true;
}

size_t RollupBuffer::KeyHash::operator()(const Key& k) const {
  // Two ids at a time through a 64-bit finaliser: small, dense ids must not cluster in the
  // table's buckets.
  uint64_t h = mix64(static_cast<uint64_t>(k.bucket));
  for (size_t i = 0; i < 11; i += 2)
    h = mix64(h ^ (uint64_t(k.ids[i]) | (i + 1 < 11 ? uint64_t(k.ids[i + 1]) << 32 : 0)));
  return static_cast<size_t>(h);
}

size_t RollupBuffer::WordHash::operator()(uint64_t k) const {
  return static_cast<size_t>(mix64(k));
}

uint32_t RollupBuffer::intern(std::string_view s) {
  if (auto it = ids_.find(s); it != ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(s);
  ids_.emplace(names_.back(), id);
  return id;
}

uint32_t RollupBuffer::intern(int64_t stored_id, std::string_view s) {
  auto [it, added] = by_stored_id_.try_emplace(stored_id, 0);
  if (added) it->second = intern(s);
  return it->second;
}

uint64_t RollupBuffer::listing_key(std::string_view day, const int64_t* stored_ids, size_t n) {
  uint64_t h = mix64(std::hash<std::string_view>()(day));
  for (size_t i = 0; i < n; ++i) h = mix64(h ^ static_cast<uint64_t>(stored_ids[i]));
  return h | 1;  // 0 marks an empty slot
}

bool RollupBuffer::claim_listing(uint64_t key) {
  if (recent_keys_.empty()) recent_keys_.assign(size_t{1} << kRecentKeyBits, 0);
  uint64_t& slot = recent_keys_[key >> (64 - kRecentKeyBits)];
  if (slot == key) return false;
  slot = key;
  return true;
}

RollupBuffer::Interned RollupBuffer::add(const Dims& d, const UsageEvent& e, int64_t rowid,
                                         bool listed, const StoredIds* stored) {
  const EpochMs bucket = bucket_of(e.ts_ms);
  // Events come in rowid order (commits, a recovery's reads): a block is the last one or new.
  const int64_t block = rowid >> kTsBlockShift;
  if (ts_blocks_.empty() || ts_blocks_.back().block != block) {
    ts_blocks_.push_back({block, e.ts_ms, e.ts_ms});
  } else {
    TsBlock& b = ts_blocks_.back();
    b.min_ts = std::min(b.min_ts, e.ts_ms);
    b.max_ts = std::max(b.max_ts, e.ts_ms);
  }
  Key k;
  k.bucket = bucket;
  const std::string_view parts[11] = {d.day,    d.feature, d.team,     d.customer,
                                      d.tags,   d.provider, d.model,   d.region,
                                      d.priority, d.status, d.priced_by};
  if (names_.empty() || d.day != last_day_) {
    last_day_id_ = intern(d.day);
    last_day_.assign(d.day);
  }
  k.ids[0] = last_day_id_;
  for (int i = 1; i < 11; ++i)
    k.ids[i] = stored ? intern((*stored)[i - 1], parts[i]) : intern(parts[i]);
  if (listed) {  // its raw row stands for its rollup rows
    // Events come in rowid order (commits, a recovery's reads).
    std::vector<ListedRange>& ranges = listed_[k.ids[0]];
    if (ranges.empty() || rowid < ranges.back().first_rowid ||
        rowid - ranges.back().last_rowid > kMaxRangeGap) {
      ranges.push_back({rowid, rowid, bucket, bucket});
    } else {
      ListedRange& r = ranges.back();
      r.last_rowid = std::max(r.last_rowid, rowid);
      r.first_bucket = std::min(r.first_bucket, bucket);
      r.last_bucket = std::max(r.last_bucket, bucket);
    }
    ++listed_events_;
  } else {
    m15_[k].add(e);  // parts of the day's checked total, which fits
  }
  k.bucket = 0;
  if (!listed) daily_[k].add(e);
  const int64_t add[10] = {e.requests,      e.input_tokens,
                           e.cached_input_tokens, e.cache_write_tokens,
                           e.output_tokens, e.gpu_micros,
                           e.cost.nanos(),  d.priced_by == "unpriced" ? e.requests : 0,
                           e.value_units.nanos(), e.revenue.nanos()};
  const uint32_t values[7] = {k.ids[1], k.ids[2], k.ids[3], k.ids[6], k.ids[5], k.ids[7], k.ids[8]};
  static_assert(std::size(kDimensionColumns) == 7);
  for (uint32_t i = 0; i < 7; ++i) {
    DimSums& row = dims_[i][dim_key(k.ids[0], values[i])];
    for (int j = 0; j < 10; ++j) row.sums[j] += add[j];
  }
  Interned interned;
  std::copy(std::begin(k.ids), std::end(k.ids), interned.ids);
  return interned;
}

void RollupBuffer::widen(ChargeSums& c, uint32_t customer, uint32_t priority,
                         uint32_t tags) const {
  auto range = [&](uint32_t& lo, uint32_t& hi, uint32_t v) {
    if (c.empty) {
      lo = hi = v;
    } else if (v != lo && v != hi) {  // ids are interned: equal ids, equal names
      if (name(v) < name(lo)) lo = v;
      else if (name(v) > name(hi)) hi = v;
    }
  };
  range(c.customer_lo, c.customer_hi, customer);
  range(c.priority_lo, c.priority_hi, priority);
  range(c.tags_lo, c.tags_hi, tags);
  c.empty = false;
}

void RollupBuffer::add_charge(const Interned& d, int64_t price_id, int64_t quantity,
                              int64_t cost) {
  Key k;
  // day, provider, model, region, feature, team, priced_by
  const uint32_t parts[7] = {d.ids[0], d.ids[5], d.ids[6], d.ids[7], d.ids[1], d.ids[2], d.ids[10]};
  std::copy(std::begin(parts), std::end(parts), k.ids);
  if (!last_charge_group_ || !(k == last_charge_key_)) {
    last_charge_group_ = &charges_[k];
    last_charge_key_ = k;
  }
  auto& prices = last_charge_group_->prices;
  auto it = std::find_if(prices.begin(), prices.end(),
                         [&](const auto& p) { return p.first == price_id; });
  if (it == prices.end()) it = prices.insert(prices.end(), {price_id, ChargeSums{}});
  ChargeSums& c = it->second;
  c.quantity += quantity;
  c.cost += cost;
  widen(c, d.ids[3], d.ids[8], d.ids[4]);  // customer, priority, tags
}

void RollupBuffer::clear() {
  m15_.clear();
  daily_.clear();
  listed_.clear();
  listed_events_ = 0;
  ts_blocks_.clear();
  charges_.clear();
  last_charge_group_ = nullptr;
  // The open-addressing tables keep their slots when cleared: replaced instead, so a burst of new
  // customers or tags between two flushes does not stay in the daemon's RSS.
  for (DimRows& rows : dims_) rows = DimRows();
  ids_ = decltype(ids_)();  // the names of rows gone: the pool would otherwise grow with every
  names_.clear();           // customer seen
  by_stored_id_ = decltype(by_stored_id_)();
}

size_t RollupBuffer::slots() const {
  size_t n = ids_.bucket_count() + by_stored_id_.bucket_count();
  for (const DimRows& rows : dims_) n += rows.bucket_count();
  return n;
}

Status RollupBuffer::flush(sqlite3* db, const std::string& currency, DimDictionary& dictionary,
                           int64_t through_rowid) {
  if (empty() && charges_.empty()) return {};
  Statement m15(db, kUpsert15m), daily(db, kUpsertDaily), charge(db, kUpsertCharge),
      dim(db, upsert_dim_sql()), list(db, kNameListed);
  if (!m15.ok() || !daily.ok() || !charge.ok() || !dim.ok() || !list.ok())
    return Status::error(Code::kStorageError, m15.error() + daily.error() + charge.error() +
                                                  dim.error() + list.error());
  Status s = exec_sql(db, "BEGIN IMMEDIATE");
  // The rollup tables hold dim_values ids (schema 10), added when new inside this transaction.
  std::vector<int64_t> stored_ids(names_.size(), 0);
  int64_t currency_id = 0;
  auto resolve = [&](std::string_view value, int64_t& id) {
    if (id != 0 || !s.ok()) return;
    auto found = dictionary.id(db, value);
    if (found.ok()) id = found.value();
    else s = found.status();
  };
  for (const auto& [key, sums] : m15_)  // the day (ids[0]) stays text
    for (int i = 1; i < 11; ++i) resolve(name(key.ids[i]), stored_ids[key.ids[i]]);
  for (const auto& [key, group] : charges_) {  // so do the charges' (schema 19)
    for (int i = 1; i < 7; ++i) resolve(name(key.ids[i]), stored_ids[key.ids[i]]);
    for (const auto& [price, c] : group.prices)
      for (uint32_t id : {c.customer_lo, c.customer_hi, c.priority_lo, c.priority_hi, c.tags_lo,
                          c.tags_hi})
        resolve(name(id), stored_ids[id]);
  }
  resolve(currency, currency_id);
  // In the tables' key order, so consecutive upserts land on the same pages: the rollups and
  // the charges (schema 19) by day text then ids, the per-dimension rows by text.
  auto in_key_order = [&](const auto& rows, bool bucket_first, bool by_stored_id) {
    std::vector<const typename std::decay_t<decltype(rows)>::value_type*> sorted;
    sorted.reserve(rows.size());
    for (const auto& row : rows) sorted.push_back(&row);
    std::sort(sorted.begin(), sorted.end(), [&](const auto* a, const auto* b) {
      if (bucket_first && a->first.bucket != b->first.bucket)
        return a->first.bucket < b->first.bucket;
      for (int i = 0; i < 11; ++i) {
        const uint32_t x = a->first.ids[i], y = b->first.ids[i];
        if (x == y) continue;
        if (by_stored_id && i > 0) return stored_ids[x] < stored_ids[y];
        return name(x) < name(y);
      }
      return a->first.bucket < b->first.bucket;
    });
    return sorted;
  };
  auto write = [&](Statement& st, const Rows& rows) {
    const auto sorted = in_key_order(rows, true, true);
    for (const auto* row : sorted) {
      const Key& k = row->first;
      const RollupSums& r = row->second;
      st.bind(1, k.bucket).bind(2, name(k.ids[0]));
      for (int i = 1; i < 11; ++i) st.bind(2 + i, stored_ids[k.ids[i]]);
      st.bind(13, currency_id).bind(14, r.events).bind(15, r.requests);
      st.bind(16, r.input).bind(17, r.cached).bind(18, r.cache_write).bind(19, r.output);
      st.bind(20, r.gpu).bind(21, r.egress).bind(22, r.cost).bind(23, r.value_units);
      st.bind(24, r.revenue).bind(25, r.reasoning);
      const int rc = st.step();
      st.reset();
      if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    }
    return Status();
  };
  auto write_charges = [&]() {
    // In key order: the groups by their day and ids, each group's prices by id (sorted in place:
    // a flattened copy of every line cost 64 bytes a line at the flush's peak).
    for (auto& [key, group] : charges_)
      std::sort(group.prices.begin(), group.prices.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto* row : in_key_order(charges_, false, true)) {
      const Key& k = row->first;
      for (const auto& [price, c] : row->second.prices) {
        charge.bind(1, name(k.ids[0]));
        for (int i = 1; i < 7; ++i) charge.bind(1 + i, stored_ids[k.ids[i]]);
        charge.bind(8, price).bind(9, stored_ids[c.customer_lo]);
        charge.bind(10, stored_ids[c.customer_hi]).bind(11, stored_ids[c.priority_lo]);
        charge.bind(12, stored_ids[c.priority_hi]).bind(13, stored_ids[c.tags_lo]);
        charge.bind(14, stored_ids[c.tags_hi]).bind(17, name(c.customer_lo));
        charge.bind(18, name(c.customer_hi)).bind(19, name(c.priority_lo));
        charge.bind(20, name(c.priority_hi)).bind(21, name(c.tags_lo)).bind(22, name(c.tags_hi));
        charge.bind(15, c.quantity).bind(16, c.cost);
        const int rc = charge.step();
        charge.reset();
        if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
        if (sqlite3_changes(db) != 1)  // its charge_prices row is missing: never drop a cost
          return Status::error(Code::kStorageError, "charge price " + std::to_string(price) +
                                                        " is not in charge_prices");
      }
    }
    return Status();
  };
  auto write_dims = [&]() {
    // By dimension, then day and value (the table's key order).
    auto day = [&](uint64_t key) { return name(static_cast<uint32_t>(key >> 32)); };
    auto value = [&](uint64_t key) { return name(static_cast<uint32_t>(key)); };
    std::vector<const DimRows::value_type*> sorted;
    for (size_t d = 0; d < dims_.size(); ++d) {
      sorted.assign(dims_[d].size(), nullptr);
      std::transform(dims_[d].begin(), dims_[d].end(), sorted.begin(),
                     [](const auto& row) { return &row; });
      std::sort(sorted.begin(), sorted.end(), [&](const auto* a, const auto* b) {
        if (a->first >> 32 != b->first >> 32) return day(a->first) < day(b->first);
        return value(a->first) < value(b->first);
      });
      for (const auto* row : sorted) {
        dim.bind(1, day(row->first)).bind(2, std::string_view(kDimensionColumns[d]));
        dim.bind(3, value(row->first));
        for (int j = 0; j < 10; ++j) dim.bind(4 + j, row->second.sums[j]);
        const int rc = dim.step();
        dim.reset();
        if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
      }
    }
    return Status();
  };
  if (s.ok()) s = write(m15, m15_);
  if (s.ok()) s = write(daily, daily_);
  if (s.ok()) s = write_charges();
  if (s.ok()) s = write_dims();
  for (auto it = listed_.begin(); s.ok() && it != listed_.end(); ++it) {
    for (const ListedRange& r : it->second) {
      list.bind(1, name(it->first)).bind(2, r.first_rowid).bind(3, r.last_rowid);
      list.bind(4, r.first_bucket).bind(5, r.last_bucket);
      const int rc = list.step();
      list.reset();
      if (rc != SQLITE_DONE) {
        s = Status::error(Code::kStorageError, sqlite3_errmsg(db));
        break;
      }
    }
  }
  if (s.ok()) {
    Statement widen(db, kWidenTsBlock);
    if (!widen.ok()) s = Status::error(Code::kStorageError, widen.error());
    for (size_t i = 0; s.ok() && i < ts_blocks_.size(); ++i) {
      widen.bind(1, ts_blocks_[i].block).bind(2, ts_blocks_[i].min_ts);
      widen.bind(3, ts_blocks_[i].max_ts);
      if (widen.step() != SQLITE_DONE) s = Status::error(Code::kStorageError, sqlite3_errmsg(db));
      widen.reset();
    }
  }
  if (s.ok()) {
    Statement mark(db, kMoveWatermark);
    if (mark.ok()) mark.bind(1, through_rowid);
    if (!mark.ok() || mark.step() != SQLITE_DONE)
      s = Status::error(Code::kStorageError, mark.ok() ? sqlite3_errmsg(db) : mark.error());
  }
  if (s.ok()) s = exec_sql(db, through_rowid < 0 ? kDropAllCharges : kDropRolledCharges);
  if (s.ok()) s = exec_sql(db, "COMMIT");
  if (!s.ok()) {
    exec_sql(db, "ROLLBACK");
    return s;
  }
  clear();
  return {};
}

Result<RolledUp> roll_up_past_watermark(sqlite3* db, DimDictionary& dictionary,
                                        int64_t chunk_events, int64_t max_chunks) {
  {
    // The watermark names a rowid; rowids only grow while the daemon writes (a prune keeps the
    // last event). A ledger whose events were renumbered or removed by hand (a .dump reloaded, a
    // DELETE) would leave it above the events: every event written next would hide below it.
    Statement mark(db,
                   "SELECT (SELECT COUNT(*) FROM rollup_watermark), (SELECT through_rowid FROM "
                   "rollup_watermark), (SELECT IFNULL(MAX(rowid), 0) FROM event_rows)");
    if (!mark.ok() || mark.step() != SQLITE_ROW)
      return Status::error(Code::kStorageError, "cannot read the rollup watermark: " + mark.error());
    if (mark.column_int(0) != 1)
      return Status::error(Code::kStorageError,
                           "rollup_watermark must hold exactly one row (it holds " +
                               std::to_string(mark.column_int(0)) +
                               "); the ledger was edited by hand: restore it from `tollgate backup`");
    if (mark.column_int(1) > mark.column_int(2)) {
      const int64_t was = mark.column_int(1), last = mark.column_int(2);
      mark = Statement();
      // Listed events past the last one are gone too, and the next events will reuse their
      // rowids: no range may name those. Ranges first: a stop between the statements leaves
      // the watermark past the events, so this runs again.
      // Charge lines of events past the last one likewise (a row naming events on both sides
      // keeps those up to it).
      for (const char* sql : {"DELETE FROM rollup_raw_ranges WHERE first_rowid > ?1",
                              "UPDATE rollup_raw_ranges SET last_rowid = ?1 WHERE last_rowid > ?1",
                              "DELETE FROM event_charge_lines WHERE first_rowid > ?1",
                              "UPDATE event_charge_lines SET lines = (SELECT json_group_array("
                              "json(j.value)) FROM json_each(lines) j WHERE json_extract(j.value, "
                              "'$[0]') <= ?1), last_rowid = ?1 WHERE last_rowid > ?1",
                              "UPDATE rollup_watermark SET through_rowid = ?1"}) {
        Statement st(db, sql);
        if (st.ok()) st.bind(1, last);
        if (!st.ok() || st.step() != SQLITE_DONE)
          return Status::error(Code::kStorageError, st.ok() ? sqlite3_errmsg(db) : st.error());
      }
      spdlog::warn("the rollup watermark ({}) was past the last raw event ({}): the events were "
                   "renumbered or removed outside the daemon; it now follows the last event (the "
                   "stored rollups are taken to hold every event there is)",
                   was, last);
    }
  }
  // The events past the watermark, through the same buffer and flush as live commits, a chunk
  // at a time (memory stays bounded; each chunk moves the watermark, so a stop midway resumes).
  Statement events(db,
                   "SELECT rowid, ts_ms, day_local, feature, team, customer, tags, provider, "
                   "model, region, priority, status, priced_by, requests, input_tokens, "
                   "cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, "
                   "egress_bytes, cost_nanos, value_units_nanos, revenue_nanos, reasoning_tokens, "
                   "currency, (SELECT listed FROM event_rows r WHERE r.rowid = events.rowid) "
                   "FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark) "
                   "ORDER BY rowid LIMIT ?1");
  // The charge lines of a chunk's events, ?1 to ?2: in the rows of lines from the first naming
  // an event from ?1 on, through the first naming ?2 or a later one (each row names a range of
  // rowids, the rows' ranges follow one another).
  Statement lines(db,
                  "SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), "
                  "json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]') "
                  "FROM event_charge_lines b, json_each(b.lines) j "
                  "WHERE b.last_rowid >= ?1 AND b.last_rowid <= IFNULL((SELECT MIN(last_rowid) "
                  "FROM event_charge_lines WHERE last_rowid >= ?2), ?2)");
  if (!events.ok() || !lines.ok())
    return Status::error(Code::kStorageError, events.error() + lines.error());
  auto text = [](Statement& st, int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), i));
    return t ? std::string_view(t, sqlite3_column_bytes(st.get(), i)) : std::string_view();
  };
  RollupBuffer buffer;
  for (int64_t chunk = 0;; ++chunk) {
    if (chunk >= max_chunks) {
      // O(1) whatever the tail: this runs after every chunk of a recovery, between commits. The
      // rowid distance counts events refused or pruned since as well: an upper bound.
      events.reset();
      Statement left(db,
                     "SELECT IFNULL(MAX(rowid), 0) - (SELECT through_rowid FROM rollup_watermark), "
                     "EXISTS (SELECT 1 FROM event_rows WHERE rowid > (SELECT through_rowid FROM "
                     "rollup_watermark)) FROM event_rows");
      if (!left.ok() || left.step() != SQLITE_ROW)
        return Status::error(Code::kStorageError,
                             "cannot read the events past the rollup watermark: " + left.error());
      const bool any = left.column_int(1) != 0;
      return RolledUp{!any, any ? std::max<int64_t>(left.column_int(0), 1) : 0};
    }
    events.bind(1, std::max<int64_t>(chunk_events, 1));
    int64_t last = -1, rc;
    // A chunk holds one currency (the flush writes one): the events name theirs, and a ledger's
    // reporting currency may have changed since they were stored.
    std::string chunk_currency;
    std::vector<std::pair<int64_t, RollupBuffer::Interned>> chunk_rows;  // rowid order
    while ((rc = events.step()) == SQLITE_ROW) {
      const std::string_view event_currency = text(events, 24);
      if (last < 0) chunk_currency = event_currency;
      else if (event_currency != chunk_currency) break;  // the next chunk starts with this one
      last = events.column_int(0);
      const RollupBuffer::Dims dims{text(events, 2),  text(events, 3),  text(events, 4),
                                    text(events, 5),  text(events, 6),  text(events, 7),
                                    text(events, 8),  text(events, 9),  text(events, 10),
                                    text(events, 11), text(events, 12)};
      UsageEvent e;
      e.ts_ms = events.column_int(1);
      e.requests = events.column_int(13);
      e.input_tokens = events.column_int(14);
      e.cached_input_tokens = events.column_int(15);
      e.cache_write_tokens = events.column_int(16);
      e.output_tokens = events.column_int(17);
      e.gpu_micros = events.column_int(18);
      e.egress_bytes = events.column_int(19);
      e.cost = Money::from_nanos(events.column_int(20));
      e.value_units = Money::from_nanos(events.column_int(21));
      e.revenue = Money::from_nanos(events.column_int(22));
      e.reasoning_tokens = events.column_int(23);
      chunk_rows.emplace_back(last, buffer.add(dims, e, last, events.column_int(25) != 0));
    }
    events.reset();
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_DONE;
    if (rc == SQLITE_DONE && !chunk_rows.empty()) {
      lines.bind(1, chunk_rows.front().first).bind(2, chunk_rows.back().first);
      while ((rc = lines.step()) == SQLITE_ROW) {
        const int64_t rowid = lines.column_int(0);
        auto it = std::lower_bound(chunk_rows.begin(), chunk_rows.end(), rowid,
                                   [](const auto& c, int64_t r) { return c.first < r; });
        if (it == chunk_rows.end() || it->first != rowid) continue;  // another chunk's event
        buffer.add_charge(it->second, lines.column_int(1), lines.column_int(2),
                          lines.column_int(3));
      }
      lines.reset();
    }
    if (rc != SQLITE_DONE)
      return Status::error(Code::kStorageError,
                           std::string("rolling up the events past the rollup watermark: ") +
                               sqlite3_errmsg(db));
    if (last < 0) return RolledUp{true, 0};
    if (Status s = buffer.flush(db, chunk_currency, dictionary, last); !s.ok()) {
      dictionary.forget();
      return Status::error(s.code(),
                           "rolling up the events past the rollup watermark: " + s.message());
    }
    // Bounded like the buffer: a long tail of new customers must not fill the cache.
    if (dictionary.size() > static_cast<size_t>(std::max<int64_t>(chunk_events, 1)))
      dictionary.forget();
  }
}

Status roll_up_listed_in_prune_batch(sqlite3* db) {
  for (const char* sql :
       {"CREATE TEMP TABLE IF NOT EXISTS prune_days (day TEXT PRIMARY KEY) WITHOUT ROWID",
        "DELETE FROM temp.prune_days", kRollUpListed15m, kRollUpListedDaily, kNotePrunedDays})
    if (Status s = exec_sql(db, sql); !s.ok()) return s;
  return {};
}

Status drop_emptied_ranges(sqlite3* db) { return exec_sql(db, kDropEmptiedRanges); }

Status narrow_pruned_ts_blocks(sqlite3* db) {
  // The blocks the batch touched: gone where no event is left, else their times recounted (a
  // block left with its oldest times would be read again by every prune).
#define TOLLGATE_TOUCHED \
  "block IN (SELECT DISTINCT " TOLLGATE_ROWID_BLOCK("rowid") " FROM temp.prune_batch)"
#define TOLLGATE_IN_BLOCK                                                                  \
  "FROM event_rows e WHERE e.rowid BETWEEN " TOLLGATE_BLOCK_FIRST_ROWID("event_ts_blocks") \
  " AND " TOLLGATE_BLOCK_LAST_ROWID("event_ts_blocks")
  for (const char* sql :
       {"DELETE FROM event_ts_blocks WHERE " TOLLGATE_TOUCHED " AND NOT EXISTS (SELECT 1 "
        TOLLGATE_IN_BLOCK ")",
        "UPDATE event_ts_blocks SET min_ts_ms = (SELECT MIN(e.ts_ms) " TOLLGATE_IN_BLOCK
        "), max_ts_ms = (SELECT MAX(e.ts_ms) " TOLLGATE_IN_BLOCK ") WHERE " TOLLGATE_TOUCHED})
    if (Status s = exec_sql(db, sql); !s.ok()) return s;
#undef TOLLGATE_IN_BLOCK
#undef TOLLGATE_TOUCHED
  return {};
}

}  // namespace tollgate
