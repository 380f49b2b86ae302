#include "policies/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace tollgate {

namespace {

constexpr __int128 kHundredPercent = __int128(100) * Money::kNanosPerUnit;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() >> 32));
  return buf;
}

std::string priorities_text(unsigned mask) {
  std::string s;
  for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
    if (mask & priority_bit(p))
      s += std::string(s.empty() ? "" : " and ") + std::string(to_string(p));
  return s;
}

std::string threshold_label(const Rule& r) {
  if (r.burn) return "burn_" + r.burn->long_text + "_" + r.burn->short_text;
  return Money::from_nanos(r.at_nano_percent).to_string();
}

}  // namespace

PolicyEngine::PolicyEngine(std::shared_ptr<const TimeZone> tz, std::string currency, Clock clock,
                           Hooks hooks)
    : tz_(std::move(tz)),
      currency_(std::move(currency)),
      clock_(std::move(clock)),
      hooks_(std::move(hooks)) {
  auto t = std::make_shared<ThrottleTable>();
  t->policies = set_;
  table_.store(t);
}

PolicyEngine::~PolicyEngine() { stop_ticker(); }

std::shared_ptr<const PolicySet> PolicyEngine::policies() const {
  std::lock_guard lock(mu_);
  return set_;
}

void PolicyEngine::install(std::shared_ptr<const PolicySet> set, const SpendScan& rollups,
                           const SpendScan& raw) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  SpendBook book(set->budgets.size());
  std::vector<RuleState> rules(set->budgets.size());
  std::vector<size_t> rebuild;
  std::map<size_t, size_t> old_to_new;
  for (size_t i = 0; i < set->budgets.size(); ++i) {
    const Budget& b = set->budgets[i];
    size_t old = set_->budgets.size();
    for (size_t j = 0; j < set_->budgets.size(); ++j)
      if (set_->budgets[j].name == b.name) old = j;
    bool same = old < set_->budgets.size() && set_->budgets[old].period == b.period &&
                set_->budgets[old].match.size() == b.match.size();
    for (size_t m = 0; same && m < b.match.size(); ++m)
      same = set_->budgets[old].match[m].field == b.match[m].field &&
             set_->budgets[old].match[m].patterns == b.match[m].patterns;
    if (same) {
      book.at(i) = book_.at(old);
      old_to_new[old] = i;
      // Keep the start times of rules that are still the same rule.
      for (auto [r, since] : rules_[old].since)
        if (r < b.rules.size() && set_->budgets[old].rules.size() > r &&
            set_->budgets[old].rules[r].describe() == b.rules[r].describe()) {
          rules[i].active.push_back(r);
          rules[i].since[r] = since;
        }
    } else {
      rebuild.push_back(i);
      book.at(i).period_start = 0;
    }
  }
  // Reservations follow their budgets by name; those of vanished budgets stop counting there.
  for (auto& [id, r] : book_.reservations()) {
    Reservation moved = r;
    moved.budgets.clear();
    for (size_t b : r.budgets)
      if (auto it = old_to_new.find(b); it != old_to_new.end()) moved.budgets.push_back(it->second);
    book.reservations()[id] = moved;
  }
  if (!rebuild.empty()) {
    EpochMs since = now, window_since = now;
    for (size_t i : rebuild) {
      auto [start, end] = period_bounds(set->budgets[i].period, *tz_, now);
      book.at(i).period_start = start;
      book.at(i).period_end = end;
      since = std::min(since, start);
      window_since = std::min(window_since, now - set->budgets[i].max_burn_window_ms());
    }
    rollups(since, [&](const SpendRow& row) {
      for (size_t i : rebuild) {
        BudgetSpend& s = book.at(i);
        if (row.ts >= s.period_start && row.ts < s.period_end && set->budgets[i].matches(row.dims))
          s.spend += row.cost;
      }
    });
    if (window_since < now)
      raw(window_since, [&](const SpendRow& row) {
        for (size_t i : rebuild)
          if (row.ts > now - set->budgets[i].max_burn_window_ms() &&
              set->budgets[i].matches(row.dims))
            book.at(i).per_minute[row.ts / 60'000] += row.cost;
      });
  }
  set_ = std::move(set);
  book_ = std::move(book);
  rules_ = std::move(rules);
  // Rules that no longer exist stop; buckets follow their rule.
  std::map<std::string, std::shared_ptr<TokenBucket>> buckets;
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    for (size_t r = 0; r < set_->budgets[i].rules.size(); ++r) {
      const Rule& rule = set_->budgets[i].rules[r];
      if (rule.action != Action::kLimitRps) continue;
      std::string key = set_->budgets[i].name + "#" + rule.describe();
      auto it = buckets_.find(key);
      buckets[key] = it != buckets_.end() ? it->second : std::make_shared<TokenBucket>(rule.rps);
      buckets[key]->set_rate(rule.rps);
    }
  buckets_ = std::move(buckets);
  evaluate_all(now);
  publish(now);
}

