// RecentSpend: the minute-precise burn history, and its bound.
#include "policies/recent_spend.h"

#include <doctest/doctest.h>

#include <map>

using namespace tollgate;

namespace {

constexpr EpochMs kBlock = 15 * 60'000;
const EpochMs kT0 = 1'795'000'000'000 / kBlock * kBlock;  // a 15-minute boundary

void add(RecentSpend& r, const std::string& customer, EpochMs ts, int64_t nanos) {
  Dimensions d;
  d.customer = customer;
  std::string key;
  append_key(key, d);
  r.add(key, ts, nanos);
}

// Sum per minute of what for_each gives from `from`.
int64_t total_from(const RecentSpend& r, EpochMs from) {
  int64_t sum = 0;
  r.for_each(from, [&](const Dimensions&, EpochMs, int64_t n) { sum += n; });
  return sum;
}

}  // namespace

TEST_CASE("burn history: past its bound the oldest 15-minute blocks go and covered_from moves on") {
  RecentSpend r(kT0, 4);
  add(r, "a", kT0 + 60'000, 1);
  add(r, "b", kT0 + 120'000, 2);
  add(r, "a", kT0 + 120'000, 3);
  add(r, "a", kT0 + 120'000, 4);  // the same entry: no new one
  CHECK(r.entries() == 3);
  add(r, "c", kT0 + kBlock + 60'000, 5);
  CHECK(r.entries() == 4);
  CHECK(r.sheds() == 0);
  CHECK(r.covered_from() == kT0);
  add(r, "d", kT0 + kBlock + 60'000, 6);  // 5 entries > 4: the first block goes, whole
  CHECK(r.sheds() == 1);
  CHECK(r.entries() == 2);
  CHECK(r.covered_from() == kT0 + kBlock);  // before it, a rebuild reads the rollups
  CHECK(total_from(r, r.covered_from()) == 11);
  // A rebuild that read covered_from() pins it: nothing from there is dropped meanwhile.
  r.pin(r.covered_from());
  add(r, "e", kT0 + 2 * kBlock, 7);
  add(r, "f", kT0 + 2 * kBlock, 8);
  add(r, "g", kT0 + 2 * kBlock, 9);
  CHECK(r.entries() == 5);
  CHECK(r.sheds() == 1);
  CHECK(total_from(r, kT0 + kBlock) == 35);
  r.unpin();
  add(r, "h", kT0 + 2 * kBlock, 10);  // now the bound applies again
  CHECK(r.sheds() == 2);
  CHECK(r.covered_from() == kT0 + 2 * kBlock);
  CHECK(r.entries() == 4);
  CHECK(total_from(r, r.covered_from()) == 34);
}

TEST_CASE("burn history: a block larger than the bound is dropped whole, later events still held") {
  RecentSpend r(kT0, 2);
  add(r, "a", kT0 + 60'000, 1);
  add(r, "b", kT0 + 60'000, 1);
  add(r, "c", kT0 + 60'000, 1);  // the one block passes the bound: dropped
  CHECK(r.entries() == 0);
  CHECK(r.covered_from() == kT0 + kBlock);  // the whole block is the rollups' to give
  // Later events of that block are not kept: no rebuild could read them (at a company's
  // cardinality the bound bites every second, and they were most of the writer's work here).
  for (int i = 0; i < 10; ++i) add(r, "x" + std::to_string(i), kT0 + 120'000, 1);
  add(r, "y", kT0 + kBlock - 1, 1);
  CHECK(r.entries() == 0);
  CHECK(r.sheds() == 1);
  add(r, "d", kT0 + kBlock, 4);
  CHECK(r.entries() == 1);
  CHECK(total_from(r, r.covered_from()) == 4);
  r.trim(kT0 + 3 * kBlock, kBlock);  // trimming counts too
  CHECK(r.entries() == 0);
}

TEST_CASE("burn history: late events opening older minutes reserve no room for them") {
  RecentSpend r(kT0, 100'000);
  const EpochMs newest = kT0 + 30 * kBlock;  // 300 minutes before it are still held
  for (int i = 0; i < 5'000; ++i) add(r, "c" + std::to_string(i), newest, 1);
  const size_t one_minute = r.slots();
  CHECK(one_minute >= 5'000);
  // A late event in each of 300 earlier minutes: small tables, not one the newest's size each.
  for (int m = 1; m <= 300; ++m) add(r, "late", newest - m * 60'000, 1);
  CHECK(r.entries() == 5'300);
  CHECK(r.slots() < one_minute + 300 * 64);
  // The next minute is sized like the newest, within what the bound still allows.
  add(r, "next", newest + 60'000, 1);
  CHECK(r.slots() >= 2 * 5'000);
  RecentSpend tight(kT0, 6'000);
  for (int i = 0; i < 5'000; ++i) add(tight, "c" + std::to_string(i), newest, 1);
  const size_t before = tight.slots();
  add(tight, "next", newest + 60'000, 1);
  CHECK(tight.slots() - before < 2'000);
}
