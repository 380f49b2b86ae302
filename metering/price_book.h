#pragma once
// PriceBook: the price list of CONTRACT §2.2, and pricing of one UsageEvent into exact nanos of
// the reporting currency. Immutable once built; share it as shared_ptr<const PriceBook> and swap
// the pointer to reload.

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "metering/money.h"
#include "metering/status.h"
#include "metering/usage_event.h"

namespace tollgate {

// Prices in nanos of the entry's currency: per 1M tokens, per request, per GPU hour, per GB.
struct Rates {
  int64_t per_1m_input = 0;
  int64_t per_1m_output = 0;
  int64_t per_1m_cached_input = 0;
  int64_t per_1m_cache_write = 0;
  int64_t per_request = 0;
  int64_t per_gpu_hour = 0;
  int64_t per_gb_egress = 0;
};

struct PriceTier {
  int64_t above_input_tokens = 0;
  Rates rates;  // fully resolved: keys the tier does not name keep the base price
};

struct PriceEntry {
  std::string provider, model, region = "*", currency;
  EpochMs effective_from = std::numeric_limits<EpochMs>::min();
  Rates base;
  int64_t batch_discount_nano_percent = 0;  // percent × 1e9
  std::vector<PriceTier> tiers;             // ascending above_input_tokens
  int64_t fx_nanos = Money::kNanosPerUnit;  // reporting units per 1 unit of currency, × 1e9
  std::string ref;                          // "provider/model/region@date", recorded per event
};

class PriceBook {
 public:
  // Entries are validated by the loader; add() only indexes them.
  void add(PriceEntry entry);
  // The entry pricing an event: exact region before "*", newest effective_from not after ts.
  const PriceEntry* find(const std::string& provider, const std::string& model,
                         const std::string& region, EpochMs ts) const;
  size_t size() const { return count_; }

  // Sets event.cost, priced_by and price_ref. Caller cost wins; no price means unpriced, cost 0.
  // Fails only when the cost does not fit in int64 nanos.
  Status price(UsageEvent& event) const;

 private:
  std::map<std::pair<std::string, std::string>, std::vector<PriceEntry>> by_model_;
  size_t count_ = 0;
};

// Cost of an event under one price entry, in nanos of the reporting currency. Components are
// summed exactly in 1e-15 units; rounding (half away from zero) happens once to nanos, then once
// each for the batch discount and the currency conversion.
Result<Money> compute_cost(const PriceEntry& price, const UsageEvent& event);

}  // namespace tollgate
