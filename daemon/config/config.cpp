#include "daemon/config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "daemon/config/yaml_reader.h"
#include "metering/dimensions.h"
#include "metering/time_util.h"

namespace tollgate {

namespace fs = std::filesystem;

void LoadErrors::add(const std::string& file, int line, int col, const std::string& message) {
  lines.push_back(file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message);
}

std::string_view role_name(Role role) {
  for (auto [name, r] : kRoles)
    if (r == role) return name;
  return "";
}

std::optional<Role> parse_role(std::string_view name) {
  for (auto [n, r] : kRoles)
    if (n == name) return r;
  return std::nullopt;
}

int ingest_pool_size(const Config& config) {
  return config.server.ingest_threads > 0 ? config.server.ingest_threads : config.server.threads;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {

std::string resolve(const std::string& base_file, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_file).parent_path() / path).lexically_normal().string();
}

bool is_currency_code(const std::string& s) {
  if (s.size() != 3) return false;
  for (char c : s)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void read_server(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "server",
                    {"listen", "threads", "ingest_threads", "max_body_bytes", "max_header_bytes",
                     "max_connections", "idle_timeout_s"}))
    return;
  if (auto listen = r.string(n, "listen")) {
    size_t colon = listen->rfind(':');
    int64_t port = -1;
    if (colon != std::string::npos) {
      try {
        size_t used = 0;
        port = std::stoll(listen->substr(colon + 1), &used);
        if (used != listen->size() - colon - 1) port = -1;
      } catch (...) {
        port = -1;
      }
    }
    std::string host = colon == std::string::npos ? "" : listen->substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (host.empty() || port < 0 || port > 65535) {
      r.error(n["listen"],
              "listen must be host:port (port 0 picks a free port), got \"" + *listen + "\"");
    } else {
      c.server.host = host;
      c.server.port = static_cast<uint16_t>(port);
    }
  }
  if (auto v = r.integer(n, "threads", 1, 256)) c.server.threads = static_cast<int>(*v);
  if (auto v = r.integer(n, "ingest_threads", 0, 256))
    c.server.ingest_threads = static_cast<int>(*v);
  if (auto v = r.integer(n, "max_body_bytes", 1024, int64_t(1) << 32)) c.server.max_body_bytes = *v;
  if (auto v = r.integer(n, "max_header_bytes", 1024, 1 << 20)) c.server.max_header_bytes = *v;
  if (auto v = r.integer(n, "max_connections", 1, 1'000'000)) c.server.max_connections = *v;
  if (auto v = r.integer(n, "idle_timeout_s", 1, 86400))
    c.server.idle_timeout_s = static_cast<int>(*v);
}

void read_storage(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "storage",
                    {"path", "synchronous", "commit_interval_ms", "raw_retention_days",
                     "rollup_flush_interval_ms"}))
    return;
  if (auto p = r.string(n, "path"); p && !p->empty()) {
    c.storage.path = resolve(r.file(), *p);
  } else {
    r.error(n, "storage.path is required");
  }
  if (auto s = r.string(n, "synchronous")) {
    if (*s == "normal" || *s == "full") {
      c.storage.synchronous_full = *s == "full";
    } else {
      r.error(n["synchronous"], "synchronous must be normal or full, got \"" + *s + "\"");
    }
  }
  if (auto v = r.integer(n, "commit_interval_ms", 0, 1000))
    c.storage.commit_interval_ms = static_cast<int>(*v);
  if (auto v = r.integer(n, "raw_retention_days", 1, 3650))
    c.storage.raw_retention_days = static_cast<int>(*v);
  if (auto v = r.integer(n, "rollup_flush_interval_ms", 0, 60'000))
    c.storage.rollup_flush_interval_ms = static_cast<int>(*v);
}

void read_reporting(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "reporting", {"currency", "timezone", "fx"})) return;
  if (auto cur = r.string(n, "currency")) {
    if (is_currency_code(*cur)) {
      c.reporting.currency = *cur;
    } else {
      r.error(n["currency"], "currency must be an ISO 4217 code like USD, got \"" + *cur + "\"");
    }
  }
  if (auto tz = r.string(n, "timezone")) {
    auto loaded = TimeZone::load(*tz);
    if (loaded.ok()) {
      c.reporting.timezone = *tz;
      c.reporting.tz = loaded.value();
    } else {
      r.error(n["timezone"], loaded.status().message());
    }
  }
  YAML::Node fx = n["fx"];
  if (!fx || fx.IsNull()) return;
  if (!fx.IsMap()) {
    r.error(fx, "fx must map currency codes to {rate, as_of}");
    return;
  }
  for (const auto& kv : fx) {
    std::string code = kv.first.Scalar();
    if (!is_currency_code(code)) {
      r.error(kv.first, "fx key must be an ISO 4217 code like CNY, got \"" + code + "\"");
      continue;
    }
    if (!r.expect_map(kv.second, "fx." + code, {"rate", "as_of"})) continue;
    FxRate rate;
    auto m = r.decimal(kv.second, "rate");
    if (!m) {
      if (!kv.second["rate"]) r.error(kv.second, "fx." + code + ".rate is required");
      continue;
    }
    if (m->nanos() == 0) {
      r.error(kv.second["rate"], "fx." + code + ".rate must be positive");
      continue;
    }
    rate.nanos = m->nanos();
    if (auto d = r.string(kv.second, "as_of")) {
      if (!parse_date(*d)) r.error(kv.second["as_of"], "as_of must be a date YYYY-MM-DD");
      rate.as_of = *d;
    }
    c.reporting.fx[code] = rate;
  }
}

