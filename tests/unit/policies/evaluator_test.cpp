// The evaluator as a pure function: budget state and a time in, decisions out.
#include "policies/evaluator.h"
#include "policies/policy.h"

#include <doctest/doctest.h>

#include <climits>

using namespace tollgate;

namespace {

constexpr int64_t kUsd = 1'000'000'000;

Rule threshold_rule(Action a, int percent, unsigned priorities) {
  Rule r;
  r.action = a;
  r.at_nano_percent = int64_t(percent) * kUsd;
  r.priorities = priorities;
  return r;
}

Budget budget_of(std::vector<Rule> rules) {
  Budget b;
  b.name = "b";
  b.limit = Money::from_nanos(10 * kUsd);
  b.rules = std::move(rules);
  return b;
}

BudgetSpend state(int64_t spend, int64_t reserved = 0) {
  BudgetSpend s;
  s.period_start = 0;
  s.period_end = 86'400'000;
  s.spend = spend;
  s.reserved = reserved;
  return s;
}

const unsigned kBatch = priority_bit(Priority::kBatch);
const unsigned kStandard = priority_bit(Priority::kStandard);

}  // namespace

TEST_CASE("threshold rules hold from spend + reserved at their percentage") {
  const Evaluator ev("USD");
  const Budget b = budget_of({threshold_rule(Action::kAlert, 80, 0),
                              threshold_rule(Action::kReroute, 90, kStandard | kBatch),
                              threshold_rule(Action::kBlock, 100, kBatch)});
  struct Row {
    int64_t spend, reserved;
    bool suspended;
    std::vector<size_t> enforced, alerts;
  };
  const Row table[] = {
      {7 * kUsd, 0, false, {}, {}},
      {8 * kUsd, 0, false, {}, {0}},
      {8 * kUsd, kUsd, false, {1}, {0}},
      {10 * kUsd - 1, 0, false, {1}, {0}},
      {10 * kUsd, 0, false, {1, 2}, {0}},
      {5 * kUsd, 5 * kUsd, false, {1, 2}, {0}},
      {10 * kUsd, 0, true, {}, {0}},  // an override suspends enforcement, not alerts
      {INT64_MAX, INT64_MAX, false, {1, 2}, {0}},
  };
  for (const Row& row : table) {
    INFO("spend " << row.spend << " reserved " << row.reserved);
    auto o = ev.evaluate(b, state(row.spend, row.reserved), row.suspended, 3'600'000);
    CHECK(o.enforced == row.enforced);
    CHECK(o.alerts == row.alerts);
  }
}

TEST_CASE("an estimate is refused only when it takes a block rule of its priority past") {
  const Evaluator ev("USD");
  const Budget b = budget_of({threshold_rule(Action::kBlock, 100, kBatch)});
  const EpochMs now = 3'600'000;
  CHECK_FALSE(
      ev.refuse_estimate(b, state(9 * kUsd), Priority::kBatch, Money::from_nanos(kUsd), now));
  auto refused =
      ev.refuse_estimate(b, state(9 * kUsd, 1), Priority::kBatch, Money::from_nanos(kUsd), now);
  REQUIRE(refused);
  CHECK(refused->decision == Decision::kThrottle);
  CHECK(refused->retry_after_s == (86'400'000 - now) / 1000);
  CHECK_FALSE(
      ev.refuse_estimate(b, state(10 * kUsd), Priority::kStandard, Money::from_nanos(kUsd), now));
  CHECK(ev.refuse_estimate(b, state(INT64_MAX, INT64_MAX), Priority::kBatch,
                           Money::from_nanos(INT64_MAX), now));
}

TEST_CASE("burn rates: window spend over the sustainable rate, both windows must exceed") {
  const Evaluator ev("USD");
  Rule burn;
  burn.action = Action::kBlock;
  burn.priorities = kBatch;
  burn.burn = BurnRate{3'600'000, 300'000, "1h", "5m", 14.4};
  const Budget b = budget_of({burn});
  const EpochMs now = 12 * 3'600'000;
  // Limit 10 a day: 10/24 per hour is sustainable; 14.4x of it is 6 an hour, 0.5 per 5 minutes.
  struct Row {
    int64_t hour_ago, minute_ago;  // spend 50 and 1 minutes before now
    bool holds;
  };
  const Row table[] = {{6 * kUsd, 0, false},
                       {0, kUsd / 2, false},
                       {6 * kUsd, kUsd / 2 + 1, true},
                       {5 * kUsd, kUsd, false}};
  for (const Row& row : table) {
    BudgetSpend s = state(0);
    s.add_minute(now - 50 * 60'000, row.hour_ago);
    s.add_minute(now - 60'000, row.minute_ago);
    INFO(row.hour_ago << " / " << row.minute_ago);
    CHECK(ev.holds(b, burn, s, now) == row.holds);
  }
  BudgetSpend s = state(0);
  s.add_minute(now - 60'000, 10 * kUsd / 24);
  CHECK(ev.burn_rate(b, s, now, 3'600'000) == doctest::Approx(1.0));
}

TEST_CASE("forecast projects linearly and saturates") {
  const Evaluator ev("USD");
  CHECK(ev.forecast(state(kUsd), 21'600'000).nanos() == 4 * kUsd);
  CHECK(ev.forecast(state(INT64_MAX), 21'600'000).nanos() == INT64_MAX);
}

TEST_CASE("durations: whole units, and a count that would overflow is no duration") {
  CHECK(parse_duration("90s") == 90'000);
  CHECK(parse_duration("7d") == 7 * 86'400'000LL);
  CHECK_FALSE(parse_duration("5124095576031h").has_value());  // × 3.6e6 passes int64
  CHECK_FALSE(parse_duration("9223372036854775807s").has_value());
  CHECK_FALSE(parse_duration("0m").has_value());
  CHECK_FALSE(parse_duration("1w").has_value());
  CHECK_FALSE(parse_duration("h").has_value());
}
