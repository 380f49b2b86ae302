#include "policies/alert_latch.h"

#include <cstdio>

namespace tollgate {

namespace {

std::string threshold_label(const Rule& r) {
  if (r.burn) return "burn_" + r.burn->long_text + "_" + r.burn->short_text;
  return Money::from_nanos(r.at_nano_percent).to_string();
}

}  // namespace

AlertLatch::AlertLatch(std::shared_ptr<const TimeZone> tz, std::string currency)
    : tz_(std::move(tz)), currency_(std::move(currency)) {}

std::optional<AlertEvent> AlertLatch::fire(const Budget& b, const Rule& r, const BudgetSpend& s,
                                           EpochMs now) {
  AlertEvent a;
  a.threshold = threshold_label(r);
  a.key = b.name + "|" + a.threshold + "|" + std::to_string(s.period_start);
  if (!fired_.insert(a.key).second) return std::nullopt;
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
  return a;
}

}  // namespace tollgate