void PolicyEngine::restore(std::vector<Override> overrides, std::set<std::string> fired_alerts) {
  std::lock_guard lock(mu_);
  overrides_ = std::move(overrides);
  fired_.insert(fired_alerts.begin(), fired_alerts.end());
  evaluate_all(clock_());
}

void PolicyEngine::restore_reservations(const std::vector<StoredReservation>& reservations) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<size_t> touched;
  for (const StoredReservation& r : reservations) {
    if (r.expires <= now) continue;
    Reservation res;
    res.estimate = r.estimate_nanos;
    res.expires = r.expires;
    for (const auto& name : r.budgets)
      for (size_t i = 0; i < set_->budgets.size(); ++i)
        if (set_->budgets[i].name == name) res.budgets.push_back(i);
    if (res.budgets.empty()) continue;
    touched.insert(touched.end(), res.budgets.begin(), res.budgets.end());
    book_.reserve(r.id, std::move(res));
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  evaluate(touched, now);
}

bool PolicyEngine::cancel_reservation(const std::string& id) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  auto it = book_.reservations().find(id);
  if (it == book_.reservations().end()) return false;
  const std::vector<size_t> budgets = it->second.budgets;
  release(id);
  evaluate(budgets, now);
  return true;
}

void PolicyEngine::release(const std::string& id) {
  if (book_.release(id) && hooks_.released) hooks_.released(id);
}

void PolicyEngine::roll(size_t i, EpochMs now) {
  BudgetSpend& s = book_.at(i);
  if (s.period_start != 0 && now >= s.period_start && now < s.period_end) return;
  auto [start, end] = period_bounds(set_->budgets[i].period, *tz_, now);
  if (s.period_start != 0 && start != s.period_start) s.spend = 0;  // a new period starts clean
  s.period_start = start;
  s.period_end = end;
}

bool PolicyEngine::overridden(const std::string& budget, EpochMs now) const {
  for (const Override& o : overrides_)
    if (o.budget == budget && o.until > now) return true;
  return false;
}

double PolicyEngine::burn_rate(size_t i, EpochMs now, int64_t window_ms) const {
  const BudgetSpend& s = book_.at(i);
  const double limit = static_cast<double>(set_->budgets[i].limit.nanos());
  const double period_ms = static_cast<double>(s.period_end - s.period_start);
  if (limit <= 0 || period_ms <= 0 || window_ms <= 0) return 0;
  // Spend in the window ÷ the spend that would exactly exhaust the limit over the period.
  return static_cast<double>(s.window_sum(now, window_ms)) / (limit * window_ms / period_ms);
}

