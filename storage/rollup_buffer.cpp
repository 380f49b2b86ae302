#include "storage/rollup_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "metering/money.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

constexpr EpochMs kBucketMs = 15 * 60 * 1000;

// The upserts of a flush: the stored rows are added into. ?1 is the bucket (unused for days).
#define TOLLGATE_ROLLUP_COLUMNS                                                             \
  "day_local, feature, team, customer, tags, provider, model, region, priority, status, "   \
  "priced_by, currency, events, requests, input_tokens, cached_input_tokens, "              \
  "cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, "               \
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

// The raw events past the watermark, rolled up with the same keys and sums as the buffer. The
// WHERE clause also keeps SQLite from reading ON CONFLICT as a join constraint.
#define TOLLGATE_PAST_WATERMARK                                                                 \
  "day_local, feature, team, customer, tags, provider, model, region, priority, status, "      \
  "priced_by, currency, COUNT(*), SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), " \
  "SUM(cache_write_tokens), SUM(output_tokens), SUM(gpu_micros), SUM(egress_bytes), "           \
  "SUM(cost_nanos), SUM(value_units_nanos), SUM(revenue_nanos), SUM(reasoning_tokens) "         \
  "FROM events WHERE rowid > (SELECT through_rowid FROM rollup_watermark) GROUP BY "           \
  "day_local, feature, team, customer, tags, provider, model, region, priority, status, "      \
  "priced_by, currency"
#define TOLLGATE_BUCKET "ts_ms - ((ts_ms % 900000) + 900000) % 900000"
static_assert(kBucketMs == 900000);
const char* kRollUp15m = "INSERT INTO rollup_15m_rows (bucket_ms, " TOLLGATE_ROLLUP_COLUMNS
                         ") SELECT " TOLLGATE_BUCKET ", " TOLLGATE_PAST_WATERMARK
                         ", " TOLLGATE_BUCKET TOLLGATE_ROLLUP_ADD;
const char* kRollUpDaily = "INSERT INTO rollup_daily_rows (" TOLLGATE_ROLLUP_COLUMNS
                           ") SELECT " TOLLGATE_PAST_WATERMARK TOLLGATE_ROLLUP_ADD;
const char* kMoveWatermark =
    "UPDATE rollup_watermark SET through_rowid = MAX(through_rowid, "
    "(SELECT IFNULL(MAX(rowid), 0) FROM events))";
#undef TOLLGATE_ROLLUP_COLUMNS
#undef TOLLGATE_ROLLUP_VALUES
#undef TOLLGATE_ROLLUP_ADD
#undef TOLLGATE_PAST_WATERMARK
#undef TOLLGATE_BUCKET

