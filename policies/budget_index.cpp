#include "policies/budget_index.h"

#include <algorithm>

namespace tollgate {

BudgetIndex::BudgetIndex(const std::vector<Budget>& budgets, const std::vector<size_t>* only)
    : budgets_(&budgets) {
  // How few events share a value of the dimension, roughly: a budget is filed under its most
  // selective key (`{priority: [standard], customer: [acme]}` under acme, not under the priority
  // nearly every event has), fewest values first among equals.
  auto selectivity = [](const Dimension* d) {
    const std::string_view n = d->name;
    if (n == "priority") return 0;
    if (n == "provider" || n == "region") return 1;
    if (n == "model" || n == "team") return 2;
    return 3;  // feature, customer
  };
  auto file = [&](size_t i) {
    // A budget matching a dimension set has one of its key's values there.
    const Matcher* key = nullptr;
    for (const Matcher& m : budgets[i].match) {
      if (!m.exact_only() || m.patterns.empty()) continue;
      if (!key || selectivity(m.dimension()) > selectivity(key->dimension()) ||
          (selectivity(m.dimension()) == selectivity(key->dimension()) &&
           m.patterns.size() < key->patterns.size()))
        key = &m;
    }
    if (!key) {
      tested_.push_back(i);
      return;
    }
    auto slot = std::find_if(filed_.begin(), filed_.end(),
                             [&](const Filed& f) { return f.dimension == key->dimension(); });
    if (slot == filed_.end()) slot = filed_.insert(filed_.end(), Filed{key->dimension(), {}});
    for (const std::string& value : key->patterns) {
      std::vector<size_t>& under = slot->by_value[value];
      if (under.empty() || under.back() != i) under.push_back(i);  // a value written twice
    }
  };
  if (only) {
    for (size_t i : *only) file(i);
  } else {
    for (size_t i = 0; i < budgets.size(); ++i) file(i);
  }
}

std::vector<size_t> BudgetIndex::matching(const Dimensions& d) const {
  std::vector<size_t> hits;
  if (!budgets_) return hits;
  auto test = [&](size_t i) {
    if ((*budgets_)[i].matches(d)) hits.push_back(i);
  };
  for (const Filed& f : filed_)
    if (auto it = f.by_value.find(value_of(*f.dimension, d)); it != f.by_value.end())
      for (size_t i : it->second) test(i);
  for (size_t i : tested_) test(i);
  // Each budget is filed once, so no index repeats; the order is the budgets' own.
  std::sort(hits.begin(), hits.end());
  return hits;
}

}  // namespace tollgate
