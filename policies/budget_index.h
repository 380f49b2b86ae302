#pragma once
// BudgetIndex: the budgets that match a dimension set, found without testing every budget. A
// budget with a match key of exact values on a dimension (`feature: [search, chat]`) is filed
// under each of those values (of its most selective such key); the others (prefix globs only, tag keys, no match key) are tested
// for every dimension set. With 10,000 budgets over as many features, an event is tested against
// the few filed under its values, not all 10,000 (at a company's cardinality nearly every event
// is a new dimension set, and testing them all cost 35x the ingest rate).
//
// Immutable once built, so any thread may read it. It points into the budgets it was built from:
// they (their PolicySet) must outlive it.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metering/dimensions.h"
#include "policies/policy.h"

namespace tollgate {

class BudgetIndex {
 public:
  BudgetIndex() = default;
  // Indexes `budgets`, or only those at the indices in `only` (a rebuild's budgets).
  explicit BudgetIndex(const std::vector<Budget>& budgets,
                       const std::vector<size_t>* only = nullptr);
  // The indices of the indexed budgets that match `d` (Budget::matches), ascending.
  std::vector<size_t> matching(const Dimensions& d) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Filed {
    const Dimension* dimension = nullptr;
    std::unordered_map<std::string, std::vector<size_t>, Hash, std::equal_to<>> by_value;
  };
  const std::vector<Budget>* budgets_ = nullptr;
  std::vector<Filed> filed_;      // one per dimension some budget is filed under
  std::vector<size_t> tested_;    // budgets tested for every dimension set
};

}  // namespace tollgate
