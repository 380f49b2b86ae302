#include "metering/charges.h"

#include <cstdlib>

#include "metering/money.h"
#include "metering/price_book.h"

namespace tollgate {

ChargeLine& ChargeLines::add() {
  if (count_ == lines_.size()) std::abort();  // a line per component at most: a bug
  ChargeLine& line = lines_[count_++];
  line.component = {};
  line.sku_price_id.clear();
  line.pricing_currency.clear();
  line.fx_nanos = line.list_rate = line.contracted_rate = line.discount_nano_percent = 0;
  line.quantity = line.cost_nanos = 0;
  return line;
}

void charge_lines(const UsageEvent& e, const std::string& reporting_currency, ChargeLines& lines) {
  lines.clear();
  auto in_reporting_currency = [&](std::string_view component) -> ChargeLine& {
    ChargeLine& line = lines.add();
    line.component = component;
    line.pricing_currency.assign(reporting_currency);
    line.fx_nanos = Money::kNanosPerUnit;
    return line;
  };
  switch (e.priced_by) {
    case PricedBy::kCaller: {
      ChargeLine& line = in_reporting_currency(kCallerPricedComponent);
      line.sku_price_id.assign(kCallerPricedComponent);
      line.quantity = e.requests;
      line.cost_nanos = e.cost.nanos();
      break;
    }
    case PricedBy::kUnpriced:
      for (Component c : kComponents) {
        if (e.quantity(c) <= 0 && !(c == Component::kRequests && lines.empty())) continue;
        ChargeLine& line = in_reporting_currency(to_string(c));
        line.sku_price_id.assign("unpriced/").append(line.component);
        line.quantity = e.quantity(c);
      }
      break;
    case PricedBy::kPriceBook: {
      const Itemization& items = e.itemization;
      if (!items.price) break;  // not priced by a book (a caller's own PricedBy): no lines
      const PriceEntry& price = *items.price;
      const bool batch = e.priority == Priority::kBatch;
      std::string suffix = items.bracket > 0 ? "/tier" + std::to_string(items.bracket) : "";
      if (batch) suffix += "/batch";
      auto add = [&](Component c, const ComponentPrice& p) {
        ChargeLine& line = lines.add();
        line.component = to_string(c);
        line.sku_price_id.assign(e.price_ref).append("/").append(line.component).append(suffix);
        line.pricing_currency.assign(price.currency);
        line.fx_nanos = price.fx_nanos;
        line.list_rate = p.list;
        line.contracted_rate = p.contracted;
        line.discount_nano_percent = p.discount_nano_percent;
        line.quantity = e.quantity(c);
        line.cost_nanos = items[c];
      };
      for (Component c : kComponents) {
        const ComponentPrice p = component_price(price, items.bracket, batch, c);
        const bool priced = p.list != 0 || p.contracted != 0;
        if (items[c] != 0 || (e.quantity(c) > 0 && (c != Component::kRequests || priced)))
          add(c, p);
      }
      if (lines.empty())  // an event of no usage still has a row
        add(Component::kRequests,
            component_price(price, items.bracket, batch, Component::kRequests));
      break;
    }
  }
}

ChargeLines charge_lines(const UsageEvent& e, const std::string& reporting_currency) {
  ChargeLines lines;
  charge_lines(e, reporting_currency, lines);
  return lines;
}

}  // namespace tollgate
