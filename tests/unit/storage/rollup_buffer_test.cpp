// RollupBuffer: what it keeps in memory between flushes.
#include "storage/rollup_buffer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace tollgate;

TEST_CASE("rollup buffer: clear() gives back the tables a burst of new customers grew") {
  RollupBuffer buffer;
  std::vector<std::string> customers;
  for (int i = 0; i < 5'000; ++i) customers.push_back("customer-" + std::to_string(i));
  UsageEvent e;
  e.ts_ms = 1'795'000'000'000;
  e.requests = 1;
  int64_t rowid = 0;
  for (const std::string& customer : customers) {
    const RollupBuffer::Dims dims{"2026-11-18", "chat", "team",     customer, "{}",        "openai",
                                  "gpt-4o",     "us",   "standard", "ok",     "price_book"};
    buffer.add(dims, e, ++rowid, false);
  }
  CHECK(buffer.slots() >= 2 * 5'000);  // the customers' rows and their names
  buffer.clear();
  CHECK(buffer.empty());
  CHECK(buffer.slots() < 100);
}
