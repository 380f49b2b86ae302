#pragma once
// GlobalShare: what one instance knows of a scope: global budget beyond its own spend (the other
// instances' committed spend, and the grant it holds: how far its own spend may go), and
// global_view(), the budget state the rules of such a budget are judged on.
//
// The coordination store (etcd) guarantees that the grants of all instances never add up to more
// than the limit, so an instance that stays within its grant can never overrun the budget
// globally. Hence: thresholds below 100% see the global spend (others' + ours), and once our own
// spend and reservations reach the grant, the budget is judged as spent (every rule at 100% or
// less holds) until a larger grant arrives. Plain data and a pure function: no thread-safety
// concerns of its own.

#include <cstdint>
#include <map>

#include "metering/time_util.h"
#include "policies/policy.h"
#include "policies/spend_book.h"

namespace tollgate {

struct GlobalShare {
  EpochMs period_start = 0;  // the period these figures are for
  int64_t remote = 0;        // committed spend of the other instances in it, nanos
  int64_t allowance = 0;     // this instance's own spend may reach this, nanos (cumulative)
  bool coordinated = false;  // false: the grant lapsed or was never had (on_coordination_loss)
  std::map<int64_t, int64_t> remote_windows;  // the others' spend per burn window: ms → nanos
};

// Every instance's spend: ours plus the others' of the share's period (ours alone without one).
int64_t global_spend(const BudgetSpend& local, const GlobalShare* share);
// The spend the rules are judged on: global_spend(), raised to the limit when our own spend,
// reservations and `extra` do not fit in the grant.
int64_t judged_spend(const Budget& b, const BudgetSpend& local, const GlobalShare* share,
                     int64_t extra = 0);

// `share` null, or of another period: nothing may be spent (the budget is judged spent for this
// instance until its coordinator brings a grant). `extra`: an estimate asking to fit.
BudgetSpend global_view(const Budget& b, const BudgetSpend& local, const GlobalShare* share,
                        int64_t extra = 0);

// Whether our own spend, reservations and `extra` fit within the share's allowance.
bool within_grant(const BudgetSpend& local, const GlobalShare* share, int64_t extra = 0);

}  // namespace tollgate
