#pragma once
// PriceBook: the price list of CONTRACT §2.2, and pricing of one UsageEvent into exact nanos of
// the reporting currency. Immutable once built; share it as shared_ptr<const PriceBook> and swap
// the pointer to reload.

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metering/money.h"
#include "metering/status.h"
#include "metering/usage_event.h"

namespace tollgate {

// Prices in nanos of the entry's currency: per 1M tokens, per request, per GPU hour, per GB,
// indexed by Component (metering/usage_event.h).
struct Rates {
  std::array<int64_t, kComponentCount> per_unit{};
  int64_t& operator[](Component c) { return per_unit[static_cast<size_t>(c)]; }
  int64_t operator[](Component c) const { return per_unit[static_cast<size_t>(c)]; }
};

// Explicit batch prices (the `batch:` block): a component given here is billed at this price for
// priority batch; the others get the batch discount.
using BatchRates = std::array<std::optional<int64_t>, kComponentCount>;

struct PriceTier {
  int64_t above_input_tokens = 0;
  Rates rates;  // fully resolved: keys the tier does not name keep the base price
};

struct PriceEntry {
  std::string provider, model, region = "*", currency;
  EpochMs effective_from = std::numeric_limits<EpochMs>::min();
  Rates base;
  BatchRates batch;                         // apply to the base bracket only
  int64_t batch_discount_nano_percent = 0;  // percent × 1e9
  std::vector<PriceTier> tiers;             // ascending above_input_tokens
  int64_t fx_nanos = Money::kNanosPerUnit;  // reporting units per 1 unit of currency, × 1e9
  std::string ref;                          // "provider/model/region@date", recorded per event
};

class PriceBook {
 public:
  // Entries are validated by the loader; add() only indexes them.
  void add(PriceEntry entry);
  // A priced event above this cost is refused (CONTRACT §2.1 limits.max_event_cost).
  void set_max_event_cost(Money max) { max_event_cost_ = max; }
  // The entry pricing an event: exact region before "*", newest effective_from not after ts.
  const PriceEntry* find(const std::string& provider, const std::string& model,
                         const std::string& region, EpochMs ts) const;
  size_t size() const { return count_; }

  // Sets event.cost, priced_by and price_ref. Caller cost wins; no price means unpriced, cost 0.
  // Fails with cost_out_of_range when the cost is above max_event_cost.
  Status price(UsageEvent& event) const;

 private:
  // By (provider, model), found by views of the event's strings: a lookup copying them into a
  // key allocated for every event on the ingest path.
  struct ByNames {
    using is_transparent = void;
    using Names = std::pair<std::string_view, std::string_view>;
    static Names names(const std::pair<std::string, std::string>& k) { return {k.first, k.second}; }
    static Names names(const Names& k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return names(a) < names(b);
    }
  };
  std::map<std::pair<std::string, std::string>, std::vector<PriceEntry>, ByNames> by_model_;
  size_t count_ = 0;
  Money max_event_cost_ = Money::from_nanos(1'000'000 * Money::kNanosPerUnit);
};

// A component's prices in one bracket (0 base, i + 1 tier i), in nanos of the entry's currency per
// pricing unit: the bracket's list price, and the price billed, which is `contracted` less
// `discount_nano_percent` (percent × 1e9): an explicit batch price, or the batch discount.
struct ComponentPrice {
  int64_t list = 0, contracted = 0, discount_nano_percent = 0;
};
ComponentPrice component_price(const PriceEntry& price, int bracket, bool batch, Component c);

// The prompt size that picks a tier, per request: every input token the provider counts
// (uncached, cache reads, cache writes). The bracket priced: the highest whose
// above_input_tokens is strictly below it.
const Rates& bracket_rates(const PriceEntry& price, const UsageEvent& event);

// Cost of an event under one price entry, in nanos of the reporting currency. Components (each at
// its batch price for priority batch) are summed exactly; rounding (half away from zero) happens
// once to nanos of the entry's currency, then once for the currency conversion. Fails with
// cost_out_of_range past int64. With `items`, also what the cost is made of: each component's
// share, rounded by largest remainder at both roundings so the shares add up to the cost.
Result<Money> compute_cost(const PriceEntry& price, const UsageEvent& event,
                           Itemization* items = nullptr);

}  // namespace tollgate
