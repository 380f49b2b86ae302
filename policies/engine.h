#pragma once
// PolicyEngine: budgets' spend and reservations (SpendBook), the evaluator of their rules, and the
// publisher of the ThrottleTable. Admission without an estimate reads the published table without
// locks; everything else takes the engine's one mutex, held for microseconds, never across I/O.
//
// Who calls what: record() runs on the ledger's writer thread right after each commit, so a
// budget reflects every acknowledged event before the client even gets its answer. install()
// must run where no record() can run concurrently (before serving, or on the writer thread).
// admit(), overrides and status() from any thread; the ticker re-evaluates once a second for
// what time alone changes (period rollover, burn windows, expiring reservations and overrides).
// Hooks are called with the mutex held and must only enqueue.

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
#include "policies/policy.h"
#include "policies/records.h"
#include "policies/spend_book.h"
#include "policies/throttle_table.h"

namespace tollgate {

struct AlertEvent {
  std::string key;  // budget|threshold|period_start: fired once
  std::string budget, threshold, text, currency;
  Money spend, limit;
  EpochMs period_start = 0, period_end = 0, fired_at = 0;
};

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
  std::vector<std::pair<Priority, Action>> throttles;      // enforced now
};

class PolicyEngine {
 public:
  struct Hooks {
    std::function<void(const AuditEntry&)> audit;
    std::function<void(const AlertEvent&)> alert;
    // Reservations opened and closed (settled or expired), so they can outlive a restart.
    std::function<void(const StoredReservation&)> reserved;
    std::function<void(const std::string& id)> released;
  };
  PolicyEngine(std::shared_ptr<const TimeZone> tz, std::string currency, Clock clock, Hooks hooks);
  ~PolicyEngine();

  // Budgets that keep name, period and match keep their state; others are rebuilt: period spend
  // from `rollups` (15-minute buckets), burn-rate minutes from `raw` events.
  void install(std::shared_ptr<const PolicySet> set, const SpendScan& rollups,
               const SpendScan& raw);
  // State kept in the ledger across restarts. Reservations name budgets of the installed set:
  // restore them after install(); those whose budgets are all gone are dropped.
  void restore(std::vector<Override> overrides, std::set<std::string> fired_alerts);
  void restore_reservations(const std::vector<StoredReservation>& reservations);

  void record(const std::vector<const UsageEvent*>& accepted);
  // Gives back what is left of an open reservation (its job ended); false when there is none.
  bool cancel_reservation(const std::string& id);
  AdmitDecision admit(const Dimensions& d, std::optional<Money> estimate);
  std::shared_ptr<const ThrottleTable> table() const { return table_.load(); }
  std::shared_ptr<const PolicySet> policies() const;

  Result<Override> add_override(const std::string& budget, int64_t duration_s,
                                const std::string& reason, const std::string& actor);
  bool remove_override(const std::string& id, const std::string& actor);
  std::vector<Override> overrides() const;
  std::vector<BudgetStatus> status() const;

  void tick();
  void start_ticker();
  void stop_ticker();

 private:
  struct RuleState {
    std::vector<size_t> active;       // enforcing rule indices holding now
    std::map<size_t, EpochMs> since;  // when each active rule started
  };
  void roll(size_t i, EpochMs now);
  void release(const std::string& id);  // from the book, and tells the hook
  bool overridden(const std::string& budget, EpochMs now) const;
  double burn_rate(size_t i, EpochMs now, int64_t window_ms) const;
  bool rule_holds(size_t i, const Rule& r, EpochMs now) const;
  std::string reason(size_t i, const Rule& r, EpochMs now) const;
  void fire_alert(size_t i, const Rule& r, EpochMs now);
  // Re-evaluates the budgets; publishes a new table when the throttles changed.
  void evaluate(const std::vector<size_t>& budgets, EpochMs now);
  void evaluate_all(EpochMs now);
  void publish(EpochMs now);
  const std::vector<size_t>& budgets_for(
      const UsageEvent& e, std::string_view key,
      std::map<std::string, std::vector<size_t>, std::less<>>& cache) const;

  std::shared_ptr<const TimeZone> tz_;
  std::string currency_;
  Clock clock_;
  Hooks hooks_;

  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> set_ = std::make_shared<PolicySet>();
  SpendBook book_;
  std::vector<RuleState> rules_;
  std::vector<Override> overrides_;
  std::set<std::string> fired_;
  std::map<std::string, std::shared_ptr<TokenBucket>> buckets_;  // "budget#rule"
  std::atomic<std::shared_ptr<const ThrottleTable>> table_;
  uint64_t generation_ = 0;

  std::thread ticker_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
};

}  // namespace tollgate
