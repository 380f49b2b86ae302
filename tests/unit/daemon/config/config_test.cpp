#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"

#include <doctest/doctest.h>

#include "daemon/http/auth.h"
#include "daemon/config/policies_file.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {
std::vector<std::string> errors_of(const std::string& yaml, Config* out = nullptr) {
  testing::TempDir dir;
  LoadErrors errors;
  Config c = load_config(dir.write("t.yaml", yaml), errors);
  if (out) *out = c;
  for (auto& l : errors.lines) l = l.substr(l.find("t.yaml:"));
  return errors.lines;
}
}  // namespace

TEST_CASE("the example configuration loads with its prices") {
  LoadErrors errors;
  Config c =
      load_config(std::string(TOLLGATE_SOURCE_DIR) + "/deploy/examples/tollgate.yaml", errors);
  auto prices = load_prices(c.prices_file, c, errors);
  load_policies(c.policies_file, errors);
  CHECK(errors.lines == std::vector<std::string>{});
  CHECK(prices->size() >= 8);
  CHECK(c.reporting.fx.at("CNY").nanos == 138'900'000);
}

TEST_CASE("defaults and every key of the main file") {
  Config c;
  auto errors = errors_of(R"(server:
  listen: "[::1]:0"
  threads: 4
  max_body_bytes: 4096
storage: {path: /tmp/x.db, synchronous: full, commit_interval_ms: 0, raw_retention_days: 7}
reporting: {currency: EUR, timezone: Asia/Kolkata}
metrics: {labels: [feature, model], max_series: 50}
)",
                          &c);
  CHECK(errors.empty());
  CHECK(c.server.host == "::1");
  CHECK(c.server.port == 0);
  CHECK(c.server.threads == 4);
  CHECK(c.server.max_header_bytes == 16384);  // default kept
  CHECK(c.storage.synchronous_full);
  CHECK(c.storage.raw_retention_days == 7);
  CHECK(c.reporting.currency == "EUR");
  CHECK(c.reporting.tz->name() == "Asia/Kolkata");
  CHECK(c.metric_labels == std::vector<std::string>{"feature", "model"});
}

TEST_CASE("config: the ingest pool has server.threads workers unless ingest_threads says") {
  Config c;
  const std::string storage = "storage: {path: /tmp/x.db}\n";
  CHECK(errors_of("server: {threads: 4}\n" + storage, &c).empty());
  CHECK(c.server.ingest_threads == 0);  // the default
  CHECK(ingest_pool_size(c) == 4);
  CHECK(errors_of("server: {threads: 2, ingest_threads: 3}\n" + storage, &c).empty());
  CHECK(ingest_pool_size(c) == 3);  // above server.threads
  CHECK(errors_of("server: {threads: 4, ingest_threads: 1}\n" + storage, &c).empty());
  CHECK(ingest_pool_size(c) == 1);  // and below it
  CHECK(errors_of("server: {threads: 3, ingest_threads: 0}\n" + storage, &c).empty());
  CHECK(ingest_pool_size(c) == 3);  // 0 written out is the default
  auto errors = errors_of("server: {ingest_threads: -1}\n" + storage);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "t.yaml:1:26: ingest_threads must be between 0 and 256, got -1");
}

TEST_CASE("every error is FILE:LINE:COL: message, unknown keys included") {
  auto errors = errors_of(R"(server:
  listen: nowhere
  thread: 2
storage:
  synchronous: sometimes
reporting: {timezone: Mars/Olympus}
extra: 1
)");
  REQUIRE(errors.size() == 6);
  CHECK(errors[0] ==
        "t.yaml:7:1: unknown key \"extra\" in the configuration (allowed: server, storage, "
        "reporting, prices_file, policies_file, auth, alerting, metrics, limits, authz, otlp, "
        "coordination)");
  CHECK(errors[1].rfind("t.yaml:3:3: unknown key \"thread\" in server", 0) == 0);
  CHECK(errors[2].rfind("t.yaml:2:11: listen must be host:port", 0) == 0);
  CHECK(errors[3] == "t.yaml:5:3: storage.path is required");
  CHECK(errors[4].rfind("t.yaml:5:16: synchronous must be normal or full", 0) == 0);
  CHECK(errors[5].rfind("t.yaml:6:23: unknown time zone \"Mars/Olympus\"", 0) == 0);
}

