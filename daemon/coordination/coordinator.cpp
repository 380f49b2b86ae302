#include "daemon/coordination/coordinator.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <exception>
#include <limits>

#include "policies/checked.h"

namespace tollgate {

namespace {

constexpr int kEtcdTimeoutMs = 1000;

// Values only Tollgate writes; one that is not a number is taken as the most it could mean
// (fail closed: more spent, more granted, a smaller limit is never assumed).
int64_t parse_nanos(const std::string& s, int64_t otherwise) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || errno != 0 || v < 0) return otherwise;
  return v;
}

constexpr int64_t kMost = std::numeric_limits<int64_t>::max();

// "300000:1200,3600000:5400": burn window (ms) → spend in it (nanos).
std::string windows_text(const std::map<int64_t, int64_t>& windows) {
  std::string out;
  for (const auto& [ms, nanos] : windows)
    out += (out.empty() ? "" : ",") + std::to_string(ms) + ":" + std::to_string(nanos);
  return out;
}

std::map<int64_t, int64_t> parse_windows(const std::string& text) {
  std::map<int64_t, int64_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    const size_t colon = item.find(':');
    if (colon != std::string::npos) {
      const int64_t ms = parse_nanos(item.substr(0, colon), -1);
      if (ms > 0) out[ms] = parse_nanos(item.substr(colon + 1), kMost);
    }
    pos = comma + 1;
  }
  return out;
}

}  // namespace

Coordinator::Coordinator(const Config& config, PolicyEngine& engine, metrics::Registry& registry)
    : config_(config),
      engine_(engine),
      etcd_(config.coordination.endpoints, kEtcdTimeoutMs, config.coordination.username,
            config.coordination.password,
            {false, config.coordination.ca_file, config.coordination.cert_file,
             config.coordination.key_file}),
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
  last_ok_ = Steady::now();  // a start is not an outage: the TTL counts from here
  thread_ = std::thread([this] { run(); });
}

void Coordinator::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  // A clean stop gives the grants and the instance name back at once, not after a lease TTL.
  if (lease_ != 0 && etcd_.revoke(lease_).ok()) lease_ = 0;
}

void Coordinator::run() {
  const auto every = std::chrono::milliseconds(config_.coordination.sync_interval_ms);
  const auto ttl = std::chrono::seconds(config_.coordination.lease_ttl_s);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Status s;
    try {
      s = sync();
    } catch (const std::exception& e) {  // never take the daemon down from here
      s = Status::error(Code::kInternal, std::string("coordination: ") + e.what());
    }
    up_->set(s.ok() ? 1 : 0);
    if (s.ok()) {
      if (failing_) spdlog::info("coordination: etcd answers again at {}", etcd_.endpoint());
      failing_ = degraded_ = false;
      last_ok_ = Steady::now();
    } else {
      errors_->inc();
      if (!failing_ || s.message() != last_error_)  // once per outage and cause, not per round
        spdlog::warn("coordination: {}; global budgets keep what is left of their grants",
                     s.message());
      last_error_ = s.message();
      failing_ = true;
      if (Steady::now() - last_ok_ >= ttl) degrade();
    }
    lock.lock();
    cv_.wait_for(lock, every, [this] { return stop_; });
  }
}

