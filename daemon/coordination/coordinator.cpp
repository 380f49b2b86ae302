#include "daemon/coordination/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "policies/checked.h"

namespace tollgate {

namespace {

constexpr int kEtcdTimeoutMs = 1000;

int64_t parse_nanos(const std::string& s) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() || v < 0 ? 0 : v;  // keys only this program writes
}

}  // namespace

Coordinator::Coordinator(const Config& config, PolicyEngine& engine, metrics::Registry& registry)
    : config_(config),
      engine_(engine),
      etcd_(config.coordination.endpoints, kEtcdTimeoutMs),
      up_(registry
              .gauge("tollgate_coordination_up",
                     "Whether the last exchange with etcd for global budgets succeeded.")
              .with({})),
      errors_(registry
                  .counter("tollgate_coordination_errors_total",
                           "Exchanges with etcd for global budgets that failed.")
                  .with({})),
      grants_taken_(registry
                        .counter("tollgate_coordination_grants_total",
                                 "Slices of global budgets this instance took from etcd.")
                        .with({})),
      grant_gauge_(registry.gauge(
          "tollgate_budget_grant",
          "scope: global budgets: how far this instance's own spend may go this period.",
          {"budget", "currency"})),
      coordinated_gauge_(registry.gauge(
          "tollgate_budget_coordinated",
          "scope: global budgets: 1 while a grant from etcd is in force, 0 while "
          "on_coordination_loss applies.",
          {"budget"})) {}

Coordinator::~Coordinator() { stop(); }

void Coordinator::start() {
  thread_ = std::thread([this] { run(); });
}

void Coordinator::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Coordinator::run() {
  const auto every = std::chrono::milliseconds(config_.coordination.sync_interval_ms);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    const EpochMs now = system_now_ms();
    const bool ok = sync(now);
    up_->set(ok ? 1 : 0);
    if (!ok) {
      errors_->inc();
      if (lease_renewed_ == 0 || now - lease_renewed_ >= config_.coordination.lease_ttl_s * 1000)
        degrade(now);
    }
    lock.lock();
    cv_.wait_for(lock, every, [this] { return stop_; });
  }
}

Status Coordinator::ensure_lease(EpochMs now) {
  const int ttl = config_.coordination.lease_ttl_s;
  if (lease_ != 0 && now - lease_renewed_ < ttl * 1000 / 3) return {};
  if (lease_ != 0) {
    auto left = etcd_.keep_alive(lease_);
    if (!left.ok()) return left.status();
    if (left.value() > 0) {
      lease_renewed_ = now;
      return {};
    }
    spdlog::warn("coordination: lease {:x} expired in etcd; this instance's grants lapsed", lease_);
    lease_ = 0;
    for (auto& [name, k] : known_) k.grant = 0;
  }
  auto lease = etcd_.grant_lease(ttl);
  if (!lease.ok()) return lease.status();
  lease_ = lease.value();
  lease_renewed_ = now;
  return {};
}

bool Coordinator::sync(EpochMs now) {
  const std::vector<GlobalBudget> budgets = engine_.global_budgets();
  if (budgets.empty()) return true;
  Status s = ensure_lease(now);
  for (size_t i = 0; s.ok() && i < budgets.size(); ++i) s = sync_budget(budgets[i]);
  if (!s.ok()) {
    if (!failing_)  // once per outage, not once per round
      spdlog::warn("coordination: etcd: {}; global budgets keep their grants for now",
                   s.message());
    failing_ = true;
    return false;
  }
  if (failing_) spdlog::info("coordination: etcd answers again at {}", etcd_.endpoint());
  failing_ = degraded_ = false;
  return true;
}