TEST_CASE("YAML syntax errors carry the parser's position") {
  auto errors = errors_of("storage:\n  path: [unclosed\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "t.yaml:3:1: end of sequence flow not found");
}

TEST_CASE("no tokens is allowed only on loopback") {
  CHECK(errors_of("server: {listen: 127.0.0.1:1}\nstorage: {path: x}\n").empty());
  auto errors = errors_of("server: {listen: 0.0.0.0:9470}\nstorage: {path: x}\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("not loopback, and auth.tokens is empty") != std::string::npos);
}

TEST_CASE("tokens are checked by SHA-256, roles enforced, admin implies all") {
  Config c;
  // sha256("secret") and sha256("admin-token")
  auto errors = errors_of(R"(storage: {path: x}
auth:
  tokens:
    - {name: gw, sha256: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b, roles: [ingest]}
    - {name: sre, sha256: 0x, roles: [root]}
)",
                          &c);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("sha256 must be the 64-hex-digit") != std::string::npos);
  CHECK(errors[1].find("unknown role \"root\"") != std::string::npos);
  Authenticator auth({c.tokens[0]});
  REQUIRE(auth.roles("Bearer secret").has_value());
  CHECK(has_role(*auth.roles("Bearer secret"), Role::kIngest));
  CHECK_FALSE(has_role(*auth.roles("Bearer secret"), Role::kRead));
  CHECK_FALSE(auth.roles("Bearer wrong").has_value());
  CHECK_FALSE(auth.roles("").has_value());
  CHECK(has_role(unsigned(Role::kAdmin), Role::kIngest));
}

TEST_CASE("config: limits have defaults, are read, and bad ones name their line") {
  testing::TempDir dir;
  LoadErrors errors;
  Config c = load_config(dir.write("a.yaml", "storage: {path: x.db}\n"), errors);
  CHECK(errors.ok());
  CHECK(c.limits.max_event_cost.to_string() == "1000000");
  CHECK(c.limits.max_items_per_request == 100000);
  CHECK(c.limits.max_errors_listed == 100);
  CHECK(c.limits.max_queued_events == 200000);
  CHECK(c.limits.max_open_reservations == 100000);
  CHECK(c.limits.request_timeout_s == 30);
  c = load_config(dir.write("b.yaml",
                            "storage: {path: x.db}\nlimits:\n  max_event_cost: 2500.5\n"
                            "  max_items_per_request: 10\n  request_timeout_s: 5\n"),
                  errors);
  CHECK(errors.ok());
  CHECK(c.limits.max_event_cost.to_string() == "2500.5");
  CHECK(c.limits.max_items_per_request == 10);
  CHECK(c.limits.request_timeout_s == 5);
  load_config(dir.write("c.yaml",
                        "storage: {path: x.db}\nlimits:\n  max_event_cost: 0\n  bogus: 1\n"),
              errors);
  REQUIRE(errors.lines.size() == 2);
  CHECK(errors.lines[0].find("c.yaml:") != std::string::npos);
}

TEST_CASE("config: bytes in flight default to 256 MiB, follow a larger body and never fall below one") {
  testing::TempDir dir;
  LoadErrors errors;
  Config c = load_config(dir.write("a.yaml", "storage: {path: x.db}\n"), errors);
  CHECK(errors.ok());
  CHECK(c.limits.max_bytes_in_flight == 256u * 1024 * 1024);
  c = load_config(dir.write("b.yaml", "server: {max_body_bytes: 536870912}\nstorage: {path: x.db}\n"), errors);
  CHECK(errors.ok());
  CHECK(c.limits.max_bytes_in_flight == 536870912u);
  c = load_config(dir.write("c.yaml", "server: {max_body_bytes: 4096}\nstorage: {path: x.db}\n"
                                      "limits: {max_bytes_in_flight: 8192}\n"),
                  errors);
  CHECK(errors.ok());
  CHECK(c.limits.max_bytes_in_flight == 8192u);
  load_config(dir.write("d.yaml", "storage: {path: x.db}\nlimits:\n  max_bytes_in_flight: 4096\n"), errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("d.yaml:3:") != std::string::npos);
  CHECK(errors.lines[0].find("at least server.max_body_bytes (8388608)") != std::string::npos);
}

