#include "policies/recent_spend.h"

#include <algorithm>

#include "policies/checked.h"

namespace tollgate {

namespace {
constexpr EpochMs kBucketMs = 15 * 60'000;
}

void RecentSpend::add(const std::string& key, EpochMs ts, int64_t nanos) {
  // Before covered_from() nothing is read (a rebuild takes those minutes from the rollups, and a
  // pinned rebuild reads from a covered_from() at or after it): kept, an entry would only count
  // towards the bound. Once the bound dropped the current block, its events cost nothing here.
  if (ts < covered_from()) return;
  const int64_t minute_number = ts / 60'000;
  auto minute = minutes_.find(minute_number);
  if (minute == minutes_.end()) {
    // The next minute is sized like the newest before it (or the last one dropped): at a
    // company's cardinality a minute holds up to max_entries keys, and growing the map to it
    // rehashed every key a few times on the ledger's writer. Only the next one, and only to what
    // the bound still allows: late events open older minutes, and slots reserved for each would
    // cost memory the bound does not see.
    size_t expected = 0;
    if (minutes_.empty())
      expected = dropped_minute_size_;
    else if (minute_number > minutes_.rbegin()->first)
      expected = minutes_.rbegin()->second.size();
    minute = minutes_.try_emplace(minute_number).first;
    minute->second.reserve(std::min(expected, max_entries_ - std::min(entries_, max_entries_)));
  }
  auto [it, added] = minute->second.try_emplace(key, 0);
  it->second = saturating_add(it->second, nanos);
  if (added && ++entries_ > max_entries_) shed();  // last: it may drop this very entry
}

void RecentSpend::shed() {
  // Whole 15-minute blocks, oldest first, so covered_from() stays a block boundary before which
  // the rollups hold everything and after which this holds everything.
  while (entries_ > max_entries_ && !minutes_.empty()) {
    const EpochMs oldest = minutes_.begin()->first * 60'000;
    const EpochMs next = (oldest >= 0 ? oldest / kBucketMs + 1 : oldest / kBucketMs) * kBucketMs;
    if (next > pinned_) return;  // a rebuild reads these: kept until it is done
    drop_before(next);
    start_ = std::max(start_, next);
    ++sheds_;
  }
}

void RecentSpend::trim(EpochMs now, int64_t keep_ms) {
  // Not past a pin either: a rebuild that is scanning reads these minutes when it swaps in.
  const EpochMs cut = std::min(now - keep_ms, pinned_);
  drop_before(cut);
  start_ = std::max(start_, cut);
}

void RecentSpend::drop_before(EpochMs ts) {
  const auto end = minutes_.lower_bound(ts / 60'000);
  for (auto m = minutes_.begin(); m != end; ++m) {
    entries_ -= m->second.size();
    dropped_minute_size_ = m->second.size();
  }
  minutes_.erase(minutes_.begin(), end);
}

size_t RecentSpend::slots() const {
  size_t n = 0;
  for (const auto& [minute, keys] : minutes_) n += keys.bucket_count();
  return n;
}

EpochMs RecentSpend::covered_from() const {
  return (start_ + kBucketMs - 1) / kBucketMs * kBucketMs;
}

void RecentSpend::for_each(
    EpochMs from, const std::function<void(const Dimensions&, EpochMs, int64_t)>& fn) const {
  Dimensions dims;  // decoded into again and again: the rebuild runs under the engine's mutex
  for (auto it = minutes_.lower_bound(from / 60'000); it != minutes_.end(); ++it)
    for (const auto& [key, nanos] : it->second)
      if (decode_key(key, dims)) fn(dims, it->first * 60'000, nanos);
}

}  // namespace tollgate
