// Pricing table tests: the price file is loaded by the real loader, events priced by the book.
#include <doctest/doctest.h>

#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"
#include "metering/price_book.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {

struct Book {
  testing::TempDir dir;
  Config config;
  std::shared_ptr<const PriceBook> book;
  std::vector<std::string> errors;

  explicit Book(const std::string& prices, const std::string& reporting = "") {
    std::string main = "storage: {path: ./t.db}\nprices_file: prices.yaml\n" + reporting;
    dir.write("prices.yaml", prices);
    LoadErrors errs;
    config = load_config(dir.write("tollgate.yaml", main), errs);
    book = load_prices(config.prices_file, config, errs);
    errors = errs.lines;
  }
  // Prices an event and returns its cost in nanos.
  int64_t cost(UsageEvent e) const {
    REQUIRE(book->price(e).ok());
    return e.cost.nanos();
  }
};

UsageEvent event(const std::string& model, int64_t input, int64_t output, int64_t cached = 0) {
  UsageEvent e;
  e.event_id = "e";
  e.feature = "f";
  e.provider = "p";
  e.model = model;
  e.ts_ms = *parse_rfc3339("2026-11-21T10:00:00Z");
  e.input_tokens = input;
  e.output_tokens = output;
  e.cached_input_tokens = cached;
  return e;
}

}  // namespace

TEST_CASE("tokens are priced per million, exactly") {
  Book b(
      "prices:\n  - {provider: p, model: m, per_1m_input_tokens: 1.20, per_1m_output_tokens: "
      "6.00}\n",
      "limits: {max_event_cost: 10000000}\n");  // 10^12 tokens cost 1.2 million
  REQUIRE(b.errors.empty());
  // 1200 × 1.20/1M + 300 × 6/1M = 0.00144 + 0.0018 = 0.00324
  CHECK(b.cost(event("m", 1200, 300)) == 3'240'000);
  CHECK(b.cost(event("m", 1, 0)) == 1200);  // one token at 1.20 per 1M
  CHECK(b.cost(event("m", 0, 0)) == 0);
  CHECK(b.cost(event("m", 1'000'000'000'000, 0)) == 1'200'000 * Money::kNanosPerUnit);
}

TEST_CASE("cached tokens are charged once, at the cache-read price; cache writes separately") {
  Book b(
      "prices:\n  - {provider: p, model: m, per_1m_input_tokens: 3, per_1m_output_tokens: 15,\n"
      "     per_1m_cached_input_tokens: 0.30, per_1m_cache_write_tokens: 3.75}\n"
      "  - {provider: p, model: nocache, per_1m_input_tokens: 2, per_1m_output_tokens: 8}\n");
  REQUIRE(b.errors.empty());
  UsageEvent e = event("m", 1000, 0, 9000);  // 1000 uncached + 9000 cache reads
  e.cache_write_tokens = 2000;
  // 1000×3 + 9000×0.30 + 2000×3.75 = 3000 + 2700 + 7500 = 13200 per 1M → 0.0132
  CHECK(b.cost(e) == 13'200'000);
  // Without cache prices, cached and cache-write tokens cost the input price (never zero).
  UsageEvent n = event("nocache", 1000, 0, 1000);
  n.cache_write_tokens = 1000;
  CHECK(b.cost(n) == 6'000'000);
}

TEST_CASE("context-length tiers price the whole event by per-request input size") {
  Book b(R"(prices:
  - provider: p
    model: m
    per_1m_input_tokens: 1.20
    per_1m_output_tokens: 6.00
    per_1m_cached_input_tokens: 0.24
    tiers:
      - {above_input_tokens: 32000, per_1m_input_tokens: 2.40, per_1m_output_tokens: 12.00}
      - {above_input_tokens: 128000, per_1m_input_tokens: 3.00, per_1m_output_tokens: 15.00}
)");
  REQUIRE(b.errors.empty());
  CHECK(b.cost(event("m", 32000, 1000)) == 38'400'000 + 6'000'000);  // not above 32000: base
  CHECK(b.cost(event("m", 32001, 1000)) == 76'802'400 + 12'000'000);
  CHECK(b.cost(event("m", 200000, 0)) == 600'000'000);
  // Cached input counts toward the size; the tier keeps the base cache price (not given there).
  CHECK(b.cost(event("m", 30000, 0, 5000)) == 72'000'000 + 1'200'000);
  // Two requests of 20000 each: per-request size 20000, base tier.
  UsageEvent two = event("m", 40000, 0);
  two.requests = 2;
  CHECK(b.cost(two) == 48'000'000);
}

