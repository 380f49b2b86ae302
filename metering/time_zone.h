#pragma once
// TimeZone: UTC offsets of an IANA zone, from the system's compiled tz database
// (/usr/share/zoneinfo) through Howard Hinnant's date/tz, built with USE_OS_TZDB. Immutable after
// load; safe to share between threads.
//
// date/tz knows only the transitions stored in the TZif file (Debian's end in 2037) and keeps the
// last offset forever after, so DST would stop in 2038. A TZif v2+ file ends with a POSIX TZ rule
// for the instants after its last transition ("EST5EDT,M3.2.0,M11.1.0"); it is read at load and
// evaluated with date/ptz.h from the last transition on. $TZDIR is not consulted: date/tz 3.0.1
// does not read it, and the rule must come from the same file as the transitions.

#include <cstdint>
#include <memory>
#include <string>

#include "metering/status.h"
#include "metering/time_util.h"

namespace date {
class time_zone;
}
namespace Posix {
class time_zone;
}

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
  struct Period;  // an offset and the instant it stops being in force (time_zone.cpp)
  Period period_at(int64_t utc_seconds) const;

  std::string name_;
  const date::time_zone* zone_ = nullptr;  // nullptr for UTC; date/tz's database owns it
  // The file's footer rule, in force from rule_from_ (UTC seconds of the last transition); null
  // when the file has none, or one date/ptz.h cannot parse.
  std::shared_ptr<const Posix::time_zone> rule_;
  int64_t rule_from_ = 0;
};

}  // namespace tollgate
