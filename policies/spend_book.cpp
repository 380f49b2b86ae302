#include "policies/spend_book.h"

namespace tollgate {

int64_t BudgetSpend::window_sum(EpochMs now, int64_t window_ms) const {
  const int64_t first_minute = (now - window_ms) / 60'000 + 1;
  int64_t sum = 0;
  for (auto it = per_minute.lower_bound(first_minute); it != per_minute.end(); ++it)
    sum += it->second;
  return sum;
}

void BudgetSpend::trim(EpochMs now, int64_t keep_ms) {
  per_minute.erase(per_minute.begin(), per_minute.lower_bound((now - keep_ms) / 60'000));
}

void SpendBook::reserve(const std::string& id, Reservation r) {
  for (size_t b : r.budgets) budgets_[b].reserved += r.estimate;
  reservations_[id] = std::move(r);
}

bool SpendBook::release(const std::string& id) {
  auto it = reservations_.find(id);
  if (it == reservations_.end()) return false;
  for (size_t b : it->second.budgets)
    if (b < budgets_.size()) budgets_[b].reserved -= it->second.estimate;
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

}  // namespace tollgate
