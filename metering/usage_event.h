#pragma once
// UsageEvent: one validated, normalised usage record as CONTRACT §3 defines it. Plain data.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metering/money.h"
#include "metering/time_util.h"

namespace tollgate {

enum class Priority { kCritical, kStandard, kBatch };
std::string_view to_string(Priority p);
std::optional<Priority> parse_priority(std::string_view s);

enum class PricedBy { kPriceBook, kCaller, kUnpriced };
std::string_view to_string(PricedBy p);

struct UsageEvent {
  std::string event_id;
  EpochMs ts_ms = 0;
  std::string feature, team, customer;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key, keys unique
  std::string provider, model, region;
  Priority priority = Priority::kStandard;
  int64_t input_tokens = 0;  // uncached input only
  int64_t cached_input_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t output_tokens = 0;     // reasoning included, as OpenAI counts them
  int64_t reasoning_tokens = 0;  // the part of output_tokens that is reasoning ("thinking")
  int64_t requests = 1;
  int64_t gpu_micros = 0;  // gpu_seconds × 1e6, so sums stay integers
  int64_t egress_bytes = 0;
  int64_t latency_ms = 0;
  bool status_ok = true;
  Money value_units;  // fixed point, 9 decimals, like money
  Money revenue;
  std::optional<Money> caller_cost;  // in reporting currency
  std::string reservation_id;

  // Filled by pricing.
  Money cost;
  PricedBy priced_by = PricedBy::kUnpriced;
  std::string price_ref;  // which price entry priced it ("" unless price_book)

  // Tags as a canonical JSON object text ({} when none).
  std::string tags_json() const;
};

}  // namespace tollgate
