#pragma once
// BudgetService: wires the PolicyEngine to the rest of the daemon: the policies file, the ledger
// (spend rebuilt from rollups on the writer thread; audit, overrides, fired alerts and open
// reservations persisted there), the alert webhooks and the policy metrics, including the
// counters of its degraded modes. Thread-safe.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/alerts/alert_sender.h"
#include "daemon/config/config.h"
#include "daemon/reservation_journal.h"
#include "metrics/handle_cache.h"
#include "metrics/registry.h"
#include "policies/engine.h"
#include "storage/ledger.h"

namespace tollgate {

class BudgetService {
 public:
  // `config`, `ledger` and `registry` must outlive the service.
  BudgetService(const Config& config, Ledger& ledger, metrics::Registry& registry,
                Clock clock = system_now_ms);
  ~BudgetService();

  // Installs the policies (spend rebuilt from the ledger), restores overrides and fired alerts,
  // starts the ticker. Blocks until done; call before serving. When the spend cannot be rebuilt
  // the daemon still serves, but unready_reason() says why until a reload rebuilds it.
  void start(std::shared_ptr<const PolicySet> policies);
  // Re-reads the policies file and installs it; every error, or empty on success. Blocking. A
  // failed rebuild is an error too, and the running policies stay.
  std::vector<std::string> reload();
  // The policies file, read and validated once (errors in `errors`), for a reload that checks
  // every file before it changes anything; then install_policies() puts it in force (an error
  // when the spend cannot be rebuilt, and the running policies stay).
  std::shared_ptr<const PolicySet> read_policies(LoadErrors& errors) const;
  std::vector<std::string> install_policies(std::shared_ptr<const PolicySet> set);
  // Why budget state cannot be trusted (a failed spend rebuild); empty when it can.
  std::string unready_reason() const;
  // Stops the ticker and writes the reservations still in the journal; call before the ledger
  // stops, so a clean shutdown keeps every open reservation.
  void stop();
  // Checks the policies file without installing it.
  std::vector<std::string> check() const;

  PolicyEngine& engine() { return engine_; }

  // Creates an override and answers once it is committed to the ledger (201), or with the error.
  void create_override(const std::string& budget, int64_t duration_s, const std::string& reason,
                       const std::string& actor, std::function<void(Result<Override>)> done);
  // Ends an override; done(false) when unknown.
  void delete_override(const std::string& id, const std::string& actor,
                       std::function<void(Result<bool>)> done);

  void count_decision(const std::string& feature, Priority p, Decision d);

 private:
  // `at_start`: budgets may start from their spend checkpoints.
  Status install(std::shared_ptr<const PolicySet> policies, bool at_start = false);
  void add_collector(metrics::Registry& registry);
  void flush_journal(sqlite3* db);
  // Writes the checkpoints of the budgets whose spend changed since the last (on the writer).
  void checkpoint_spend(sqlite3* db);

  const Config& config_;
  Ledger& ledger_;
  AlertSender alerts_;
  PolicyEngine engine_;
  ReservationJournal journal_;
  std::mutex reload_mu_;
  mutable std::mutex unready_mu_;
  std::string unready_;
  metrics::Counter* rebuild_failures_;
  metrics::Counter* audit_failures_;
  metrics::Counter* journal_failures_;
  metrics::Counter* checkpoint_failures_;
  // The checkpoints as last written, by budget: only the writer thread touches them.
  std::map<std::string, SpendCheckpoint> checkpoints_;  // their minutes left out
  bool resend_all_minutes_ = false;  // a write failed: the next writes every minute
  int64_t through_written_ = -1;      // the rowid the stored checkpoints count through
  std::chrono::steady_clock::time_point last_checkpoint_{};  // the ticker's thread only
  metrics::Family<metrics::Counter>& alerts_total_;
  metrics::Family<metrics::Counter>& decisions_;
  metrics::HandleCache<metrics::Counter> decision_handles_;  // admission is the hottest path
};

}  // namespace tollgate
