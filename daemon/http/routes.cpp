#include "daemon/http/routes.h"

namespace tollgate {

namespace {

constexpr std::pair<Method, std::string_view> kMethods[] = {
    {kGet, "GET"}, {kHead, "HEAD"},   {kPost, "POST"},      {kDelete, "DELETE"},
    {kPut, "PUT"}, {kPatch, "PATCH"}, {kOptions, "OPTIONS"}};

unsigned method_bit(std::string_view m) {
  for (auto [bit, name] : kMethods)
    if (m == name) return bit;
  return 0;
}

bool path_matches(const std::string& pattern, std::string_view path) {
  if (!pattern.empty() && pattern.back() == '}') {
    std::string_view prefix(pattern.data(), pattern.rfind('{'));
    return path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix;
  }
  return path == pattern;
}

}  // namespace

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  for (Route& r : routes_)
    if (r.metric.empty()) r.metric = r.path;
}

RouteTable::Match RouteTable::find(std::string_view method, std::string_view path) const {
  Match m;
  const unsigned bit = method_bit(method);
  unsigned allowed = 0;
  for (const Route& r : routes_) {
    if (!path_matches(r.path, path)) continue;
    m.metric = r.metric;
    if (r.methods & bit) {
      m.route = &r;
      return m;
    }
    allowed |= r.methods;
  }
  if (allowed) m.allow = method_list(allowed);
  return m;
}

std::string method_list(unsigned methods) {
  std::string out;
  for (auto [bit, name] : kMethods)
    if ((methods & bit) && bit != kHead) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

}  // namespace tollgate
