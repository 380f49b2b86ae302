#pragma once
// OTLP/HTTP trace export bodies (ExportTraceServiceRequest, protobuf or JSON encoding) into usage
// events: a span carrying the OpenTelemetry GenAI semantic convention's usage attributes becomes
// one event, with event_id = trace id + span id (so a re-sent batch is duplicates), and its
// dimensions read from span or resource attributes. Spans without GenAI usage are skipped.
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metering/event_decoder.h"
#include "metering/money.h"
#include "metering/status.h"
#include "metering/time_util.h"

namespace tollgate {

// Which attribute each dimension is read from (span attributes first, then the resource's);
// dimensions not listed, or absent from a span, stay empty (priority: standard).
struct OtlpMapping {
  std::vector<std::pair<std::string, std::string>> attributes;  // dimension → attribute key
  static OtlpMapping defaults();  // feature ← service.name, team ← tollgate.team, ...
};

struct OtlpDecoded {
  std::vector<DecodedItem> items;  // one per GenAI span, valid or rejected
  size_t spans = 0;                // every span in the body
  size_t skipped = 0;              // spans without GenAI usage
};

enum class OtlpEncoding { kProtobuf, kJson };

// Fails as a whole (invalid_body / invalid_json) only when the body cannot be read at all.
Result<OtlpDecoded> decode_otlp_traces(std::string_view body, OtlpEncoding encoding,
                                       const OtlpMapping& mapping, EpochMs now_ms,
                                       EpochMs oldest_ms, Money max_event_cost);

// ExportTraceServiceResponse: empty when nothing was rejected, else partial_success with the
// count and the first reason.
std::string otlp_response(OtlpEncoding encoding, int64_t rejected_spans,
                          const std::string& error_message);

}  // namespace tollgate
