#pragma once
// ThrottleTable: the immutable snapshot of every throttle in force, published by PolicyEngine
// through an atomic shared_ptr swap and read by admission without locks or SQLite. Token buckets
// are the one mutable part: shared between generations, each with its own small lock.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policies/budget_index.h"
#include "policies/policy.h"

namespace tollgate {

class TokenBucket {
 public:
  explicit TokenBucket(double rps) : rps_(rps), tokens_(rps) {}
  // Takes one token if one is available at `now`.
  bool try_take(EpochMs now);
  void set_rate(double rps);

 private:
  std::mutex mu_;
  double rps_;
  double tokens_;  // capacity: one second's worth (at least 1)
  EpochMs last_ = 0;
};

struct ActiveThrottle {
  size_t budget_index = 0;
  size_t rule_index = 0;
  std::string budget;
  Action action = Action::kBlock;
  unsigned priorities = 0;
  double rps = 0;
  std::string model;
  EpochMs since = 0;
  EpochMs period_end = 0;
  std::string reason;
  std::shared_ptr<TokenBucket> bucket;  // limit_rps only
};

enum class Decision { kAllow, kReroute, kThrottle };
std::string_view to_string(Decision d);

struct AdmitDecision {
  Decision decision = Decision::kAllow;
  std::string budget, action, reason, model, reservation_id;
  int64_t retry_after_s = 0;
  bool dry_run = false;  // a throttle or reroute was computed but not enforced
};

struct ThrottleTable {
  uint64_t generation = 0;
  std::shared_ptr<const PolicySet> policies;  // keeps the budgets the throttles point into
  std::vector<ActiveThrottle> throttles;
  // The throttled budgets, indexed (ThrottlePublisher builds it): a request is tested against
  // the few filed under its values, not every throttle's budget. Without it, each is tested.
  std::optional<BudgetIndex> index;
  bool dry_run = false;

  // The decision for a request, strictest applicable throttle first (block > limit_rps >
  // reroute). Takes limit_rps tokens. Thread-safe.
  AdmitDecision decide(const Dimensions& d, EpochMs now) const;
};

}  // namespace tollgate
