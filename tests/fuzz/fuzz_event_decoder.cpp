// The usage decoder (JSON, NDJSON, provider usage objects) and pricing of what it accepts: no
// crash, no sanitizer report, and every accepted event within CONTRACT §3's bounds.
#include <cstdlib>

#include "metering/event_decoder.h"
#include "metering/price_book.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const EpochMs now = 1'795'000'000'000;
  static PriceBook book = [] {
    PriceBook b;
    PriceEntry e;
    e.provider = "p";
    e.model = "m";
    e.currency = "USD";
    e.base[Component::kInput] = 1'200'000'000;
    e.base[Component::kOutput] = 6'000'000'000;
    e.batch_discount_nano_percent = 50'000'000'000;
    PriceTier t;
    t.above_input_tokens = 32'000;
    t.rates = e.base;
    t.rates[Component::kInput] = 2'400'000'000;
    e.tiers.push_back(t);
    e.ref = "p/m/*@always";
    b.add(e);
    return b;
  }();
  for (BodyFormat f : {BodyFormat::kJson, BodyFormat::kNdjson}) {
    auto r = decode_usage_body(text, f, now, now - 35LL * 86'400'000,
                               Money::from_nanos(1'000'000 * Money::kNanosPerUnit), 1000);
    if (!r.ok()) continue;
    for (DecodedItem& item : r.value()) {
      if (!item.status.ok()) continue;
      const UsageEvent& e = item.event;
      if (e.reasoning_tokens > e.output_tokens || e.input_tokens < 0 || e.requests < 0) abort();
      if (book.price(item.event).ok()) {
        int64_t sum = 0;
        for (int64_t c : item.event.itemization.cost_nanos) sum += c;
        if (item.event.priced_by == PricedBy::kPriceBook && sum != item.event.cost.nanos())
          abort();  // the components must add up to the cost
      }
    }
  }
  return 0;
}
