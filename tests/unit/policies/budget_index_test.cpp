// BudgetIndex: the budgets it finds for a dimension set are exactly those that match, in order,
// whatever their match keys (exact values, prefixes, tags, several keys, none).
#include "policies/budget_index.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

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

}  // namespace

TEST_CASE("the index finds exactly the budgets a scan finds") {
  std::mt19937 rng(12);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const char* fields[] = {"feature", "team",   "customer", "model",
                          "priority", "provider", "region", "tag:env"};
  std::vector<Budget> budgets;
  for (int i = 0; i < 400; ++i) {
    Budget b;
    b.name = "b" + std::to_string(i);
    const int keys = pick(4);  // none (everything), one, two or three match keys
    for (int k = 0; k < keys; ++k) {
      const std::string field = fields[pick(8)];
      std::vector<std::string> patterns;
      for (int p = 0, n = 1 + pick(3); p < n; ++p) {
        std::string v = field == "priority" ? (pick(2) ? "batch" : "standard")
                                            : field.substr(0, 1) + std::to_string(pick(8));
        if (pick(6) == 0) v = v.substr(0, 1) + "*";  // a prefix glob now and then
        patterns.push_back(v);
        if (pick(5) == 0) patterns.push_back(v);    // a value written twice
      }
      b.match.emplace_back(field, patterns);
    }
    budgets.push_back(std::move(b));
  }
  std::vector<size_t> some;
  for (size_t i = 0; i < budgets.size(); i += 3) some.push_back(i);
  const BudgetIndex all(budgets), part(budgets, &some);
  for (int n = 0; n < 3000; ++n) {
    Dimensions d;
    d.feature = "f" + std::to_string(pick(8));
    d.team = "t" + std::to_string(pick(8));
    d.customer = "c" + std::to_string(pick(8));
    d.model = "m" + std::to_string(pick(8));
    d.provider = "p" + std::to_string(pick(8));
    d.region = "r" + std::to_string(pick(8));
    d.priority = pick(2) ? Priority::kBatch : Priority::kStandard;
    if (pick(2)) d.tags = {{"env", "t" + std::to_string(pick(8))}};
    CAPTURE(n);
    REQUIRE(all.matching(d) == scan(budgets, d));
    REQUIRE(part.matching(d) == scan(budgets, d, &some));
  }
}

TEST_CASE("an empty index matches nothing") {
  Dimensions d;
  d.feature = "chat";
  CHECK(BudgetIndex().matching(d).empty());
  std::vector<Budget> none;
  CHECK(BudgetIndex(none).matching(d).empty());
}
