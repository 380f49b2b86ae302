#include "metering/time_zone.h"

#include <doctest/doctest.h>

using namespace tollgate;

namespace {
EpochMs at(const char* rfc3339) { return *parse_rfc3339(rfc3339); }
std::string day(const TimeZone& tz, const char* ts) { return format_date(tz.local_day(at(ts))); }
}  // namespace

TEST_CASE("RFC 3339 parsing and formatting round-trip") {
  CHECK(format_utc_ms(at("2026-11-21T10:00:00.5Z")) == "2026-11-21T10:00:00.500Z");
  CHECK(format_utc_ms(at("2026-11-21T10:00:00-02:30")) == "2026-11-21T12:30:00.000Z");
  CHECK(format_utc_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK_FALSE(parse_rfc3339("2026-11-21 10:00"));
  CHECK_FALSE(parse_rfc3339("2026-11-21T10:00:00"));  // an offset is required
  CHECK_FALSE(parse_rfc3339("2026-13-01T00:00:00Z"));
  CHECK(parse_date("2024-02-29"));
  CHECK_FALSE(parse_date("2026-02-29"));
}

TEST_CASE("half- and quarter-hour zones put events on the right local day") {
  auto kolkata = TimeZone::load("Asia/Kolkata");
  REQUIRE(kolkata.ok());
  CHECK(kolkata.value()->offset_at(at("2026-11-21T00:00:00Z")) == 5 * 3600 + 1800);
  CHECK(day(*kolkata.value(), "2026-11-21T18:29:59.999Z") == "2026-11-21");
  CHECK(day(*kolkata.value(), "2026-11-21T18:30:00Z") == "2026-11-22");
  auto kathmandu = TimeZone::load("Asia/Kathmandu");
  REQUIRE(kathmandu.ok());
  CHECK(day(*kathmandu.value(), "2026-11-21T18:14:59Z") == "2026-11-21");
  CHECK(day(*kathmandu.value(), "2026-11-21T18:15:00Z") == "2026-11-22");
  CHECK(kathmandu.value()->day_start(*parse_date("2026-11-22")) == at("2026-11-21T18:15:00Z"));
}

TEST_CASE("DST in America/New_York: days of 23 and 25 hours start at local midnight") {
  auto ny = TimeZone::load("America/New_York");
  REQUIRE(ny.ok());
  const TimeZone& tz = *ny.value();
  CHECK(tz.offset_at(at("2026-07-01T12:00:00Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2026-12-01T12:00:00Z")) == -5 * 3600);
  // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
  CHECK(tz.day_start(*parse_date("2026-03-08")) == at("2026-03-08T05:00:00Z"));
  CHECK(tz.day_start(*parse_date("2026-03-09")) == at("2026-03-09T04:00:00Z"));
  // 2026-11-01: clocks fall back from 02:00 EDT to 01:00 EST.
  CHECK(tz.day_start(*parse_date("2026-11-01")) == at("2026-11-01T04:00:00Z"));
  CHECK(tz.day_start(*parse_date("2026-11-02")) == at("2026-11-02T05:00:00Z"));
  CHECK(day(tz, "2026-11-02T04:59:59Z") == "2026-11-01");
}

TEST_CASE("unknown zones are refused with a reason") {
  auto bad = TimeZone::load("Mars/Olympus");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("unknown time zone") != std::string::npos);
  CHECK_FALSE(TimeZone::load("../etc/passwd").ok());
}

// Debian's TZif files store transitions through 2037; later instants follow the rule in the
// file's footer, so DST must go on.
TEST_CASE("DST in America/New_York goes on past the transitions stored in the file") {
  auto ny = TimeZone::load("America/New_York");
  REQUIRE(ny.ok());
  const TimeZone& tz = *ny.value();
  // 2037 is the last summer stored as transitions; 2038 comes from the footer rule.
  CHECK(tz.offset_at(at("2037-07-01T12:00:00Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2038-07-01T12:00:00Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2040-01-15T12:00:00Z")) == -5 * 3600);
  CHECK(tz.offset_at(at("2040-07-01T12:00:00Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2100-07-01T12:00:00Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2100-12-01T12:00:00Z")) == -5 * 3600);
  // 2040-03-11: clocks jump from 02:00 EST to 03:00 EDT.
  CHECK(tz.offset_at(at("2040-03-11T06:59:59Z")) == -5 * 3600);
  CHECK(tz.offset_at(at("2040-03-11T07:00:00Z")) == -4 * 3600);
  CHECK(tz.day_start(*parse_date("2040-03-11")) == at("2040-03-11T05:00:00Z"));
  CHECK(tz.day_start(*parse_date("2040-03-12")) == at("2040-03-12T04:00:00Z"));
  // 2040-11-04: clocks fall back from 02:00 EDT to 01:00 EST.
  CHECK(tz.offset_at(at("2040-11-04T05:59:59Z")) == -4 * 3600);
  CHECK(tz.offset_at(at("2040-11-04T06:00:00Z")) == -5 * 3600);
  CHECK(tz.day_start(*parse_date("2040-11-04")) == at("2040-11-04T04:00:00Z"));
  CHECK(tz.day_start(*parse_date("2040-11-05")) == at("2040-11-05T05:00:00Z"));
  CHECK(day(tz, "2040-11-05T04:59:59Z") == "2040-11-04");
  CHECK(day(tz, "2040-11-05T05:00:00Z") == "2040-11-05");
}

TEST_CASE("zones without DST and European DST past 2037") {
  auto kolkata = TimeZone::load("Asia/Kolkata");
  REQUIRE(kolkata.ok());
  CHECK(kolkata.value()->offset_at(at("2050-06-01T00:00:00Z")) == 5 * 3600 + 1800);
  CHECK(kolkata.value()->day_start(*parse_date("2050-06-01")) == at("2050-05-31T18:30:00Z"));
  auto london = TimeZone::load("Europe/London");
  REQUIRE(london.ok());
  CHECK(london.value()->offset_at(at("2045-07-01T12:00:00Z")) == 3600);
  CHECK(london.value()->offset_at(at("2045-12-01T12:00:00Z")) == 0);
}

// The footer "<-02>2<-01>,M3.5.0/-1,M10.5.0/0" uses RFC 8536's negative rule times, which
// date/ptz.h 3.0.1 cannot parse: the zone still loads, with the transitions stored in its file.
TEST_CASE("a zone whose footer rule cannot be parsed still loads") {
  auto nuuk = TimeZone::load("America/Nuuk");
  REQUIRE(nuuk.ok());
  CHECK(nuuk.value()->offset_at(at("2026-01-15T12:00:00Z")) == -2 * 3600);
  CHECK(nuuk.value()->offset_at(at("2037-07-01T12:00:00Z")) == -1 * 3600);
}

TEST_CASE("names that are not zones are refused, never thrown") {
  for (const char* name : {"Mars/Olympus", "Europe", "America", "", "/etc/passwd", "zone.tab"}) {
    CAPTURE(name);
    auto bad = TimeZone::load(name);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code_name() == "invalid_timezone");
  }
  CHECK(TimeZone::load("Europe").status().message().find("unknown time zone") != std::string::npos);
}
