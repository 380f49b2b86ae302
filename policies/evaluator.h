#pragma once
// Evaluator: a budget's rules judged against its state: which enforcing rules hold, which alerts
// hold, burn rates, the forecast, whether an estimate still fits under the block thresholds, and
// the human reasons. State in, decisions out: no clock of its own, no memory between calls.
//
// Thread-safety: const and stateless after construction; callable from any thread.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metering/money.h"
#include "policies/policy.h"
#include "policies/spend_book.h"
#include "policies/throttle_table.h"

namespace tollgate {

class Evaluator {
 public:
  explicit Evaluator(std::string currency);

  struct Outcome {
    std::vector<size_t> enforced;  // indices of enforcing rules that hold (none while suspended)
    std::vector<size_t> alerts;    // indices of alert rules that hold
  };
  Outcome evaluate(const Budget& b, const BudgetSpend& s, bool suspended, EpochMs now) const;
  bool holds(const Budget& b, const Rule& r, const BudgetSpend& s, EpochMs now) const;

  // Window spend ÷ the spend that would exactly exhaust the limit over the period.
  double burn_rate(const Budget& b, const BudgetSpend& s, EpochMs now, int64_t window_ms) const;
  // The standard windows and those of the budget's rules, each once.
  std::vector<std::pair<std::string, double>> burn_rates(const Budget& b, const BudgetSpend& s,
                                                         EpochMs now) const;
  // Spend projected linearly to the period end.
  Money forecast(const BudgetSpend& s, EpochMs now) const;

  // The throttle for a request of priority `p` whose `estimate` would take the budget past a
  // block threshold listing `p`; nullopt when it fits.
  std::optional<AdmitDecision> refuse_estimate(const Budget& b, const BudgetSpend& s, Priority p,
                                               Money estimate, EpochMs now) const;

  // "budget X is at N% of …; batch requests are blocked until …".
  std::string reason(const Budget& b, const Rule& r, const BudgetSpend& s, EpochMs now) const;

 private:
  std::string state_text(const Budget& b, const Rule& r, const BudgetSpend& s, EpochMs now) const;

  std::string currency_;
};

// "critical and batch".
std::string priorities_text(unsigned mask);

}  // namespace tollgate
