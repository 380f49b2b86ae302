#pragma once
// SpendBook: spend and open reservations per budget for the budget's current period, plus spend
// per minute for burn-rate windows. Not thread-safe: PolicyEngine guards it with its mutex.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "metering/time_util.h"

namespace tollgate {

struct BudgetSpend {
  EpochMs period_start = 0, period_end = 0;
  int64_t spend = 0;                      // nanos committed in [period_start, period_end)
  int64_t reserved = 0;                   // nanos of open reservations
  std::map<int64_t, int64_t> per_minute;  // minute (epoch ms / 60000) → nanos, recent only

  // Spend in (now - window, now], from the minute ring.
  int64_t window_sum(EpochMs now, int64_t window_ms) const;
  // Drops minutes older than keep_ms before now.
  void trim(EpochMs now, int64_t keep_ms);
};

struct Reservation {
  std::vector<size_t> budgets;  // indices into the policy set in force when reserved
  int64_t estimate = 0;
  EpochMs expires = 0;
};

class SpendBook {
 public:
  explicit SpendBook(size_t budgets = 0) : budgets_(budgets) {}
  BudgetSpend& at(size_t i) { return budgets_[i]; }
  const BudgetSpend& at(size_t i) const { return budgets_[i]; }
  size_t size() const { return budgets_.size(); }
  std::vector<BudgetSpend>& all() { return budgets_; }

  void reserve(const std::string& id, Reservation r);
  // Releases a reservation (settled by its usage event, or expired); false when unknown.
  bool release(const std::string& id);
  // Releases every reservation expired at `now`; returns their ids.
  std::vector<std::string> expire(EpochMs now);
  std::unordered_map<std::string, Reservation>& reservations() { return reservations_; }

 private:
  std::vector<BudgetSpend> budgets_;
  std::unordered_map<std::string, Reservation> reservations_;
};

}  // namespace tollgate
