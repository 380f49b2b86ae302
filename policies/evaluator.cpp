#include "policies/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "policies/checked.h"

namespace tollgate {

namespace {

constexpr __int128 kHundredPercent = __int128(100) * Money::kNanosPerUnit;

// spend + reserved (+ extra) ≥ (or >) the rule's share of the limit, in exact 128-bit arithmetic.
__int128 committed(const BudgetSpend& s, int64_t extra = 0) {
  return (__int128(s.spend) + s.reserved + extra) * kHundredPercent;
}

__int128 threshold(const Budget& b, const Rule& r) {
  return __int128(r.at_nano_percent) * b.limit.nanos();
}

}  // namespace

std::string priorities_text(unsigned mask) {
  std::string s;
  for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
    if (mask & priority_bit(p))
      s += std::string(s.empty() ? "" : " and ") + std::string(to_string(p));
  return s;
}

Evaluator::Evaluator(std::string currency) : currency_(std::move(currency)) {}

double Evaluator::burn_rate(const Budget& b, const BudgetSpend& s, EpochMs now,
                            int64_t window_ms) const {
  const double limit = static_cast<double>(b.limit.nanos());
  const double period_ms = static_cast<double>(s.period_end - s.period_start);
  if (limit <= 0 || period_ms <= 0 || window_ms <= 0) return 0;
  return static_cast<double>(s.window_sum(now, window_ms)) / (limit * window_ms / period_ms);
}

bool Evaluator::holds(const Budget& b, const Rule& r, const BudgetSpend& s, EpochMs now) const {
  if (r.burn)
    return burn_rate(b, s, now, r.burn->long_ms) > r.burn->factor &&
           burn_rate(b, s, now, r.burn->short_ms) > r.burn->factor;
  return committed(s) >= threshold(b, r);
}

Evaluator::Outcome Evaluator::evaluate(const Budget& b, const BudgetSpend& s, bool suspended,
                                       EpochMs now) const {
  Outcome out;
  for (size_t r = 0; r < b.rules.size(); ++r) {
    if (!holds(b, b.rules[r], s, now)) continue;
    if (b.rules[r].action == Action::kAlert)
      out.alerts.push_back(r);
    else if (!suspended)
      out.enforced.push_back(r);
  }
  return out;
}

std::vector<std::pair<std::string, double>> Evaluator::burn_rates(const Budget& b,
                                                                  const BudgetSpend& s,
                                                                  EpochMs now) const {
  std::vector<std::pair<std::string, double>> out;
  std::set<std::string> windows;
  auto add = [&](const std::string& text, int64_t ms) {
    if (windows.insert(text).second) out.emplace_back(text, burn_rate(b, s, now, ms));
  };
  for (const auto& [text, ms] : kStandardBurnWindows) add(text, ms);
  for (const Rule& r : b.rules)
    if (r.burn) {
      add(r.burn->long_text, r.burn->long_ms);
      add(r.burn->short_text, r.burn->short_ms);
    }
  return out;
}

Money Evaluator::forecast(const BudgetSpend& s, EpochMs now) const {
  const EpochMs elapsed = std::max<EpochMs>(now - s.period_start, 60'000);
  const __int128 projected = __int128(s.spend) * (s.period_end - s.period_start) / elapsed;
  return Money::from_nanos(projected > INT64_MAX ? INT64_MAX : static_cast<int64_t>(projected));
}

std::optional<AdmitDecision> Evaluator::refuse_estimate(const Budget& b, const BudgetSpend& s,
                                                        Priority p, Money estimate,
                                                        EpochMs now) const {
  for (const Rule& r : b.rules) {
    if (r.action != Action::kBlock || r.burn || !(r.priorities & priority_bit(p))) continue;
    if (committed(s, estimate.nanos()) <= threshold(b, r)) continue;
    AdmitDecision t;
    t.decision = Decision::kThrottle;
    t.budget = b.name;
    t.action = "block";
    t.retry_after_s = std::max<int64_t>(1, (s.period_end - now + 999) / 1000);
    t.reason = "admitting an estimated " + estimate.to_string() + " " + currency_ + " would take " +
               state_text(b, r, s, now) + " past its block threshold; " +
               priorities_text(r.priorities) + " requests are blocked until " +
               format_utc_ms(s.period_end) + " or an override";
    return t;
  }
  return std::nullopt;
}

std::string Evaluator::state_text(const Budget& b, const Rule& r, const BudgetSpend& s,
                                  EpochMs now) const {
  char buf[256];
  if (r.burn) {
    std::snprintf(buf, sizeof buf,
                  "budget %s is burning %.1fx its sustainable rate over %s and %.1fx over %s "
                  "(threshold %gx; %s of %s %s spent this %s)",
                  b.name.c_str(), burn_rate(b, s, now, r.burn->long_ms), r.burn->long_text.c_str(),
                  burn_rate(b, s, now, r.burn->short_ms), r.burn->short_text.c_str(),
                  r.burn->factor, Money::from_nanos(s.spend).to_string().c_str(),
                  b.limit.to_string().c_str(), currency_.c_str(),
                  std::string(to_string(b.period)).c_str());
    return buf;
  }
  const double pct = b.limit.nanos()
                         ? 100.0 * (double(s.spend) + double(s.reserved)) / double(b.limit.nanos())
                         : 0;
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
  return buf;
}

std::string Evaluator::reason(const Budget& b, const Rule& r, const BudgetSpend& s,
                              EpochMs now) const {
  std::string why = state_text(b, r, s, now);
  const std::string who = priorities_text(r.priorities);
  if (r.action == Action::kBlock) {
    why += "; " + who + " requests are blocked until " + format_utc_ms(s.period_end) +
           " or an override";
  } else if (r.action == Action::kLimitRps) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", r.rps);
    why += "; " + who + " requests are limited to " + buf + " per second";
  } else if (r.action == Action::kReroute) {
    why += "; " + who + " requests should use " + r.model;
  }
  return why;
}

}  // namespace tollgate
