#pragma once
// A small Prometheus client core in the shape of prometheus-cpp: a Registry of metric families,
// metric handles looked up once and cached by callers, and a pure text serializer
// (text_format.h). No HTTP here.
//
// Thread-safety: everything is safe to call from any thread. Handles (Counter*, Gauge*,
// Histogram*) live as long as the Registry and are updated lock-free; looking one up takes the
// family's mutex, so hot paths should cache them.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tollgate::metrics {

enum class Type { kCounter, kGauge, kHistogram };

class Counter {
 public:
  void inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v);
  // Cumulative counts per bound, then +Inf.
  std::vector<uint64_t> cumulative_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 buckets
  std::atomic<double> sum_{0};
};

// One sample line of the exposition: name suffix ("", "_bucket", "_sum", "_count"), labels, value.
struct Sample {
  std::string suffix;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  // Or the labels already rendered ("{a=\"x\"}"), owned by the registry for its lifetime: a
  // counter's or gauge's series renders its labels once, not at every scrape.
  const std::string* rendered_labels = nullptr;
};

struct FamilySnapshot {
  std::string name, help;
  Type type = Type::kGauge;
  std::vector<Sample> samples;
};

class Registry;

// Whose label values a family carries. User-labelled families (feature, customer, model: values
// clients choose) hold at most the registry's max_series label sets each, then fold new sets into
// "__other__"; bounded ones (routes, codes, budgets from the config) are never folded, so the
// operational series stay whole exactly when something floods the user-labelled ones.
enum class Labels { kBounded, kUserChosen };

// A metric family: one name, fixed label names, one child per label-value set.
template <typename T>
class Family {
 public:
  // The child for these label values (same order as the family's label names), created on first
  // use. A user-labelled family past max_series label sets folds a new set into all-"__other__"
  // values (counted in tollgate_metric_series_dropped_total).
  // `folded` (when given) says whether this set was folded (a cache keeps only a bounded number
  // of such sets: past the cap every new set would be another entry for the one __other__).
  T* with(const std::vector<std::string>& values, bool* folded = nullptr);
  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(Registry* registry, std::string name, std::vector<std::string> label_names,
         std::vector<double> bounds, Labels labels)
      : registry_(registry),
        name_(std::move(name)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)),
        capped_(labels == Labels::kUserChosen) {}
  void collect(FamilySnapshot& out) const;

  Registry* registry_;
  std::string name_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  const bool capped_;
  mutable std::mutex mu_;
  struct Child {
    std::unique_ptr<T> metric;
    std::string rendered_labels;  // counters and gauges: the labels as the text format writes them
  };
  struct ValuesHash {
    size_t operator()(const std::vector<std::string>& values) const;
  };
  // Hashed: ingest looks a series up per dimension set of every batch. Nodes never move nor go,
  // so the rendered labels' addresses hold.
  std::unordered_map<std::vector<std::string>, Child, ValuesHash> children_;
};

class Registry {
 public:
  // max_series: label sets per user-labelled family (CONTRACT §2.1 metrics.max_series).
  explicit Registry(size_t max_series = 10000) : max_series_(max_series) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labels = {},
                           Labels kind = Labels::kBounded);
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labels = {}, Labels kind = Labels::kBounded);
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> labels, std::vector<double> bounds,
                               Labels kind = Labels::kBounded);
  // Families computed at scrape time (process metrics, gauges derived from other state).
  void add_collector(std::function<void(std::vector<FamilySnapshot>&)> collector);

  std::vector<FamilySnapshot> collect() const;

 private:
  template <typename T>
  friend class Family;
  struct Entry {
    Type type;
    std::string help;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  // Counts a label set folded into __other__ by a family at the cap.
  void count_drop(const std::string& metric);
  template <typename T>
  Family<T>& add(Type type, const std::string& name, const std::string& help,
                 std::vector<std::string> labels, std::vector<double> bounds, Labels kind,
                 std::unique_ptr<Family<T>> Entry::*slot);

  const size_t max_series_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // registration order
  std::vector<std::function<void(std::vector<FamilySnapshot>&)>> collectors_;
  Family<Counter>* dropped_ = nullptr;
};

}  // namespace tollgate::metrics
