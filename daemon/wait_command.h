#pragma once
// `tollgate wait`: a batch job asks for admission before it runs, with no code of its own. It
// waits out throttles (printing why), runs the command with its reservation in the environment,
// and gives back what is left of the reservation when the command ends.

#include <optional>
#include <string>
#include <vector>

namespace tollgate {

struct WaitOptions {
  std::string url = "http://127.0.0.1:9470";  // the daemon
  std::string token;                          // bearer token with the admit role, if any
  std::string feature, priority = "batch", team, customer, model, provider, region;
  std::optional<std::string> estimated_cost;  // decimal, reporting currency
  std::optional<double> timeout_s;            // give up waiting after this long
  std::vector<std::string> command;
};

// Exit codes (README "Batch jobs without code"): the command's own (128 + N when a signal N
// ended it); 75 when the timeout passed while still throttled; 69 when Tollgate cannot be
// reached or refuses the request; 127 when the command cannot be run.
inline constexpr int kWaitTimedOut = 75;
inline constexpr int kWaitUnavailable = 69;
inline constexpr int kWaitCannotRun = 127;

int wait_and_run(const WaitOptions& options);

}  // namespace tollgate
