#include "metering/money.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace tollgate {

std::optional<Money> Money::parse(std::string_view text, bool allow_negative) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    if (!allow_negative) return std::nullopt;
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  __int128 units = 0;
  __int128 fraction = 0;
  int fraction_digits = 0;
  bool seen_dot = false;
  bool seen_digit = false;
  for (char c : text) {
    if (c == '.') {
      if (seen_dot) return std::nullopt;
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    seen_digit = true;
    if (!seen_dot) {
      units = units * 10 + (c - '0');
      if (units > std::numeric_limits<int64_t>::max() / kNanosPerUnit) return std::nullopt;
    } else {
      if (fraction_digits == 9) {
        if (c != '0') return std::nullopt;  // more precision than a nano: refuse, never round
        continue;
      }
      fraction = fraction * 10 + (c - '0');
      ++fraction_digits;
    }
  }
  if (!seen_digit) return std::nullopt;
  while (fraction_digits < 9) {
    fraction *= 10;
    ++fraction_digits;
  }
  __int128 total = units * kNanosPerUnit + fraction;
  if (total > std::numeric_limits<int64_t>::max()) return std::nullopt;
  return Money(static_cast<int64_t>(negative ? -total : total));
}

std::optional<Money> Money::from_double(double value) {
  if (!std::isfinite(value) || std::fabs(value) > 9.2e9) return std::nullopt;
  // The shortest round-trip representation is what the sender wrote (JSON "0.1" -> 0.1).
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  if (ec != std::errc()) return std::nullopt;
  return parse(std::string_view(buf, end - buf), /*allow_negative=*/true);
}

std::string Money::to_string() const { return decimal_string(nanos_, 9); }

std::string decimal_string(__int128 v, int decimals) {
  const bool negative = v < 0;
  auto magnitude = static_cast<unsigned __int128>(negative ? -v : v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + int(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (digits.size() <= size_t(decimals)) digits.insert(0, decimals + 1 - digits.size(), '0');
  std::string out = negative ? "-" : "";
  out.append(digits, 0, digits.size() - decimals);
  std::string fraction = digits.substr(digits.size() - decimals);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  if (!fraction.empty()) out += '.' + fraction;
  return out;
}

__int128 divide_rounded(__int128 numerator, __int128 denominator) {
  if (denominator == 1) return numerator;  // most of a price's components: nothing to divide
  if (denominator < 0) {
    numerator = -numerator;
    denominator = -denominator;
  }
  __int128 q, r;
  divide_truncated(numerator, denominator, q, r);
  if (r < 0) r = -r;
  if (2 * r >= denominator) q += numerator < 0 ? -1 : 1;
  return q;
}

}  // namespace tollgate