Status run(sqlite3* db, const char* sql) {
  Statement st(db, sql);
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  if (st.step() != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  return {};
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

void RollupSums::add(const RollupSums& o) {
  events += o.events;
  requests += o.requests;
  input += o.input;
  cached += o.cached;
  cache_write += o.cache_write;
  output += o.output;
  gpu += o.gpu;
  egress += o.egress;
  cost += o.cost;
  value_units += o.value_units;
  revenue += o.revenue;
  reasoning += o.reasoning;
}

bool RollupBuffer::Key::operator==(const Key& o) const {
  return bucket == o.bucket && std::memcmp(ids, o.ids, sizeof ids) == 0;
}

size_t RollupBuffer::KeyHash::operator()(const Key& k) const {
  uint64_t h = static_cast<uint64_t>(k.bucket) * 0x9E3779B97F4A7C15ull;
  for (uint32_t id : k.ids) h = (h ^ id) * 0x100000001B3ull + (h >> 29);
  return static_cast<size_t>(h);
}

uint32_t RollupBuffer::intern(std::string_view s) {
  if (auto it = ids_.find(s); it != ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(s);
  ids_.emplace(names_.back(), id);
  return id;
}

void RollupBuffer::Batch::add(EpochMs bucket, const Dims& d, const UsageEvent& e) {
  Key k;
  k.bucket = bucket;
  const std::string_view parts[11] = {d.day,    d.feature, d.team,     d.customer,
                                      d.tags,   d.provider, d.model,   d.region,
                                      d.priority, d.status, d.priced_by};
  for (int i = 0; i < 11; ++i) k.ids[i] = buffer_.intern(parts[i]);
  rows_[k].add(e);  // a part of its day's checked total, which fits
}

void RollupBuffer::absorb(Batch&& batch) {
  for (auto& [key, sums] : batch.rows_) {
    m15_[key].add(sums);
    Key day = key;
    day.bucket = 0;
    daily_[day].add(sums);
  }
  batch.rows_.clear();
}

Status RollupBuffer::flush(sqlite3* db, const std::string& currency) {
  if (m15_.empty()) return {};
  Statement m15(db, kUpsert15m), daily(db, kUpsertDaily);
  if (!m15.ok() || !daily.ok()) return Status::error(Code::kStorageError, m15.error() + daily.error());
  Status s = exec_sql(db, "BEGIN IMMEDIATE");
  // In the tables' key order, so consecutive upserts land on the same pages.
  auto write = [&](Statement& st, const Rows& rows) {
    std::vector<const Rows::value_type*> sorted;
    sorted.reserve(rows.size());
    for (const auto& row : rows) sorted.push_back(&row);
    std::sort(sorted.begin(), sorted.end(), [this](const auto* a, const auto* b) {
      if (a->first.bucket != b->first.bucket) return a->first.bucket < b->first.bucket;
      for (int i = 0; i < 11; ++i)
        if (a->first.ids[i] != b->first.ids[i]) return name(a->first.ids[i]) < name(b->first.ids[i]);
      return false;
    });
    for (const auto* row : sorted) {
      const Key& k = row->first;
      const RollupSums& r = row->second;
      st.bind(1, k.bucket);
      for (int i = 0; i < 11; ++i) st.bind(2 + i, name(k.ids[i]));
      st.bind(13, currency).bind(14, r.events).bind(15, r.requests);
      st.bind(16, r.input).bind(17, r.cached).bind(18, r.cache_write).bind(19, r.output);
      st.bind(20, r.gpu).bind(21, r.egress).bind(22, r.cost).bind(23, r.value_units);
      st.bind(24, r.revenue).bind(25, r.reasoning);
      const int rc = st.step();
      st.reset();
      if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
    }
    return Status();
  };
  if (s.ok()) s = write(m15, m15_);
  if (s.ok()) s = write(daily, daily_);
  if (s.ok()) s = run(db, kMoveWatermark);
  if (s.ok()) s = exec_sql(db, "COMMIT");
  if (!s.ok()) {
    exec_sql(db, "ROLLBACK");
    return s;
  }
  m15_.clear();
  daily_.clear();
  ids_.clear();  // the names of rows gone: the pool would otherwise grow with every customer seen
  names_.clear();
  return {};
}

Result<int64_t> roll_up_past_watermark(sqlite3* db) {
  Statement count(db,
                  "SELECT COUNT(*) FROM events WHERE rowid > (SELECT through_rowid FROM "
                  "rollup_watermark)");
  if (!count.ok() || count.step() != SQLITE_ROW)
    return Status::error(Code::kStorageError, "cannot read the rollup watermark: " + count.error());
  const int64_t n = count.column_int(0);
  count = Statement();
  if (n == 0) return n;
  Status s = exec_sql(db, "BEGIN IMMEDIATE");
  if (s.ok()) s = run(db, kRollUp15m);
  if (s.ok()) s = run(db, kRollUpDaily);
  if (s.ok()) s = run(db, kMoveWatermark);
  if (s.ok()) s = exec_sql(db, "COMMIT");
  if (!s.ok()) {
    exec_sql(db, "ROLLBACK");
    return Status::error(s.code(), "rolling up the events past the rollup watermark: " + s.message());
  }
  return n;
}

}  // namespace tollgate