void read_auth(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "auth", {"tokens", "metrics"})) return;
  if (n["metrics"]) {
    const std::string m = r.string(n, "metrics").value_or("");
    if (m == "read")
      c.metrics_need_token = true;
    else if (m != "public")
      r.error(n["metrics"], "auth.metrics must be public or read (read: /metrics needs a token "
                            "with role read, which Prometheus sends as a bearer token)");
  }
  YAML::Node tokens = n["tokens"];
  if (!tokens || tokens.IsNull()) return;
  if (!tokens.IsSequence()) {
    r.error(tokens, "auth.tokens must be a list");
    return;
  }
  std::set<std::string> names;
  for (const auto& t : tokens) {
    if (!r.expect_map(t, "a token", {"name", "sha256", "roles"})) continue;
    AuthToken tok;
    tok.name = r.string(t, "name").value_or("");
    if (tok.name.empty()) r.error(t, "token name is required");
    if (!names.insert(tok.name).second)
      r.error(t["name"], "duplicate token name \"" + tok.name + "\"");
    std::string hex = r.string(t, "sha256").value_or("");
    bool hex_ok = hex.size() == 64;
    for (size_t i = 0; hex_ok && i < 32; ++i) {
      int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
      hex_ok = hi >= 0 && lo >= 0;
      tok.sha256[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    if (!hex_ok)
      r.error(t["sha256"] ? t["sha256"] : YAML::Node(t),
              "sha256 must be the 64-hex-digit SHA-256 of the token (e.g. printf %s TOKEN | "
              "sha256sum)");
    YAML::Node roles = t["roles"];
    if (!roles || !roles.IsSequence() || roles.size() == 0) {
      r.error(roles ? roles : YAML::Node(t),
              "roles must be a non-empty list of ingest, admit, read, admin");
    } else {
      for (const auto& role : roles) {
        const std::string& s = role.Scalar();
        if (auto known = parse_role(s))
          tok.roles |= unsigned(*known);
        else
          r.error(role, "unknown role \"" + s + "\" (ingest, admit, read, admin)");
      }
    }
    c.tokens.push_back(tok);
  }
}

void read_alerting(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "alerting", {"webhooks", "ca_file", "timeout_ms"})) return;
  if (auto ca = r.string(n, "ca_file"); ca && !ca->empty()) {
    c.webhook.ca_file = resolve(r.file(), *ca);
    if (!fs::is_regular_file(c.webhook.ca_file))
      r.error(n["ca_file"], "alerting.ca_file " + c.webhook.ca_file + " is not a readable file");
  }
  if (auto v = r.integer(n, "timeout_ms", 100, 120'000)) c.webhook.timeout_ms = static_cast<int>(*v);
  YAML::Node hooks = n["webhooks"];
  if (!hooks || hooks.IsNull()) return;
  if (!hooks.IsSequence()) {
    r.error(hooks, "alerting.webhooks must be a list");
    return;
  }
  for (const auto& h : hooks) {
    if (!r.expect_map(h, "a webhook", {"url"})) continue;
    std::string url = r.string(h, "url").value_or("");
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
      r.error(h, "webhook url must start with https:// or http:// (got \"" + url + "\")");
    c.webhooks.push_back(url);
  }
}

void read_metrics(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "metrics", {"labels", "max_series"})) return;
  if (YAML::Node labels = n["labels"]; labels && !labels.IsNull()) {
    if (!labels.IsSequence()) {
      r.error(labels, "metrics.labels must be a list");
    } else {
      c.metric_labels.clear();
      std::set<std::string> seen;
      for (const auto& l : labels) {
        if (!find_dimension(l.Scalar()))
          r.error(l, "unknown metric label \"" + l.Scalar() + "\" (" + dimension_names() + ")");
        else if (!seen.insert(l.Scalar()).second)
          r.error(l, "duplicate metric label \"" + l.Scalar() + "\"");
        else
          c.metric_labels.push_back(l.Scalar());
      }
    }
  }
  if (auto v = r.integer(n, "max_series", 10, 10'000'000)) c.max_series = *v;
}

