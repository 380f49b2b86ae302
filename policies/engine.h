#pragma once
// PolicyEngine: the budget state of one daemon, assembled from small parts: the SpendBook (spend
// per period and reservations), RecentSpend (minutes of recent cost, for reloads), the Evaluator
// (pure rule evaluation), the OverrideSet, the AlertLatch and the ThrottlePublisher (the
// lock-free table admission reads). The engine only routes events to them and diffs what holds.
//
// Thread-safety: one mutex guards the parts, held for microseconds and never across I/O.
// Admission without an estimate reads the published table without it. record() runs on the
// ledger's writer thread right after each commit (a budget reflects every acknowledged event
// before its client is answered). install() must not overlap another install() or a record()
// (run it on the writer thread): it reads the history and builds the new state without the
// mutex, then swaps it in. Everything else from any thread. Hooks are called with the mutex held
// and must only enqueue.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "metering/status.h"
#include "metering/time_util.h"
#include "metering/time_zone.h"
#include "metering/usage_event.h"
#include "policies/alert_latch.h"
#include "policies/budget_index.h"
#include "policies/evaluator.h"
#include "policies/global_share.h"
#include "policies/override_set.h"
#include "policies/policy.h"
#include "policies/recent_spend.h"
#include "policies/records.h"
#include "policies/spend_book.h"
#include "policies/throttle_publisher.h"
#include "policies/throttle_table.h"

namespace tollgate {

struct BudgetStatus {
  std::string name;
  Period period = Period::kDay;
  EpochMs period_start = 0, period_end = 0;
  Money limit, spend, reserved, forecast;
  double utilization = 0;
  std::string state;  // ok | alert | throttling | overridden
  std::vector<std::string> active_rules;
  std::optional<Override> override_;
  std::vector<std::pair<std::string, double>> burn_rates;  // window ("1h") → rate
  std::vector<std::pair<Priority, Action>> throttles;      // enforced now (none in dry run)
  std::vector<std::pair<Priority, Action>> enforceable;    // what the rules could enforce
  // scope: global: spend above is every instance's; these are this instance's part.
  Scope scope = Scope::kLocal;
  Money local_spend, grant;  // grant: how far this instance's spend may go (cumulative)
  bool coordinated = false;  // false: no grant in force, on_coordination_loss applies
};

// A scope: global budget as its coordinator needs it: this instance's own figures.
struct GlobalBudget {
  std::string name;
  Period period = Period::kDay;
  EpochMs period_start = 0, period_end = 0;
  int64_t limit = 0, spend = 0, reserved = 0;
  int64_t last_minute = 0;  // own spend in the last minute, to size grants to the burn rate
  int64_t wanted = 0;       // the largest estimate refused for want of grant since the last one
  std::map<int64_t, int64_t> windows;  // own spend per burn window of the budget: ms → nanos
  CoordinationLoss on_loss = CoordinationLoss::kBlockListed;
};

class PolicyEngine {
 public:
  struct Hooks {
    std::function<void(const AuditEntry&)> audit;
    std::function<void(const AlertEvent&)> alert;
    // Reservations opened and closed (settled or expired), so they can outlive a restart.
    std::function<void(const StoredReservation&)> reserved;
    std::function<void(const std::string& id)> released;
    // After each tick (once a second).
    std::function<void()> ticked;
  };
  PolicyEngine(std::shared_ptr<const TimeZone> tz, std::string currency, Clock clock, Hooks hooks);
  ~PolicyEngine();

  // Installs `set`. Budgets that keep name, period and match keep their state; the others are
  // rebuilt: period spend from `period_history` (rollups), burn-rate windows from RecentSpend and,
  // before it, from `window_history` (15-minute rollups, ts = bucket start). On an error of the
  // history nothing is installed and the running state stays. With `seeds` (a start), a rebuilt
  // budget with a checkpoint of its scope takes its period spend from it and from the events
  // after it (seeds->tail), not from `period_history`; seeds->used and tail_events tell how many.
  // A kept budget whose longest burn window grew keeps its minutes and reads the older ones
  // from `window_history` (before RecentSpend's).
  Status install(std::shared_ptr<const PolicySet> set, const SpendScan& period_history,
                 const SpendScan& window_history, SpendSeeds* seeds = nullptr);
  // Every budget's period spend now, with the scope it is counted under (through the last rowid
  // committed: the caller, on the ledger's writer thread where commits are recorded, knows it),
  // and the minutes
  // of its burn history changed since the last call (every minute with `all_minutes`).
  std::vector<SpendCheckpoint> spend_checkpoints(bool all_minutes);
  // State kept in the ledger across restarts. Reservations name budgets of the installed set:
  // restore them after install(); those whose budgets are all gone are dropped.
  void restore(std::vector<Override> overrides, std::set<std::string> fired_alerts);
  void restore_reservations(const std::vector<StoredReservation>& reservations);

