#pragma once
// Coordinator: keeps this instance's scope: global budgets in step with the other instances
// through etcd, so that together they never spend more than a budget's limit.
//
// Under <prefix>: instances/<instance> (on this instance's lease) claims the instance name: a
// second live process with the same name is refused instead of sharing its keys. For each global
// budget, period kind and period, under <prefix>budgets/<name>/<period>/<start ms>/:
//   spent/<instance>  this instance's committed spend (nanos), no lease: it outlives the instance;
//   grant/<instance>  how far this instance's own spend may go (nanos), on its lease: when the
//                     instance dies its unspent grant returns after the lease TTL;
//   limit/<instance>  the limit this instance has configured, on its lease: the smallest live one
//                     is the limit every grant is taken against (a policies rollout never adds up);
//   windows/<instance> its spend per burn window of the budget, on its lease: burn rates are
//                     global too (the engine adds the others' to its own);
//   seq               touched by every grant change, the guard that serialises them.
// Every sync interval the coordinator publishes its spend, reads the others' spend, grants and
// limits, and when less than half a slice of its grant is left (counting reservations and an
// estimate refused for want of grant) takes a new slice of the headroom (limit − what every other
// holder holds, max(grant, spent) each) in a transaction guarded on `seq`: the grants never add up
// to more than the limit. A slice follows the instance's burn rate (10 s of its last minute's
// spend), at least 1% and at most grant_max_percent of the limit, and never more than the
// headroom divided among the live instances. The engine is told at once (set_share); admission
// never waits on etcd.
//
// The lease is renewed on a steady clock; a lease found expired (a round too slow, a pause) drops
// the grant at once. etcd unreachable or failing: what is left of the current grant stays this
// instance's to spend; once a lease TTL has passed since the last successful round the budget is
// uncoordinated (metric, log, /v1/budgets) and, its grant used up, follows on_coordination_loss,
// until a round succeeds again. Worst case overshoot: the grants left unspent by instances cut
// off from etcd (each less than 1.5 slices: at most 1.5 × grant_max_percent of the limit, or the
// largest estimate refused for want of grant), plus for local_share, limit ÷ expected_instances
// per instance cut off. A clean stop revokes the lease (grants and name return at once).
//
// Thread-safety: start() and stop() from one thread; the work runs on a thread of its own.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/config/config.h"
#include "daemon/coordination/etcd_client.h"
#include "metrics/registry.h"
#include "policies/engine.h"

namespace tollgate {

class Coordinator {
 public:
  // `config`, `engine` and `registry` must outlive the coordinator.
  Coordinator(const Config& config, PolicyEngine& engine, metrics::Registry& registry);
  ~Coordinator();

  void start();
  void stop();

 private:
  using Steady = std::chrono::steady_clock;
  struct Known {  // per budget, what the last sync learned
    Period period = Period::kDay;
    EpochMs period_start = 0;
    int64_t remote = 0;
    int64_t grant = 0;
  };
  void run();
  // One round over every global budget; an error when etcd could not be reached or refused.
  Status sync();
  Status ensure_lease();
  Status sync_budget(const GlobalBudget& g);
  std::string base_of(const std::string& name, Period period, EpochMs start) const;
  void tell(const GlobalBudget& g, const GlobalShare& share);
  void degrade();

  const Config& config_;
  PolicyEngine& engine_;
  EtcdClient etcd_;
  int64_t lease_ = 0;
  bool claimed_ = false;            // instances/<me> is ours, on lease_
  Steady::time_point lease_renewed_;  // when etcd last confirmed the lease
  Steady::time_point last_ok_;        // the last round that succeeded
  std::map<std::string, Known> known_;
  bool failing_ = false;   // the last round failed (logged once per outage and cause)
  std::string last_error_;
  bool degraded_ = false;  // failing for a lease TTL: on_coordination_loss applies

  metrics::Gauge* up_;
  metrics::Counter* errors_;
  metrics::Counter* grants_taken_;
  metrics::Family<metrics::Gauge>& grant_gauge_;
  metrics::Family<metrics::Gauge>& coordinated_gauge_;

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace tollgate
