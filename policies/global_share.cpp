#include "policies/global_share.h"

#include <algorithm>

#include "policies/checked.h"

namespace tollgate {

bool within_grant(const BudgetSpend& local, const GlobalShare* share, int64_t extra) {
  if (!share || share->period_start != local.period_start) return false;
  const int64_t used = saturating_add(saturating_add(local.spend, local.reserved), extra);
  // Exactly at the allowance is used up when nothing more asks (extra 0): the next cent is not ours.
  return extra > 0 ? used <= share->allowance : used < share->allowance;
}

int64_t global_spend(const BudgetSpend& local, const GlobalShare* share) {
  if (!share || share->period_start != local.period_start) return local.spend;
  return saturating_add(local.spend, share->remote);
}

int64_t judged_spend(const Budget& b, const BudgetSpend& local, const GlobalShare* share,
                     int64_t extra) {
  const int64_t spend = global_spend(local, share);
  return within_grant(local, share, extra) ? spend : std::max(spend, b.limit.nanos());
}

BudgetSpend global_view(const Budget& b, const BudgetSpend& local, const GlobalShare* share,
                        int64_t extra) {
  BudgetSpend v = local;
  v.spend = judged_spend(b, local, share, extra);
  return v;
}

}  // namespace tollgate
