#include "metering/price_book.h"

#include <algorithm>

namespace tollgate {

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

Result<Money> compute_cost(const PriceEntry& price, const UsageEvent& e) {
  const Rates* r = &price.base;
  // Context-length brackets are chosen by the input size of one request.
  int64_t per_request_input =
      (e.input_tokens + e.cached_input_tokens) / std::max<int64_t>(e.requests, 1);
  for (const PriceTier& t : price.tiers)
    if (per_request_input > t.above_input_tokens) r = &t.rates;

  using i128 = __int128;
  constexpr i128 kMicro = 1'000'000;
  i128 femto = i128(e.input_tokens) * r->per_1m_input +
               i128(e.cached_input_tokens) * r->per_1m_cached_input +
               i128(e.cache_write_tokens) * r->per_1m_cache_write +
               i128(e.output_tokens) * r->per_1m_output +
               i128(e.requests) * r->per_request * kMicro +
               divide_rounded(i128(e.gpu_micros) * r->per_gpu_hour, 3600) +
               divide_rounded(i128(e.egress_bytes) * r->per_gb_egress, 1000);
  i128 nanos = divide_rounded(femto, kMicro);
  if (e.priority == Priority::kBatch && price.batch_discount_nano_percent != 0) {
    constexpr i128 kHundredPercent = i128(100) * Money::kNanosPerUnit;
    nanos = divide_rounded(nanos * (kHundredPercent - price.batch_discount_nano_percent),
                           kHundredPercent);
  }
  nanos = divide_rounded(nanos * price.fx_nanos, Money::kNanosPerUnit);
  if (nanos > std::numeric_limits<int64_t>::max() || nanos < 0)
    return Status::error(Code::kCostOverflow, "the event's cost exceeds 9.2 billion " + price.currency);
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
  e.cost = cost.value();
  e.priced_by = PricedBy::kPriceBook;
  e.price_ref = entry->ref;
  return {};
}

}  // namespace tollgate
