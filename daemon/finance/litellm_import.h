#pragma once
// Converts LiteLLM's model_prices_and_context_window.json into a Tollgate prices file
// (CONTRACT §2.2): per-token prices become per-1M prices (exact decimal shifts, never through a
// rounding double), cache read/creation prices, `tiered_pricing` context brackets (Alibaba's Qwen
// models), `_above_Nk_tokens` prices, reasoning and per-request prices, and `_batches` prices.
// Entries it cannot represent are skipped and counted per reason.

#include <map>
#include <string>
#include <vector>

#include "metering/status.h"

namespace tollgate {

struct LitellmImport {
  std::string yaml;
  size_t imported = 0;
  std::map<std::string, size_t> skipped;  // reason → count
  std::vector<std::string> conflicts;     // same provider and model, different prices
};

Result<LitellmImport> import_litellm(const std::string& json_text, const std::string& source_name);

}  // namespace tollgate
