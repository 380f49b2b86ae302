#include "policies/engine.h"

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdio>
#include <random>
#include <string_view>
#include <unordered_map>

#include "metering/string_hash.h"
#include "policies/checked.h"

namespace tollgate {

namespace {

constexpr size_t kRebuilt = static_cast<size_t>(-1);
constexpr EpochMs kBucketMs = 15 * 60'000;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() >> 32));
  return buf;
}

bool same_scope(const Budget& a, const Budget& b) {
  if (a.name != b.name || a.period != b.period || a.match.size() != b.match.size()) return false;
  for (size_t m = 0; m < a.match.size(); ++m)
    if (a.match[m].field != b.match[m].field || a.match[m].patterns != b.match[m].patterns)
      return false;
  return true;
}

// What a budget's spend is counted under, as text for a checkpoint (records.h): its period and
// match (each field and pattern length-prefixed, so no two scopes read alike), the zone periods
// are cut in, the currency the nanos are in, and how many minutes of burn history it keeps.
std::string scope_key(const Budget& b, const TimeZone& tz, const std::string& currency) {
  std::string k(to_string(b.period));
  auto put = [&k](std::string_view text) {
    k += '|' + std::to_string(text.size()) + ':';
    k += text;
  };
  put(tz.name());
  put(currency);
  // The minutes kept: a checkpoint made with shorter windows lacks the older ones.
  k += '|' + std::to_string(b.max_burn_window_ms());
  for (const Matcher& m : b.match) {
    put(m.field);
    k += '#' + std::to_string(m.patterns.size());
    for (const auto& p : m.patterns) put(p);
  }
  return k;
}

// How much recent history the ring keeps: the longest window of any budget, plus the minute
// being filled.
int64_t ring_keep_ms(const PolicySet& set) {
  int64_t keep = Budget{}.max_burn_window_ms();
  for (const Budget& b : set.budgets) keep = std::max(keep, b.max_burn_window_ms());
  return keep + 60'000;
}

}  // namespace

// A policy set and the state of its rebuilt budgets, built without the engine's mutex.
struct PolicyEngine::Staged {
  std::shared_ptr<const PolicySet> set;
  SpendBook book;
  std::vector<size_t> kept_from;  // per budget: its index in the running set, or kRebuilt
  std::vector<size_t> rebuilt;
  EpochMs recent_from = 0;  // rollups before, RecentSpend from here
  std::vector<std::string> scopes;  // per budget: scope_key()
  // Kept budgets whose longest burn window grew (a slower burn rule added): the minutes they
  // kept cover only the old window, so the older part is read as a new budget's would be.
  struct Widened {
    size_t budget = 0;
    int64_t kept_ms = 0;                // how far back its kept minutes reach (the old window)
    std::map<EpochMs, int64_t> buckets;  // 15-minute rollups before recent_from: start → nanos
  };
  std::vector<Widened> widened;
};

PolicyEngine::PolicyEngine(std::shared_ptr<const TimeZone> tz, std::string currency, Clock clock,
                           Hooks hooks)
    : tz_(std::move(tz)),
      currency_(std::move(currency)),
      clock_(std::move(clock)),
      hooks_(std::move(hooks)),
      evaluator_(currency_),
      book_(*set_, tz_.get()),
      recent_(clock_()),
      alerts_(tz_, currency_) {}

PolicyEngine::~PolicyEngine() { stop_ticker(); }

void PolicyEngine::set_burn_history_limit(size_t entries) {
  std::lock_guard lock(mu_);
  recent_.set_max_entries(entries);
}

uint64_t PolicyEngine::burn_history_sheds() const {
  std::lock_guard lock(mu_);
  return recent_.sheds();
}

std::shared_ptr<const PolicySet> PolicyEngine::policies() const {
  std::lock_guard lock(mu_);
  return set_;
}

