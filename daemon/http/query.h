#pragma once
// Query strings of request targets.

#include <string>
#include <utility>
#include <vector>

namespace tollgate {

// "a=1&b=x%20y" → {{"a","1"},{"b","x y"}}, percent- and '+'-decoded.
std::vector<std::pair<std::string, std::string>> parse_query(const std::string& query);

}  // namespace tollgate
