#include "policies/spend_book.h"

#include <algorithm>

#include "policies/checked.h"

namespace tollgate {

int64_t BudgetSpend::window_sum(EpochMs now, int64_t window_ms) const {
  const int64_t first_minute = (now - window_ms) / 60'000 + 1;
  int64_t sum = 0;
  for (auto it = per_minute.lower_bound(first_minute); it != per_minute.end(); ++it)
    sum = saturating_add(sum, it->second);
  if (remote_windows)
    if (auto it = remote_windows->find(window_ms); it != remote_windows->end())
      sum = saturating_add(sum, it->second);
  return sum;
}

void BudgetSpend::add_minute(EpochMs ts, int64_t nanos) {
  int64_t& m = per_minute[ts / 60'000];
  m = saturating_add(m, nanos);
  unsaved_minutes.insert(ts / 60'000);
}

void BudgetSpend::trim(EpochMs now, int64_t keep_ms) {
  per_minute.erase(per_minute.begin(), per_minute.lower_bound((now - keep_ms) / 60'000));
  unsaved_minutes.erase(unsaved_minutes.begin(),
                        unsaved_minutes.lower_bound((now - keep_ms) / 60'000));
}

SpendBook::SpendBook(const PolicySet& set, const TimeZone* tz)
    : tz_(tz), budgets_(set.budgets.size()) {
  for (const Budget& b : set.budgets) periods_.push_back(b.period);
}

void SpendBook::roll(BudgetSpend& s, Period p, const TimeZone& tz, EpochMs now) {
  if (s.period_start != 0 && now >= s.period_start && now < s.period_end) return;
  auto [start, end] = period_bounds(p, tz, now);
  if (s.period_start != 0 && start < s.period_start) s.rolled_back = true;
  if (start != s.period_start) {
    // A new period starts with what was already stamped in it, and nothing older.
    auto it = s.ahead.find(start);
    s.spend = it != s.ahead.end() ? it->second : 0;
    s.ahead.erase(s.ahead.begin(), s.ahead.upper_bound(start));
  }
  s.period_start = start;
  s.period_end = end;
}

void SpendBook::roll(size_t i, EpochMs now) { roll(budgets_[i], periods_[i], *tz_, now); }

BudgetSpend SpendBook::rolled(size_t i, EpochMs now) const {
  BudgetSpend s = budgets_[i];
  roll(s, periods_[i], *tz_, now);
  return s;
}

bool SpendBook::add(size_t i, EpochMs ts, int64_t nanos) {
  BudgetSpend& s = budgets_[i];
  if (ts < s.period_start) return false;
  if (ts < s.period_end) {
    s.spend = saturating_add(s.spend, nanos);
  } else {
    int64_t& later = s.ahead[period_bounds(periods_[i], *tz_, ts).first];
    later = saturating_add(later, nanos);
  }
  return true;
}

void SpendBook::reserve(const std::string& id, Reservation r) {
  for (size_t b : r.budgets)
    budgets_[b].reserved = saturating_add(budgets_[b].reserved, r.estimate);
  reservations_[id] = std::move(r);
}

bool SpendBook::release(const std::string& id) {
  auto it = reservations_.find(id);
  if (it == reservations_.end()) return false;
  for (size_t b : it->second.budgets)
    if (b < budgets_.size())
      budgets_[b].reserved =
          std::max<int64_t>(0, saturating_sub(budgets_[b].reserved, it->second.estimate));
  reservations_.erase(it);
  return true;
}

std::vector<std::string> SpendBook::expire(EpochMs now) {
  std::vector<std::string> expired;
  for (const auto& [id, r] : reservations_)
    if (r.expires <= now) expired.push_back(id);
  for (const auto& id : expired) release(id);
  return expired;
}

const Reservation* SpendBook::find(const std::string& id) const {
  auto it = reservations_.find(id);
  return it == reservations_.end() ? nullptr : &it->second;
}

}  // namespace tollgate