Status PolicyEngine::install(std::shared_ptr<const PolicySet> set, const SpendScan& period_history,
                             const SpendScan& window_history, SpendSeeds* seeds) {
  const EpochMs now = clock_();
  Staged st;
  st.set = set;
  st.book = SpendBook(*set, tz_.get());
  st.kept_from.assign(set->budgets.size(), kRebuilt);
  for (const Budget& b : set->budgets) st.scopes.push_back(scope_key(b, *tz_, currency_));
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < set->budgets.size(); ++i)
      for (size_t j = 0; j < set_->budgets.size(); ++j)
        if (same_scope(set_->budgets[j], set->budgets[i])) st.kept_from[i] = j;
    for (size_t i = 0; i < set->budgets.size(); ++i) {
      const size_t j = st.kept_from[i];
      if (j != kRebuilt &&
          set->budgets[i].max_burn_window_ms() > set_->budgets[j].max_burn_window_ms())
        st.widened.push_back({i, set_->budgets[j].max_burn_window_ms() + 60'000, {}});
    }
    st.recent_from = recent_.covered_from();
    recent_.pin(st.recent_from);  // swap_in reads from there on: not dropped for the bound meanwhile
  }
  struct Unpin {  // on every way out, the error returns included
    PolicyEngine* engine;
    ~Unpin() {
      std::lock_guard lock(engine->mu_);
      engine->recent_.unpin();
    }
  } unpin{this};
  for (size_t i = 0; i < set->budgets.size(); ++i)
    if (st.kept_from[i] == kRebuilt) st.rebuilt.push_back(i);
  if (!st.rebuilt.empty()) {
    // The slow part, without the mutex: admission, status and overrides go on meanwhile.
    // Budgets with a checkpoint of their scope start from it; the rest from the rollups.
    std::vector<size_t> from_rollups, from_checkpoints;
    std::unordered_map<std::string_view, SpendCheckpoint*> checkpoints;
    if (seeds)
      for (SpendCheckpoint& cp : seeds->checkpoints) checkpoints[cp.budget] = &cp;
    for (size_t i : st.rebuilt) {
      auto it = checkpoints.find(set->budgets[i].name);
      if (it != checkpoints.end() && it->second->period_start > 0 &&
          it->second->period_start <= now && it->second->scope == st.scopes[i]) {
        SpendCheckpoint& cp = *it->second;
        BudgetSpend& b = st.book.at(i);
        st.book.roll(i, cp.period_start);
        if (b.period_start == cp.period_start) {
          b.spend = cp.spend;
          b.ahead = std::move(cp.ahead);
          b.per_minute = std::move(cp.per_minute);
          b.minutes_stored = true;  // as the table has them: none unsaved
          from_checkpoints.push_back(i);
          continue;
        }
        b = BudgetSpend{};
      }
      from_rollups.push_back(i);
    }
    EpochMs since = now, window_since = now;
    for (size_t i : st.rebuilt) st.book.roll(i, now);  // an earlier period's: what it had ahead
    for (size_t i : from_rollups) {
      since = std::min(since, st.book.at(i).period_start);
      window_since = std::min(window_since, now - set->budgets[i].max_burn_window_ms());
    }
    // A row a budget at a time would cost rows x budgets (thousands of budgets, a row per
    // event at a company's cardinality): the budgets that match a row are looked up instead.
    const BudgetIndex scanned(set->budgets, &from_rollups);
    Status s;
    if (!from_rollups.empty()) {
      s = period_history(since, [&](const SpendRow& row) {
        for (size_t i : scanned.matching(row.dims)) st.book.add(i, row.ts, row.cost);
      });
      if (!s.ok()) return s;
    }
    if (!from_checkpoints.empty()) {
      // Seeds come only at a start, before any commit is recorded: RecentSpend (which swap_in
      // adds for every rebuilt budget) is still empty, so no minute is counted twice.
      // The events committed after a budget's checkpoint (a few seconds' worth after a crash,
      // none after a clean stop), each counted as record() would have.
      const BudgetIndex seeded(set->budgets, &from_checkpoints);
      size_t tail_events = 0;
      s = seeds->tail(seeds->through_rowid, [&](const SpendRow& row) {
        ++tail_events;
        for (size_t i : seeded.matching(row.dims)) {
          st.book.add(i, row.ts, row.cost);
          if (row.ts > now - set->budgets[i].max_burn_window_ms())
            st.book.at(i).add_minute(row.ts, row.cost);
        }
      });
      if (!s.ok()) return s;
      seeds->used = from_checkpoints.size();
      seeds->tail_events = tail_events;
    }
    // Checkpointed budgets have their minutes; the others read them from the 15-minute rollups.
    if (!from_rollups.empty())
      s = window_history(window_since / kBucketMs * kBucketMs, [&](const SpendRow& row) {
        if (row.ts >= st.recent_from) return;  // RecentSpend has it to the minute
        // A bucket's cost is dated at its last minute (not after now): within a window as long
        // as any of it is, which errs towards throttling.
        const EpochMs at = std::min(row.ts + kBucketMs - 60'000, now);
        for (size_t i : scanned.matching(row.dims))
          if (at > now - set->budgets[i].max_burn_window_ms())
            st.book.at(i).add_minute(at, row.cost);
      });
    if (!s.ok()) return s;
  }
  if (!st.widened.empty()) {
    // Their windows' older buckets, summed per budget; swap_in keeps those before the minutes
    // the budget already has.
    std::vector<size_t> budgets;
    std::unordered_map<size_t, Staged::Widened*> of;
    EpochMs from = now;
    for (Staged::Widened& w : st.widened) {
      budgets.push_back(w.budget);
      of[w.budget] = &w;
      from = std::min(from, now - set->budgets[w.budget].max_burn_window_ms());
    }
    const BudgetIndex widened(set->budgets, &budgets);
    Status s = window_history(from / kBucketMs * kBucketMs, [&](const SpendRow& row) {
      if (row.ts >= st.recent_from) return;  // RecentSpend has it to the minute
      for (size_t i : widened.matching(row.dims)) {
        int64_t& nanos = of[i]->buckets[row.ts];
        nanos = saturating_add(nanos, row.cost);
      }
    });
    if (!s.ok()) return s;
  }
  {
    std::lock_guard lock(mu_);
    swap_in(st, now);
  }
  return {};
}

std::vector<SpendCheckpoint> PolicyEngine::spend_checkpoints(bool all_minutes) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<SpendCheckpoint> out;
  out.reserve(set_->budgets.size());
  for (size_t i = 0; i < set_->budgets.size() && i < book_.size(); ++i) {
    BudgetSpend& b = book_.at(i);
    // Never rolled: nothing counted yet. Rolled back (the clock stepped back): the period's
    // spend was lost, so no checkpoint (the caller deletes the stored one; a start rebuilds).
    if (b.period_start == 0 || b.rolled_back) continue;
    SpendCheckpoint cp{set_->budgets[i].name, scopes_[i], b.period_start, b.spend, b.ahead,
                       {}, all_minutes || !b.minutes_stored,
                       (now - set_->budgets[i].max_burn_window_ms()) / 60'000 - 1};
    b.minutes_stored = true;
    if (cp.all_minutes) {
      cp.per_minute = b.per_minute;
    } else {
      for (int64_t minute : b.unsaved_minutes)
        if (auto it = b.per_minute.find(minute); it != b.per_minute.end())
          cp.per_minute.emplace(minute, it->second);
    }
    b.unsaved_minutes.clear();
    out.push_back(std::move(cp));
  }
  return out;
}

void PolicyEngine::swap_in(Staged& st, EpochMs now) {
  const PolicySet& set = *st.set;
  std::vector<RuleState> rules(set.budgets.size());
  std::map<size_t, size_t> old_to_new;
  for (size_t i = 0; i < set.budgets.size(); ++i) {
    const size_t old = st.kept_from[i];
    if (old == kRebuilt) continue;
    old_to_new[old] = i;
    st.book.at(i) = book_.at(old);
    // Kept with another scope key (its burn windows changed): the stored minutes are of the
    // old scope, so its next checkpoint gives all of its minutes.
    if (scopes_[old] != st.scopes[i]) st.book.at(i).minutes_stored = false;
    // Keep the start times of rules that are still the same rule.
    const Budget& before = set_->budgets[old];
    for (auto [r, since] : rules_[old].since)
      if (r < set.budgets[i].rules.size() &&
          before.rules[r].identity() == set.budgets[i].rules[r].identity()) {
        rules[i].active.push_back(r);
        rules[i].since[r] = since;
      }
  }
  // A widened budget's older minutes: every minute before `cut` is missing from its book (the
  // book holds none before its first minute, nor before the old window), every one from `cut`
  // on is there. Before `cut`: whole rollup buckets that end by it, dated at their last minute
  // as a rebuild dates them, and RecentSpend's minutes from recent_from on (complete there, and
  // in no bucket taken). A bucket across `cut` before recent_from is left out: the window then
  // misses less than 15 minutes, and never counts a minute twice.
  std::vector<size_t> widened_budgets;
  std::unordered_map<size_t, int64_t> cut;  // budget → first minute (epoch ms / 60000) it has
  for (const Staged::Widened& w : st.widened) {
    BudgetSpend& b = st.book.at(w.budget);
    // The ticker trims kept books while install() scans: its boundary is now's, not the scan's.
    int64_t first = (std::max(now, clock_()) - w.kept_ms) / 60'000;
    if (!b.per_minute.empty()) first = std::min(first, b.per_minute.begin()->first);
    cut[w.budget] = first;
    widened_budgets.push_back(w.budget);
    const int64_t window = set.budgets[w.budget].max_burn_window_ms();
    for (const auto& [bucket, nanos] : w.buckets) {
      const EpochMs last_minute = std::min(bucket + kBucketMs - 60'000, now);
      if (bucket + kBucketMs <= first * 60'000 && last_minute > now - window)
        b.add_minute(last_minute, nanos);
    }
  }
  // The burn history's minutes from recent_from on: every one for a rebuilt budget, those before
  // its cut for a widened one. One pass, and none when no budget needs it: this runs under the
  // mutex, over up to limits.max_burn_history_entries entries.
  if (!st.rebuilt.empty() || !widened_budgets.empty()) {
    const BudgetIndex rebuilt(set.budgets, &st.rebuilt), widened(set.budgets, &widened_budgets);
    recent_.for_each(st.recent_from, [&](const Dimensions& d, EpochMs minute, int64_t nanos) {
      for (size_t i : rebuilt.matching(d))
        if (minute > now - set.budgets[i].max_burn_window_ms())
          st.book.at(i).add_minute(minute, nanos);
      for (size_t i : widened.matching(d))
        if (minute / 60'000 < cut[i] && minute > now - set.budgets[i].max_burn_window_ms())
          st.book.at(i).add_minute(minute, nanos);
    });
  }
  // Reservations follow their budgets by name; those of changed or vanished budgets stop
  // counting there (a rebuilt budget starts without reservations).
  for (const auto& [id, r] : book_.reservations()) {
    Reservation moved = r;
    moved.budgets.clear();
    for (size_t b : r.budgets)
      if (auto it = old_to_new.find(b); it != old_to_new.end()) moved.budgets.push_back(it->second);
    st.book.adopt(id, std::move(moved));
  }
  BudgetIndex index(st.set->budgets);  // built first: the old one stays whole if this throws
  set_ = std::move(st.set);
  index_ = std::move(index);
  book_ = std::move(st.book);
  scopes_ = std::move(st.scopes);
  rules_ = std::move(rules);
  publisher_.rebind(*set_);
  evaluate_all(now);
  publish(now);
}

void PolicyEngine::restore(std::vector<Override> overrides, std::set<std::string> fired_alerts) {
  std::lock_guard lock(mu_);
  overrides_.restore(std::move(overrides));
  alerts_.restore(fired_alerts);
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

bool PolicyEngine::settles(const Reservation& r, const std::vector<size_t>& event_budgets) const {
  return std::all_of(r.budgets.begin(), r.budgets.end(), [&](size_t b) {
    return std::binary_search(event_budgets.begin(), event_budgets.end(), b);
  });
}

const GlobalShare* PolicyEngine::share_of(size_t i) const {
  auto it = shares_.find(set_->budgets[i].name);
  return it == shares_.end() ? nullptr : &it->second;
}

int64_t PolicyEngine::judged_spend_of(size_t i, int64_t extra) const {
  const Budget& b = set_->budgets[i];
  if (b.scope != Scope::kGlobal) return book_.at(i).spend;
  return judged_spend(b, book_.at(i), share_of(i), extra);
}

int64_t PolicyEngine::seen_spend_of(size_t i) const {
  if (set_->budgets[i].scope != Scope::kGlobal) return book_.at(i).spend;
  return global_spend(book_.at(i), share_of(i));
}

namespace {

// Shows `spend` in a book entry while a judgement runs, instead of copying the entry and its
// per-minute maps on every evaluation (the engine's mutex is held throughout).
class ShownSpend {
 public:
  // `share`: a global budget's, whose other instances' burn windows are shown too.
  ShownSpend(BudgetSpend& s, int64_t spend, const GlobalShare* share = nullptr)
      : s_(s), own_(s.spend) {
    s_.spend = spend;
    if (share && share->period_start == s.period_start) s_.remote_windows = &share->remote_windows;
  }
  ~ShownSpend() {
    s_.spend = own_;
    s_.remote_windows = nullptr;
  }
  ShownSpend(const ShownSpend&) = delete;
  ShownSpend& operator=(const ShownSpend&) = delete;

 private:
  BudgetSpend& s_;
  int64_t own_;
};

}  // namespace

void PolicyEngine::evaluate(const std::vector<size_t>& budgets, EpochMs now) {
  bool changed = false;
  for (size_t i : budgets) {
    book_.roll(i, now);
    const Budget& b = set_->budgets[i];
    BudgetSpend& s = book_.at(i);
    const int64_t judged = judged_spend_of(i), seen = seen_spend_of(i);
    const bool suspended = overrides_.active(b.name, now) != nullptr;
    Evaluator::Outcome o;
    const GlobalShare* share = b.scope == Scope::kGlobal ? share_of(i) : nullptr;
    {
      ShownSpend shown(s, judged, share);
      o = evaluator_.evaluate(b, s, suspended, now);
    }
    {
      // Alerts tell of spend: a global budget's grant running out is not the budget being spent.
      ShownSpend shown(s, seen, share);
      if (seen != judged) o.alerts = evaluator_.evaluate(b, s, suspended, now).alerts;
      for (size_t r : o.alerts)
        if (auto a = alerts_.fire(b, b.rules[r], s, now); a && hooks_.alert) hooks_.alert(*a);
    }
    RuleState& st = rules_[i];
    if (o.enforced == st.active) continue;
    changed = true;
    ShownSpend shown(s, judged, share);
    const std::string dry = set_->dry_run ? " (dry run: not enforced)" : "";
    for (size_t r : o.enforced)
      if (!st.since.count(r)) {
        st.since[r] = now;
        if (hooks_.audit)
          hooks_.audit(
              {now, "throttle_start", b.name, "tollgate",
               b.rules[r].describe() + ": " + evaluator_.reason(b, b.rules[r], s, now) + dry});
      }
    for (size_t r : st.active)
      if (std::find(o.enforced.begin(), o.enforced.end(), r) == o.enforced.end()) {
        st.since.erase(r);
        if (hooks_.audit)
          hooks_.audit({now, "throttle_stop", b.name, "tollgate",
                        b.rules[r].describe() +
                            (suspended ? ": lifted by override" : ": no longer holds") + dry});
      }
    st.active = std::move(o.enforced);
  }
  if (changed) publish(now);
}

void PolicyEngine::evaluate_all(EpochMs now) {
  std::vector<size_t> all(set_->budgets.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  evaluate(all, now);
}

void PolicyEngine::publish(EpochMs now) {
  std::vector<ActiveThrottle> throttles;
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
      {
        ShownSpend shown(book_.at(i), judged_spend_of(i),
                         b.scope == Scope::kGlobal ? share_of(i) : nullptr);
        a.reason = evaluator_.reason(b, rule, book_.at(i), now);
      }
      if (b.scope == Scope::kGlobal && !within_grant(book_.at(i), share_of(i))) {
        // Lifted as soon as a larger grant arrives (a sync interval), not at the period's end.
        a.reason += " (this instance's share of the global budget is used up; more is asked of "
                    "the other instances)";
        a.period_end = std::min(a.period_end, now + 1000);
      }
      throttles.push_back(std::move(a));
    }
  publisher_.publish(set_, std::move(throttles));
}

std::vector<size_t> PolicyEngine::matching(const Dimensions& d) const {
  return index_.matching(d);
}

void PolicyEngine::record(const std::vector<const UsageEvent*>& accepted) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  boost::unordered_flat_map<std::string, std::vector<size_t>, StringHash, std::equal_to<>>
      cache;  // dimension set → budgets
  const std::vector<size_t> none;
  const bool any_budget = !set_->budgets.empty();
  std::string key;
  std::vector<bool> touched(set_->budgets.size(), false);
  for (const UsageEvent* e : accepted) {
    // The burn history keeps nothing before covered_from(): without budgets, the key is then
    // not needed at all.
    const bool in_history = e->ts_ms >= recent_.covered_from();
    if (any_budget || in_history) {
      key.clear();
      append_key(key, *e);
    }
    const std::vector<size_t>* hits_of = &none;
    if (any_budget) {
      auto it = cache.find(key);
      if (it == cache.end()) it = cache.emplace(key, matching(Dimensions::of(*e))).first;
      hits_of = &it->second;
    }
    const std::vector<size_t>& hits = *hits_of;
    if (in_history) recent_.add(key, e->ts_ms, e->cost.nanos());
    if (!e->reservation_id.empty())
      if (const Reservation* r = book_.find(e->reservation_id)) {
        if (settles(*r, hits)) {
          for (size_t b : r->budgets) touched[b] = true;
          release(e->reservation_id);  // the actual cost replaces the estimate
        } else {
          ++mismatches_;  // another feature's event cannot free this budget's promise
        }
      }
    for (size_t i : hits) {
      book_.roll(i, now);
      if (book_.add(i, e->ts_ms, e->cost.nanos())) touched[i] = true;
      if (e->ts_ms > now - set_->budgets[i].max_burn_window_ms()) {
        book_.at(i).add_minute(e->ts_ms, e->cost.nanos());
        touched[i] = true;
      }
    }
  }
  std::vector<size_t> affected;
  for (size_t i = 0; i < touched.size(); ++i)
    if (touched[i]) affected.push_back(i);
  evaluate(affected, now);
}

size_t PolicyEngine::open_reservations() const {
  std::lock_guard lock(mu_);
  return book_.reservations().size();
}

AdmitDecision PolicyEngine::admit(const Dimensions& d, std::optional<Money> estimate) {
  const EpochMs now = clock_();
  AdmitDecision out = publisher_.table()->decide(d, now);
  if (!estimate) return out;
  if (out.decision == Decision::kThrottle && !out.dry_run) return out;
  std::lock_guard lock(mu_);
  const std::vector<size_t> hits = matching(d);
  for (size_t i : hits) {
    book_.roll(i, now);
    const Budget& b = set_->budgets[i];
    if (overrides_.active(b.name, now)) continue;
    std::optional<AdmitDecision> refused;
    if (b.scope == Scope::kGlobal) {
      // Past a threshold on every instance's spend: refused as for a local budget. Only short of
      // this instance's grant: refused for a second, and the coordinator asks for that much more.
      BudgetSpend& s = book_.at(i);
      {
        ShownSpend shown(s, seen_spend_of(i), share_of(i));
        refused = evaluator_.refuse_estimate(b, s, d.priority, *estimate, now);
      }
      if (!refused && !within_grant(s, share_of(i), estimate->nanos())) {
        ShownSpend shown(s, judged_spend_of(i, estimate->nanos()), share_of(i));
        refused = evaluator_.refuse_estimate(b, s, d.priority, *estimate, now);
        if (refused) {
          int64_t& wanted = wanted_[b.name];
          wanted = std::max(wanted, estimate->nanos());
          refused->retry_after_s = 1;
          refused->reason += " (this instance's share of the global budget is used up; more is "
                             "asked of the other instances)";
        }
      }
    } else {
      refused = evaluator_.refuse_estimate(b, book_.at(i), d.priority, *estimate, now);
    }
    if (refused) {
      refused->dry_run = set_->dry_run;
      if (!refused->dry_run) return *refused;
      out = std::move(*refused);
    }
  }
  Reservation res;
  res.budgets = hits;
  res.estimate = estimate->nanos();
  res.expires = now + set_->reservation_ttl_ms;
  out.reservation_id = random_id("res_");
  if (hooks_.reserved) {
    StoredReservation stored{out.reservation_id, {}, res.estimate, res.expires};
    for (size_t i : res.budgets) stored.budgets.push_back(set_->budgets[i].name);
    hooks_.reserved(stored);
  }
  book_.reserve(out.reservation_id, std::move(res));
  evaluate(hits, now);
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
  overrides_.add(o);
  if (hooks_.audit)
    hooks_.audit({now, "override_created", budget, actor,
                  "suspend until " + format_utc_ms(o.until) + " (" + o.id + "): " + reason_text});
  evaluate({index}, now);
  return o;
}

bool PolicyEngine::remove_override(const std::string& id, const std::string& actor) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::optional<Override> o = overrides_.remove(id);
  if (!o) return false;
  if (hooks_.audit)
    hooks_.audit({now, "override_deleted", o->budget, actor, o->id + ": " + o->reason});
  evaluate_all(now);
  return true;
}

std::vector<Override> PolicyEngine::overrides() const {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  return overrides_.list(now);
}

std::vector<BudgetStatus> PolicyEngine::status() const {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<BudgetStatus> out;
  for (size_t i = 0; i < set_->budgets.size(); ++i) {
    const Budget& b = set_->budgets[i];
    BudgetSpend s = book_.rolled(i, now);  // the current period, even before the ticker
    BudgetStatus st;
    st.scope = b.scope;
    if (b.scope == Scope::kGlobal) {
      const GlobalShare* g = share_of(i);
      const bool current = g && g->period_start == s.period_start;
      st.local_spend = Money::from_nanos(s.spend);
      st.grant = Money::from_nanos(current ? g->allowance : 0);
      st.coordinated = current && g->coordinated;
      if (current) {
        s.spend = saturating_add(s.spend, g->remote);  // every instance's spend
        s.remote_windows = &g->remote_windows;         // and burn (s is a copy: safe to point)
      }
    }
    st.name = b.name;
    st.period = b.period;
    st.period_start = s.period_start;
    st.period_end = s.period_end;
    st.limit = b.limit;
    st.spend = Money::from_nanos(s.spend);
    st.reserved = Money::from_nanos(s.reserved);
    st.utilization =
        b.limit.nanos() ? (double(s.spend) + double(s.reserved)) / double(b.limit.nanos()) : 0;
    st.forecast = evaluator_.forecast(s, now);
    bool alerting = false;
    for (size_t r = 0; r < b.rules.size(); ++r) {
      if (b.rules[r].action != Action::kAlert)
        for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
          if (b.rules[r].priorities & priority_bit(p))
            st.enforceable.emplace_back(p, b.rules[r].action);
      if (!evaluator_.holds(b, b.rules[r], s, now)) continue;
      st.active_rules.push_back(b.rules[r].describe());
      if (b.rules[r].action == Action::kAlert) alerting = true;
    }
    st.burn_rates = evaluator_.burn_rates(b, s, now);
    if (!set_->dry_run)
      for (size_t r : rules_[i].active)
        for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
          if (b.rules[r].priorities & priority_bit(p))
            st.throttles.emplace_back(p, b.rules[r].action);
    if (const Override* o = overrides_.active(b.name, now)) st.override_ = *o;
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

std::vector<GlobalBudget> PolicyEngine::global_budgets() const {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  std::vector<GlobalBudget> out;
  for (size_t i = 0; i < set_->budgets.size(); ++i) {
    const Budget& b = set_->budgets[i];
    if (b.scope != Scope::kGlobal) continue;
    const BudgetSpend s = book_.rolled(i, now);
    auto w = wanted_.find(b.name);
    GlobalBudget g{b.name, b.period, s.period_start, s.period_end, b.limit.nanos(), s.spend,
                   s.reserved, s.window_sum(now, 60'000), w == wanted_.end() ? 0 : w->second,
                   {}, b.on_coordination_loss};
    // Every window a burn rate of this budget is computed over (the standard ones, its rules').
    for (const auto& [text, ms] : kStandardBurnWindows) g.windows[ms] = s.window_sum(now, ms);
    for (const Rule& r : b.rules)
      if (r.burn)
        for (int64_t ms : {r.burn->long_ms, r.burn->short_ms}) g.windows[ms] = s.window_sum(now, ms);
    out.push_back(std::move(g));
  }
  return out;
}

void PolicyEngine::set_share(const std::string& budget, const GlobalShare& share) {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  shares_[budget] = share;
  if (share.coordinated) wanted_.erase(budget);  // the coordinator has seen it
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    if (set_->budgets[i].name == budget) evaluate({i}, now);
}

void PolicyEngine::tick() {
  const EpochMs now = clock_();
  std::lock_guard lock(mu_);
  for (const auto& id : book_.expire(now))
    if (hooks_.released) hooks_.released(id);
  for (const Override& o : overrides_.expire(now))
    if (hooks_.audit)
      hooks_.audit({now, "override_expired", o.budget, "tollgate", o.id + ": " + o.reason});
  for (size_t i = 0; i < set_->budgets.size(); ++i)
    book_.at(i).trim(now, set_->budgets[i].max_burn_window_ms() + 60'000);
  recent_.trim(now, ring_keep_ms(*set_));
  evaluate_all(now);
  if (hooks_.ticked) hooks_.ticked();
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