bool PolicyEngine::rule_holds(size_t i, const Rule& r, EpochMs now) const {
  if (r.burn)
    return burn_rate(i, now, r.burn->long_ms) > r.burn->factor &&
           burn_rate(i, now, r.burn->short_ms) > r.burn->factor;
  const BudgetSpend& s = book_.at(i);
  return __int128(s.spend + s.reserved) * kHundredPercent >=
         __int128(r.at_nano_percent) * set_->budgets[i].limit.nanos();
}

std::string PolicyEngine::reason(size_t i, const Rule& r, EpochMs now) const {
  const Budget& b = set_->budgets[i];
  const BudgetSpend& s = book_.at(i);
  std::string why;
  char buf[256];
  if (r.burn) {
    std::snprintf(buf, sizeof buf,
                  "budget %s is burning %.1fx its sustainable rate over %s and %.1fx over %s "
                  "(threshold %gx; %s of %s %s spent this %s)",
                  b.name.c_str(), burn_rate(i, now, r.burn->long_ms), r.burn->long_text.c_str(),
                  burn_rate(i, now, r.burn->short_ms), r.burn->short_text.c_str(), r.burn->factor,
                  Money::from_nanos(s.spend).to_string().c_str(), b.limit.to_string().c_str(),
                  currency_.c_str(), std::string(to_string(b.period)).c_str());
  } else {
    double pct = b.limit.nanos() ? 100.0 * (s.spend + s.reserved) / b.limit.nanos() : 0;
    std::snprintf(
        buf, sizeof buf,
        "budget %s is at %.0f%% of its %s %s %s limit (%s spent, %s reserved; rule at %s%%)",
        b.name.c_str(), std::floor(pct), b.limit.to_string().c_str(), currency_.c_str(),
        b.period == Period::kDay    ? "daily"
        : b.period == Period::kWeek ? "weekly"
                                    : "monthly",
        Money::from_nanos(s.spend).to_string().c_str(),
        Money::from_nanos(s.reserved).to_string().c_str(),
        Money::from_nanos(r.at_nano_percent).to_string().c_str());
  }
  why = buf;
  const std::string who = priorities_text(r.priorities);
  if (r.action == Action::kBlock)
    why += "; " + who + " requests are blocked until " + format_utc_ms(s.period_end) +
           " or an override";
  else if (r.action == Action::kLimitRps) {
    std::snprintf(buf, sizeof buf, "%g", r.rps);
    why += "; " + who + " requests are limited to " + buf + " per second";
  } else if (r.action == Action::kReroute)
    why += "; " + who + " requests should use " + r.model;
  return why;
}

void PolicyEngine::fire_alert(size_t i, const Rule& r, EpochMs now) {
  const Budget& b = set_->budgets[i];
  const BudgetSpend& s = book_.at(i);
  AlertEvent a;
  a.threshold = threshold_label(r);
  a.key = b.name + "|" + a.threshold + "|" + std::to_string(s.period_start);
  if (!fired_.insert(a.key).second) return;
  a.budget = b.name;
  a.currency = currency_;
  a.spend = Money::from_nanos(s.spend);
  a.limit = b.limit;
  a.period_start = s.period_start;
  a.period_end = s.period_end;
  a.fired_at = now;
  const std::string when =
      std::string(to_string(b.period)) + " " + format_date(tz_->local_day(s.period_start));
  if (r.burn) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%gx over %s and %s", r.burn->factor, r.burn->long_text.c_str(),
                  r.burn->short_text.c_str());
    a.text = "budget " + b.name + " burning faster than " + buf + " (" + a.spend.to_string() +
             " of " + b.limit.to_string() + " " + currency_ + ", " + when + ")";
  } else {
    a.text = "budget " + b.name + " at " + a.threshold + "% (" + a.spend.to_string() + " of " +
             b.limit.to_string() + " " + currency_ + ", " + when + ")";
  }
  if (hooks_.alert) hooks_.alert(a);
}

