#pragma once
// ThrottlePublisher: builds each immutable ThrottleTable and publishes it by pointer swap,
// so admission reads throttles without a lock. Owns the token buckets of limit_rps rules, keyed
// by the rule's identity (Rule::identity(): action, threshold, rate, priorities): two rules of
// one budget never share a bucket, and a reload that keeps a rule keeps its bucket.
//
// Thread-safety: table() from any thread (a copy of a shared_ptr under a mutex held for the
// reference count only, see metering/shared_slot.h). rebind() and publish() from one thread at a
// time (PolicyEngine calls them under its mutex).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metering/shared_slot.h"
#include "policies/policy.h"
#include "policies/throttle_table.h"

namespace tollgate {

class ThrottlePublisher {
 public:
  ThrottlePublisher();

  std::shared_ptr<const ThrottleTable> table() const { return table_.load(); }
  // Gives every limit_rps rule of `set` its bucket: the one it had when a rule of the same budget
  // had the same identity, else a new one.
  void rebind(const PolicySet& set);
  // Publishes `throttles` (budget and rule indices into `set`) as the next generation.
  void publish(std::shared_ptr<const PolicySet> set, std::vector<ActiveThrottle> throttles);

 private:
  struct Keyed {
    std::string key;
    std::shared_ptr<TokenBucket> bucket;
  };
  std::vector<std::vector<Keyed>> buckets_;  // [budget][rule]; null bucket for other actions
  SharedSlot<const ThrottleTable> table_;
  uint64_t generation_ = 0;
};

}  // namespace tollgate
