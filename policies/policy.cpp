#include "policies/policy.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace tollgate {

namespace {

bool glob_match(const std::string& pattern, std::string_view value) {
  if (!pattern.empty() && pattern.back() == '*')
    return value.substr(0, pattern.size() - 1) ==
           std::string_view(pattern).substr(0, pattern.size() - 1);
  return value == pattern;
}

}  // namespace

void Matcher::index() {
  dim_ = find_dimension(field);
  exact_.clear();
  prefixes_.clear();
  for (const auto& p : patterns)
    if (!p.empty() && p.back() == '*')
      prefixes_.push_back(p.substr(0, p.size() - 1));
    else
      exact_.insert(p);
  indexed_ = true;
}

bool Matcher::matches(const Dimensions& d) const {
  std::optional<std::string_view> value;
  const Dimension* dim = indexed_ ? dim_ : find_dimension(field);
  if (dim)
    value = value_of(*dim, d);
  else if (auto key = tag_key(field))
    value = tag_value(d, *key);
  if (!value) return false;  // an absent tag matches nothing
  if (!indexed_) {
    for (const auto& p : patterns)
      if (glob_match(p, *value)) return true;
    return false;
  }
  if (exact_.find(*value) != exact_.end()) return true;
  for (const auto& prefix : prefixes_)
    if (value->substr(0, prefix.size()) == prefix) return true;
  return false;
}

bool Budget::matches(const Dimensions& d) const {
  for (const Matcher& m : match)
    if (!m.matches(d)) return false;
  return true;
}

int64_t Budget::max_burn_window_ms() const {
  int64_t w = 0;
  for (const auto& [text, ms] : kStandardBurnWindows) w = std::max(w, ms);
  for (const Rule& r : rules)
    if (r.burn) w = std::max({w, r.burn->long_ms, r.burn->short_ms});
  return w;
}

std::string_view to_string(Scope s) { return s == Scope::kGlobal ? "global" : "local"; }

std::string_view to_string(CoordinationLoss c) {
  return c == CoordinationLoss::kLocalShare ? "local_share" : "block_listed";
}

std::string_view to_string(Period p) {
  switch (p) {
    case Period::kDay:
      return "day";
    case Period::kWeek:
      return "week";
    case Period::kMonth:
      return "month";
  }
  return "day";
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::kAlert:
      return "alert";
    case Action::kReroute:
      return "reroute";
    case Action::kLimitRps:
      return "limit_rps";
    case Action::kBlock:
      return "block";
  }
  return "alert";
}

std::string Rule::describe() const {
  std::string s(to_string(action));
  if (burn) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", burn->factor);
    return s + " on burn rate " + burn->long_text + "/" + burn->short_text + " > " + buf + "x";
  }
  return s + " at " + Money::from_nanos(at_nano_percent).to_string() + "%";
}

std::string Rule::identity() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "|rps=%.17g|priorities=%u|model=", rps, priorities);
  return describe() + buf + model;
}

std::pair<EpochMs, EpochMs> period_bounds(Period p, const TimeZone& tz, EpochMs now) {
  int64_t day = tz.local_day(now);
  int64_t first = day, next = day + 1;
  if (p == Period::kWeek) {
    int64_t weekday = ((day + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday; Monday = 0
    first = day - weekday;
    next = first + 7;
  } else if (p == Period::kMonth) {
    int y;
    unsigned m, d;
    civil_from_days(day, y, m, d);
    first = days_from_civil(y, m, 1);
    next = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
  }
  return {tz.day_start(first), tz.day_start(next)};
}

std::optional<int64_t> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n <= 0) return std::nullopt;
  int64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = 60'000;
      break;
    case 'h':
      unit_ms = 3'600'000;
      break;
    case 'd':
      unit_ms = 86'400'000;
      break;
    default:
      return std::nullopt;
  }
  int64_t ms = 0;
  if (__builtin_mul_overflow(n, unit_ms, &ms)) return std::nullopt;  // never wraps to a small one
  return ms;
}

}  // namespace tollgate