// X-Tollgate-Feature, ..., X-Tollgate-Estimated-Cost (lower case, as headers are compared).
std::vector<std::pair<std::string, std::string>> default_authz_headers() {
  std::vector<std::pair<std::string, std::string>> h;
  for (const Dimension& d : kDimensions)
    h.emplace_back(std::string(d.name), "x-tollgate-" + std::string(d.name));
  h.emplace_back("estimated_cost", "x-tollgate-estimated-cost");
  return h;
}

// A map of field → name over `pairs` (whose fields are the allowed ones): authz headers and OTLP
// attributes. Names must match `valid`; `lower` lower-cases them (HTTP headers).
void read_field_map(YamlReader& r, const YAML::Node& n, const std::string& what,
                    std::vector<std::pair<std::string, std::string>>& pairs, bool lower) {
  if (!n || n.IsNull()) return;
  if (!n.IsMap()) return r.error(n, what + " must map fields to names");
  std::string allowed;
  for (const auto& [field, name] : pairs) allowed += (allowed.empty() ? "" : ", ") + field;
  for (const auto& kv : n) {
    const std::string field = kv.first.Scalar();
    auto it = std::find_if(pairs.begin(), pairs.end(),
                           [&](const auto& fn) { return fn.first == field; });
    if (it == pairs.end()) {
      r.error(kv.first, "unknown field \"" + field + "\" in " + what + " (" + allowed + ")");
      continue;
    }
    std::string name = kv.second.IsScalar() ? kv.second.Scalar() : "";
    bool ok = !name.empty() && name.size() <= 128;
    for (char& ch : name) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                  (!lower && ch == '.'));
      if (lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (!ok)
      r.error(kv.second, what + "." + field + " must be a name of letters, digits" +
                             (lower ? ", - and _" : ", '.', - and _"));
    else
      it->second = name;
  }
}

void read_authz(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "authz", {"headers"})) return;
  read_field_map(r, n["headers"], "authz.headers", c.authz.headers, /*lower=*/true);
}

void read_otlp(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "otlp", {"attributes"})) return;
  // Every dimension can be mapped; the defaults name a few (feature ← service.name, ...).
  auto& attrs = c.otlp.attributes;
  for (const Dimension& d : kDimensions)
    if (std::none_of(attrs.begin(), attrs.end(), [&](const auto& a) { return a.first == d.name; }))
      attrs.emplace_back(std::string(d.name), "");
  read_field_map(r, n["attributes"], "otlp.attributes", attrs, /*lower=*/false);
  std::erase_if(attrs, [](const auto& a) { return a.second.empty(); });
}

