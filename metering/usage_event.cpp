#include "metering/usage_event.h"

#include <boost/json.hpp>

namespace tollgate {

std::string_view to_string(Priority p) {
  switch (p) {
    case Priority::kCritical:
      return "critical";
    case Priority::kStandard:
      return "standard";
    case Priority::kBatch:
      return "batch";
  }
  return "standard";
}

std::optional<Priority> parse_priority(std::string_view s) {
  if (s == "critical") return Priority::kCritical;
  if (s == "standard") return Priority::kStandard;
  if (s == "batch") return Priority::kBatch;
  return std::nullopt;
}

std::string_view to_string(PricedBy p) {
  switch (p) {
    case PricedBy::kPriceBook:
      return "price_book";
    case PricedBy::kCaller:
      return "caller";
    case PricedBy::kUnpriced:
      return "unpriced";
  }
  return "unpriced";
}

std::string_view to_string(Component c) {
  switch (c) {
    case Component::kInput:
      return "input-tokens";
    case Component::kCachedInput:
      return "cached-input-tokens";
    case Component::kCacheWrite:
      return "cache-write-tokens";
    case Component::kOutput:
      return "output-tokens";
    case Component::kReasoning:
      return "reasoning-tokens";
    case Component::kRequests:
      return "requests";
    case Component::kGpuHours:
      return "gpu-hours";
    case Component::kEgressGb:
      return "egress-gb";
  }
  return "requests";
}

int64_t UsageEvent::quantity(Component c) const {
  switch (c) {
    case Component::kInput:
      return input_tokens;
    case Component::kCachedInput:
      return cached_input_tokens;
    case Component::kCacheWrite:
      return cache_write_tokens;
    case Component::kOutput:
      return output_tokens - reasoning_tokens;
    case Component::kReasoning:
      return reasoning_tokens;
    case Component::kRequests:
      return requests;
    case Component::kGpuHours:
      return gpu_micros;
    case Component::kEgressGb:
      return egress_bytes;
  }
  return 0;
}

std::string UsageEvent::tags_json() const {
  if (tags.empty()) return "{}";
  boost::json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return boost::json::serialize(o);
}

}  // namespace tollgate
