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

BudgetSpend global_view(const Budget& b, const BudgetSpend& local, const GlobalShare* share,
                        int64_t extra) {
  BudgetSpend v = local;
  const bool current = share && share->period_start == local.period_start;
  if (current) v.spend = saturating_add(local.spend, share->remote);
  if (!within_grant(local, share, extra)) v.spend = std::max(v.spend, b.limit.nanos());
  return v;
}

}  // namespace tollgate