void read_coordination(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "coordination",
                    {"etcd", "prefix", "instance", "lease_ttl_s", "sync_interval_ms",
                     "expected_instances", "grant_max_percent"}))
    return;
  auto& k = c.coordination;
  const YAML::Node& etcd = n["etcd"];
  if (!etcd || !r.expect_map(etcd, "coordination.etcd",
                             {"endpoints", "username", "password_file", "ca_file", "cert_file",
                              "key_file"})) {
    if (!etcd) r.error(n, "coordination.etcd.endpoints is required (etcd client URLs)");
    return;
  }
  const YAML::Node& endpoints = etcd["endpoints"];
  if (!endpoints || !endpoints.IsSequence() || endpoints.size() == 0) {
    r.error(endpoints ? endpoints : etcd,
            "coordination.etcd.endpoints must be a list of etcd client URLs (http://host:port)");
    return;
  }
  bool https = false, http = false;
  for (const auto& e : endpoints) {
    std::string url = e.IsScalar() ? e.Scalar() : "";
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      r.error(e, "an etcd endpoint must be http://host:port or https://host:port (got \"" + url +
                     "\")");
      continue;
    }
    (url[4] == 's' ? https : http) = true;
    k.endpoints.push_back(url);
  }
  if (https && http) r.error(endpoints, "etcd endpoints are all https:// or all http://");
  // TLS: the CAs that sign etcd's certificate (default: the system's), and a client certificate
  // for etcd's --client-cert-auth.
  for (auto [key, into] : {std::pair{"ca_file", &k.ca_file}, {"cert_file", &k.cert_file},
                           {"key_file", &k.key_file}})
    if (auto f = r.string(etcd, key)) {
      *into = resolve(r.file(), *f);
      if (!fs::is_regular_file(*into))
        r.error(etcd[key], std::string("coordination.etcd.") + key + " " + *into +
                               " is not a readable file");
      if (!https) r.error(etcd[key], std::string("coordination.etcd.") + key +
                                         " needs https:// endpoints");
    }
  if (k.cert_file.empty() != k.key_file.empty())
    r.error(etcd, "coordination.etcd.cert_file and key_file go together");
  // etcd's own authentication: the password in a file of its own (mode 0600), never in this one.
  const auto user = r.string(etcd, "username");
  const auto password_file = r.string(etcd, "password_file");
  if (user.has_value() != password_file.has_value()) {
    r.error(etcd, "coordination.etcd.username and password_file go together");
  } else if (user) {
    const std::string path = resolve(r.file(), *password_file);
    std::ifstream f(path);
    std::string password;
    if (!f || !std::getline(f, password) || password.empty()) {
      r.error(etcd["password_file"], "coordination.etcd.password_file " + path +
                                         " cannot be read or is empty (the password on its first line)");
    } else {
      if (!password.empty() && password.back() == '\r') password.pop_back();
      k.username = *user;
      k.password = password;
    }
  }
  if (auto p = r.string(n, "prefix")) {
    if (p->empty() || p->front() != '/' || p->back() != '/')
      r.error(n["prefix"], "coordination.prefix must start and end with / (got \"" + *p + "\")");
    else
      k.prefix = *p;
  }
  if (auto v = r.string(n, "instance")) {
    if (v->empty() || v->size() > 64 ||
        v->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string::npos)
      r.error(n["instance"], "coordination.instance must match [A-Za-z0-9_.-]{1,64}");
    else
      k.instance = *v;
  }
  if (auto v = r.integer(n, "lease_ttl_s", 2, 3600)) k.lease_ttl_s = int(*v);
  if (auto v = r.integer(n, "sync_interval_ms", 10, 10'000)) k.sync_interval_ms = int(*v);
  if (auto v = r.integer(n, "expected_instances", 1, 10'000)) k.expected_instances = int(*v);
  if (auto v = r.integer(n, "grant_max_percent", 1, 100)) k.grant_max_percent = int(*v);
  if (k.sync_interval_ms * 3 > k.lease_ttl_s * 1000)
    r.error(n, "coordination.sync_interval_ms must be at most a third of lease_ttl_s, so a lease "
               "is renewed in time");
}

// Returns whether limits.max_bytes_in_flight was given.
bool read_limits(YamlReader& r, const YAML::Node& n, Config& c) {
  if (!r.expect_map(n, "limits",
                    {"max_event_cost", "max_items_per_request", "max_errors_listed",
                     "max_queued_events", "max_open_reservations", "request_timeout_s",
                     "max_bytes_in_flight", "max_pending_rollup_rows",
                     "max_burn_history_entries", "max_report_rows"}))
    return false;
  if (auto m = r.decimal(n, "max_event_cost")) {
    // At most 1e9 units (1e18 nanos): an event alone never nears the int64 nanos edge (9.2e18).
    if (m->nanos() <= 0 || m->nanos() > int64_t(1'000'000'000) * 1'000'000'000)
      r.error(n["max_event_cost"], "max_event_cost must be above 0 and at most 1000000000");
    else
      c.limits.max_event_cost = *m;
  }
  if (auto v = r.integer(n, "max_items_per_request", 1, 10'000'000))
    c.limits.max_items_per_request = *v;
  if (auto v = r.integer(n, "max_errors_listed", 0, 1'000'000)) c.limits.max_errors_listed = *v;
  if (auto v = r.integer(n, "max_queued_events", 1, 100'000'000)) c.limits.max_queued_events = *v;
  if (auto v = r.integer(n, "max_pending_rollup_rows", 1, 10'000'000))
    c.limits.max_pending_rollup_rows = *v;
  if (auto v = r.integer(n, "max_burn_history_entries", 1, 100'000'000))
    c.limits.max_burn_history_entries = *v;
  if (auto v = r.integer(n, "max_open_reservations", 1, 100'000'000))
    c.limits.max_open_reservations = *v;
  if (auto v = r.integer(n, "max_report_rows", 1, 100'000'000)) c.limits.max_report_rows = *v;
  if (auto v = r.integer(n, "request_timeout_s", 1, 3600))
    c.limits.request_timeout_s = static_cast<int>(*v);
  // One body of the largest size must fit, or such a request could never be read.
  if (auto v = r.integer(n, "max_bytes_in_flight", 1024, int64_t(1) << 40)) {
    if (uint64_t(*v) < c.server.max_body_bytes)
      r.error(n["max_bytes_in_flight"], "max_bytes_in_flight must be at least server.max_body_bytes (" +
                                            std::to_string(c.server.max_body_bytes) + ")");
    else
      c.limits.max_bytes_in_flight = uint64_t(*v);
    return true;
  }
  return false;
}

}  // namespace

Config load_config(const std::string& path, LoadErrors& errors) {
  Config c;
  c.path = path;
  YamlReader r(path, errors);
  auto loaded = r.load();
  if (!loaded) return c;
  const YAML::Node& root = *loaded;
  if (!r.expect_map(root, "the configuration",
                    {"server", "storage", "reporting", "prices_file", "policies_file", "auth",
                     "alerting", "metrics", "limits", "authz", "otlp", "coordination"}))
    return c;
  if (root["server"]) read_server(r, root["server"], c);
  if (root["storage"]) {
    read_storage(r, root["storage"], c);
  } else {
    r.error(root, "storage.path is required");
  }
  if (root["reporting"]) read_reporting(r, root["reporting"], c);
  if (auto p = r.string(root, "prices_file")) c.prices_file = resolve(path, *p);
  if (auto p = r.string(root, "policies_file")) c.policies_file = resolve(path, *p);
  if (root["auth"]) read_auth(r, root["auth"], c);
  if (root["alerting"]) read_alerting(r, root["alerting"], c);
  if (root["metrics"]) read_metrics(r, root["metrics"], c);
  // Unset, the bytes in flight grow with a larger server.max_body_bytes.
  if (!root["limits"] || !read_limits(r, root["limits"], c))
    c.limits.max_bytes_in_flight = std::max(c.limits.max_bytes_in_flight, c.server.max_body_bytes);
  c.authz.headers = default_authz_headers();
  if (root["authz"]) read_authz(r, root["authz"], c);
  if (root["otlp"]) read_otlp(r, root["otlp"], c);
  if (root["coordination"]) read_coordination(r, root["coordination"], c);
  if (c.coordinated() && c.coordination.instance.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    c.coordination.instance = host;
  }
  if (c.metrics_need_token && c.tokens.empty())
    r.error(root["auth"], "auth.metrics is read, but auth.tokens is empty: add a token with role "
                          "read for Prometheus");
  if (c.tokens.empty() && !is_loopback_host(c.server.host))
    r.error(root["server"] ? root["server"] : root,
            "server.listen is " + c.server.host +
                ", not loopback, and auth.tokens is empty: add tokens or listen on 127.0.0.1");
  return c;
}

}  // namespace tollgate