  void record(const std::vector<const UsageEvent*>& accepted);
  // Gives back what is left of an open reservation (its job ended); false when there is none.
  bool cancel_reservation(const std::string& id);
  AdmitDecision admit(const Dimensions& d, std::optional<Money> estimate);
  std::shared_ptr<const ThrottleTable> table() const { return publisher_.table(); }
  std::shared_ptr<const PolicySet> policies() const;

  Result<Override> add_override(const std::string& budget, int64_t duration_s,
                                const std::string& reason, const std::string& actor);
  bool remove_override(const std::string& id, const std::string& actor);
  std::vector<Override> overrides() const;
  std::vector<BudgetStatus> status() const;
  // Events that carried a reservation id whose reservation is on budgets they do not match: they
  // were counted as usual and left the reservation open.
  uint64_t reservation_mismatches() const { return mismatches_.load(); }
  // Reservations open now (limits.max_open_reservations bounds them).
  size_t open_reservations() const;
  // The minute-precise burn history a reload rebuilds from (RecentSpend): its bound
  // (limits.max_burn_history_entries), and how often the bound dropped minutes early.
  void set_burn_history_limit(size_t entries);
  uint64_t burn_history_sheds() const;

  // scope: global budgets: this instance's spend for the coordinator, and what it learned back
  // (the others' spend and this instance's grant), applied at once.
  std::vector<GlobalBudget> global_budgets() const;
  void set_share(const std::string& budget, const GlobalShare& share);

  void tick();
  void start_ticker();
  void stop_ticker();

 private:
  struct RuleState {
    std::vector<size_t> active;       // enforcing rule indices holding now
    std::map<size_t, EpochMs> since;  // when each active rule started
  };
  struct Staged;
  void swap_in(Staged& staged, EpochMs now);
  void release(const std::string& id);  // from the book, and tells the hook
  bool settles(const Reservation& r, const std::vector<size_t>& event_budgets) const;
  // Re-evaluates the budgets; publishes a new table when the throttles changed.
  void evaluate(const std::vector<size_t>& budgets, EpochMs now);
  void evaluate_all(EpochMs now);
  void publish(EpochMs now);
  std::vector<size_t> matching(const Dimensions& d) const;
  const GlobalShare* share_of(size_t i) const;
  // The spend budget i's rules are judged on: its own for scope: local; for scope: global every
  // instance's, raised to the limit once this instance's grant is used up (global_share.h).
  int64_t judged_spend_of(size_t i, int64_t extra = 0) const;
  // The spend alerts and status tell of: every instance's for scope: global.
  int64_t seen_spend_of(size_t i) const;

  std::shared_ptr<const TimeZone> tz_;
  std::string currency_;
  Clock clock_;
  Hooks hooks_;
  const Evaluator evaluator_;
  ThrottlePublisher publisher_;
  std::atomic<uint64_t> mismatches_{0};

  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> set_ = std::make_shared<PolicySet>();
  BudgetIndex index_;  // over set_'s budgets: which match an event or a request
  SpendBook book_;
  std::vector<std::string> scopes_;  // per budget of set_: what its spend is counted under
  RecentSpend recent_;
  std::vector<RuleState> rules_;
  OverrideSet overrides_;
  AlertLatch alerts_;
  std::map<std::string, GlobalShare, std::less<>> shares_;  // by budget name (reloads keep them)
  std::map<std::string, int64_t, std::less<>> wanted_;      // GlobalBudget::wanted, by name

  std::thread ticker_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
};

}  // namespace tollgate
