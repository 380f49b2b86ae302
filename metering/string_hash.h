#pragma once
// StringHash: the hash of the daemon's string-keyed open-addressing maps (Boost's
// unordered_flat_map), transparent so a std::string_view finds a std::string key without a copy.
// Boost 1.81's own boost::hash<std::string> mixes the bytes one at a time: 62 ns for a
// 60-byte key and 157 ns for the 150-byte dimension keys of the policy engine and the burn
// history, against 19 and 34 ns for std::hash (bench/README.md, "A core for the writer").
// metrics/handle_cache.h has a twin of it (not transparent: its keys are only std::string):
// metrics/ includes nothing of metering/.

#include <cstddef>
#include <functional>
#include <string_view>

namespace tollgate {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace tollgate