void PolicyEngine::evaluate(const std::vector<size_t>& budgets, EpochMs now) {
  bool changed = false;
  for (size_t i : budgets) {
    roll(i, now);
    const Budget& b = set_->budgets[i];
    const bool suspended = overridden(b.name, now);
    std::vector<size_t> active;
    for (size_t r = 0; r < b.rules.size(); ++r) {
      const Rule& rule = b.rules[r];
      if (!rule_holds(i, rule, now)) continue;
      if (rule.action == Action::kAlert) {
        fire_alert(i, rule, now);
        continue;
      }
      if (!suspended) active.push_back(r);
    }
    RuleState& st = rules_[i];
    if (active == st.active) continue;
    changed = true;
    const std::string dry = set_->dry_run ? " (dry run: not enforced)" : "";
    for (size_t r : active)
      if (!st.since.count(r)) {
        st.since[r] = now;
        if (hooks_.audit)
          hooks_.audit({now, "throttle_start", b.name, "tollgate",
                        b.rules[r].describe() + ": " + reason(i, b.rules[r], now) + dry});
      }
    for (size_t r : st.active)
      if (std::find(active.begin(), active.end(), r) == active.end()) {
        st.since.erase(r);
        if (hooks_.audit)
          hooks_.audit({now, "throttle_stop", b.name, "tollgate",
                        b.rules[r].describe() +
                            (suspended ? ": lifted by override" : ": no longer holds") + dry});
      }
    st.active = std::move(active);
  }
  if (changed) publish(now);
}

