#pragma once
// Status and Result<T>: errors on data paths carry a stable snake_case code and a human message.
// The HTTP layer maps codes to statuses; nothing on a data path throws.

#include <optional>
#include <string>
#include <utility>

namespace tollgate {

class Status {
 public:
  Status() = default;  // ok
  static Status error(std::string code, std::string message) {
    Status s;
    s.code_ = std::move(code);
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return code_.empty(); }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  std::string code_;
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
