#include "metering/price_book.h"

#include <algorithm>

namespace tollgate {

namespace {

using i128 = __int128;
constexpr i128 kHundredPercent = i128(100) * Money::kNanosPerUnit;  // nano-percent

Status out_of_range(const std::string& what) { return Status::error(Code::kCostOutOfRange, what); }

constexpr i128 kI128Max = ~(static_cast<i128>(1) << 127);

// a × b for non-negative a and b, or nullopt past 127 bits (prices and counts are bounded, their
// products need not be). Written out: clang lowers __builtin_mul_overflow on 128 bits to a
// compiler-rt call that libgcc does not have.
std::optional<i128> mul(i128 a, i128 b) {
  if (a < 0 || b < 0 || (a != 0 && b > kI128Max / a)) return std::nullopt;
  return a * b;
}

}  // namespace

void PriceBook::add(PriceEntry entry) {
  auto& list = by_model_[{entry.provider, entry.model}];
  list.push_back(std::move(entry));
  // Newest first, so the first entry not after ts is the one in force.
  std::stable_sort(list.begin(), list.end(), [](const PriceEntry& a, const PriceEntry& b) {
    return a.effective_from > b.effective_from;
  });
  ++count_;
}

const PriceEntry* PriceBook::find(const std::string& provider, const std::string& model,
                                  const std::string& region, EpochMs ts) const {
  auto it = by_model_.find({provider, model});
  if (it == by_model_.end()) return nullptr;
  const PriceEntry* wildcard = nullptr;
  for (const PriceEntry& e : it->second) {
    if (e.effective_from > ts) continue;
    if (e.region == region && !region.empty()) return &e;
    if (e.region == "*" && !wildcard) wildcard = &e;
  }
  return wildcard;
}

const Rates& bracket_rates(const PriceEntry& price, const UsageEvent& e) {
  // Compared as exact rationals: prompt / requests > above ⟺ prompt > above × requests.
  const i128 prompt = i128(e.input_tokens) + e.cached_input_tokens + e.cache_write_tokens;
  const i128 requests = std::max<int64_t>(e.requests, 1);
  const Rates* r = &price.base;
  for (const PriceTier& t : price.tiers)
    if (prompt > i128(t.above_input_tokens) * requests) r = &t.rates;
  return *r;
}

Result<Money> compute_cost(const PriceEntry& price, const UsageEvent& e) {
  const Rates& r = bracket_rates(price, e);
  const bool in_base_bracket = &r == &price.base;
  const bool batch = e.priority == Priority::kBatch;
  // Each component as quantity × price in units of 1e-15 (tokens × per-1M nanos); GPU time is in
  // microseconds per hour, egress in bytes per GB: their divisors bring them to the same unit.
  struct Part {
    Component c;
    i128 quantity;
    i128 divisor;
  };
  const Part parts[] = {
      {Component::kInput, e.input_tokens, 1},
      {Component::kCachedInput, e.cached_input_tokens, 1},
      {Component::kCacheWrite, e.cache_write_tokens, 1},
      {Component::kOutput, e.output_tokens - e.reasoning_tokens, 1},
      {Component::kReasoning, e.reasoning_tokens, 1},
      {Component::kRequests, i128(e.requests) * 1'000'000, 1},
      {Component::kGpuHours, e.gpu_micros, 3600},
      {Component::kEgressGb, e.egress_bytes, 1000},
  };
  // Summed in 1e-15 × nano-percent units, so a discount of 87.5% stays exact.
  i128 total = 0;
  for (const Part& p : parts) {
    i128 rate = r[p.c];
    i128 factor = kHundredPercent;
    if (batch) {
      const auto& explicit_batch = price.batch[static_cast<size_t>(p.c)];
      if (in_base_bracket && explicit_batch)
        rate = *explicit_batch;
      else
        factor = kHundredPercent - price.batch_discount_nano_percent;
    }
    auto v = mul(p.quantity, rate);
    if (v) v = mul(*v, factor);
    const i128 part = v ? divide_rounded(*v, p.divisor) : -1;
    if (part < 0 || part > kI128Max - total)
      return out_of_range("the event's cost is beyond what the ledger can hold");
    total += part;
  }
  i128 nanos = divide_rounded(total, i128(1'000'000) * kHundredPercent);
  auto converted = mul(nanos, price.fx_nanos);
  if (!converted) return out_of_range("the event's cost is beyond what the ledger can hold");
  nanos = divide_rounded(*converted, Money::kNanosPerUnit);
  if (nanos > std::numeric_limits<int64_t>::max())
    return out_of_range("the event's cost is beyond what the ledger can hold");
  return Money::from_nanos(static_cast<int64_t>(nanos));
}

Status PriceBook::price(UsageEvent& e) const {
  e.price_ref.clear();
  if (e.caller_cost) {
    e.cost = *e.caller_cost;
    e.priced_by = PricedBy::kCaller;
    return {};
  }
  const PriceEntry* entry = find(e.provider, e.model, e.region, e.ts_ms);
  if (!entry) {
    e.cost = Money();
    e.priced_by = PricedBy::kUnpriced;
    return {};
  }
  Result<Money> cost = compute_cost(*entry, e);
  if (!cost.ok()) return cost.status();
  if (cost.value() > max_event_cost_)
    return out_of_range("the event's cost, " + cost.value().to_string() +
                        ", is above limits.max_event_cost (" + max_event_cost_.to_string() + ")");
  e.cost = cost.value();
  e.priced_by = PricedBy::kPriceBook;
  e.price_ref = entry->ref;
  return {};
}

}  // namespace tollgate
