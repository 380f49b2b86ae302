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

std::string UsageEvent::tags_json() const {
  if (tags.empty()) return "{}";
  boost::json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return boost::json::serialize(o);
}

}  // namespace tollgate
