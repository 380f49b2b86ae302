#pragma once
// The finance review page (dashboards/web/index.html), embedded at build time.

#include <string_view>

namespace tollgate {

extern const std::string_view kIndexHtml;

}  // namespace tollgate
