#include "daemon/daemon_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <unordered_map>

#include "metering/dimensions.h"
#include "metering/string_hash.h"

namespace tollgate {

namespace {

std::vector<std::string> with_suffix(std::vector<std::string> v, const char* last) {
  v.push_back(last);
  return v;
}

// The configured dimensions that a series of the given kind carries, in configured order.
std::vector<std::string> subset(const std::vector<std::string>& configured,
                                std::initializer_list<const char*> allowed) {
  std::vector<std::string> out;
  for (const auto& c : configured)
    for (const char* a : allowed)
      if (c == a) out.push_back(c);
  return out;
}

void collect_process(std::vector<metrics::FamilySnapshot>& out) {
  using metrics::FamilySnapshot;
  using metrics::Type;
  static const long kTicks = sysconf(_SC_CLK_TCK);
  static const long kPage = sysconf(_SC_PAGESIZE);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  std::istringstream fields(close == std::string::npos ? "" : line.substr(close + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  // Fields after "(comm)": index 0 is field 3 (state); utime=14, stime=15, starttime=22, rss=24.
  auto field = [&](int n) { return n - 3 < int(f.size()) ? std::stod(f[n - 3]) : 0.0; };
  double boot = 0;
  std::ifstream pstat("/proc/stat");
  for (std::string l; std::getline(pstat, l);)
    if (l.rfind("btime ", 0) == 0) boot = std::stod(l.substr(6));
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++fds;
    closedir(d);
    fds -= 3;  // ".", ".." and the directory's own descriptor
  }
  out.push_back({"process_cpu_seconds_total",
                 "Total user and system CPU time spent in seconds.",
                 Type::kCounter,
                 {{"", {}, (field(14) + field(15)) / kTicks}}});
  out.push_back({"process_resident_memory_bytes",
                 "Resident memory size in bytes.",
                 Type::kGauge,
                 {{"", {}, field(24) * kPage}}});
  out.push_back({"process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.",
                 Type::kGauge,
                 {{"", {}, boot + field(22) / kTicks}}});
  out.push_back({"process_open_fds",
                 "Number of open file descriptors.",
                 Type::kGauge,
                 {{"", {}, double(fds)}}});
}

}  // namespace

DaemonMetrics::DaemonMetrics(std::vector<std::string> labels, size_t max_series,
                             std::string currency)
    : labels_(std::move(labels)),
      token_labels_(subset(labels_, {"feature", "model", "provider"})),
      request_labels_(token_labels_),
      currency_(std::move(currency)),
      registry_(max_series),
      cost_(registry_.counter("tollgate_cost_total",
                              "Cost of accepted usage in the reporting currency.",
                              with_suffix(labels_, "currency"), metrics::Labels::kUserChosen)),
      tokens_(registry_.counter("tollgate_tokens_total", "Tokens of accepted usage by kind.",
                                with_suffix(token_labels_, "kind"), metrics::Labels::kUserChosen)),
      requests_(registry_.counter("tollgate_requests_total",
                                  "Inference requests of accepted usage.",
                                  with_suffix(request_labels_, "status"),
                                  metrics::Labels::kUserChosen)),
      unpriced_(registry_.counter("tollgate_unpriced_events_total",
                                  "Accepted events with no price and no caller cost (cost 0).",
                                  {"provider", "model"}, metrics::Labels::kUserChosen)),
      http_requests_(registry_.counter("tollgate_http_requests_total", "HTTP requests served.",
                                       {"route", "code"})),
      http_duration_(registry_.histogram(
          "tollgate_http_request_duration_seconds", "HTTP request latency.", {"route"},
          {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      http_request_handles_(http_requests_),
      http_duration_handles_(http_duration_),
      cost_handles_(cost_),
      token_handles_(tokens_),
      request_handles_(requests_),
      unpriced_handles_(unpriced_) {
  for (const std::string& name : labels_) label_dims_.push_back(find_dimension(name));
  for (const std::string& name : token_labels_) token_dims_.push_back(find_dimension(name));
  auto& ingest = registry_.counter("tollgate_ingest_events_total",
                                   "Usage events received, by outcome.", {"result"});
  otlp_skipped_ = registry_
                      .counter("tollgate_otlp_spans_skipped_total",
                               "OTLP spans received without GenAI usage attributes (not usage).",
                               {})
                      .with({});
  ingest_accepted_ = ingest.with({"accepted"});
  ingest_duplicate_ = ingest.with({"duplicate"});
  ingest_rejected_ = ingest.with({"rejected"});
  commit_duration_ =
      registry_
          .histogram("tollgate_ledger_commit_duration_seconds",
                     "Duration of one ledger group commit.", {},
                     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})
          .with({});
  batch_events_ = registry_
                      .histogram("tollgate_ledger_batch_events", "Events in one group commit.", {},
                                 {1, 10, 100, 1000, 5000, 10000, 50000, 100000})
                      .with({});
  reload_ok_ = registry_
                   .gauge("tollgate_config_last_reload_successful",
                          "Whether the last configuration reload succeeded.")
                   .with({});
  reload_ts_ = registry_
                   .gauge("tollgate_config_last_reload_success_timestamp_seconds",
                          "Time of the last successful configuration reload.")
                   .with({});
  handler_exceptions_ = registry_
                            .counter("tollgate_http_handler_exceptions_total",
                                     "Requests answered 500 because their handler threw.")
                            .with({});
  bytes_in_flight_ = registry_
                         .gauge("tollgate_http_body_bytes_in_flight",
                                "Bytes of request bodies being read or handled (each held at its "
                                "Content-Length, a chunked one at server.max_body_bytes), bounded "
                                "by limits.max_bytes_in_flight.")
                         .with({});
  auto& limits = registry_.counter(
      "tollgate_limit_hits_total",
      "Requests a bound of the limits block (or server) refused or trimmed, by bound.", {"limit"});
  for (const char* name : {"max_items_per_request", "max_errors_listed", "max_queued_events",
                           "request_timeout_s", "max_open_reservations", "max_connections",
                           "max_bytes_in_flight", "max_report_rows"})
    limit_hits_.emplace(name, limits.with({name}));
  registry_.counter("tollgate_metric_series_dropped_total",
                    "New label sets folded into __other__ past metrics.max_series.", {"metric"});
  registry_.gauge("tollgate_build_info", "Tollgate build information.", {"version"})
      .with({TOLLGATE_VERSION})
      ->set(1);
  registry_.add_collector(collect_process);
}

void DaemonMetrics::record_limit_hit(std::string_view limit) {
  auto it = limit_hits_.find(limit);
  if (it != limit_hits_.end()) it->second->inc();
}

void DaemonMetrics::record_accepted(const std::vector<const UsageEvent*>& events) {
  // Summed per series first. Tokens and requests by their own three labels (a company's batch
  // of 1,000 events is a few hundred sets of them, where every dimension, customers and tags
  // included, makes nearly one per event), then each set's series found in this thread's handle
  // cache.
  struct TokenSums {
    const UsageEvent* sample;
    // 128 bits: events near limits.max_event_cost cannot wrap before the double.
    __int128 input = 0, cached = 0, cache_write = 0, output = 0, ok = 0, error = 0;
    bool any_ok = false, any_error = false;  // which status series the set has
  };
  // Cost has every label: nearly a set per event, so its sums go by series, found at once.
  // Open addressing: a node per set was a malloc and a free per event.
  boost::unordered_flat_map<metrics::Counter*, __int128> costs;
  boost::unordered_flat_map<std::string, TokenSums, StringHash, std::equal_to<>> tokens;
  // provider \x1f model: an event of the set, and its count
  std::unordered_map<std::string, std::pair<const UsageEvent*, int64_t>> unpriced;
  std::vector<std::string_view> values;
  auto values_of = [&values](const UsageEvent& e, const std::vector<const Dimension*>& dims) {
    values.clear();
    for (const Dimension* d : dims) values.push_back(value_of(*d, e));
  };
  std::string key;
  for (const UsageEvent* e : events) {
    values_of(*e, label_dims_);
    values.push_back(currency_);
    costs[cost_handles_.get_of(values)] += e->cost.nanos();  // nanos, exact before the double
    key.clear();
    for (const Dimension* d : token_dims_) {
      key.append(value_of(*d, *e));
      key += '\x1f';  // dimensions hold no control character (text_rules.h)
    }
    auto it = tokens.find(std::string_view(key));
    if (it == tokens.end()) it = tokens.emplace(key, TokenSums{e}).first;
    TokenSums& t = it->second;
    t.input += e->input_tokens;
    t.cached += e->cached_input_tokens;
    t.cache_write += e->cache_write_tokens;
    t.output += e->output_tokens;
    (e->status_ok ? t.ok : t.error) += e->requests;
    (e->status_ok ? t.any_ok : t.any_error) = true;
    if (e->priced_by == PricedBy::kUnpriced) {
      key.assign(e->provider).append(1, '\x1f').append(e->model);
      ++unpriced.try_emplace(key, e, 0).first->second.second;
    }
  }
  for (const auto& [series, nanos] : costs) series->inc(double(nanos) / 1e9);
  for (const auto& [k, t] : tokens) {
    values_of(*t.sample, token_dims_);
    values.emplace_back();
    for (auto [kind, n] : {std::pair{"input", t.input},
                           {"cached_input", t.cached},
                           {"cache_write", t.cache_write},
                           {"output", t.output}}) {
      values.back() = kind;
      token_handles_.get_of(values)->inc(double(n));
    }
    for (auto [status, n, any] :
         {std::tuple{"ok", t.ok, t.any_ok}, {"error", t.error, t.any_error}})
      if (any) {
        values.back() = status;
        request_handles_.get_of(values)->inc(double(n));
      }
  }
  for (const auto& [k, u] : unpriced)
    unpriced_handles_.get({u.first->provider, u.first->model})->inc(double(u.second));
}

void DaemonMetrics::record_ingest(size_t accepted, size_t duplicates, size_t rejected) {
  ingest_accepted_->inc(double(accepted));
  ingest_duplicate_->inc(double(duplicates));
  ingest_rejected_->inc(double(rejected));
}

void DaemonMetrics::record_commit(double seconds, size_t events) {
  commit_duration_->observe(seconds);
  batch_events_->observe(double(events));
}

void DaemonMetrics::record_http(std::string_view route, int status, double seconds) {
  char code[16];
  const auto end = std::to_chars(code, code + sizeof code, status).ptr;
  http_request_handles_.get({route, std::string_view(code, size_t(end - code))})->inc();
  http_duration_handles_.get({route})->observe(seconds);
}

void DaemonMetrics::record_reload(bool ok, double unix_seconds) {
  reload_ok_->set(ok ? 1 : 0);
  if (ok) reload_ts_->set(unix_seconds);
}

}  // namespace tollgate
