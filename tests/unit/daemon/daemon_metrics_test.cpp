#include "daemon/daemon_metrics.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "metrics/text_format.h"

using namespace tollgate;
using metrics::render_labels;

namespace {

// The value of every series of the four usage families, by name and rendered labels.
std::map<std::string, double> usage_series(metrics::Registry& registry) {
  std::map<std::string, double> out;
  for (const auto& family : registry.collect()) {
    if (family.name != "tollgate_cost_total" && family.name != "tollgate_tokens_total" &&
        family.name != "tollgate_requests_total" && family.name != "tollgate_unpriced_events_total")
      continue;
    for (const auto& s : family.samples)
      out[family.name + (s.rendered_labels ? *s.rendered_labels : render_labels(s.labels))] =
          s.value;
  }
  return out;
}

}  // namespace

TEST_CASE("accepted events: each series adds exactly its events, whatever else they differ in") {
  const std::vector<std::string> labels = {"feature", "team",   "model",
                                           "provider", "region", "priority"};
  DaemonMetrics m(labels, 100'000, "USD");
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // A company's shape, small: what the series leave out (customers, tags) varies most.
  std::vector<UsageEvent> events(3000);
  for (UsageEvent& e : events) {
    e.feature = "f" + std::to_string(pick(8));
    e.team = "t" + std::to_string(pick(3));
    e.customer = "c" + std::to_string(pick(500));
    e.tags = {{"env", pick(2) ? "prod" : "dev"}};
    e.model = "m" + std::to_string(pick(3));
    e.provider = "p" + std::to_string(pick(2));
    e.region = pick(2) ? "eu" : "";
    e.priority = static_cast<Priority>(pick(3));
    e.status_ok = pick(10) != 0;
    e.priced_by = pick(10) == 0 ? PricedBy::kUnpriced : PricedBy::kPriceBook;
    e.input_tokens = pick(100'000);
    e.cached_input_tokens = pick(3) ? 0 : pick(1000);
    e.cache_write_tokens = pick(5) ? 0 : pick(1000);
    e.output_tokens = pick(4000);
    e.requests = 1 + pick(3);
    e.cost = Money::from_nanos(int64_t{pick(1'000'000)} * 1000);  // whole micros: exact sums
  }
  // What each series must hold: its events' sums, by the values of its own labels.
  std::map<std::string, double> expected;
  auto rendered = [](std::vector<std::pair<std::string, std::string>> l) {
    return render_labels(l);
  };
  for (const UsageEvent& e : events) {
    const std::string priority(to_string(e.priority));
    expected["tollgate_cost_total" +
             rendered({{"feature", e.feature}, {"team", e.team}, {"model", e.model},
                       {"provider", e.provider}, {"region", e.region}, {"priority", priority},
                       {"currency", "USD"}})] += double(e.cost.nanos()) / 1e9;
    for (auto [kind, n] : {std::pair{"input", e.input_tokens},
                           {"cached_input", e.cached_input_tokens},
                           {"cache_write", e.cache_write_tokens},
                           {"output", e.output_tokens}})
      expected["tollgate_tokens_total" + rendered({{"feature", e.feature}, {"model", e.model},
                                                   {"provider", e.provider}, {"kind", kind}})] +=
          double(n);
    expected["tollgate_requests_total" +
             rendered({{"feature", e.feature}, {"model", e.model}, {"provider", e.provider},
                       {"status", e.status_ok ? "ok" : "error"}})] += double(e.requests);
    if (e.priced_by == PricedBy::kUnpriced)
      expected["tollgate_unpriced_events_total" +
               rendered({{"provider", e.provider}, {"model", e.model}})] += 1;
  }
  // In batches, as commits deliver them, from two threads (each its own handle cache).
  for (size_t first = 0; first < events.size(); first += 1000) {
    std::vector<const UsageEvent*> batch;
    for (size_t i = first; i < first + 1000; ++i) batch.push_back(&events[i]);
    if (first / 1000 % 2) {
      std::thread([&] { m.record_accepted(batch); }).join();
    } else {
      m.record_accepted(batch);
    }
  }
  const auto actual = usage_series(m.registry());
  REQUIRE(actual.size() == expected.size());
  for (const auto& entry : expected) {  // not a structured binding: INFO captures it
    const std::string& series = entry.first;
    INFO(series);
    REQUIRE(actual.count(series) == 1);
    CHECK(actual.at(series) == doctest::Approx(entry.second).epsilon(1e-12));
  }
}
