#include "metering/time_zone.h"

#include <date/tz.h>

// date/ptz.h 3.0.1 names hh_mm_ss unqualified under both `using namespace date` and `using
// namespace std::chrono`, which C++20 makes ambiguous; lookup finds this one in Posix first.
namespace Posix {
template <class Duration>
using hh_mm_ss = date::hh_mm_ss<Duration>;
}  // namespace Posix

// Include only here: ptz.h defines a non-inline function, so a second includer would not link.
#include <date/ptz.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <limits>

namespace tollgate {

namespace {

// Where date/tz built with USE_OS_TZDB reads the zones; the footer must come from the same file.
constexpr const char* kZoneDir = "/usr/share/zoneinfo";

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

// date::year stops at 32767 and ptz.h counts days in 32 bits; rules are not evaluated past this
// instant (RFC 3339 cannot name a later one), later instants keep its offset.
constexpr date::sys_seconds kRuleHorizon{date::sys_days{date::year{10000} / 1 / 1}};

Status invalid(std::string message) {
  return Status::error(Code::kInvalidTimezone, std::move(message));
}

date::sys_seconds sys(int64_t utc_seconds) {
  return date::sys_seconds{std::chrono::seconds{utc_seconds}};
}

int64_t seconds(date::sys_seconds t) { return t.time_since_epoch().count(); }

// The TZ string a TZif v2+ file ends with ("...\n<rule>\n", RFC 8536 section 3.3); empty for a
// version 1 file, which has none.
Result<std::string> read_footer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid("cannot read " + path);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  if (data.size() < 5 || data.compare(0, 4, "TZif") != 0)
    return invalid(path + " is not a TZif file");
  if (data[4] < '2' || data.back() != '\n') return std::string();
  size_t start = data.rfind('\n', data.size() - 2);
  if (start == std::string::npos) return std::string();
  return data.substr(start + 1, data.size() - start - 2);
}

// ptz.h 3.0.1 rejects RFC 8536's extensions to POSIX, e.g. America/Nuuk's negative rule times
// ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0"); such zones keep date/tz's offset after the last transition.
std::shared_ptr<const Posix::time_zone> parse_rule(const std::string& footer) {
  if (footer.empty()) return nullptr;
  try {
    return std::make_shared<const Posix::time_zone>(footer);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

struct TimeZone::Period {
  int64_t end;  // UTC seconds, always after the instant asked about
  int32_t offset;
};

std::shared_ptr<const TimeZone> TimeZone::utc() {
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = "UTC";
  return tz;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  if (name.empty() || name.find("..") != std::string::npos || name.front() == '/')
    return invalid("\"" + name + "\" is not an IANA time zone name");
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = name;
  // date/tz throws for names it does not list (directories such as "Europe" included), and when
  // the database itself is missing.
  try {
    tz->zone_ = date::locate_zone(name);
  } catch (const std::exception&) {
    return invalid("unknown time zone \"" + name + "\" (not in " + kZoneDir +
                   "; is the tzdata package installed?)");
  }
  // Read before date/tz parses the file on first use, so an unreadable one is an error here.
  auto footer = read_footer(std::string(kZoneDir) + "/" + name);
  if (!footer.ok()) return footer.status();
  try {
    // The period date/tz reports for the far future begins at the file's last transition.
    tz->rule_from_ = seconds(tz->zone_->get_info(kRuleHorizon).begin);
  } catch (const std::exception& e) {
    return invalid("cannot load time zone \"" + name + "\": " + e.what());
  }
  tz->rule_ = parse_rule(footer.value());
  return std::shared_ptr<const TimeZone>(std::move(tz));
}

TimeZone::Period TimeZone::period_at(int64_t utc_seconds) const {
  if (!zone_) return {kForever, 0};
  auto period = [](const date::sys_info& info) {
    return Period{seconds(info.end), static_cast<int32_t>(info.offset.count())};
  };
  if (utc_seconds < rule_from_) return period(zone_->get_info(sys(utc_seconds)));
  // Past the last transition date/tz repeats the last offset; the footer rule knows better.
  if (!rule_) return {kForever, period(zone_->get_info(sys(utc_seconds))).offset};
  if (sys(utc_seconds) >= kRuleHorizon)
    return {kForever, period(rule_->get_info(kRuleHorizon)).offset};
  return period(rule_->get_info(sys(utc_seconds)));
}

int32_t TimeZone::offset_at(EpochMs utc_ms) const {
  auto secs = std::chrono::floor<std::chrono::seconds>(std::chrono::milliseconds{utc_ms});
  return period_at(secs.count()).offset;
}

int64_t TimeZone::local_day(EpochMs utc_ms) const {
  int64_t local_ms = utc_ms + static_cast<int64_t>(offset_at(utc_ms)) * 1000;
  return day_of_ms(local_ms);
}

EpochMs TimeZone::day_start(int64_t day) const {
  // The first instant whose local time reaches the day's midnight. Walk the offset periods from a
  // day earlier (no offset reaches 24 h, so the day has not begun there): in each, midnight falls
  // at `midnight - offset`, unless the period begins later, as when a gap skips midnight and the
  // day begins at the transition.
  const int64_t midnight = day * 86'400;
  int64_t t = midnight - 86'400;
  for (;;) {
    Period p = period_at(t);
    int64_t start = std::max(t, midnight - p.offset);
    if (start < p.end) return start * 1000;
    t = p.end;
  }
}

}  // namespace tollgate