Status Coordinator::sync_budget(const GlobalBudget& g) {
  const auto& c = config_.coordination;
  const std::string base =
      c.prefix + "budgets/" + g.name + "/" + std::to_string(g.period_start) + "/";
  const std::string me = c.instance, seq_key = base + "seq", spent_key = base + "spent/" + me,
                    grant_key = base + "grant/" + me;
  // Up to three rounds: a guarded grant that lost a race is retried on fresh figures.
  for (int round = 0; round < 3; ++round) {
    auto kvs = etcd_.range_prefix(base);
    if (!kvs.ok()) return kvs.status();
    int64_t seq_mod = 0, published = -1, my_grant = 0, remote = 0;
    std::map<std::string, std::pair<int64_t, int64_t>> others;  // instance → (spent, grant)
    int live_others = 0;
    for (const EtcdKv& kv : kvs.value()) {
      const std::string rest = kv.key.substr(base.size());
      if (rest == "seq") {
        seq_mod = kv.mod_revision;
      } else if (rest.rfind("spent/", 0) == 0) {
        const std::string who = rest.substr(6);
        if (who == me)
          published = parse_nanos(kv.value);
        else
          others[who].first = parse_nanos(kv.value);
      } else if (rest.rfind("grant/", 0) == 0) {
        const std::string who = rest.substr(6);
        if (who == me) {
          if (kv.lease == lease_) my_grant = parse_nanos(kv.value);  // else: an old lease's
        } else {
          others[who].second = parse_nanos(kv.value);
          ++live_others;
        }
      }
    }
    int64_t others_hold = 0;
    for (const auto& [who, sg] : others) {
      remote = saturating_add(remote, sg.first);
      others_hold = saturating_add(others_hold, std::max(sg.first, sg.second));
    }
    const int64_t need = saturating_add(g.spend, g.reserved);
    const int64_t cap = std::max<int64_t>(1, g.limit / 100 * c.grant_max_percent);
    const int64_t slice =
        std::clamp<int64_t>(g.last_minute / 6, std::min(cap, std::max<int64_t>(1, g.limit / 100)), cap);
    std::vector<EtcdPut> puts;
    if (published != g.spend) puts.push_back({spent_key, std::to_string(g.spend), 0});
    bool granted = false;
    if (my_grant - need < slice / 2) {
      const int64_t mine = std::max(my_grant, need);
      const int64_t headroom = saturating_sub(saturating_sub(g.limit, others_hold), mine);
      const int64_t add = std::min(slice, headroom / (live_others + 1));
      if (add > 0) {
        const int64_t grant = mine + add;
        puts.push_back({seq_key, me, 0});
        puts.push_back({grant_key, std::to_string(grant), lease_});
        auto applied = etcd_.put_if(seq_key, seq_mod, puts);
        if (!applied.ok()) return applied.status();
        if (!applied.value()) continue;  // another instance changed its grant: read again
        my_grant = grant;
        granted = true;
        grants_taken_->inc();
      }
    }
    if (!granted) {
      if (Status s = etcd_.put_all(puts); !s.ok()) return s;
    }
    known_[g.name] = {g.period_start, remote, my_grant};
    engine_.set_share(g.name, {g.period_start, remote, my_grant, true});
    grant_gauge_.with({g.name, config_.reporting.currency})->set(double(my_grant) / 1e9);
    coordinated_gauge_.with({g.name})->set(1);
    return {};
  }
  return {};  // three lost races in a row: the current grant stays, next round tries again
}

void Coordinator::degrade(EpochMs now) {
  (void)now;
  for (const GlobalBudget& g : engine_.global_budgets()) {
    const Known& k = known_[g.name];
    GlobalShare share;
    share.period_start = g.period_start;
    share.remote = k.period_start == g.period_start ? k.remote : 0;
    share.coordinated = false;
    // What is left of the grant is still this instance's to spend (the stated overshoot bound
    // counts it); then block_listed judges the budget spent, and local_share lets this
    // instance's own spend reach limit ÷ the instances expected.
    share.allowance = k.period_start == g.period_start ? k.grant : 0;
    if (g.on_loss == CoordinationLoss::kLocalShare)
      share.allowance =
          std::max(share.allowance, g.limit / config_.coordination.expected_instances);
    engine_.set_share(g.name, share);
    grant_gauge_.with({g.name, config_.reporting.currency})->set(double(share.allowance) / 1e9);
    coordinated_gauge_.with({g.name})->set(0);
  }
  if (!degraded_)
    spdlog::warn("coordination: etcd unreachable for a lease TTL ({} s): global budgets follow "
                 "their on_coordination_loss",
                 config_.coordination.lease_ttl_s);
  degraded_ = true;
}

}  // namespace tollgate
