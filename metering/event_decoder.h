#pragma once
// Decoding and validation of POST /v1/usage bodies (CONTRACT §3, §4.1): one JSON event, a JSON
// array of events, or NDJSON. Each item is validated on its own, so one bad item never blocks the
// others. Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "metering/status.h"
#include "metering/time_util.h"
#include "metering/usage_event.h"

namespace tollgate {

struct DecodedItem {
  std::string event_id;  // as sent, when it could be read (for error reports)
  Status status;         // ok, or why the item is rejected
  UsageEvent event;      // valid only when status.ok()
};

enum class BodyFormat { kJson, kNdjson };

// Fails as a whole (code "invalid_json" / "empty_body" / "invalid_body") only when the body cannot
// be parsed at all; otherwise returns one DecodedItem per event in order. Events stamped before
// oldest_ms are refused: raw events older than the retention are pruned, so their event_id could
// no longer be recognised as a duplicate. A caller cost or a revenue above max_event_cost is
// refused (cost_out_of_range). A body of more than max_items events fails as a whole with
// too_many_items before any event is decoded (NDJSON lines are counted first; a JSON array is
// counted once parsed).
Result<std::vector<DecodedItem>> decode_usage_body(
    std::string_view body, BodyFormat format, EpochMs now_ms, EpochMs oldest_ms,
    Money max_event_cost = Money::from_nanos(1'000'000 * Money::kNanosPerUnit),
    size_t max_items = 100'000);

}  // namespace tollgate