Status Coordinator::ensure_lease() {
  const auto& c = config_.coordination;
  const auto now = Steady::now();
  if (lease_ != 0 && now - lease_renewed_ < std::chrono::milliseconds(c.lease_ttl_s * 1000) / 3 &&
      claimed_)
    return {};
  if (lease_ != 0) {
    auto left = etcd_.keep_alive(lease_);
    if (!left.ok()) return left.status();
    if (left.value() > 0) {
      lease_renewed_ = now;
    } else {
      // The lease expired in etcd: its grants are gone and may be taken by others already.
      // Nothing more is spent on them, from this moment.
      spdlog::warn("coordination: lease {:x} expired in etcd; this instance's grants lapsed",
                   lease_);
      lease_ = 0;
      claimed_ = false;
      for (const GlobalBudget& g : engine_.global_budgets()) {
        Known& k = known_[g.name];
        k.grant = 0;
        tell(g, {g.period_start, k.period_start == g.period_start ? k.remote : 0, 0, false});
      }
    }
  }
  if (lease_ == 0) {
    auto lease = etcd_.grant_lease(c.lease_ttl_s);
    if (!lease.ok()) return lease.status();
    lease_ = lease.value();
    lease_renewed_ = now;
  }
  if (!claimed_) {
    auto mine = etcd_.create(c.prefix + "instances/" + c.instance, std::to_string(::getpid()),
                             lease_);
    if (!mine.ok()) return mine.status();
    if (!mine.value()) {
      // Ours already, if an earlier claim on this lease was applied but its answer lost.
      auto held = etcd_.range_prefix(c.prefix + "instances/" + c.instance);
      if (!held.ok()) return held.status();
      for (const EtcdKv& kv : held.value())
        if (kv.key == c.prefix + "instances/" + c.instance && kv.lease == lease_) mine = true;
    }
    if (!mine.value())
      return Status::error(Code::kInvalidConfig,
                           "coordination.instance \"" + c.instance +
                               "\" is held by another live process (or by this instance's "
                               "previous run, until its lease expires): give each instance its "
                               "own name");
    claimed_ = true;
  }
  return {};
}

std::string Coordinator::base_of(const std::string& name, Period period, EpochMs start) const {
  return config_.coordination.prefix + "budgets/" + name + "/" + std::string(to_string(period)) +
         "/" + std::to_string(start) + "/";
}

Status Coordinator::sync() {
  const std::vector<GlobalBudget> budgets = engine_.global_budgets();
  if (budgets.empty()) return {};
  for (const GlobalBudget& g : budgets) {
    // Renewed between budgets too, so a long round never outlives the lease.
    if (Status s = ensure_lease(); !s.ok()) return s;
    if (Status s = sync_budget(g); !s.ok()) return s;
  }
  return {};
}

void Coordinator::tell(const GlobalBudget& g, const GlobalShare& share) {
  engine_.set_share(g.name, share);
  grant_gauge_.with({g.name, config_.reporting.currency})->set(double(share.allowance) / 1e9);
  coordinated_gauge_.with({g.name})->set(share.coordinated ? 1 : 0);
}

