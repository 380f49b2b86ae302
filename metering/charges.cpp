#include "metering/charges.h"

#include "metering/money.h"

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
      std::string suffix = items.bracket > 0 ? "/tier" + std::to_string(items.bracket) : "";
      if (e.priority == Priority::kBatch) suffix += "/batch";
      auto add = [&](Component c) {
        const ComponentCharge& charge = items[c];
        ChargeLine line;
        line.component = to_string(c);
        line.sku_price_id = e.price_ref + "/" + std::string(line.component) + suffix;
        line.pricing_currency = items.currency;
        line.fx_nanos = items.fx_nanos;
        line.list_rate = charge.list_rate;
        line.contracted_rate = charge.contracted_rate;
        line.discount_nano_percent = charge.discount_nano_percent;
        line.quantity = e.quantity(c);
        line.cost_nanos = charge.cost_nanos;
        lines.push_back(std::move(line));
      };
      for (Component c : kComponents) {
        const ComponentCharge& charge = items[c];
        const bool priced = charge.list_rate != 0 || charge.contracted_rate != 0;
        if (charge.cost_nanos != 0 ||
            (e.quantity(c) > 0 && (c != Component::kRequests || priced)))
          add(c);
      }
      if (lines.empty()) add(Component::kRequests);  // an event of no usage still has a row
      break;
    }
  }
  return lines;
}

}  // namespace tollgate
