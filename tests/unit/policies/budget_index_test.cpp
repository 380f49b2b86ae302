// BudgetIndex: the budgets it finds for a dimension set are exactly those that match, in order,
// whatever their match keys (exact values, prefixes, tags, several keys, none); and the throttle
// table that uses one decides as if it tested every throttle.
#include "policies/budget_index.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>

#include "policies/throttle_publisher.h"

using namespace tollgate;

namespace {

std::vector<size_t> scan(const std::vector<Budget>& budgets, const Dimensions& d,
                         const std::vector<size_t>* only = nullptr) {
  std::vector<size_t> hits;
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (only && std::find(only->begin(), only->end(), i) == only->end()) continue;
    if (budgets[i].matches(d)) hits.push_back(i);
  }
  return hits;
}

// Budgets with random match keys: none (everything), or up to three keys of exact values,
// prefix globs and tags, a value written twice now and then.
std::vector<Budget> random_budgets(const std::function<int(int)>& pick, int n) {
  const char* fields[] = {"feature", "team",   "customer", "model",
                          "priority", "provider", "region", "tag:env"};
  std::vector<Budget> budgets;
  for (int i = 0; i < n; ++i) {
    Budget b;
    b.name = "b" + std::to_string(i);
    const int keys = pick(4);
    for (int k = 0; k < keys; ++k) {
      const std::string field = fields[pick(8)];
      std::vector<std::string> patterns;
      for (int p = 0, m = 1 + pick(3); p < m; ++p) {
        std::string v = field == "priority" ? (pick(2) ? "batch" : "standard")
                                            : field.substr(0, 1) + std::to_string(pick(8));
        if (pick(6) == 0) v = v.substr(0, 1) + "*";
        patterns.push_back(v);
        if (pick(5) == 0) patterns.push_back(v);
      }
      b.match.emplace_back(field, patterns);
    }
    budgets.push_back(std::move(b));
  }
  return budgets;
}

Dimensions random_dimensions(const std::function<int(int)>& pick) {
  Dimensions d;
  d.feature = "f" + std::to_string(pick(8));
  d.team = "t" + std::to_string(pick(8));
  d.customer = "c" + std::to_string(pick(8));
  d.model = "m" + std::to_string(pick(8));
  d.provider = "p" + std::to_string(pick(8));
  d.region = "r" + std::to_string(pick(8));
  d.priority = pick(2) ? Priority::kBatch : Priority::kStandard;
  if (pick(2)) d.tags = {{"env", "t" + std::to_string(pick(8))}};
  return d;
}

}  // namespace

TEST_CASE("the index finds exactly the budgets a scan finds") {
  std::mt19937 rng(12);
  const std::function<int(int)> pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<Budget> budgets = random_budgets(pick, 400);
  std::vector<size_t> some;
  for (size_t i = 0; i < budgets.size(); i += 3) some.push_back(i);
  const BudgetIndex all(budgets), part(budgets, &some);
  for (int n = 0; n < 3000; ++n) {
    const Dimensions d = random_dimensions(pick);
    CAPTURE(n);
    REQUIRE(all.matching(d) == scan(budgets, d));
    REQUIRE(part.matching(d) == scan(budgets, d, &some));
  }
}

TEST_CASE("the throttle table decides through its index exactly as by testing every throttle") {
  std::mt19937 rng(7);
  const std::function<int(int)> pick = [&](int n) { return static_cast<int>(rng() % n); };
  auto set = std::make_shared<PolicySet>();
  set->budgets = random_budgets(pick, 300);
  std::vector<ActiveThrottle> throttles;
  for (size_t i = 0; i < set->budgets.size(); i += 30 + size_t(pick(30))) {
    // A budget without a match key covers every request: it would throttle them all.
    if (set->budgets[i].match.empty()) continue;
    for (int r = 0, rules = 1 + pick(2); r < rules; ++r) {  // a budget may have two in force
      ActiveThrottle t;
      t.budget_index = i;
      t.rule_index = size_t(r);
      t.budget = set->budgets[i].name;
      t.action = pick(2) ? Action::kBlock : Action::kReroute;
      t.priorities = pick(2) ? priority_bit(Priority::kBatch)
                             : priority_bit(Priority::kBatch) | priority_bit(Priority::kStandard);
      t.model = "cheap";
      t.period_end = 86'400'000;
      t.reason = t.budget + " rule " + std::to_string(r);
      throttles.push_back(std::move(t));
    }
  }
  ThrottlePublisher publisher;
  publisher.publish(set, throttles);
  const std::shared_ptr<const ThrottleTable> indexed = publisher.table();
  REQUIRE(indexed->index);
  ThrottleTable scanned = *indexed;
  scanned.index.reset();
  int throttled = 0, rerouted = 0;
  for (int n = 0; n < 3000; ++n) {
    const Dimensions d = random_dimensions(pick);
    CAPTURE(n);
    const AdmitDecision a = indexed->decide(d, 1000), b = scanned.decide(d, 1000);
    REQUIRE(a.decision == b.decision);
    REQUIRE(a.budget == b.budget);
    REQUIRE(a.reason == b.reason);
    REQUIRE(a.retry_after_s == b.retry_after_s);
    throttled += a.decision == Decision::kThrottle;
    rerouted += a.decision == Decision::kReroute;
  }
  CHECK(throttled > 100);  // the comparison saw every outcome often
  CHECK(rerouted > 100);
  CHECK(3000 - throttled - rerouted > 100);
}

TEST_CASE("an empty index matches nothing") {
  Dimensions d;
  d.feature = "chat";
  CHECK(BudgetIndex().matching(d).empty());
  std::vector<Budget> none;
  CHECK(BudgetIndex(none).matching(d).empty());
}
