#include "policies/throttle_table.h"

#include <algorithm>

namespace tollgate {

bool TokenBucket::try_take(EpochMs now) {
  std::lock_guard lock(mu_);
  const double capacity = std::max(1.0, rps_);
  if (last_ != 0 && now > last_)
    tokens_ = std::min(capacity, tokens_ + (now - last_) * rps_ / 1000.0);
  if (now > last_) last_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void TokenBucket::set_rate(double rps) {
  std::lock_guard lock(mu_);
  rps_ = rps;
}

std::string_view to_string(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "allow";
    case Decision::kReroute:
      return "reroute";
    case Decision::kThrottle:
      return "throttle";
  }
  return "allow";
}

AdmitDecision ThrottleTable::decide(const Dimensions& d, EpochMs now) const {
  AdmitDecision out;
  if (throttles.empty()) return out;
  const unsigned bit = priority_bit(d.priority);
  std::vector<const ActiveThrottle*> applicable;
  if (index) {
    const std::vector<size_t> matched = index->matching(d);  // ascending
    if (matched.empty()) return out;
    for (const ActiveThrottle& t : throttles)
      if ((t.priorities & bit) &&
          std::binary_search(matched.begin(), matched.end(), t.budget_index))
        applicable.push_back(&t);
  } else {
    for (const ActiveThrottle& t : throttles)
      if ((t.priorities & bit) && policies->budgets[t.budget_index].matches(d))
        applicable.push_back(&t);
  }
  std::stable_sort(applicable.begin(), applicable.end(),
                   [](auto* a, auto* b) { return strictness(a->action) > strictness(b->action); });
  for (const ActiveThrottle* t : applicable) {
    if (t->action == Action::kBlock) {
      out.decision = Decision::kThrottle;
      out.retry_after_s = std::max<int64_t>(1, (t->period_end - now + 999) / 1000);
    } else if (t->action == Action::kLimitRps) {
      if (t->bucket->try_take(now)) continue;  // within the rate: look at milder rules
      out.decision = Decision::kThrottle;
      out.retry_after_s = 1;
    } else if (t->action == Action::kReroute) {
      out.decision = Decision::kReroute;
      out.model = t->model;
    } else {
      continue;
    }
    out.budget = t->budget;
    out.action = std::string(to_string(t->action));
    out.reason = t->reason;
    break;
  }
  if (dry_run && out.decision != Decision::kAllow) out.dry_run = true;
  return out;
}

}  // namespace tollgate
