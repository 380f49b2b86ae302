#pragma once
// `tollgate serve` and `tollgate check`: load the config and its files, then run or only check.

#include <string>

namespace tollgate {

// Runs the daemon in the foreground until SIGTERM/SIGINT: 0 after a clean drain, 1 on a startup
// failure (one line on the log; CONTRACT §1).
int serve(const std::string& config_path);

// Validates the configuration and the prices and policies files it names: 0 with a one-line
// summary on stdout, or 1 with every error on stderr, one `FILE:LINE:COL: message` a line.
int check(const std::string& config_path);

}  // namespace tollgate
