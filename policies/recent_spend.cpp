#include "policies/recent_spend.h"

#include <algorithm>

#include "policies/checked.h"

namespace tollgate {

namespace {
constexpr EpochMs kBucketMs = 15 * 60'000;
}

void RecentSpend::add(const std::string& key, const std::function<Dimensions()>& dims, EpochMs ts,
                      int64_t nanos) {
  auto& minute = minutes_[ts / 60'000];
  auto it = minute.find(key);
  if (it == minute.end()) it = minute.emplace(key, std::pair{dims(), int64_t{0}}).first;
  it->second.second = saturating_add(it->second.second, nanos);
}

void RecentSpend::trim(EpochMs now, int64_t keep_ms) {
  const EpochMs cut = now - keep_ms;
  minutes_.erase(minutes_.begin(), minutes_.lower_bound(cut / 60'000));
  start_ = std::max(start_, cut);
}

EpochMs RecentSpend::covered_from() const {
  return (start_ + kBucketMs - 1) / kBucketMs * kBucketMs;
}

void RecentSpend::for_each(
    EpochMs from, const std::function<void(const Dimensions&, EpochMs, int64_t)>& fn) const {
  for (auto it = minutes_.lower_bound(from / 60'000); it != minutes_.end(); ++it)
    for (const auto& [key, entry] : it->second) fn(entry.first, it->first * 60'000, entry.second);
}

}  // namespace tollgate