void PolicyEngine::evaluate_all(EpochMs now) {
  std::vector<size_t> all(set_->budgets.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  evaluate(all, now);
}

void PolicyEngine::publish(EpochMs now) {
  auto t = std::make_shared<ThrottleTable>();
  t->generation = ++generation_;
  t->policies = set_;
  t->dry_run = set_->dry_run;
  for (size_t i = 0; i < rules_.size(); ++i)
    for (size_t r : rules_[i].active) {
      const Budget& b = set_->budgets[i];
      const Rule& rule = b.rules[r];
      ActiveThrottle a;
      a.budget_index = i;
      a.rule_index = r;
      a.budget = b.name;
      a.action = rule.action;
      a.priorities = rule.priorities;
      a.rps = rule.rps;
      a.model = rule.model;
      a.since = rules_[i].since[r];
      a.period_end = book_.at(i).period_end;
      a.reason = reason(i, rule, now);
      if (rule.action == Action::kLimitRps) a.bucket = buckets_[b.name + "#" + rule.describe()];
      t->throttles.push_back(std::move(a));
    }
  table_.store(std::move(t));
}

const std::vector<size_t>& PolicyEngine::budgets_for(
    const UsageEvent& e, std::string_view key,
    std::map<std::string, std::vector<size_t>, std::less<>>& cache) const {
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const Dimensions d = Dimensions::of(e);
  std::vector<size_t> hits;
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    if (set_->budgets[i].matches(d)) hits.push_back(i);
  return cache.emplace(std::string(key), std::move(hits)).first->second;
}

void PolicyEngine::record(const std::vector<const UsageEvent*>& accepted) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  if (set_->budgets.empty()) {
    for (const UsageEvent* e : accepted)
      if (!e->reservation_id.empty()) release(e->reservation_id);
    return;
  }
  std::map<std::string, std::vector<size_t>, std::less<>> cache;
  std::string key;
  std::vector<bool> touched(set_->budgets.size(), false);
  for (const UsageEvent* e : accepted) {
    if (!e->reservation_id.empty()) {
      auto it = book_.reservations().find(e->reservation_id);
      if (it != book_.reservations().end()) {
        for (size_t b : it->second.budgets) touched[b] = true;
        release(e->reservation_id);  // the actual cost replaces the estimate
      }
    }
    key.clear();
    append_key(key, *e);
    for (size_t i : budgets_for(*e, key, cache)) {
      roll(i, now);
      BudgetSpend& s = book_.at(i);
      if (e->ts_ms < s.period_start || e->ts_ms >= s.period_end) continue;
      s.spend += e->cost.nanos();
      if (int64_t w = set_->budgets[i].max_burn_window_ms(); w > 0 && e->ts_ms > now - w)
        s.per_minute[e->ts_ms / 60'000] += e->cost.nanos();
      touched[i] = true;
    }
  }
  std::vector<size_t> affected;
  for (size_t i = 0; i < touched.size(); ++i)
    if (touched[i]) affected.push_back(i);
  evaluate(affected, now);
}

AdmitDecision PolicyEngine::admit(const Dimensions& d, std::optional<Money> estimate) {
  const EpochMs now = clock_();
  AdmitDecision out = table_.load()->decide(d, now);
  if (!estimate) return out;
  if (out.decision == Decision::kThrottle && !out.dry_run) return out;
  std::lock_guard lock(mu_);
  std::vector<size_t> matching;
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    if (set_->budgets[i].matches(d)) matching.push_back(i);
  const unsigned bit = priority_bit(d.priority);
  for (size_t i : matching) {
    roll(i, now);
    const Budget& b = set_->budgets[i];
    if (overridden(b.name, now)) continue;
    const BudgetSpend& s = book_.at(i);
    for (const Rule& r : b.rules) {
      if (r.action != Action::kBlock || r.burn || !(r.priorities & bit)) continue;
      // Admitted only if spend + reserved + estimate stays within the block threshold.
      if (__int128(s.spend + s.reserved + estimate->nanos()) * kHundredPercent <=
          __int128(r.at_nano_percent) * b.limit.nanos())
        continue;
      AdmitDecision t;
      t.decision = Decision::kThrottle;
      t.budget = b.name;
      t.action = "block";
      t.retry_after_s = std::max<int64_t>(1, (s.period_end - now + 999) / 1000);
      const std::string state = reason(i, r, now);  // "budget X is at N% of …; who is blocked"
      t.reason = "admitting an estimated " + estimate->to_string() + " " + currency_ +
                 " would take " + state.substr(0, state.find(';')) + " past its block threshold; " +
                 priorities_text(r.priorities) + " requests are blocked until " +
                 format_utc_ms(s.period_end) + " or an override";
      t.dry_run = set_->dry_run;
      if (!t.dry_run) return t;
      out = t;
    }
  }
  Reservation res;
  res.budgets = matching;
  res.estimate = estimate->nanos();
  res.expires = now + set_->reservation_ttl_ms;
  out.reservation_id = random_id("res_");
  if (hooks_.reserved) {
    StoredReservation stored{out.reservation_id, {}, res.estimate, res.expires};
    for (size_t i : res.budgets) stored.budgets.push_back(set_->budgets[i].name);
    hooks_.reserved(stored);
  }
  book_.reserve(out.reservation_id, std::move(res));
  evaluate(matching, now);
  return out;
}

Result<Override> PolicyEngine::add_override(const std::string& budget, int64_t duration_s,
                                            const std::string& reason_text,
                                            const std::string& actor) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  size_t index = set_->budgets.size();
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    if (set_->budgets[i].name == budget) index = i;
  if (index == set_->budgets.size())
    return Status::error(Code::kUnknownBudget, "no budget named \"" + budget + "\"");
  Override o;
  o.id = random_id("ovr_");
  o.budget = budget;
  o.reason = reason_text;
  o.actor = actor;
  o.created = now;
  o.until = now + duration_s * 1000;
  overrides_.push_back(o);
  if (hooks_.audit)
    hooks_.audit({now, "override_created", budget, actor,
                  "suspend until " + format_utc_ms(o.until) + " (" + o.id + "): " + reason_text});
  evaluate({index}, now);
  return o;
}

