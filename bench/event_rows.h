#pragma once
// The synthetic usage events both ingest benchmarks write: same ids, same field values, so the
// daemon and the raw-SQLite floor store identical rows.

#include <cstdint>
#include <cstdio>
#include <string>

namespace tollgate::bench {

inline const char* kFeatures[] = {"support-chat", "search", "summarize", "batch-embed"};
inline const char* kModels[] = {"qwen3-max", "qwen-plus", "gpt-4o", "claude-sonnet-4"};
inline const char* kProviders[] = {"alibaba", "alibaba", "openai", "anthropic"};

struct Row {
  std::string event_id;
  const char* feature;
  const char* provider;
  const char* model;
  int64_t input_tokens, output_tokens;
};

inline Row row(const std::string& prefix, int64_t n) {
  int k = static_cast<int>(n % 4);
  return {prefix + std::to_string(n),
          kFeatures[k],
          kProviders[k],
          kModels[k],
          800 + n % 700,
          100 + n % 300};
}

inline void append_json(std::string& out, const Row& r, const char* ts) {
  char buf[512];
  int len = std::snprintf(buf, sizeof buf,
                          "{\"event_id\":\"%s\",\"ts\":\"%s\",\"feature\":\"%s\",\"team\":\"cx\","
                          "\"provider\":\"%s\",\"model\":\"%s\",\"region\":\"eu-fr\","
                          "\"input_tokens\":%lld,\"output_tokens\":%lld,\"latency_ms\":420}\n",
                          r.event_id.c_str(), ts, r.feature, r.provider, r.model,
                          static_cast<long long>(r.input_tokens),
                          static_cast<long long>(r.output_tokens));
  out.append(buf, len);
}

}  // namespace tollgate::bench
