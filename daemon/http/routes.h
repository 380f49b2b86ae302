#pragma once
// RouteTable: every HTTP route declared once, with its path, methods, role, metric label and
// handler. Dispatch, the 404/405 answers, authorization and the `route` label of the metrics all
// read the same table, so they cannot drift. Immutable after construction; thread-safe.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/http/types.h"

namespace tollgate {

enum Method : unsigned {
  kGet = 1,
  kHead = 2,
  kPost = 4,
  kDelete = 8,
  kPut = 16,
  kPatch = 32,
  kOptions = 64,
  kAnyMethod = 127,  // a proxy's check may come with the original request's method
};

struct Route {
  // Exact path, or a prefix ending in a "{name}" that matches whatever non-empty rest follows
  // ("/v1/overrides/{id}").
  std::string path;
  unsigned methods = 0;     // Method bits
  std::optional<Role> role;  // the token role it needs; nullopt: none (probes, metrics, the page)
  std::string metric;       // the `route` label; empty: the path itself
  std::function<void(HttpRequest&, Respond)> handler;
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;       // null: no route for this method and path
    std::string_view metric = "other";  // label for the request, whatever the outcome
    std::string allow;                  // path known, method not: the methods it takes
  };
  Match find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// "GET, POST" for an Allow header (HEAD is implied by GET where a route takes it).
std::string method_list(unsigned methods);

}  // namespace tollgate
