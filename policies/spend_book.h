#pragma once
// SpendBook: per budget, the spend of its current period, spend already stamped in later periods
// (events may be stamped up to 5 minutes ahead), open reservations, and spend per minute for
// burn-rate windows. An event counts in the period its timestamp falls in, whether it arrives
// live (add()) or is read back from the rollups at a rebuild (the same add()), so the live and
// the rebuilt book agree. Sums saturate (policies/checked.h), never wrap.
//
// Not thread-safe: PolicyEngine guards it with its mutex, or owns it alone while staging.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "metering/time_util.h"
#include "metering/time_zone.h"
#include "policies/policy.h"

namespace tollgate {

struct BudgetSpend {
  EpochMs period_start = 0, period_end = 0;
  int64_t spend = 0;                      // nanos stamped in [period_start, period_end)
  std::map<EpochMs, int64_t> ahead;       // nanos stamped in later periods, by period start
  int64_t reserved = 0;                   // nanos of open reservations
  std::map<int64_t, int64_t> per_minute;  // minute (epoch ms / 60000) → nanos, recent only
  // Spend checkpoints (records.h): the minutes changed since the last one; whether the stored
  // minutes are this book's (false for a budget built anew: all its minutes replace them); and
  // whether the period moved back (a clock stepped back), losing its spend until a rebuild.
  std::set<int64_t> unsaved_minutes;
  bool minutes_stored = false;
  bool rolled_back = false;
  // scope: global: the other instances' spend per burn window (window ms → nanos), shown while
  // the engine judges the budget (never owned here).
  const std::map<int64_t, int64_t>* remote_windows = nullptr;

  // Spend in (now - window, now], from the minute ring.
  int64_t window_sum(EpochMs now, int64_t window_ms) const;
  void add_minute(EpochMs ts, int64_t nanos);
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
  SpendBook() = default;
  // One entry per budget of `set`, periods in `tz`. `*tz` must outlive the book.
  SpendBook(const PolicySet& set, const TimeZone* tz);

  BudgetSpend& at(size_t i) { return budgets_[i]; }
  const BudgetSpend& at(size_t i) const { return budgets_[i]; }
  size_t size() const { return budgets_.size(); }

  // Moves budget i to the period containing `now`; spend already stamped in it is carried over.
  void roll(size_t i, EpochMs now);
  // Counts `nanos` stamped at `ts` in its period: the current one or a later one. False for an
  // event of an earlier period (it belongs to a period that is over).
  bool add(size_t i, EpochMs ts, int64_t nanos);
  // The state budget i would have at `now` (rolled) without changing the book.
  BudgetSpend rolled(size_t i, EpochMs now) const;

  void reserve(const std::string& id, Reservation r);
  // Takes over a reservation whose estimate the budgets' `reserved` already count (a reload).
  void adopt(const std::string& id, Reservation r) { reservations_[id] = std::move(r); }
  // Releases a reservation (settled by its usage event, or expired); false when unknown.
  bool release(const std::string& id);
  // Releases every reservation expired at `now`; returns their ids.
  std::vector<std::string> expire(EpochMs now);
  const Reservation* find(const std::string& id) const;
  const std::unordered_map<std::string, Reservation>& reservations() const { return reservations_; }

 private:
  static void roll(BudgetSpend& s, Period p, const TimeZone& tz, EpochMs now);

  const TimeZone* tz_ = nullptr;
  std::vector<Period> periods_;
  std::vector<BudgetSpend> budgets_;
  std::unordered_map<std::string, Reservation> reservations_;
};

}  // namespace tollgate
