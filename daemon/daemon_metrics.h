#pragma once
// DaemonMetrics: the CONTRACT §5 series of the ingest side, HTTP, ledger, config, build and
// process, registered once with handles cached for the hot paths. Thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metering/dimensions.h"
#include "metering/usage_event.h"
#include "metrics/handle_cache.h"
#include "metrics/registry.h"

namespace tollgate {

class DaemonMetrics {
 public:
  // labels: the configured metrics.labels dimensions, in order.
  DaemonMetrics(std::vector<std::string> labels, size_t max_series, std::string currency);

  metrics::Registry& registry() { return registry_; }

  // Accepted (non-duplicate) events: cost, tokens, requests, unpriced. Sums per series first
  // (found in this thread's handle cache, not under the family's lock), so a batch of 1,000
  // events adds once to each series it touches.
  void record_accepted(const std::vector<const UsageEvent*>& events);
  void record_ingest(size_t accepted, size_t duplicates, size_t rejected);
  void record_commit(double seconds, size_t events);
  void record_http(std::string_view route, int status, double seconds);
  void record_reload(bool ok, double unix_seconds);
  void record_otlp_skipped(size_t spans) { otlp_skipped_->inc(double(spans)); }
  void record_handler_exception() { handler_exceptions_->inc(); }
  // A bound of CONTRACT §2.1 `limits` (or server.max_connections) bit: tollgate_limit_hits_total.
  void record_limit_hit(std::string_view limit);
  // Request bodies held against limits.max_bytes_in_flight: tollgate_http_body_bytes_in_flight.
  void add_bytes_in_flight(int64_t delta) { bytes_in_flight_->add(double(delta)); }

 private:
  std::vector<std::string> labels_;
  std::vector<std::string> token_labels_, request_labels_;
  // The dimensions of labels_ and of token_labels_ (also request_labels_'), checked at load.
  std::vector<const Dimension*> label_dims_, token_dims_;
  std::string currency_;
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& cost_;
  metrics::Family<metrics::Counter>& tokens_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& unpriced_;
  metrics::Counter* ingest_accepted_;
  metrics::Counter* ingest_duplicate_;
  metrics::Counter* ingest_rejected_;
  metrics::Histogram* commit_duration_;
  metrics::Histogram* batch_events_;
  metrics::Family<metrics::Counter>& http_requests_;
  metrics::Family<metrics::Histogram>& http_duration_;
  metrics::HandleCache<metrics::Counter> http_request_handles_;
  metrics::HandleCache<metrics::Histogram> http_duration_handles_;
  metrics::HandleCache<metrics::Counter> cost_handles_, token_handles_, request_handles_,
      unpriced_handles_;
  metrics::Counter* otlp_skipped_;
  metrics::Gauge* reload_ok_;
  metrics::Gauge* reload_ts_;
  metrics::Counter* handler_exceptions_;
  metrics::Gauge* bytes_in_flight_;
  std::map<std::string, metrics::Counter*, std::less<>> limit_hits_;
};

}  // namespace tollgate
