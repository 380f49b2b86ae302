#include "metering/price_book.h"

#include <algorithm>
#include <array>
#include <cstdint>

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
  if (a < 0 || b < 0) return std::nullopt;
  // Both below 2^63: the product is below 2^126 and fits, with no 128-bit division to prove it.
  if (a <= INT64_MAX && b <= INT64_MAX) return a * b;
  if (a != 0 && b > kI128Max / a) return std::nullopt;
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
  auto it = by_model_.find(ByNames::Names(provider, model));
  if (it == by_model_.end()) return nullptr;
  const PriceEntry* wildcard = nullptr;
  for (const PriceEntry& e : it->second) {
    if (e.effective_from > ts) continue;
    if (e.region == region && !region.empty()) return &e;
    if (e.region == "*" && !wildcard) wildcard = &e;
  }
  return wildcard;
}

ComponentPrice component_price(const PriceEntry& price, int bracket, bool batch, Component c) {
  const Rates& r = bracket == 0 ? price.base : price.tiers[size_t(bracket - 1)].rates;
  ComponentPrice p{r[c], r[c], 0};
  if (!batch) return p;
  const auto& explicit_batch = price.batch[static_cast<size_t>(c)];
  if (bracket == 0 && explicit_batch)
    p.contracted = *explicit_batch;  // explicit batch prices are for the base bracket only
  else
    p.discount_nano_percent = price.batch_discount_nano_percent;
  return p;
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

namespace {

// Splits `total` among parts whose exact values are values[i] / unit, `total` being their sum
// rounded: each part gets its floor, and the units still missing go one each to the largest
// remainders (the earlier component on a tie). Values are non-negative.
std::array<i128, kComponentCount> split_rounded(const std::array<i128, kComponentCount>& values,
                                                i128 unit, i128 total) {
  std::array<i128, kComponentCount> out{}, remainder{};
  i128 assigned = 0;
  for (size_t i = 0; i < kComponentCount; ++i) {
    if (values[i] == 0) continue;  // most components of most events: no division
    // In 64 bits where both fit: the second split's values (nanos × fx) do; the first's, in
    // 1e-17 nanos, only for costs under ~92 nanos.
    divide_truncated(values[i], unit, out[i], remainder[i]);
    assigned += out[i];
  }
  // total - assigned is 0..kComponentCount: the sum's rounding lost less than one unit per part.
  for (i128 missing = total - assigned; missing > 0; --missing) {
    size_t best = kComponentCount;
    for (size_t i = 0; i < kComponentCount; ++i)
      if (remainder[i] > 0 && (best == kComponentCount || remainder[i] > remainder[best])) best = i;
    if (best == kComponentCount) break;
    ++out[best];
    remainder[best] = 0;
  }
  return out;
}

}  // namespace

Result<Money> compute_cost(const PriceEntry& price, const UsageEvent& e, Itemization* items) {
  const Rates& r = bracket_rates(price, e);
  int bracket = 0;
  for (size_t t = 0; t < price.tiers.size(); ++t)
    if (&price.tiers[t].rates == &r) bracket = int(t) + 1;
  const bool batch = e.priority == Priority::kBatch;
  // Each component as quantity × price in units of 1e-15 (tokens × per-1M nanos); GPU time is in
  // microseconds per hour, egress in bytes per GB: their divisors bring them to the same unit.
  auto scale = [](Component c) -> std::pair<i128, i128> {  // quantity multiplier, divisor
    if (c == Component::kRequests) return {1'000'000, 1};
    if (c == Component::kGpuHours) return {1, 3600};
    if (c == Component::kEgressGb) return {1, 1000};
    return {1, 1};
  };
  // Summed in 1e-15 × nano-percent units, so a discount of 87.5% stays exact.
  std::array<i128, kComponentCount> parts{};
  i128 total = 0;
  for (Component c : kComponents) {
    const size_t i = static_cast<size_t>(c);
    const ComponentPrice p = component_price(price, bracket, batch, c);
    const auto [multiplier, divisor] = scale(c);
    auto v = mul(i128(e.quantity(c)) * multiplier, p.contracted);
    if (v) v = mul(*v, kHundredPercent - p.discount_nano_percent);
    parts[i] = v ? divide_rounded(*v, divisor) : -1;
    if (parts[i] < 0 || parts[i] > kI128Max - total)
      return out_of_range("the event's cost is beyond what the ledger can hold");
    total += parts[i];
  }
  const i128 to_nanos = i128(1'000'000) * kHundredPercent;
  const i128 price_nanos = divide_rounded(total, to_nanos);
  auto converted = mul(price_nanos, price.fx_nanos);
  if (!converted) return out_of_range("the event's cost is beyond what the ledger can hold");
  const i128 nanos = divide_rounded(*converted, Money::kNanosPerUnit);
  if (nanos > std::numeric_limits<int64_t>::max())
    return out_of_range("the event's cost is beyond what the ledger can hold");
  if (items) {
    // Two roundings, two splits: to nanos of the price's currency, then through the exchange rate.
    std::array<i128, kComponentCount> in_price = split_rounded(parts, to_nanos, price_nanos);
    for (i128& v : in_price) v *= price.fx_nanos;  // each at most price_nanos × fx: fits
    const std::array<i128, kComponentCount> shares =
        split_rounded(in_price, Money::kNanosPerUnit, nanos);
    for (size_t i = 0; i < kComponentCount; ++i) items->cost_nanos[i] = int64_t(shares[i]);
    items->price = &price;
    items->bracket = bracket;
  }
  return Money::from_nanos(static_cast<int64_t>(nanos));
}

Status PriceBook::price(UsageEvent& e) const {
  e.price_ref.clear();
  e.itemization = Itemization();
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
  Result<Money> cost = compute_cost(*entry, e, &e.itemization);
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
