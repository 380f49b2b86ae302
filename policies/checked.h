#pragma once
// Overflow-safe sums for the budget state. Spend, reservations and windows saturate at the int64
// limits instead of wrapping: a saturated spend is still past every threshold, so it throttles.

#include <cstdint>
#include <limits>

namespace tollgate {

inline int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

inline int64_t saturating_sub(int64_t a, int64_t b) {
  int64_t diff;
  if (!__builtin_sub_overflow(a, b, &diff)) return diff;
  return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace tollgate
