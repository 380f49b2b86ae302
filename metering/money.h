#pragma once
// Money: an exact amount as int64 nano-units (1e-9) of some currency. Never a double in sums.
// Decimal text in and out, exact to 9 decimals.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate {

class Money {
 public:
  static constexpr int64_t kNanosPerUnit = 1'000'000'000;

  constexpr Money() = default;
  static constexpr Money from_nanos(int64_t nanos) { return Money(nanos); }
  // Parses a plain decimal ("12", "0.05", "1e-3" is refused): at most 9 decimals, no sign
  // unless allow_negative. nullopt when not exactly representable.
  static std::optional<Money> parse(std::string_view text, bool allow_negative = false);
  // Exact conversion of a JSON/YAML number given as double: the shortest decimal that round-trips
  // the double is taken, so 0.1 means exactly 0.1. nullopt for NaN, infinities, more than 9
  // decimals of significance or out of range.
  static std::optional<Money> from_double(double value);

  constexpr int64_t nanos() const { return nanos_; }
  double to_double() const { return static_cast<double>(nanos_) / kNanosPerUnit; }
  // "12.5", "0.000000001", "-3": no trailing zeros, no exponent.
  std::string to_string() const;

  friend constexpr bool operator==(Money a, Money b) { return a.nanos_ == b.nanos_; }
  friend constexpr auto operator<=>(Money a, Money b) { return a.nanos_ <=> b.nanos_; }

 private:
  constexpr explicit Money(int64_t nanos) : nanos_(nanos) {}
  int64_t nanos_ = 0;
};

// `units` × 10^-decimals as plain decimal text ("12.5", "-3"): no trailing zeros, no exponent.
std::string decimal_string(__int128 units, int decimals);

// a + b, or nullopt where int64 would wrap: every sum of money or counts goes through this, so a
// hostile or huge input is refused instead of silently turning a total negative.
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// Rounds numerator/denominator to the nearest integer, halves away from zero.
__int128 divide_rounded(__int128 numerator, __int128 denominator);

// a / b and a % b, truncated toward zero as __int128's are, for b > 0. In 64 bits where both
// fit: the 64-bit division is an instruction, the 128-bit one a library call several times
// slower (and b > 0 keeps the 64-bit one from overflowing).
inline void divide_truncated(__int128 a, __int128 b, __int128& quotient, __int128& remainder) {
  if (a == int64_t(a) && b == int64_t(b)) {
    quotient = int64_t(a) / int64_t(b);
    remainder = int64_t(a) % int64_t(b);
  } else {
    quotient = a / b;
    remainder = a % b;
  }
}

}  // namespace tollgate
