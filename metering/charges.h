#pragma once
// Charge lines: what one priced event adds to the itemised charges of the FOCUS export
// (CONTRACT §4.7), one line per SKU component and price. Pure functions over plain data.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metering/usage_event.h"

namespace tollgate {

struct ChargeLine {
  std::string_view component;  // to_string(Component), or "caller-priced"
  std::string sku_price_id;    // which price: "<price ref>/<component>[/tier<N>][/batch]"
  std::string pricing_currency;
  int64_t fx_nanos = 0;  // reporting units per unit of pricing_currency, × 1e9
  int64_t list_rate = 0, contracted_rate = 0, discount_nano_percent = 0;  // see ComponentCharge
  int64_t quantity = 0;    // in the component's ledger unit (UsageEvent::quantity)
  int64_t cost_nanos = 0;  // reporting currency; the lines of an event add up to its cost
};

inline constexpr std::string_view kCallerPricedComponent = "caller-priced";

// An event's lines: at most one per component. Kept from event to event, its strings keep their
// buffers, so the ledger's writer fills it for every event without allocating.
class ChargeLines {
 public:
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const ChargeLine& operator[](size_t i) const { return lines_[i]; }
  const ChargeLine* begin() const { return lines_.data(); }
  const ChargeLine* end() const { return lines_.data() + count_; }
  void clear() { count_ = 0; }
  // The next line, its fields zero and its strings empty.
  ChargeLine& add();

 private:
  std::array<ChargeLine, kComponentCount> lines_;
  size_t count_ = 0;
};

// Price-book events: a line per component with a quantity (requests only when they have a
// price); the event's itemization.price must still be alive. Caller-priced events: one
// "caller-priced" line of `requests` carrying the whole cost. Unpriced events: a line per
// component with a quantity, at price 0. Into `lines`, cleared first.
void charge_lines(const UsageEvent& event, const std::string& reporting_currency,
                  ChargeLines& lines);
ChargeLines charge_lines(const UsageEvent& event, const std::string& reporting_currency);

}  // namespace tollgate
