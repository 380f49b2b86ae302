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

TEST_CASE("every price LiteLLM gives for what Tollgate prices is kept (CONTRACT §2.2)") {
  auto r = import_litellm(R"({
    "qwen-thinking": {"litellm_provider": "dashscope", "input_cost_per_token": 2e-07,
      "output_cost_per_token": 2e-06, "output_cost_per_reasoning_token": 6e-06},
    "per-request": {"litellm_provider": "perplexity", "input_cost_per_token": 1e-06,
      "output_cost_per_token": 1e-06, "input_cost_per_request": 0.005},
    "split-batch": {"litellm_provider": "vertex_ai", "input_cost_per_token": 1.1e-06,
      "input_cost_per_token_batches": 5.995e-07, "output_cost_per_token": 4.4e-06,
      "output_cost_per_token_batches": 2.2e-06},
    "deep-batch": {"litellm_provider": "openai", "input_cost_per_token": 8e-06,
      "input_cost_per_token_batches": 1e-06, "output_cost_per_token": 8e-06,
      "output_cost_per_token_batches": 1e-06},
    "noisy": {"litellm_provider": "databricks", "input_cost_per_token": 2.9999900000000002e-06,
      "output_cost_per_token": 1.5000020000000002e-05},
    "tiny": {"litellm_provider": "x", "input_cost_per_token": 1e-16},
    "dup": {"litellm_provider": "openai", "input_cost_per_token": 1e-06},
    "openai/dup": {"litellm_provider": "openai", "input_cost_per_token": 2e-06}
  })",
                          "inline");
  REQUIRE(r.ok());
  CHECK(r->imported == 6);
  CHECK(r->skipped ==
        std::map<std::string, size_t>{{"price needs more than 9 decimals per 1M tokens", 1},
                                      {"same provider and model as an earlier entry", 1}});
  REQUIRE(r->conflicts.size() == 1);
  CHECK(r->conflicts[0].find("openai/dup") == 0);
  const std::string& y = r->yaml;
  CHECK(y.find("per_1m_reasoning_tokens: 6\n") != std::string::npos);
  CHECK(y.find("per_request: 0.005\n") != std::string::npos);
  CHECK(
      y.find("    batch:\n      per_1m_input_tokens: 0.5995\n      per_1m_output_tokens: 2.2\n") !=
      std::string::npos);
  CHECK(y.find("batch_discount_percent: 87.5\n") != std::string::npos);
  CHECK(y.find("per_1m_input_tokens: 2.99999\n") != std::string::npos);
  CHECK(y.find("per_1m_output_tokens: 15.00002\n") != std::string::npos);

  // And the file loads and prices them by hand-computed values.
  testing::TempDir dir;
  dir.write("prices.yaml", y);
  LoadErrors errors;
  Config c =
      load_config(dir.write("t.yaml", "storage: {path: x.db}\nprices_file: prices.yaml\n"), errors);
  auto book = load_prices(c.prices_file, c, errors);
  REQUIRE(errors.lines == std::vector<std::string>{});
  auto cost = [&](const std::string& provider, const std::string& model, int64_t in, int64_t out,
                  int64_t reasoning, Priority p) {
    UsageEvent e;
    e.provider = provider;
    e.model = model;
    e.input_tokens = in;
    e.output_tokens = out;
    e.reasoning_tokens = reasoning;
    e.priority = p;
    REQUIRE(book->price(e).ok());
    return e.cost.nanos();
  };
  // 1000 in × 0.2 + 400 out × 2 + 600 reasoning × 6 = 200 + 800 + 3600 = 4600 per 1M.
  CHECK(cost("dashscope", "qwen-thinking", 1000, 1000, 600, Priority::kStandard) == 4'600'000);
  // 1M in × 1 + one request × 0.005.
  CHECK(cost("perplexity", "per-request", 1'000'000, 0, 0, Priority::kStandard) == 1'005'000'000);
  // Batch: 1M in × 0.5995 + 1M out × 2.2 = 2.7995 (54.5% and 50% of the list prices).
  CHECK(cost("vertex_ai", "split-batch", 1'000'000, 1'000'000, 0, Priority::kBatch) ==
        2'799'500'000);
  // 87.5% off: 1M in + 1M out at 8 → 2.
  CHECK(cost("openai", "deep-batch", 1'000'000, 1'000'000, 0, Priority::kBatch) == 2'000'000'000);
  CHECK(cost("databricks", "noisy", 1'000'000, 1'000'000, 0, Priority::kStandard) ==
        18'000'010'000);  // 2.99999 + 15.00002
}

TEST_CASE("a context threshold past any context window skips that key, never aborts the import") {
  auto r = import_litellm(
      R"({"m": {"litellm_provider": "p", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
          "input_cost_per_token_above_99999999999999999999k_tokens": 3e-6,
          "input_cost_per_token_above_0k_tokens": 3e-6}})",
      "x.json");
  REQUIRE(r.ok());
  CHECK(r->imported == 1);
  CHECK(r->yaml.find("tiers") == std::string::npos);
  size_t skipped_keys = 0;
  for (const auto& [reason, n] : r->skipped)
    if (reason.find("context threshold") != std::string::npos) skipped_keys += n;
  CHECK(skipped_keys == 2);
}
