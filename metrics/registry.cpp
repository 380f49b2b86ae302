#include "metrics/registry.h"

#include <algorithm>

#include "metrics/text_format.h"

namespace tollgate::metrics {

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

namespace {
template <typename T>
std::unique_ptr<T> make_child(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    return std::make_unique<T>();
  }
}

std::string format_bound(double b) {
  std::string s = std::to_string(b);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

template <typename T>
size_t Family<T>::ValuesHash::operator()(const std::vector<std::string>& values) const {
  size_t h = values.size();
  for (const std::string& v : values)
    h = (h ^ std::hash<std::string>{}(v)) * 0x9E3779B97F4A7C15ull;  // order matters
  return h;
}

template <typename T>
T* Family<T>::with(const std::vector<std::string>& values, bool* folded) {
  std::lock_guard lock(mu_);
  if (folded) *folded = false;
  if (auto it = children_.find(values); it != children_.end()) return it->second.metric.get();
  const bool fold = capped_ && children_.size() >= registry_->max_series_;
  if (folded) *folded = fold;
  if (fold) registry_->count_drop(name_);
  const std::vector<std::string>& key =
      fold ? std::vector<std::string>(label_names_.size(), "__other__") : values;
  Child& slot = children_[key];
  if (!slot.metric) {
    slot.metric = make_child<T>(bounds_);
    if constexpr (!std::is_same_v<T, Histogram>) {
      std::vector<std::pair<std::string, std::string>> labels;
      for (size_t i = 0; i < label_names_.size(); ++i) labels.emplace_back(label_names_[i], key[i]);
      slot.rendered_labels = render_labels(labels);
    }
  }
  return slot.metric.get();
}

template <typename T>
void Family<T>::collect(FamilySnapshot& out) const {
  std::lock_guard lock(mu_);
  out.samples.reserve(out.samples.size() + children_.size());
  for (const auto& [values, slot] : children_) {
    const T* child = slot.metric.get();
    if constexpr (!std::is_same_v<T, Histogram>) {
      Sample sample{"", {}, child->value()};
      sample.rendered_labels = &slot.rendered_labels;
      out.samples.push_back(std::move(sample));
      continue;
    }
    std::vector<std::pair<std::string, std::string>> labels;
    for (size_t i = 0; i < label_names_.size(); ++i)
      labels.emplace_back(label_names_[i], values[i]);
    if constexpr (std::is_same_v<T, Histogram>) {
      auto counts = child->cumulative_counts();
      for (size_t i = 0; i < counts.size(); ++i) {
        auto l = labels;
        l.emplace_back("le",
                       i < child->bounds().size() ? format_bound(child->bounds()[i]) : "+Inf");
        out.samples.push_back({"_bucket", std::move(l), static_cast<double>(counts[i])});
      }
      out.samples.push_back({"_sum", labels, child->sum()});
      out.samples.push_back({"_count", labels, static_cast<double>(counts.back())});
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::count_drop(const std::string& metric) {
  if (dropped_) dropped_->with({metric})->inc();  // bounded: one series per family
}

template <typename T>
Family<T>& Registry::add(Type type, const std::string& name, const std::string& help,
                         std::vector<std::string> labels, std::vector<double> bounds,
                         Labels kind, std::unique_ptr<Family<T>> Entry::*slot) {
  std::lock_guard lock(mu_);
  std::sort(bounds.begin(), bounds.end());
  auto e = std::make_unique<Entry>(Entry{type, help, {}, {}, {}});
  ((*e).*slot).reset(new Family<T>(this, name, std::move(labels), std::move(bounds), kind));
  Family<T>& ref = *((*e).*slot);
  entries_.push_back(std::move(e));
  return ref;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels, Labels kind) {
  auto& family =
      add<Counter>(Type::kCounter, name, help, std::move(labels), {}, kind, &Entry::counter);
  if (name == "tollgate_metric_series_dropped_total") dropped_ = &family;
  return family;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels, Labels kind) {
  return add<Gauge>(Type::kGauge, name, help, std::move(labels), {}, kind, &Entry::gauge);
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> labels,
                                       std::vector<double> bounds, Labels kind) {
  return add<Histogram>(Type::kHistogram, name, help, std::move(labels), std::move(bounds), kind,
                        &Entry::histogram);
}

void Registry::add_collector(std::function<void(std::vector<FamilySnapshot>&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::vector<FamilySnapshot> Registry::collect() const {
  std::vector<FamilySnapshot> out;
  std::vector<std::function<void(std::vector<FamilySnapshot>&)>> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) {
      FamilySnapshot f;
      f.type = e->type;
      f.help = e->help;
      if (e->counter) {
        f.name = e->counter->name();
        e->counter->collect(f);
      } else if (e->gauge) {
        f.name = e->gauge->name();
        e->gauge->collect(f);
      } else {
        f.name = e->histogram->name();
        e->histogram->collect(f);
      }
      out.push_back(std::move(f));
    }
    collectors = collectors_;
  }
  for (const auto& c : collectors) c(out);
  return out;
}

}  // namespace tollgate::metrics
