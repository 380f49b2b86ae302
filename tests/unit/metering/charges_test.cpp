// Charge lines: what one event adds to the FOCUS export's itemised charges.
#include "metering/charges.h"

#include <doctest/doctest.h>

#include "metering/price_book.h"

using namespace tollgate;

namespace {
UsageEvent usage() {
  UsageEvent e;
  e.provider = "p";
  e.model = "m";
  e.input_tokens = 100;
  e.output_tokens = 30;
  e.reasoning_tokens = 10;
  e.requests = 2;
  return e;
}
}  // namespace

TEST_CASE("price-book lines: a line per component with a quantity, the price named by its id") {
  UsageEvent e = usage();
  e.priced_by = PricedBy::kPriceBook;
  e.priority = Priority::kBatch;
  e.price_ref = "p/m/*@always";
  PriceEntry price;
  price.currency = "CNY";
  price.fx_nanos = 138'900'000;
  price.base[Component::kInput] = 1000;
  price.tiers.resize(2);
  price.tiers[1].rates[Component::kInput] = 2000;
  price.tiers[1].rates[Component::kOutput] = 4000;
  price.tiers[1].rates[Component::kReasoning] = 8000;
  price.batch_discount_nano_percent = 50'000'000'000;
  e.itemization.price = &price;
  e.itemization.bracket = 2;
  e.itemization[Component::kInput] = 7;
  e.itemization[Component::kOutput] = 5;
  e.itemization[Component::kReasoning] = 3;
  e.cost = Money::from_nanos(15);
  auto lines = charge_lines(e, "USD");
  REQUIRE(lines.size() == 3);  // requests have no price: no line
  CHECK(lines[0].component == "input-tokens");
  CHECK(lines[0].sku_price_id == "p/m/*@always/input-tokens/tier2/batch");
  CHECK(lines[0].quantity == 100);
  CHECK(lines[0].pricing_currency == "CNY");
  CHECK(lines[0].list_rate == 2000);  // tier 2's price, at the batch discount
  CHECK(lines[0].discount_nano_percent == 50'000'000'000);
  CHECK(lines[0].fx_nanos == 138'900'000);
  CHECK(lines[1].component == "output-tokens");
  CHECK(lines[1].quantity == 20);  // output less reasoning
  CHECK(lines[2].component == "reasoning-tokens");
  CHECK(lines[2].quantity == 10);
  int64_t sum = 0;
  for (const auto& l : lines) sum += l.cost_nanos;
  CHECK(sum == e.cost.nanos());
}

TEST_CASE("caller-priced events are one line carrying the whole cost; unpriced ones cost 0") {
  UsageEvent e = usage();
  e.priced_by = PricedBy::kCaller;
  e.cost = Money::from_nanos(123);
  auto lines = charge_lines(e, "USD");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].component == kCallerPricedComponent);
  CHECK(lines[0].quantity == 2);
  CHECK(lines[0].cost_nanos == 123);
  CHECK(lines[0].pricing_currency == "USD");

  e.priced_by = PricedBy::kUnpriced;
  e.cost = Money();
  lines = charge_lines(e, "EUR");
  REQUIRE(lines.size() == 4);  // input, output, reasoning, requests
  for (const auto& l : lines) CHECK(l.cost_nanos == 0);
  CHECK(lines[3].sku_price_id == "unpriced/requests");
}

TEST_CASE("an event of no usage still leaves a line, so its row is never mistaken for old data") {
  PriceEntry price;
  UsageEvent e;
  e.itemization.price = &price;
  e.priced_by = PricedBy::kPriceBook;
  e.price_ref = "p/m/*@always";
  e.requests = 0;
  auto lines = charge_lines(e, "USD");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].component == "requests");
}

TEST_CASE("lines filled again into the same ChargeLines hold nothing of the event before") {
  // Price-book lines with every field set, then a caller-priced and an unpriced event into the
  // same container: each must read as if freshly computed.
  UsageEvent priced = usage();
  priced.priced_by = PricedBy::kPriceBook;
  priced.priority = Priority::kBatch;
  priced.price_ref = "a-long-provider/a-long-model-name/eu-west-1@2026-11-01";
  PriceEntry price;
  price.currency = "CNY";
  price.fx_nanos = 138'900'000;
  price.base[Component::kInput] = 1000;
  price.base[Component::kOutput] = 3000;
  price.base[Component::kRequests] = 7;
  price.batch_discount_nano_percent = 50'000'000'000;
  priced.itemization.price = &price;
  priced.itemization[Component::kInput] = 7;
  priced.itemization[Component::kOutput] = 5;
  priced.itemization[Component::kRequests] = 2;
  UsageEvent caller = usage();
  caller.priced_by = PricedBy::kCaller;
  caller.cost = Money::from_nanos(123);
  UsageEvent unpriced = usage();
  unpriced.priced_by = PricedBy::kUnpriced;
  // A line for every component: the most an event has.
  UsageEvent full = priced;
  full.cached_input_tokens = 40;
  full.cache_write_tokens = 5;
  full.gpu_micros = 1'500'000;
  full.egress_bytes = 2'000'000'000;
  for (Component c : kComponents) full.itemization[c] = 1;
  CHECK(charge_lines(full, "USD").size() == kComponentCount);
  ChargeLines reused;
  for (const UsageEvent* e : {&priced, &caller, &full, &priced, &unpriced, &full, &caller}) {
    charge_lines(*e, "USD", reused);
    const ChargeLines fresh = charge_lines(*e, "USD");
    REQUIRE(reused.size() == fresh.size());
    for (size_t i = 0; i < fresh.size(); ++i) {
      const ChargeLine &a = reused[i], &b = fresh[i];
      CHECK(a.component == b.component);
      CHECK(a.sku_price_id == b.sku_price_id);
      CHECK(a.pricing_currency == b.pricing_currency);
      CHECK(a.fx_nanos == b.fx_nanos);
      CHECK(a.list_rate == b.list_rate);
      CHECK(a.contracted_rate == b.contracted_rate);
      CHECK(a.discount_nano_percent == b.discount_nano_percent);
      CHECK(a.quantity == b.quantity);
      CHECK(a.cost_nanos == b.cost_nanos);
    }
  }
  charge_lines(caller, "USD", reused);
  REQUIRE(reused.size() == 1);
  CHECK(reused[0].list_rate == 0);
  CHECK(reused[0].discount_nano_percent == 0);
  CHECK(reused[0].sku_price_id == "caller-priced");
}
