#include "metrics/registry.h"

#include <doctest/doctest.h>

#include <thread>

#include "metrics/handle_cache.h"
#include "metrics/text_format.h"

using namespace tollgate::metrics;

TEST_CASE("text exposition: HELP, TYPE, labels escaped, histogram buckets cumulative") {
  Registry r;
  r.counter("t_total", "A \\ help\nline.", {"a"}).with({"x\"y\\z\n"})->inc(2.5);
  auto* h = r.histogram("t_seconds", "Latency.", {}, {0.1, 1}).with({});
  h->observe(0.05);
  h->observe(0.5);
  h->observe(7);
  r.gauge("t_gauge", "G.").with({})->set(-3);
  CHECK(serialize_text(r.collect()) ==
        "# HELP t_total A \\\\ help\\nline.\n# TYPE t_total counter\n"
        "t_total{a=\"x\\\"y\\\\z\\n\"} 2.5\n"
        "# HELP t_seconds Latency.\n# TYPE t_seconds histogram\n"
        "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\n"
        "t_seconds_bucket{le=\"+Inf\"} 3\nt_seconds_sum 7.55\nt_seconds_count 3\n"
        "# HELP t_gauge G.\n# TYPE t_gauge gauge\nt_gauge -3\n");
}

TEST_CASE("handles are cached: the same labels give the same child") {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"k"});
  CHECK(f.with({"a"}) == f.with({"a"}));
  CHECK(f.with({"a"}) != f.with({"b"}));
}

TEST_CASE("a user-labelled family past max_series folds new sets into __other__, counted") {
  Registry r(12);
  auto& dropped = r.counter("tollgate_metric_series_dropped_total", "D.", {"metric"});
  auto& f = r.counter("c_total", "C.", {"k"}, Labels::kUserChosen);
  auto& g = r.counter("g_total", "G.", {"k"}, Labels::kUserChosen);
  auto& ops = r.counter("ops_total", "Operational.", {"route"});
  for (int i = 0; i < 20; ++i) f.with({std::to_string(i)})->inc();
  for (int i = 0; i < 30; ++i) ops.with({std::to_string(i)})->inc();
  g.with({"x"})->inc();  // another family's cap is its own: f's flood costs g nothing
  std::string text = serialize_text(r.collect());
  CHECK(text.find("c_total{k=\"__other__\"} 8") != std::string::npos);
  CHECK(text.find("c_total{k=\"11\"} 1") != std::string::npos);
  CHECK(text.find("g_total{k=\"x\"} 1") != std::string::npos);
  CHECK(text.find("ops_total{route=\"29\"} 1") != std::string::npos);  // never folded
  CHECK(text.find("ops_total{route=\"__other__\"}") == std::string::npos);
  CHECK(dropped.with({"c_total"})->value() == 8);
}

TEST_CASE("counters are safe under concurrent increments") {
  Registry r;
  auto* c = r.counter("c_total", "C.").with({});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([c] {
      for (int i = 0; i < 100000; ++i) c->inc();
    });
  for (auto& t : ts) t.join();
  CHECK(c->value() == 400000);
}

TEST_CASE("a handle cache keeps its family's series and a bounded number of folded sets") {
  Registry r(3);
  auto& dropped = r.counter("tollgate_metric_series_dropped_total", "D.", {"metric"});
  auto& f = r.counter("c_total", "C.", {"k"}, Labels::kUserChosen);
  HandleCache<Counter> cache(f);
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) names.push_back("v" + std::to_string(i));
  for (int round = 0; round < 2; ++round)
    for (const std::string& n : names) cache.get_of(std::vector<std::string_view>{n})->inc();
  std::string text = serialize_text(r.collect());
  CHECK(text.find("c_total{k=\"v0\"} 2") != std::string::npos);
  CHECK(text.find("c_total{k=\"__other__\"} 6") != std::string::npos);
  CHECK(dropped.with({"c_total"})->value() == 3);  // each folded set counted once: kept
  CHECK(cache.get({"v0"}) == f.with({"v0"}));       // get and get_of share the cache
  // A flood of new sets past the cap: the first thousand folded sets are kept, the others asked
  // of the family (and counted) each time, so the cache stays bounded.
  auto& g = r.counter("g_total", "G.", {"k"}, Labels::kUserChosen);
  HandleCache<Counter> flooded(g);
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 1103; ++i) flooded.get({"w" + std::to_string(i)})->inc();
  CHECK(dropped.with({"g_total"})->value() == (1103 - 3) + (1103 - 3 - 1000));
}
