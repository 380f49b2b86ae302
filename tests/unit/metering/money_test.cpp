#include "metering/money.h"

#include <doctest/doctest.h>

#include <cstdint>

using tollgate::Money;

TEST_CASE("Money parses decimals exactly and refuses what it cannot hold") {
  CHECK(Money::parse("0.05")->nanos() == 50'000'000);
  CHECK(Money::parse("12")->nanos() == 12'000'000'000);
  CHECK(Money::parse("0.000000001")->nanos() == 1);
  CHECK(Money::parse("1.2300000000")->nanos() == 1'230'000'000);  // trailing zeros are fine
  CHECK_FALSE(Money::parse("0.0000000001"));                      // below a nano: refused
  CHECK_FALSE(Money::parse("-1"));
  CHECK(Money::parse("-1", true)->nanos() == -1'000'000'000);
  CHECK_FALSE(Money::parse("1e3"));
  CHECK_FALSE(Money::parse(""));
  CHECK_FALSE(Money::parse("."));
  CHECK_FALSE(Money::parse("99999999999"));  // over int64 nanos
}

TEST_CASE("Money from a JSON double takes the decimal the sender wrote") {
  CHECK(Money::from_double(0.1)->nanos() == 100'000'000);
  CHECK(Money::from_double(0.3)->nanos() == 300'000'000);
  CHECK(Money::from_double(1e-9)->nanos() == 1);
  CHECK_FALSE(Money::from_double(1e-10));
}

TEST_CASE("Money prints without trailing zeros") {
  CHECK(Money::from_nanos(400'120'000'000).to_string() == "400.12");
  CHECK(Money::from_nanos(1).to_string() == "0.000000001");
  CHECK(Money::from_nanos(-1'500'000'000).to_string() == "-1.5");
  CHECK(Money::from_nanos(0).to_string() == "0");
}

TEST_CASE("divide_rounded rounds half away from zero") {
  CHECK(tollgate::divide_rounded(5, 2) == 3);
  CHECK(tollgate::divide_rounded(-5, 2) == -3);
  CHECK(tollgate::divide_rounded(4, 3) == 1);
  CHECK(tollgate::divide_rounded(1, 3) == 0);
}

TEST_CASE("divide_rounded is the same in 64 and 128 bits, on both sides of the boundary") {
  // The rounding written out in 128 bits, as divide_rounded did before its 64-bit path.
  auto reference = [](__int128 n, __int128 d) {
    if (d < 0) n = -n, d = -d;
    __int128 q = n / d, r = n % d;
    if (r < 0) r = -r;
    if (2 * r >= d) q += n < 0 ? -1 : 1;
    return q;
  };
  const __int128 max64 = INT64_MAX, min64 = INT64_MIN, two64 = __int128(1) << 64;
  const __int128 numerators[] = {0,
                                 1,
                                 -1,
                                 5,
                                 -5,
                                 max64,
                                 max64 - 1,
                                 min64,
                                 min64 + 1,
                                 max64 + 1,
                                 min64 - 1,
                                 two64 + 5,
                                 -two64 - 5,
                                 max64 / 2,
                                 max64 / 2 + 1,
                                 __int128(250'000'000'000'000'000) * 1'000'000};
  const __int128 denominators[] = {1,         -1,
                                   2,         -2,
                                   3,         7,
                                   -7,        1'000'000'000,
                                   max64,     -max64,
                                   max64 + 1, min64,
                                   two64,     __int128(100'000'000'000'000'000)};
  for (__int128 n : numerators)
    for (__int128 d : denominators) {
      CAPTURE(tollgate::decimal_string(n, 0));  // whole: a 128-bit value cut to 64 would mislead
      CAPTURE(tollgate::decimal_string(d, 0));
      CHECK(tollgate::divide_rounded(n, d) == reference(n, d));
    }
}
