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
  std::string out;
  write_tags_json(out);
  return out;
}

void UsageEvent::write_tags_json(std::string& out) const {
  out.clear();
  if (tags.empty()) {
    out = "{}";
    return;
  }
  // The ledger's writer calls this for every event. Written directly when no byte needs an escape
  // (what Boost.JSON writes then is the bytes between quotes), else by Boost.JSON: the text must
  // stay byte for byte what earlier versions stored, it is the tag set's dim_values key.
  auto plain = [](const std::string& s) {
    for (const unsigned char c : s)
      if (c < 0x20 || c == '"' || c == '\\') return false;
    return true;
  };
  size_t size = 1;
  bool all_plain = true;
  for (const auto& [k, v] : tags) {
    size += k.size() + v.size() + 6;
    all_plain = all_plain && plain(k) && plain(v);
  }
  if (all_plain) {
    out.reserve(size + 1);
    out += '{';
    for (const auto& [k, v] : tags) {
      if (out.size() > 1) out += ',';
      out.append(1, '"').append(k).append("\":\"").append(v).append(1, '"');
    }
    out += '}';
    return;
  }
  boost::json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  out = boost::json::serialize(o);
}

}  // namespace tollgate
