#include "daemon/http/routes.h"

#include <doctest/doctest.h>

#include <set>

#include "metering/status.h"

namespace tollgate {

namespace {

RouteTable sample() {
  auto nop = [](HttpRequest&, Respond) {};
  return RouteTable({
      {"/healthz", kGet | kHead, std::nullopt, "", nop},
      {"/v1/overrides", kGet, Role::kRead, "", nop},
      {"/v1/overrides", kPost, Role::kAdmin, "", nop},
      {"/v1/overrides/{id}", kDelete, Role::kAdmin, "", nop},
      {"/", kGet | kHead, std::nullopt, "", nop},
      {"/index.html", kGet | kHead, std::nullopt, "/", nop},
  });
}

}  // namespace

TEST_CASE("routes: one table gives the handler, the role and the metric label") {
  RouteTable t = sample();
  auto m = t.find("GET", "/v1/overrides");
  REQUIRE(m.route);
  CHECK(m.route->role == Role::kRead);
  CHECK(m.metric == "/v1/overrides");
  m = t.find("POST", "/v1/overrides");
  REQUIRE(m.route);
  CHECK(m.route->role == Role::kAdmin);
  m = t.find("DELETE", "/v1/overrides/ovr-12");
  REQUIRE(m.route);
  CHECK(m.metric == "/v1/overrides/{id}");  // never the raw path: bounded label values
  m = t.find("HEAD", "/healthz");
  CHECK(m.route);
}

TEST_CASE("routes: an alias is counted under its route, unknown paths as other") {
  RouteTable t = sample();
  CHECK(t.find("GET", "/index.html").metric == "/");
  auto m = t.find("GET", "/nope");
  CHECK_FALSE(m.route);
  CHECK(m.metric == "other");
  CHECK(m.allow.empty());
  CHECK(t.find("GET", "/v1/overrides/").metric == "other");  // no id
}

TEST_CASE("routes: a known path with another method lists what it takes") {
  RouteTable t = sample();
  auto m = t.find("PUT", "/v1/overrides");
  CHECK_FALSE(m.route);
  CHECK(m.allow == "GET, POST");
  CHECK(m.metric == "/v1/overrides");
  CHECK(t.find("GET", "/v1/overrides/x").allow == "DELETE");
  CHECK(t.find("POST", "/healthz").allow == "GET");
  CHECK(t.find("HEAD", "/v1/overrides").allow == "GET, POST");  // HEAD only where declared
}

TEST_CASE("status codes: one name and one HTTP status each") {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(Code::kTlsFailed); ++c) {
    std::string_view n = code_name(static_cast<Code>(c));
    CHECK(!n.empty());
    CHECK(names.insert(n).second);
    for (char ch : n) CHECK(((ch >= 'a' && ch <= 'z') || ch == '_'));
  }
  CHECK(http_status(Code::kMissingField) == 400);
  CHECK(http_status(Code::kPayloadTooLarge) == 413);
  CHECK(http_status(Code::kHeadersTooLarge) == 431);
  CHECK(http_status(Code::kUnauthorized) == 401);
  CHECK(http_status(Code::kForbidden) == 403);
  CHECK(http_status(Code::kUnknownBudget) == 404);
  CHECK(http_status(Code::kStorageUnavailable) == 503);
  CHECK(code_name(Code::kCostOutOfRange) == "cost_out_of_range");  // CONTRACT §3 renamed it
  CHECK(code_name(Code::kInvalidString) == "invalid_string");
}

}  // namespace tollgate
