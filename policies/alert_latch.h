#pragma once
// AlertLatch: alerts fire once per budget, threshold and period, also across restarts (the keys
// already fired are restored from the ledger). Composes the alert's text.
//
// Not thread-safe: PolicyEngine guards it with its mutex.

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "metering/money.h"
#include "metering/time_zone.h"
#include "policies/policy.h"
#include "policies/spend_book.h"

namespace tollgate {

struct AlertEvent {
  std::string key;  // budget|threshold|period_start: fired once
  std::string budget, threshold, text, currency;
  Money spend, limit;
  EpochMs period_start = 0, period_end = 0, fired_at = 0;
};

class AlertLatch {
 public:
  AlertLatch(std::shared_ptr<const TimeZone> tz, std::string currency);

  void restore(const std::set<std::string>& fired) { fired_.insert(fired.begin(), fired.end()); }
  // The alert of rule `r` (which holds), the first time for its budget, threshold and period.
  std::optional<AlertEvent> fire(const Budget& b, const Rule& r, const BudgetSpend& s, EpochMs now);

 private:
  std::shared_ptr<const TimeZone> tz_;
  std::string currency_;
  std::set<std::string> fired_;
};

}  // namespace tollgate
