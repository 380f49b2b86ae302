#include "daemon/finance/exact_decimal.h"

#include <algorithm>
#include <vector>

#include "metering/money.h"

namespace tollgate {

namespace {

std::string strip_leading_zeros(std::string s) {
  size_t i = s.find_first_not_of('0');
  return i == std::string::npos ? "0" : s.substr(i);
}

}  // namespace

ExactDecimal ExactDecimal::scaled(__int128 mantissa, unsigned scale) {
  ExactDecimal d;
  d.negative_ = mantissa < 0;
  unsigned __int128 magnitude =
      mantissa < 0 ? -static_cast<unsigned __int128>(mantissa) : mantissa;
  std::string s;
  do {
    s.push_back(char('0' + int(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude);
  std::reverse(s.begin(), s.end());
  d.digits_ = s;
  d.scale_ = scale;
  if (d.is_zero()) d.negative_ = false;
  return d;
}

ExactDecimal ExactDecimal::ratio(__int128 numerator, __int128 denominator, unsigned digits) {
  __int128 factor = 1;
  for (unsigned i = 0; i < digits; ++i) factor *= 10;
  return scaled(divide_rounded(numerator * factor, denominator), digits);
}

ExactDecimal ExactDecimal::operator*(const ExactDecimal& other) const {
  // Schoolbook multiplication of the mantissas; the scales add.
  const std::string& a = digits_;
  const std::string& b = other.digits_;
  std::vector<int> product(a.size() + b.size(), 0);
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;) {
      int sum = (a[i] - '0') * (b[j] - '0') + product[i + j + 1];
      product[i + j + 1] = sum % 10;
      product[i + j] += sum / 10;
    }
  std::string s;
  for (int digit : product) s.push_back(char('0' + digit));
  ExactDecimal d;
  d.digits_ = strip_leading_zeros(s);
  d.scale_ = scale_ + other.scale_;
  d.negative_ = !d.is_zero() && negative_ != other.negative_;
  return d;
}

std::string ExactDecimal::to_string() const {
  std::string s = digits_;
  if (s.size() <= scale_) s.insert(0, scale_ - s.size() + 1, '0');
  std::string whole = s.substr(0, s.size() - scale_);
  std::string fraction = s.substr(s.size() - scale_);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  if (fraction.empty()) fraction = "0";
  return (negative_ ? "-" : "") + whole + "." + fraction;
}

}  // namespace tollgate