bool PolicyEngine::remove_override(const std::string& id, const std::string& actor) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  auto it = std::find_if(overrides_.begin(), overrides_.end(),
                         [&](const Override& o) { return o.id == id; });
  if (it == overrides_.end()) return false;
  Override o = *it;
  overrides_.erase(it);
  if (hooks_.audit)
    hooks_.audit({now, "override_deleted", o.budget, actor, o.id + ": " + o.reason});
  evaluate_all(now);
  return true;
}

std::vector<Override> PolicyEngine::overrides() const {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<Override> out;
  for (const Override& o : overrides_)
    if (o.until > now) out.push_back(o);
  return out;
}

std::vector<BudgetStatus> PolicyEngine::status() const {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<BudgetStatus> out;
  for (size_t i = 0; i < set_->budgets.size(); ++i) {
    const Budget& b = set_->budgets[i];
    BudgetSpend s = book_.at(i);
    if (s.period_start == 0 || now >= s.period_end) {  // not rolled yet: show the current period
      auto [start, end] = period_bounds(b.period, *tz_, now);
      if (start != s.period_start) s.spend = 0;
      s.period_start = start;
      s.period_end = end;
    }
    BudgetStatus st;
    st.name = b.name;
    st.period = b.period;
    st.period_start = s.period_start;
    st.period_end = s.period_end;
    st.limit = b.limit;
    st.spend = Money::from_nanos(s.spend);
    st.reserved = Money::from_nanos(s.reserved);
    st.utilization = b.limit.nanos() ? double(s.spend + s.reserved) / double(b.limit.nanos()) : 0;
    const EpochMs elapsed = std::max<EpochMs>(now - s.period_start, 60'000);
    st.forecast = Money::from_nanos(
        static_cast<int64_t>(__int128(s.spend) * (s.period_end - s.period_start) / elapsed));
    bool alerting = false;
    for (size_t r = 0; r < b.rules.size(); ++r) {
      if (!rule_holds(i, b.rules[r], now)) continue;
      st.active_rules.push_back(b.rules[r].describe());
      if (b.rules[r].action == Action::kAlert) alerting = true;
    }
    std::set<std::string> windows;
    for (const auto& [text, ms] : kStandardBurnWindows)
      if (windows.insert(text).second) st.burn_rates.emplace_back(text, burn_rate(i, now, ms));
    for (const Rule& r : b.rules)
      if (r.burn)
        for (auto [text, ms] : {std::pair{r.burn->long_text, r.burn->long_ms},
                                {r.burn->short_text, r.burn->short_ms}})
          if (windows.insert(text).second) st.burn_rates.emplace_back(text, burn_rate(i, now, ms));
    for (size_t r : rules_[i].active)
      for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
        if (b.rules[r].priorities & priority_bit(p))
          st.throttles.emplace_back(p, b.rules[r].action);
    for (const Override& o : overrides_)
      if (o.budget == b.name && o.until > now) st.override_ = o;
    if (st.override_)
      st.state = "overridden";
    else if (!rules_[i].active.empty() && !set_->dry_run)
      st.state = "throttling";
    else if (alerting || !rules_[i].active.empty())
      st.state = "alert";
    else
      st.state = "ok";
    out.push_back(std::move(st));
  }
  return out;
}

void PolicyEngine::tick() {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  for (const auto& id : book_.expire(now))
    if (hooks_.released) hooks_.released(id);
  for (auto it = overrides_.begin(); it != overrides_.end();) {
    if (it->until <= now) {
      if (hooks_.audit)
        hooks_.audit({now, "override_expired", it->budget, "tollgate", it->id + ": " + it->reason});
      it = overrides_.erase(it);
    } else {
      ++it;
    }
  }
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    book_.at(i).trim(now, set_->budgets[i].max_burn_window_ms() + 60'000);
  evaluate_all(now);
}

void PolicyEngine::start_ticker() {
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!ticker_stop_) {
      ticker_cv_.wait_for(lock, std::chrono::seconds(1));
      if (ticker_stop_) break;
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

void PolicyEngine::stop_ticker() {
  {
    std::lock_guard lock(mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace tollgate
