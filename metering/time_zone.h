#pragma once
// TimeZone: UTC offsets of an IANA zone, read from the system's compiled tz database (TZif files
// under /usr/share/zoneinfo, or $TZDIR). Immutable after load; safe to share between threads.
//
// Instants past the last transition in the file use the offset in force after it (Debian ships
// "fat" TZif files with transitions through 2037).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metering/status.h"
#include "metering/time_util.h"

namespace tollgate {

class TimeZone {
 public:
  static Result<std::shared_ptr<const TimeZone>> load(const std::string& name);
  static std::shared_ptr<const TimeZone> utc();

  const std::string& name() const { return name_; }
  // Offset east of UTC, in seconds, in force at the instant.
  int32_t offset_at(EpochMs utc_ms) const;
  // Local day number (days since 1970-01-01 in local time) of an instant.
  int64_t local_day(EpochMs utc_ms) const;
  // The instant local midnight of the given local day begins (first instant whose local day is
  // `day`), exact across DST changes.
  EpochMs day_start(int64_t local_day) const;

 private:
  std::string name_;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int32_t> offsets_;      // offset in force from transitions_[i]
  int32_t initial_offset_ = 0;
};

}  // namespace tollgate
