#include "metering/usage_event.h"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <random>
#include <string>

using namespace tollgate;

namespace {

// What tags_json() wrote before it wrote plain tags itself, and still writes for the others: the
// ledger keys a tag set by this text, so both must agree byte for byte.
std::string by_boost(const UsageEvent& e) {
  if (e.tags.empty()) return "{}";
  boost::json::object o;
  for (const auto& [k, v] : e.tags) o[k] = v;
  return boost::json::serialize(o);
}

}  // namespace

TEST_CASE("tags_json: the same text as Boost.JSON writes, for any bytes") {
  std::mt19937 rng(11);
  auto random_text = [&](bool any_byte) {
    std::string s(rng() % 12, 'x');
    for (char& c : s)
      c = any_byte ? static_cast<char>(rng() % 256) : static_cast<char>('a' + rng() % 26);
    return s;
  };
  int plain = 0;
  std::string reused;  // the ledger's writer writes every event's into one buffer
  for (int i = 0; i < 20'000; ++i) {
    UsageEvent e;
    const int n = static_cast<int>(rng() % 4);
    const bool any_byte = i % 3 == 0;
    for (int t = 0; t < n; ++t) e.tags.emplace_back(random_text(any_byte), random_text(any_byte));
    std::sort(e.tags.begin(), e.tags.end());
    e.tags.erase(std::unique(e.tags.begin(), e.tags.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 e.tags.end());
    INFO(by_boost(e));
    CHECK(e.tags_json() == by_boost(e));
    e.write_tags_json(reused);
    CHECK(reused == by_boost(e));
    plain += !any_byte;
  }
  CHECK(plain > 10'000);
  UsageEvent e;
  e.tags = {{"a\"b", "c\\d"}, {"env", "pr\nod"}, {"k", "\x7f\xc3\xa9"}};
  CHECK(e.tags_json() == by_boost(e));
  CHECK(e.tags_json() == "{\"a\\\"b\":\"c\\\\d\",\"env\":\"pr\\nod\",\"k\":\"\x7f\xc3\xa9\"}");
}
