#include "metering/charges.h"

#include "metering/money.h"
#include "metering/price_book.h"

namespace tollgate {

std::vector<ChargeLine> charge_lines(const UsageEvent& e, const std::string& reporting_currency) {
  std::vector<ChargeLine> lines;
  auto in_reporting_currency = [&](ChargeLine line) {
    line.pricing_currency = reporting_currency;
    line.fx_nanos = Money::kNanosPerUnit;
    return line;
  };
  switch (e.priced_by) {
    case PricedBy::kCaller: {
      ChargeLine line;
      line.component = kCallerPricedComponent;
      line.sku_price_id = std::string(kCallerPricedComponent);
      line.quantity = e.requests;
      line.cost_nanos = e.cost.nanos();
      lines.push_back(in_reporting_currency(std::move(line)));
      break;
    }
    case PricedBy::kUnpriced:
      for (Component c : kComponents) {
        if (e.quantity(c) <= 0 && !(c == Component::kRequests && lines.empty())) continue;
        ChargeLine line;
        line.component = to_string(c);
        line.sku_price_id = "unpriced/" + std::string(line.component);
        line.quantity = e.quantity(c);
        lines.push_back(in_reporting_currency(std::move(line)));
      }
      break;
    case PricedBy::kPriceBook: {
      const Itemization& items = e.itemization;
      if (!items.price) break;  // not priced by a book (a caller's own PricedBy): no lines
      const PriceEntry& price = *items.price;
      const bool batch = e.priority == Priority::kBatch;
      std::string suffix = items.bracket > 0 ? "/tier" + std::to_string(items.bracket) : "";
      if (batch) suffix += "/batch";
      auto add = [&](Component c) {
        const ComponentPrice p = component_price(price, items.bracket, batch, c);
        ChargeLine line;
        line.component = to_string(c);
        line.sku_price_id = e.price_ref + "/" + std::string(line.component) + suffix;
        line.pricing_currency = price.currency;
        line.fx_nanos = price.fx_nanos;
        line.list_rate = p.list;
        line.contracted_rate = p.contracted;
        line.discount_nano_percent = p.discount_nano_percent;
        line.quantity = e.quantity(c);
        line.cost_nanos = items[c];
        lines.push_back(std::move(line));
      };
      for (Component c : kComponents) {
        const ComponentPrice p = component_price(price, items.bracket, batch, c);
        const bool priced = p.list != 0 || p.contracted != 0;
        if (items[c] != 0 || (e.quantity(c) > 0 && (c != Component::kRequests || priced)))
          add(c);
      }
      if (lines.empty()) add(Component::kRequests);  // an event of no usage still has a row
      break;
    }
  }
  return lines;
}

}  // namespace tollgate
