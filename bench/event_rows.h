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

// Event n's id: `prefix` and n ("ev17"), or with prefix "uuid" a random-looking version-4 UUID
// (36 characters, in no order), as clients that make one per call send them.
inline std::string event_id_of(const std::string& prefix, int64_t n) {
  if (prefix != "uuid") return prefix + std::to_string(n);
  auto mix = [](uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  const uint64_t a = mix(static_cast<uint64_t>(n) * 2 + 1), b = mix(static_cast<uint64_t>(n) * 2 + 2);
  char id[40];
  std::snprintf(id, sizeof id, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return id;
}

struct Row {
  std::string event_id;
  const char* feature;
  const char* provider;
  const char* model;
  int64_t input_tokens, output_tokens;
};

inline Row row(const std::string& prefix, int64_t n) {
  int k = static_cast<int>(n % 4);
  return {event_id_of(prefix, n),
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

// Traffic as a company sends it (the "company" shape): 50 features, 7 teams, 1,000 customers,
// 4 models of 3 providers, 2 regions, 3 priorities, two tags per event. Values are spread with
// different strides so the combinations do not repeat in lockstep.
struct CompanyRow {
  std::string event_id;
  int feature, team, customer, model, region, priority, env, cost_center;
  int64_t input_tokens, cached_input_tokens, output_tokens;
};

inline const char* kRegions[] = {"eu-fr", "us-east"};
inline const char* kPriorities[] = {"critical", "standard", "batch"};
inline const char* kEnvs[] = {"prod", "staging"};

// `features`: 50 as a company sends them; the memory benchmark spreads over 10,000.
inline CompanyRow company_row(const std::string& prefix, int64_t n, int features = 50) {
  const uint64_t h = static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ull;  // a cheap spread of n
  return {event_id_of(prefix, n),
          static_cast<int>(h % features),
          static_cast<int>((h >> 8) % 7),
          static_cast<int>((h >> 16) % 1000),
          static_cast<int>((h >> 28) % 4),
          static_cast<int>((h >> 32) % 2),
          static_cast<int>((h >> 36) % 3),
          static_cast<int>((h >> 40) % 2),
          static_cast<int>((h >> 44) % 40),
          static_cast<int64_t>(200 + (h >> 20) % 6000),
          static_cast<int64_t>((h >> 24) % 3 == 0 ? (h >> 30) % 1000 : 0),
          static_cast<int64_t>(50 + (h >> 12) % 900)};
}

inline void append_json(std::string& out, const CompanyRow& r, const char* ts) {
  char buf[640];
  int len = std::snprintf(
      buf, sizeof buf,
      "{\"event_id\":\"%s\",\"ts\":\"%s\",\"feature\":\"feature-%02d\",\"team\":\"team-%d\","
      "\"customer\":\"customer-%04d\",\"provider\":\"%s\",\"model\":\"%s\",\"region\":\"%s\","
      "\"priority\":\"%s\",\"tags\":{\"env\":\"%s\",\"cost_center\":\"cc-%02d\"},"
      "\"input_tokens\":%lld,\"cached_input_tokens\":%lld,\"output_tokens\":%lld,"
      "\"latency_ms\":420}\n",
      r.event_id.c_str(), ts, r.feature, r.team, r.customer, kProviders[r.model], kModels[r.model],
      kRegions[r.region], kPriorities[r.priority], kEnvs[r.env], r.cost_center,
      static_cast<long long>(r.input_tokens), static_cast<long long>(r.cached_input_tokens),
      static_cast<long long>(r.output_tokens));
  out.append(buf, len);
}

}  // namespace tollgate::bench
