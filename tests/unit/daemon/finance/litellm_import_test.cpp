#include "daemon/finance/litellm_import.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

TEST_CASE("the LiteLLM fixture converts into a prices file that loads and prices exactly") {
  std::ifstream in(std::string(TOLLGATE_SOURCE_DIR) + "/tests/fixtures/litellm_prices.json");
  std::stringstream text;
  text << in.rdbuf();
  auto r = import_litellm(text.str(), "fixture.json");
  REQUIRE(r.ok());
  CHECK(r->imported == 6);
  CHECK(r->skipped ==
        std::map<std::string, size_t>{{"no litellm_provider", 1},
                                      {"price needs more than 9 decimals per 1M tokens", 1},
                                      {"priced per image, not per token", 1},
                                      {"priced per second, not per token", 1},
                                      {"same provider and model as an earlier entry", 1}});
  testing::TempDir dir;
  dir.write("prices.yaml", r->yaml);
  LoadErrors errors;
  Config c =
      load_config(dir.write("t.yaml", "storage: {path: x.db}\nprices_file: prices.yaml\n"), errors);
  auto book = load_prices(c.prices_file, c, errors);
  REQUIRE(errors.lines == std::vector<std::string>{});
  REQUIRE(book->size() == 6);

  // Qwen3-Max's brackets survive: a 40k-token prompt is priced at the 32k-128k rate.
  UsageEvent e;
  e.provider = "dashscope";
  e.model = "qwen3-max";
  e.ts_ms = 0;
  e.input_tokens = 40000;
  e.output_tokens = 1000;
  REQUIRE(book->price(e).ok());
  CHECK(e.priced_by == PricedBy::kPriceBook);
  CHECK(e.cost.nanos() == 40000 * 2400 + 1000 * 12000);
  // gpt-4o: cache reads at 1.25/M, batch at half price.
  UsageEvent g;
  g.provider = "openai";
  g.model = "gpt-4o";
  g.input_tokens = 1'000'000;
  g.cached_input_tokens = 1'000'000;
  g.priority = Priority::kBatch;
  REQUIRE(book->price(g).ok());
  CHECK(g.cost.nanos() == (2'500'000'000 + 1'250'000'000) / 2);
  // Claude's _above_200k_tokens prices become a tier.
  UsageEvent s;
  s.provider = "anthropic";
  s.model = "claude-sonnet-4-20250514";
  s.input_tokens = 300'000;
  REQUIRE(book->price(s).ok());
  CHECK(s.cost.nanos() == 300'000LL * 6000);
}

TEST_CASE("not a LiteLLM map") {
  CHECK_FALSE(import_litellm("[1, 2]", "x").ok());
  CHECK_FALSE(import_litellm("{oops", "x").ok());
}
