#pragma once
// The daemon's configuration (CONTRACT §2.1) and its loader. Every error is reported as
// "FILE:LINE:COL: message"; unknown keys are errors. Loading may throw nothing: it returns the
// config together with every error found, so `tollgate check` can print them all.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metering/money.h"
#include "metering/otlp_decoder.h"
#include "metering/time_zone.h"

namespace tollgate {

// Token roles (CONTRACT §2.1 auth): bits, so a token holds several.
enum class Role : unsigned { kIngest = 1, kAdmit = 2, kRead = 4, kAdmin = 8 };
inline constexpr std::pair<std::string_view, Role> kRoles[] = {
    {"ingest", Role::kIngest}, {"admit", Role::kAdmit}, {"read", Role::kRead}, {"admin", Role::kAdmin}};
std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view name);

struct AuthToken {
  std::string name;
  std::array<unsigned char, 32> sha256{};
  unsigned roles = 0;  // bitmask of Role; admin implies all
};

struct FxRate {
  int64_t nanos = 0;  // reporting units per 1 unit, × 1e9
  std::string as_of;
};

struct Config {
  std::string path;  // of the main file
  struct {
    std::string host = "127.0.0.1";
    uint16_t port = 9470;
    int threads = 2;
    // Workers that decode, price and answer usage and trace batches. 0: as many as `threads`.
    int ingest_threads = 0;
    uint64_t max_body_bytes = 8 * 1024 * 1024;
    uint64_t max_header_bytes = 16384;
    uint64_t max_connections = 10000;
    int idle_timeout_s = 30;
  } server;
  struct {
    std::string path;
    bool synchronous_full = false;
    int commit_interval_ms = 5;
    int raw_retention_days = 35;
    // Rollups wait in memory this long before they are written (the raw events are written at
    // every commit; readers see both at once through the views).
    int rollup_flush_interval_ms = 2000;
  } storage;
  struct {
    std::string currency = "USD";
    std::string timezone = "UTC";
    std::shared_ptr<const TimeZone> tz = TimeZone::utc();
    std::map<std::string, FxRate> fx;
  } reporting;
  std::string prices_file;  // absolute or relative to cwd, resolved against the main file
  std::string policies_file;
  std::vector<AuthToken> tokens;
  bool metrics_need_token = false;  // auth.metrics: read
  std::vector<std::string> webhooks;
  struct {
    std::string ca_file;  // alerting.ca_file: PEM bundle to trust for https webhooks
    int timeout_ms = 5000;  // alerting.timeout_ms: one delivery attempt
  } webhook;
  std::vector<std::string> metric_labels = {"feature",  "team",   "model",
                                            "provider", "region", "priority"};
  uint64_t max_series = 10000;
  // Inline admission for proxies (GET /v1/authz): the request header each field is read from,
  // lower case; by default X-Tollgate-<Dimension> and X-Tollgate-Estimated-Cost.
  struct {
    std::vector<std::pair<std::string, std::string>> headers;  // field → header
  } authz;
  // POST /v1/traces: the span or resource attribute each dimension is read from.
  OtlpMapping otlp = OtlpMapping::defaults();
  // Budgets of scope: global shared by several instances through etcd (README "Global budgets").
  struct {
    std::vector<std::string> endpoints;  // etcd client URLs, http://host:port; empty: none
    std::string username, password;      // etcd authentication (password read from password_file)
    std::string ca_file, cert_file, key_file;  // https:// endpoints: trusted CAs, client cert
    std::string prefix = "/tollgate/";   // every key this daemon writes starts with it
    std::string instance;                // this instance's name among them; default: host name
    int lease_ttl_s = 10;                // an instance silent this long loses its unspent grant
    int sync_interval_ms = 250;          // how often spend is published and grants renewed
    int expected_instances = 1;          // on_coordination_loss: local_share enforces limit ÷ this
    int grant_max_percent = 10;          // the largest slice of a limit one grant takes
  } coordination;
  bool coordinated() const { return !coordination.endpoints.empty(); }
  // Bounds on what one client can make the daemon hold or do (CONTRACT §2.1 `limits`).
  struct {
    Money max_event_cost = Money::from_nanos(1'000'000'000'000'000);  // 1,000,000 units
    uint64_t max_items_per_request = 100'000;
    uint64_t max_errors_listed = 100;
    uint64_t max_queued_events = 200'000;
    uint64_t max_pending_rollup_rows = 100'000;  // rollup rows in memory before an early flush
    // Dimension set × minute entries of the burn history a reload rebuilds from (~300 bytes each).
    uint64_t max_burn_history_entries = 100'000;
    uint64_t max_open_reservations = 100'000;
    uint64_t max_report_rows = 100'000;  // rows of one report or FOCUS export over HTTP
    int request_timeout_s = 30;
    // Bytes of request bodies being read or processed at once (a chunked body counts as
    // server.max_body_bytes, its most). Default: the larger of 256 MiB and server.max_body_bytes.
    uint64_t max_bytes_in_flight = 256 * 1024 * 1024;
  } limits;
};

struct LoadErrors {
  std::vector<std::string> lines;  // "FILE:LINE:COL: message"
  bool ok() const { return lines.empty(); }
  void add(const std::string& file, int line, int col, const std::string& message);
};

// Loads the main file only (not the files it names).
Config load_config(const std::string& path, LoadErrors& errors);

bool is_loopback_host(const std::string& host);

// The ingest pool's size: server.ingest_threads, or server.threads when it is 0.
int ingest_pool_size(const Config& config);

}  // namespace tollgate
