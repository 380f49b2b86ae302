#pragma once
// ExactDecimal: a decimal number of any size, for the FOCUS export's products of unit prices,
// exchange rates and quantities, which must multiply out exactly (ListUnitPrice × PricingQuantity
// = ListCost) and can pass 128 bits. Only what the export needs: build, multiply, print.

#include <string>

namespace tollgate {

class ExactDecimal {
 public:
  ExactDecimal() = default;
  // mantissa × 10^-scale.
  static ExactDecimal scaled(__int128 mantissa, unsigned scale);
  // numerator / denominator rounded half away from zero to `digits` decimals (denominator > 0).
  static ExactDecimal ratio(__int128 numerator, __int128 denominator, unsigned digits);

  ExactDecimal operator*(const ExactDecimal& other) const;
  bool is_zero() const { return digits_ == "0"; }

  // FOCUS decimal text: at least one decimal ("12.0"), no trailing zeros beyond it, no exponent.
  std::string to_string() const;

 private:
  bool negative_ = false;
  std::string digits_ = "0";  // the mantissa's decimal digits, no leading zeros
  unsigned scale_ = 0;
};

}  // namespace tollgate
