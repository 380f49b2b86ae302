#include "policies/budget_index.h"

#include <algorithm>

namespace tollgate {

BudgetIndex::BudgetIndex(const std::vector<Budget>& budgets, const std::vector<size_t>* only)
    : budgets_(&budgets) {
  auto file = [&](size_t i) {
    // Under its first match key of exact values on a dimension: a budget matching the set
    // has one of those values there.
    for (const Matcher& m : budgets[i].match) {
      if (!m.exact_only() || m.patterns.empty()) continue;
      auto slot = std::find_if(filed_.begin(), filed_.end(),
                               [&](const Filed& f) { return f.dimension == m.dimension(); });
      if (slot == filed_.end()) slot = filed_.insert(filed_.end(), Filed{m.dimension(), {}});
      for (const std::string& value : m.patterns) {
        std::vector<size_t>& under = slot->by_value[value];
        if (under.empty() || under.back() != i) under.push_back(i);  // a value written twice
      }
      return;
    }
    tested_.push_back(i);
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