TEST_CASE("batch discount applies only to batch priority") {
  Book b(
      "prices:\n  - {provider: p, model: m, per_1m_input_tokens: 2.50, per_1m_output_tokens: 10, "
      "batch_discount_percent: 50}\n");
  UsageEvent e = event("m", 1'000'000, 100'000);
  CHECK(b.cost(e) == 3'500'000'000);
  e.priority = Priority::kBatch;
  CHECK(b.cost(e) == 1'750'000'000);
  e.priority = Priority::kCritical;
  CHECK(b.cost(e) == 3'500'000'000);
}

TEST_CASE("other currencies convert through reporting.fx") {
  Book b(
      "prices:\n  - {provider: p, model: m, currency: CNY, per_1m_input_tokens: 0.80, "
      "per_1m_output_tokens: 2}\n",
      "reporting: {currency: USD, fx: {CNY: {rate: 0.1389, as_of: 2026-11-20}}}\n");
  REQUIRE(b.errors.empty());
  // 1M input = 0.80 CNY = 0.11112 USD
  CHECK(b.cost(event("m", 1'000'000, 0)) == 111'120'000);
  Book missing("prices:\n  - {provider: p, model: m, currency: EUR, per_1m_input_tokens: 1}\n");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].find("prices.yaml:2:") != std::string::npos);
  CHECK(missing.errors[0].find("reporting.fx has no rate") != std::string::npos);
}

TEST_CASE("effective_from versions: the newest not after the event's time wins") {
  Book b(R"(prices:
  - {provider: p, model: m, per_1m_input_tokens: 1}
  - {provider: p, model: m, effective_from: 2026-11-01, per_1m_input_tokens: 2}
  - {provider: p, model: m, effective_from: 2026-12-01, per_1m_input_tokens: 3}
)");
  REQUIRE(b.errors.empty());
  UsageEvent e = event("m", 1'000'000, 0);
  e.ts_ms = *parse_rfc3339("2026-10-31T23:59:59Z");
  CHECK(b.cost(e) == 1'000'000'000);
  e.ts_ms = *parse_rfc3339("2026-11-01T00:00:00Z");
  CHECK(b.cost(e) == 2'000'000'000);
  e.ts_ms = *parse_rfc3339("2026-12-25T00:00:00Z");
  CHECK(b.cost(e) == 3'000'000'000);
  e.price_ref.clear();
  REQUIRE(b.book->price(e).ok());
  CHECK(e.price_ref == "p/m/*@2026-12-01");
}

TEST_CASE("an exact region wins over the wildcard") {
  Book b(R"(prices:
  - {provider: p, model: m, per_1m_input_tokens: 1}
  - {provider: p, model: m, region: eu-fr, per_1m_input_tokens: 5}
)");
  UsageEvent e = event("m", 1'000'000, 0);
  e.region = "eu-fr";
  CHECK(b.cost(e) == 5'000'000'000);
  e.region = "us-east";
  CHECK(b.cost(e) == 1'000'000'000);
  e.region = "";
  CHECK(b.cost(e) == 1'000'000'000);
}

TEST_CASE("GPU time, egress and per-request prices") {
  Book b(
      "prices:\n  - {provider: p, model: m, per_gpu_hour: 2.50, per_gb_egress: 0.02, per_request: "
      "0.001}\n");
  UsageEvent e = event("m", 0, 0);
  e.gpu_micros = 1'800'000'000;  // 1800 s = 0.5 h → 1.25
  e.egress_bytes = 500'000'000;  // 0.5 GB → 0.01
  e.requests = 3;                // 0.003
  CHECK(b.cost(e) == 1'263'000'000);
  e.gpu_micros = 1;  // 1 µs of a $2.50 hour = 0.694 nanos → rounds once, to 1
  e.egress_bytes = 0;
  e.requests = 0;
  CHECK(b.cost(e) == 1);
  e.gpu_micros = 0;
  e.egress_bytes = 1;  // 1 byte at 0.02/GB = 0.00002 nanos → 0
  CHECK(b.cost(e) == 0);
}

TEST_CASE("caller cost wins; no price means unpriced at zero, never silently") {
  Book b("prices:\n  - {provider: p, model: m, per_1m_input_tokens: 1}\n");
  UsageEvent e = event("m", 1'000'000, 0);
  e.caller_cost = Money::from_nanos(42);
  REQUIRE(b.book->price(e).ok());
  CHECK(e.priced_by == PricedBy::kCaller);
  CHECK(e.cost.nanos() == 42);
  UsageEvent u = event("unknown", 1'000'000, 0);
  REQUIRE(b.book->price(u).ok());
  CHECK(u.priced_by == PricedBy::kUnpriced);
  CHECK(u.cost.nanos() == 0);
}

TEST_CASE("price file errors carry FILE:LINE:COL") {
  Book b(R"(prices:
  - provider: p
    model: m
    per_1m_input_tokens: abc
    colour: blue
    tiers:
      - {above_input_tokens: 100}
      - {above_input_tokens: 50}
)");
  REQUIRE(b.errors.size() == 3);
  INFO(b.errors[2]);
  CHECK(b.errors[0].find("prices.yaml:5:5: unknown key \"colour\"") != std::string::npos);
  CHECK(b.errors[1].find("prices.yaml:4:26: per_1m_input_tokens must be") != std::string::npos);
  CHECK(b.errors[2].find("prices.yaml:8:30: tiers must be in increasing") != std::string::npos);
}

// Hand-computed prices for the rules CONTRACT §2.2 added: tiers sized with cache reads and writes,
// reasoning prices, per-component batch prices and decimal discounts.
TEST_CASE("the tier is chosen by uncached input + cache reads + cache writes per request") {
  Book b(R"(prices:
  - provider: p
    model: claude
    per_1m_input_tokens: 3
    per_1m_output_tokens: 15
    per_1m_cached_input_tokens: 0.30
    per_1m_cache_write_tokens: 3.75
    tiers:
      - {above_input_tokens: 200000, per_1m_input_tokens: 6, per_1m_output_tokens: 22.50,
         per_1m_cached_input_tokens: 0.60, per_1m_cache_write_tokens: 7.50}
)");
  REQUIRE(b.errors.empty());
  // The issue's request: 190k input + 5k cache reads + 10k cache writes = 205k > 200k.
  UsageEvent e = event("claude", 190'000, 1000, 5000);
  e.cache_write_tokens = 10'000;
  // 190000×6 + 5000×0.60 + 10000×7.50 + 1000×22.50 = 1140000 + 3000 + 75000 + 22500 = 1240500
  CHECK(b.cost(e) == 1'240'500'000);  // 1.2405 (the input-only size billed 0.624)
  // Per request, compared exactly: 400000 over 2 requests is 200000, not above the threshold.
  UsageEvent two = event("claude", 400'000, 0);
  two.requests = 2;
  CHECK(b.cost(two) == 1'200'000'000);  // 400000 × 3
  two.input_tokens = 400'001;           // 200000.5 per request
  CHECK(b.cost(two) == 2'400'006'000);  // 400001 × 6
}

TEST_CASE("reasoning tokens have their own price, defaulting to the output price") {
  Book b(R"(prices:
  - {provider: p, model: qwen, per_1m_input_tokens: 1.20, per_1m_output_tokens: 6, per_1m_reasoning_tokens: 18}
  - {provider: p, model: plain, per_1m_input_tokens: 1.20, per_1m_output_tokens: 6}
  - provider: p
    model: tiered
    per_1m_input_tokens: 1.20
    per_1m_output_tokens: 6
    tiers:
      - {above_input_tokens: 100, per_1m_input_tokens: 2.40, per_1m_output_tokens: 12}
)");
  REQUIRE(b.errors.empty());
  UsageEvent e = event("qwen", 0, 1000);
  e.reasoning_tokens = 600;
  CHECK(b.cost(e) == 13'200'000);  // 400×6 + 600×18 = 13200 per 1M
  e.model = "plain";
  CHECK(b.cost(e) == 6'000'000);  // 1000×6: reasoning at the output price, never charged twice
  // A defaulted reasoning price follows the tier's output price: 200×2.40 + 1000×12 = 12480.
  e.model = "tiered";
  e.input_tokens = 200;
  CHECK(b.cost(e) == 12'480'000);
}

TEST_CASE("batch: explicit per-component prices win over the discount, decimals allowed") {
  Book b(R"(prices:
  - provider: p
    model: m
    per_1m_input_tokens: 2
    per_1m_output_tokens: 8
    batch_discount_percent: 50
    batch: {per_1m_input_tokens: 1.09}
  - provider: p
    model: d
    per_1m_input_tokens: 8
    per_1m_output_tokens: 8
    batch_discount_percent: 87.5
    tiers:
      - {above_input_tokens: 1000, per_1m_input_tokens: 16}
)");
  REQUIRE(b.errors.empty());
  UsageEvent e = event("m", 1'000'000, 1'000'000);
  CHECK(b.cost(e) == 10 * Money::kNanosPerUnit);  // standard: 2 + 8
  e.priority = Priority::kBatch;
  CHECK(b.cost(e) == 5'090'000'000);  // input at its batch price 1.09 (54.5%), output at 50%: 4
  UsageEvent d = event("d", 3, 0);
  d.priority = Priority::kBatch;
  CHECK(b.cost(d) == 3000);  // 3 × 8 × 12.5% = 3 per 1M = 0.000003
  d.input_tokens = 2000;     // the tier: 16 × 12.5% = 2 per 1M
  CHECK(b.cost(d) == 4'000'000);
}

TEST_CASE("a priced event above limits.max_event_cost is cost_out_of_range") {
  Book b("prices:\n  - {provider: p, model: m, per_1m_input_tokens: 2}\n",
         "limits: {max_event_cost: 1}\n");
  REQUIRE(b.errors.empty());
  UsageEvent e = event("m", 500'000, 0);
  CHECK(b.cost(e) == Money::kNanosPerUnit);  // exactly the limit
  e.input_tokens = 500'001;
  CHECK(b.book->price(e).code_name() == "cost_out_of_range");
  // Far past int64: refused, never wrapped.
  Book huge("prices:\n  - {provider: p, model: m, per_1m_input_tokens: 9000000000}\n");
  UsageEvent h = event("m", 1'000'000'000'000, 0);
  CHECK(huge.book->price(h).code_name() == "cost_out_of_range");
  // A product past 127 bits whose wrapped value would be a small positive cost: tokens × 5e9
  // nanos × 1e11 (100% in nano-percent) is 2^128 + 36,625,392,568,231,788,544, i.e. 366 nanos if
  // it wrapped. It must be refused, not priced at 366 nanos.
  Book wrap("prices:\n  - {provider: p, model: m, per_1m_input_tokens: 5}\n");
  UsageEvent w = event("m", 680'564'733'841'876'927, 0);
  CHECK(wrap.book->price(w).code_name() == "cost_out_of_range");
  w.input_tokens = 1'000'000;  // the same price within range
  CHECK(wrap.cost(w) == 5 * Money::kNanosPerUnit);
}

namespace {
// Prices an event and returns it, itemised.
UsageEvent priced(const Book& b, UsageEvent e) {
  REQUIRE(b.book->price(e).ok());
  return e;
}
int64_t shares(const UsageEvent& e) {
  int64_t sum = 0;
  for (int64_t c : e.itemization.cost_nanos) sum += c;
  return sum;
}
ComponentPrice price_of(const UsageEvent& e, Component c) {
  return component_price(*e.itemization.price, e.itemization.bracket,
                         e.priority == Priority::kBatch, c);
}
}  // namespace

TEST_CASE("itemised: each component's share through the exchange rate, adding up to the cost") {
  Book b(
      "prices:\n  - {provider: p, model: m, currency: CNY, per_1m_input_tokens: 0.80, "
      "per_1m_output_tokens: 2}\n",
      "reporting: {currency: USD, fx: {CNY: {rate: 0.1389, as_of: 2026-11-20}}}\n");
  REQUIRE(b.errors.empty());
  // 1M input = 0.80 CNY = 0.11112 USD; 500k output = 1 CNY = 0.1389 USD.
  UsageEvent e = priced(b, event("m", 1'000'000, 500'000));
  CHECK(e.cost.nanos() == 250'020'000);
  CHECK(e.itemization[Component::kInput] == 111'120'000);
  CHECK(e.itemization[Component::kOutput] == 138'900'000);
  CHECK(price_of(e, Component::kInput).list == 800'000'000);  // CNY nanos per 1M
  CHECK(price_of(e, Component::kOutput).contracted == 2'000'000'000);
  CHECK(e.itemization.price->currency == "CNY");
  CHECK(e.itemization.price->fx_nanos == 138'900'000);
  CHECK(e.itemization.bracket == 0);
  CHECK(shares(e) == e.cost.nanos());
}

TEST_CASE("itemised: half-nanos go to the largest remainders, the earlier component on a tie") {
  Book b(
      "prices:\n  - {provider: p, model: m, per_1m_input_tokens: 0.0005, "
      "per_1m_cached_input_tokens: 0.0005, per_1m_output_tokens: 0.0007}\n");
  REQUIRE(b.errors.empty());
  // 0.5 + 0.5 + 0.7 nanos = 1.7 → 2: output (remainder .7) first, then input (.5, first of a tie).
  UsageEvent e = priced(b, event("m", 1, 1, 1));
  CHECK(e.cost.nanos() == 2);
  CHECK(e.itemization[Component::kOutput] == 1);
  CHECK(e.itemization[Component::kInput] == 1);
  CHECK(e.itemization[Component::kCachedInput] == 0);
}

TEST_CASE("itemised: tiers, batch discounts and explicit batch prices keep their rates apart") {
  Book b(R"(prices:
  - provider: p
    model: m
    per_1m_input_tokens: 1.00
    per_1m_output_tokens: 4.00
    batch_discount_percent: 87.5
    batch: {per_1m_input_tokens: 0.30}
    tiers:
      - {above_input_tokens: 1000, per_1m_input_tokens: 2.00}
)");
  REQUIRE(b.errors.empty());
  UsageEvent small = event("m", 1000, 1000);
  small.priority = Priority::kBatch;
  small = priced(b, small);
  // Base bracket: input at the explicit 0.30, output at 12.5% of 4.00 = 0.50.
  CHECK(small.itemization.bracket == 0);
  CHECK(price_of(small, Component::kInput).list == 1'000'000'000);
  CHECK(price_of(small, Component::kInput).contracted == 300'000'000);
  CHECK(price_of(small, Component::kInput).discount_nano_percent == 0);
  CHECK(price_of(small, Component::kOutput).discount_nano_percent == 87'500'000'000);
  CHECK(small.itemization[Component::kInput] == 300'000);
  CHECK(small.itemization[Component::kOutput] == 500'000);
  UsageEvent big = event("m", 1001, 1000);
  big.priority = Priority::kBatch;
  big = priced(b, big);
  // Tier 1: explicit batch prices are for the base bracket; the discount applies to 2.00.
  CHECK(big.itemization.bracket == 1);
  CHECK(price_of(big, Component::kInput).list == 2'000'000'000);
  CHECK(price_of(big, Component::kInput).discount_nano_percent == 87'500'000'000);
  CHECK(big.itemization[Component::kInput] == 250'250);  // 1001 × 0.25/1M
  CHECK(shares(big) == big.cost.nanos());
}

TEST_CASE("itemised: the shares add up to the cost for any quantities and rates") {
  Book b(R"(prices:
  - provider: p
    model: m
    currency: CNY
    per_1m_input_tokens: 0.123456789
    per_1m_output_tokens: 7.654321
    per_1m_cached_input_tokens: 0.0333
    per_1m_cache_write_tokens: 1.111111111
    per_1m_reasoning_tokens: 9.99
    per_request: 0.000123
    per_gpu_hour: 2.71828
    per_gb_egress: 0.09
    batch_discount_percent: 33.3
)",
         "reporting: {currency: USD, fx: {CNY: {rate: 0.138912345, as_of: 2026-11-20}}}\n");
  REQUIRE(b.errors.empty());
  uint64_t x = 88172645463325252ull;  // xorshift: the same sequence every run
  auto next = [&](uint64_t bound) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return int64_t(x % bound);
  };
  for (int i = 0; i < 5000; ++i) {
    UsageEvent e = event("m", next(5'000'000), 0, next(100'000));
    e.output_tokens = next(200'000);
    e.reasoning_tokens = e.output_tokens ? next(uint64_t(e.output_tokens)) : 0;
    e.cache_write_tokens = next(50'000);
    e.requests = 1 + next(20);
    e.gpu_micros = next(100'000'000);
    e.egress_bytes = next(3'000'000'000);
    if (i % 2) e.priority = Priority::kBatch;
    e = priced(b, e);
    REQUIRE(shares(e) == e.cost.nanos());
    for (int64_t c : e.itemization.cost_nanos) REQUIRE(c >= 0);
  }
}
