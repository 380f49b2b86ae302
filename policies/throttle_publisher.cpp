#include "policies/throttle_publisher.h"

#include <algorithm>
#include <map>

namespace tollgate {

ThrottlePublisher::ThrottlePublisher() {
  auto t = std::make_shared<ThrottleTable>();
  t->policies = std::make_shared<PolicySet>();
  table_.store(std::move(t));
}

void ThrottlePublisher::rebind(const PolicySet& set) {
  std::map<std::string, std::shared_ptr<TokenBucket>> old;
  for (auto& rules : buckets_)
    for (auto& k : rules)
      if (k.bucket) old.emplace(k.key, k.bucket);
  std::vector<std::vector<Keyed>> fresh(set.budgets.size());
  for (size_t i = 0; i < set.budgets.size(); ++i) {
    const Budget& b = set.budgets[i];
    std::map<std::string, int> seen;  // identical rules of one budget still get a bucket each
    for (const Rule& r : b.rules) {
      Keyed k;
      if (r.action == Action::kLimitRps) {
        const std::string id = r.identity();
        k.key = b.name + "#" + id + "#" + std::to_string(seen[id]++);
        auto it = old.find(k.key);
        k.bucket = it != old.end() ? it->second : std::make_shared<TokenBucket>(r.rps);
      }
      fresh[i].push_back(std::move(k));
    }
  }
  buckets_ = std::move(fresh);
}

void ThrottlePublisher::publish(std::shared_ptr<const PolicySet> set,
                                std::vector<ActiveThrottle> throttles) {
  auto t = std::make_shared<ThrottleTable>();
  t->generation = ++generation_;
  t->dry_run = set->dry_run;
  for (ActiveThrottle& a : throttles)
    if (a.action == Action::kLimitRps) a.bucket = buckets_[a.budget_index][a.rule_index].bucket;
  std::vector<size_t> throttled;
  for (const ActiveThrottle& a : throttles) throttled.push_back(a.budget_index);
  std::sort(throttled.begin(), throttled.end());
  throttled.erase(std::unique(throttled.begin(), throttled.end()), throttled.end());
  t->throttles = std::move(throttles);
  t->policies = std::move(set);
  // Points into the budgets of the set the table holds, so it lives as long as they do.
  t->index.emplace(t->policies->budgets, &throttled);
  table_.store(std::move(t));
}

}  // namespace tollgate
