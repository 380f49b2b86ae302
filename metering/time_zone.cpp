#include "metering/time_zone.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace tollgate {

namespace {

int64_t read_be(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::utc() {
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = "UTC";
  return tz;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  if (name.empty() || name.find("..") != std::string::npos || name.front() == '/')
    return Status::error(Code::kInvalidTimezone, "\"" + name + "\" is not an IANA time zone name");
  const char* dir = std::getenv("TZDIR");
  std::string path = std::string(dir ? dir : "/usr/share/zoneinfo") + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::error(Code::kInvalidTimezone, "unknown time zone \"" + name + "\" (no " + path +
                                                 "; is the tzdata package installed?)");
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)), {});
  auto bad = Status::error(Code::kInvalidTimezone, path + " is not a TZif file");
  auto parse_block = [&](size_t pos, int time_size, TimeZone& tz, size_t& end) -> bool {
    if (data.size() < pos + 44 || data[pos] != 'T' || data[pos + 1] != 'Z' ||
        data[pos + 2] != 'i' || data[pos + 3] != 'f')
      return false;
    const unsigned char* h = data.data() + pos + 20;
    int64_t isutcnt = read_be(h, 4), isstdcnt = read_be(h + 4, 4), leapcnt = read_be(h + 8, 4),
            timecnt = read_be(h + 12, 4), typecnt = read_be(h + 16, 4),
            charcnt = read_be(h + 20, 4);
    size_t p = pos + 44;
    size_t need = timecnt * time_size + timecnt + typecnt * 6 + charcnt +
                  leapcnt * (time_size + 4) + isstdcnt + isutcnt;
    if (data.size() < p + need || typecnt == 0) return false;
    std::vector<int64_t> times(timecnt);
    for (int64_t i = 0; i < timecnt; ++i) times[i] = read_be(&data[p + i * time_size], time_size);
    p += timecnt * time_size;
    std::vector<int> idx(timecnt);
    for (int64_t i = 0; i < timecnt; ++i) idx[i] = data[p + i];
    p += timecnt;
    std::vector<int32_t> type_offsets(typecnt);
    for (int64_t i = 0; i < typecnt; ++i)
      type_offsets[i] = static_cast<int32_t>(read_be(&data[p + i * 6], 4));
    tz.transitions_.clear();
    tz.offsets_.clear();
    for (int64_t i = 0; i < timecnt; ++i) {
      if (idx[i] >= typecnt) return false;
      tz.transitions_.push_back(times[i]);
      tz.offsets_.push_back(type_offsets[idx[i]]);
    }
    tz.initial_offset_ = type_offsets[0];
    end = p + need - timecnt * time_size - timecnt;
    return true;
  };
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = name;
  size_t end = 0;
  if (!parse_block(0, 4, *tz, end)) return bad;
  if (data[4] >= '2') {  // version 2+: a 64-bit block follows the 32-bit one
    size_t end64 = 0;
    if (!parse_block(end, 8, *tz, end64)) return bad;
  }
  return std::shared_ptr<const TimeZone>(std::move(tz));
}

int32_t TimeZone::offset_at(EpochMs utc_ms) const {
  int64_t secs = utc_ms >= 0 ? utc_ms / 1000 : (utc_ms - 999) / 1000;
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), secs);
  if (it == transitions_.begin()) return initial_offset_;
  return offsets_[it - transitions_.begin() - 1];
}

int64_t TimeZone::local_day(EpochMs utc_ms) const {
  int64_t local_ms = utc_ms + static_cast<int64_t>(offset_at(utc_ms)) * 1000;
  return local_ms >= 0 ? local_ms / 86'400'000 : (local_ms - 86'399'999) / 86'400'000;
}

EpochMs TimeZone::day_start(int64_t day) const {
  // Local midnight minus the offset in force then; near a transition the guess may land in the
  // neighbouring day, so search the few candidate offsets and take the earliest instant of `day`.
  EpochMs midnight = day * 86'400'000;
  EpochMs best = midnight - static_cast<int64_t>(offset_at(midnight)) * 1000;
  for (int64_t probe_h = -26; probe_h <= 26; probe_h += 1) {
    EpochMs candidate = midnight + probe_h * 3'600'000;
    EpochMs guess = midnight - static_cast<int64_t>(offset_at(candidate)) * 1000;
    if (local_day(guess) == day && (local_day(guess - 1) != day) && guess < best) best = guess;
  }
  if (local_day(best) != day) {
    // Midnight does not exist (a transition at 00:00 skips it): the day starts at the transition.
    auto it = std::upper_bound(transitions_.begin(), transitions_.end(), best / 1000);
    if (it != transitions_.end()) best = *it * 1000;
  }
  return best;
}

}  // namespace tollgate
