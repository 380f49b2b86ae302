#pragma once
// Process-wide logging setup (the one global the house style allows): human text on stderr by
// default, or JSON lines for log shippers.

#include <string>

namespace tollgate {

// format: "text" or "json"; level: trace, debug, info, warn, error. False when either is unknown.
bool setup_logging(const std::string& format, const std::string& level);

}  // namespace tollgate