TEST_CASE("config: coordination for global budgets: defaults, keys and mistakes named") {
  testing::TempDir dir;
  LoadErrors errors;
  Config c = load_config(dir.write("a.yaml", "storage: {path: x.db}\n"), errors);
  CHECK(errors.ok());
  CHECK_FALSE(c.coordinated());
  c = load_config(dir.write("b.yaml",
                            "storage: {path: x.db}\ncoordination:\n"
                            "  etcd: {endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]}\n"),
                  errors);
  CHECK(errors.ok());
  CHECK(c.coordinated());
  CHECK(c.coordination.endpoints.size() == 2);
  CHECK(c.coordination.prefix == "/tollgate/");
  CHECK_FALSE(c.coordination.instance.empty());  // the host name
  CHECK(c.coordination.lease_ttl_s == 10);
  CHECK(c.coordination.sync_interval_ms == 250);
  load_config(dir.write("c.yaml",
                        "storage: {path: x.db}\ncoordination:\n"
                        "  etcd: {endpoints: [etcd://10.0.0.1:2379]}\n"
                        "  prefix: tollgate\n  instance: \"a b\"\n"
                        "  lease_ttl_s: 2\n  sync_interval_ms: 1000\n"),
              errors);
  REQUIRE(errors.lines.size() == 4);
  CHECK(errors.lines[0].find("c.yaml:3:") != std::string::npos);
  CHECK(errors.lines[0].find("must be http://host:port or https://host:port") != std::string::npos);
  CHECK(errors.lines[1].find("must start and end with /") != std::string::npos);
  CHECK(errors.lines[2].find("coordination.instance") != std::string::npos);
  CHECK(errors.lines[3].find("at most a third of lease_ttl_s") != std::string::npos);
  errors = {};
  dir.write("ca.pem", "x");
  c = load_config(dir.write("g.yaml",
                            "storage: {path: x.db}\ncoordination:\n  etcd:\n"
                            "    endpoints: [https://e:2379]\n    ca_file: ca.pem\n"),
                  errors);
  CHECK(errors.ok());
  CHECK(c.coordination.ca_file == dir.file("ca.pem"));
  load_config(dir.write("h.yaml",
                        "storage: {path: x.db}\ncoordination:\n  etcd:\n"
                        "    endpoints: [http://e:2379, https://f:2379]\n    cert_file: ca.pem\n"),
              errors);
  REQUIRE(errors.lines.size() == 2);
  CHECK(errors.lines[0].find("all https:// or all http://") != std::string::npos);
  CHECK(errors.lines[1].find("cert_file and key_file go together") != std::string::npos);
  errors = {};
  dir.write("pw", "s3cret\n");
  c = load_config(dir.write("e.yaml",
                            "storage: {path: x.db}\ncoordination:\n  etcd:\n"
                            "    endpoints: [http://e:2379]\n    username: tg\n    password_file: pw\n"),
                  errors);
  CHECK(errors.ok());
  CHECK(c.coordination.username == "tg");
  CHECK(c.coordination.password == "s3cret");
  load_config(dir.write("f.yaml",
                        "storage: {path: x.db}\ncoordination:\n  etcd:\n"
                        "    endpoints: [http://e:2379]\n    username: tg\n"),
              errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("username and password_file go together") != std::string::npos);
  errors = {};
  load_config(dir.write("d.yaml", "storage: {path: x.db}\ncoordination: {prefix: /t/}\n"), errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("coordination.etcd.endpoints is required") != std::string::npos);
}

TEST_CASE("policies: scope and on_coordination_loss") {
  testing::TempDir dir;
  LoadErrors errors;
  const std::string yaml =
      "budgets:\n"
      "  - {name: g, limit: 5, scope: global, on_coordination_loss: local_share}\n"
      "  - {name: l, limit: 5, on_coordination_loss: block_listed}\n"
      "  - {name: x, limit: 5, scope: everywhere}\n";
  auto set = load_policies(dir.write("p.yaml", yaml), errors, /*coordinated=*/true);
  REQUIRE(errors.lines.size() == 2);
  CHECK(errors.lines[0].find("p.yaml:3:") != std::string::npos);
  CHECK(errors.lines[0].find("applies to scope: global only") != std::string::npos);
  CHECK(errors.lines[1].find("scope must be local or global") != std::string::npos);
  CHECK(set->budgets[0].scope == Scope::kGlobal);
  CHECK(set->budgets[0].on_coordination_loss == CoordinationLoss::kLocalShare);
  errors = {};
  load_policies(dir.write("q.yaml", "budgets:\n  - {name: g, limit: 5, scope: global}\n"), errors);
  REQUIRE(errors.lines.size() == 1);
  CHECK(errors.lines[0].find("needs the main file's coordination block") != std::string::npos);
}
