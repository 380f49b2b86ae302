#pragma once
// UsageEvent: one validated, normalised usage record as CONTRACT §3 defines it. Plain data.

#include <array>
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

// The priced components of an event: a FOCUS SKU component each (CONTRACT §4.7).
enum class Component {
  kInput,
  kCachedInput,
  kCacheWrite,
  kOutput,  // output tokens that are not reasoning
  kReasoning,
  kRequests,
  kGpuHours,
  kEgressGb
};
constexpr size_t kComponentCount = 8;
constexpr Component kComponents[kComponentCount] = {
    Component::kInput,     Component::kCachedInput, Component::kCacheWrite, Component::kOutput,
    Component::kReasoning, Component::kRequests,    Component::kGpuHours,   Component::kEgressGb};
// "input-tokens", "cached-input-tokens", ..., "gpu-hours", "egress-gb": SKU suffixes.
std::string_view to_string(Component c);

struct PriceEntry;  // metering/price_book.h

// What a price-book cost is made of, for charges a finance team can reconcile: each component's
// share of the cost in nanos of the reporting currency (the shares add up to the cost exactly),
// and the price entry and bracket that priced it. `price` points into the PriceBook that priced
// the event: whoever holds the event past that book's life must keep the book alive (the ingest
// route holds it until the ledger has committed).
struct Itemization {
  std::array<int64_t, kComponentCount> cost_nanos{};
  const PriceEntry* price = nullptr;
  int bracket = 0;  // 0: base prices; i + 1: tier i
  int64_t& operator[](Component c) { return cost_nanos[static_cast<size_t>(c)]; }
  int64_t operator[](Component c) const { return cost_nanos[static_cast<size_t>(c)]; }
};

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
  Itemization itemization;  // price_book only

  // The quantity of a component in its ledger unit: tokens, requests, GPU microseconds, bytes.
  int64_t quantity(Component c) const;

  // Tags as a canonical JSON object text ({} when none).
  std::string tags_json() const;
  void write_tags_json(std::string& out) const;  // the same into `out` (cleared), its buffer reused
};

}  // namespace tollgate
