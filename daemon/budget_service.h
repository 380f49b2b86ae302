#pragma once
// BudgetService: wires the PolicyEngine to the rest of the daemon: the policies file, the ledger
// (spend rebuilt from rollups on the writer thread; audit, overrides and fired alerts persisted
// there), the alert webhooks and the policy metrics. Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/alerts/alert_sender.h"
#include "daemon/config/config.h"
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
  // starts the ticker. Blocks until done; call before serving.
  void start(std::shared_ptr<const PolicySet> policies);
  // Re-reads the policies file and installs it; every error, or empty on success. Blocking.
  std::vector<std::string> reload();
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
  void install(std::shared_ptr<const PolicySet> policies);

  const Config& config_;
  Ledger& ledger_;
  AlertSender alerts_;
  PolicyEngine engine_;
  std::mutex reload_mu_;
  metrics::Family<metrics::Counter>& alerts_total_;
  metrics::Family<metrics::Counter>& decisions_;
  metrics::HandleCache<metrics::Counter> decision_handles_;  // admission is the hottest path
};

}  // namespace tollgate
