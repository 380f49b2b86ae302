#include "metering/status.h"

#include <array>

namespace tollgate {

namespace {

struct CodeRow {
  Code code;
  std::string_view name;
  int http_status;
};

// One row per Code, in the enum's order (checked below at compile time).
constexpr CodeRow kCodes[] = {
    {Code::kOk, "ok", 200},
    {Code::kMissingField, "missing_field", 400},
    {Code::kInvalidType, "invalid_type", 400},
    {Code::kInvalidEventId, "invalid_event_id", 400},
    {Code::kStringTooLong, "string_too_long", 400},
    {Code::kTooManyTags, "too_many_tags", 400},
    {Code::kInvalidTag, "invalid_tag", 400},
    {Code::kInvalidTimestamp, "invalid_timestamp", 400},
    {Code::kTimestampInFuture, "timestamp_in_future", 400},
    {Code::kTimestampTooOld, "timestamp_too_old", 400},
    {Code::kInvalidCount, "invalid_count", 400},
    {Code::kInvalidNumber, "invalid_number", 400},
    {Code::kInvalidPriority, "invalid_priority", 400},
    {Code::kInvalidStatus, "invalid_status", 400},
    {Code::kInvalidUsage, "invalid_usage", 400},
    {Code::kConflictingFields, "conflicting_fields", 400},
    {Code::kNotAnObject, "not_an_object", 400},
    {Code::kInvalidJson, "invalid_json", 400},
    {Code::kCostOutOfRange, "cost_out_of_range", 400},
    {Code::kInvalidString, "invalid_string", 400},
    {Code::kEmptyBody, "empty_body", 400},
    {Code::kInvalidBody, "invalid_body", 400},
    {Code::kBadRequest, "bad_request", 400},
    {Code::kPayloadTooLarge, "payload_too_large", 413},
    {Code::kHeadersTooLarge, "headers_too_large", 431},
    {Code::kUnauthorized, "unauthorized", 401},
    {Code::kForbidden, "forbidden", 403},
    {Code::kNotFound, "not_found", 404},
    {Code::kMethodNotAllowed, "method_not_allowed", 405},
    {Code::kInvalidAdmission, "invalid_admission", 400},
    {Code::kInvalidOverride, "invalid_override", 400},
    {Code::kUnknownOverride, "unknown_override", 404},
    {Code::kUnknownBudget, "unknown_budget", 404},
    {Code::kInvalidSince, "invalid_since", 400},
    {Code::kInvalidDate, "invalid_date", 400},
    {Code::kInvalidGroupBy, "invalid_group_by", 400},
    {Code::kInvalidFormat, "invalid_format", 400},
    {Code::kInvalidConfig, "invalid_config", 400},
    {Code::kShuttingDown, "shutting_down", 503},
    {Code::kStorageUnavailable, "storage_unavailable", 503},
    {Code::kStorageError, "storage_error", 503},
    {Code::kInternal, "internal", 500},
    {Code::kInvalidTimezone, "invalid_timezone", 400},
    {Code::kSchemaTooNew, "schema_too_new", 500},
    {Code::kDatabaseLocked, "database_locked", 500},
    {Code::kBindFailed, "bind_failed", 500},
    {Code::kInvalidUrl, "invalid_url", 400},
    {Code::kConnectFailed, "connect_failed", 502},
    {Code::kSendFailed, "send_failed", 502},
    {Code::kRecvFailed, "recv_failed", 502},
    {Code::kBadResponse, "bad_response", 502},
    {Code::kRequestFailed, "request_failed", 502},
    {Code::kUnknownReservation, "unknown_reservation", 404},
    {Code::kTlsFailed, "tls_failed", 502},
    {Code::kTooManyItems, "too_many_items", 413},
    {Code::kOverloaded, "overloaded", 503},
    {Code::kTooManyRows, "too_many_rows", 422},
};

constexpr bool in_enum_order() {
  for (size_t i = 0; i < std::size(kCodes); ++i)
    if (static_cast<size_t>(kCodes[i].code) != i) return false;
  return true;
}
static_assert(in_enum_order(), "kCodes must list every Code in the enum's order");
static_assert(std::size(kCodes) == static_cast<size_t>(Code::kTooManyRows) + 1,
              "every Code needs its row");

}  // namespace

std::string_view code_name(Code code) { return kCodes[static_cast<size_t>(code)].name; }
int http_status(Code code) { return kCodes[static_cast<size_t>(code)].http_status; }

}  // namespace tollgate