Status Coordinator::sync_budget(const GlobalBudget& g) {
  const auto& c = config_.coordination;
  const std::string me = c.instance;
  const std::string base = base_of(g.name, g.period, g.period_start);
  const std::string seq_key = base + "seq", spent_key = base + "spent/" + me,
                    grant_key = base + "grant/" + me, limit_key = base + "limit/" + me;
  Known& known = known_[g.name];
  if (known.period_start != 0 &&
      (known.period_start != g.period_start || known.period != g.period)) {
    // A new period: this instance's keys of the last one are of no use to anyone now.
    const std::string old = base_of(g.name, known.period, known.period_start);
    for (const char* k : {"spent/", "grant/", "limit/", "windows/"})
      if (Status s = etcd_.erase(old + k + me); !s.ok()) return s;
    known = {};
  }
  // Up to three rounds: a guarded grant that lost a race is retried on fresh figures.
  for (int round = 0; round < 3; ++round) {
    auto kvs = etcd_.range_prefix(base);
    if (!kvs.ok()) return kvs.status();
    int64_t seq_mod = 0, published = -1, my_grant = 0, remote = 0, others_hold = 0;
    int64_t limit = g.limit, my_limit = -1;
    std::string my_windows_published;
    std::map<int64_t, int64_t> remote_windows;
    std::map<std::string, std::pair<int64_t, int64_t>> others;  // holder → (spent, grant)
    int live_others = 0;
    for (const EtcdKv& kv : kvs.value()) {
      if (kv.key.size() <= base.size()) continue;
      const std::string rest = kv.key.substr(base.size());
      const size_t slash = rest.find('/');
      const std::string kind = rest.substr(0, slash);
      const std::string who = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (kind == "seq") {
        seq_mod = kv.mod_revision;
      } else if (kind == "spent") {
        if (who == me)
          published = parse_nanos(kv.value, -1);
        else
          others[who].first = parse_nanos(kv.value, kMost);
      } else if (kind == "grant") {
        if (who == me && kv.lease == lease_) {
          my_grant = parse_nanos(kv.value, 0);
        } else {
          // Another instance's, or one left under this name by a lease not ours (our previous
          // run's, until it expires): held all the same.
          auto& held = others[who == me ? who + "@" + std::to_string(kv.lease) : who];
          held.second = std::max(held.second, parse_nanos(kv.value, kMost));
          ++live_others;
        }
      } else if (kind == "windows") {
        if (who == me) {
          my_windows_published = kv.value;
        } else {
          for (const auto& [ms, nanos] : parse_windows(kv.value))
            remote_windows[ms] = saturating_add(remote_windows[ms], nanos);
        }
      } else if (kind == "limit") {
        const int64_t theirs = parse_nanos(kv.value, 0);
        if (who == me) my_limit = theirs;
        limit = std::min(limit, theirs);
      }
    }
    for (const auto& [who, sg] : others) {
      if (who.find('@') == std::string::npos) remote = saturating_add(remote, sg.first);
      others_hold = saturating_add(others_hold, std::max(sg.first, sg.second));
    }
    // A grant taken against a larger limit (before a smaller one appeared) is held no further
    // than what the smaller one leaves, or what is already spent and reserved.
    my_grant = std::min(my_grant, std::max(saturating_sub(limit, others_hold),
                                           saturating_add(g.spend, g.reserved)));
    const int64_t need = saturating_add(saturating_add(g.spend, g.reserved), g.wanted);
    const int64_t cap = std::max<int64_t>(1, limit / 100 * c.grant_max_percent);
    const int64_t slice = std::clamp<int64_t>(
        std::max(g.last_minute / 6, g.wanted), std::min(cap, std::max<int64_t>(1, limit / 100)),
        std::max(cap, std::min(g.wanted, limit)));
    std::vector<EtcdPut> puts;
    if (published != g.spend) puts.push_back({spent_key, std::to_string(g.spend), 0});
    if (my_limit != g.limit) puts.push_back({limit_key, std::to_string(g.limit), lease_});
    // Burn windows on the lease: a dead instance's spend no longer burns.
    if (const std::string w = windows_text(g.windows); w != my_windows_published)
      puts.push_back({base + "windows/" + me, w, lease_});
    bool granted = false;
    if (my_grant - need < slice / 2) {
      const int64_t mine = std::max(my_grant, saturating_add(g.spend, g.reserved));
      const int64_t headroom = saturating_sub(saturating_sub(limit, others_hold), mine);
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
    if (!granted)
      if (Status s = etcd_.put_all(puts); !s.ok()) return s;
    known = {g.period, g.period_start, remote, my_grant};
    tell(g, {g.period_start, remote, my_grant, true, std::move(remote_windows)});
    return {};
  }
  // Three lost races in a row: the current grant stays, the next round tries again; the spend is
  // published all the same.
  if (Status s = etcd_.put_all({{spent_key, std::to_string(g.spend), 0}}); !s.ok()) return s;
  tell(g, {g.period_start, known.remote, known.grant, true});
  return {};
}

void Coordinator::degrade() {
  for (const GlobalBudget& g : engine_.global_budgets()) {
    const Known& k = known_[g.name];
    const bool current = k.period_start == g.period_start;
    GlobalShare share;
    share.period_start = g.period_start;
    share.remote = current ? k.remote : 0;
    share.coordinated = false;
    // What is left of the grant is still this instance's to spend (the stated overshoot bound
    // counts it); then block_listed judges the budget spent, and local_share lets this
    // instance's own spend reach limit ÷ the instances expected.
    share.allowance = current ? k.grant : 0;
    if (g.on_loss == CoordinationLoss::kLocalShare)
      share.allowance =
          std::max(share.allowance, g.limit / config_.coordination.expected_instances);
    tell(g, share);
  }
  if (!degraded_)
    spdlog::warn("coordination: no successful exchange with etcd for a lease TTL ({} s): global "
                 "budgets follow their on_coordination_loss once their grants are spent",
                 config_.coordination.lease_ttl_s);
  degraded_ = true;
}

}  // namespace tollgate
