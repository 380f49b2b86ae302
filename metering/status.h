#pragma once
// Status and Result<T>: errors on data paths carry a typed Code and a human message. Every code
// has one row in the table of status.cpp: its stable snake_case name (the `code` of error bodies,
// CONTRACT §3 and §4) and the HTTP status it answers with. Nothing on a data path throws.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tollgate {

enum class Code {
  kOk,
  // A usage item (CONTRACT §3): rejected one by one, the request goes on.
  kMissingField,
  kInvalidType,
  kInvalidEventId,
  kStringTooLong,
  kTooManyTags,
  kInvalidTag,
  kInvalidTimestamp,
  kTimestampInFuture,
  kTimestampTooOld,
  kInvalidCount,
  kInvalidNumber,
  kInvalidPriority,
  kInvalidStatus,
  kInvalidUsage,
  kConflictingFields,
  kNotAnObject,
  kInvalidJson,
  kCostOutOfRange,
  kInvalidString,
  // A whole request (CONTRACT §4).
  kEmptyBody,
  kInvalidBody,
  kBadRequest,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kMethodNotAllowed,
  kInvalidAdmission,
  kInvalidOverride,
  kUnknownOverride,
  kUnknownBudget,
  kInvalidSince,
  kInvalidDate,
  kInvalidGroupBy,
  kInvalidFormat,
  kInvalidConfig,
  kShuttingDown,
  kStorageUnavailable,
  kStorageError,
  kInternal,  // a bug: an exception escaped a route handler
  // Startup and configuration.
  kInvalidTimezone,
  kSchemaTooNew,
  kDatabaseLocked,
  kBindFailed,
  // Outgoing HTTP (webhooks).
  kInvalidUrl,
  kConnectFailed,
  kSendFailed,
  kRecvFailed,
  kBadResponse,
  kRequestFailed,
  kUnknownReservation,
  kTlsFailed,
  // Bounds (CONTRACT §2.1 `limits`).
  kTooManyItems,
  kOverloaded,
  kTooManyRows,
};

// The code's stable name ("missing_field") and its HTTP status (400, 503, ...).
std::string_view code_name(Code code);
int http_status(Code code);

class Status {
 public:
  Status() = default;  // ok
  static Status error(Code code, std::string message) {
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  std::string_view code_name() const { return tollgate::code_name(code_); }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tollgate
