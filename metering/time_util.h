#pragma once
// Calendar arithmetic on UTC epoch milliseconds, RFC 3339 text, and an injectable clock.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate {

using EpochMs = int64_t;

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int year, unsigned month, unsigned day);
void civil_from_days(int64_t days, int& year, unsigned& month, unsigned& day);

// "2026-11-21T10:00:00Z", "...T10:00:00.123+05:30"; nullopt when malformed.
std::optional<EpochMs> parse_rfc3339(std::string_view text);
// "YYYY-MM-DD"; nullopt when malformed. Returns days since epoch.
std::optional<int64_t> parse_date(std::string_view text);
// "YYYY-MM-DDTHH:MM:SS.sssZ".
std::string format_utc_ms(EpochMs ms);
// "YYYY-MM-DD" of a day number.
std::string format_date(int64_t days);
// The day (since epoch) holding `ms` past its midnight: floored, also below 0, for any int64.
inline int64_t day_of_ms(int64_t ms) {
  constexpr int64_t kDayMs = 86'400'000;
  return ms >= 0 ? ms / kDayMs : -((-(ms + 1)) / kDayMs) - 1;
}

// Wall clock in epoch milliseconds; tests inject their own.
using Clock = std::function<EpochMs()>;
EpochMs system_now_ms();

}  // namespace tollgate
