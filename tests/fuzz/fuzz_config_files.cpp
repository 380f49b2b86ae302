// The main file, prices and policies loaders on one input cut in three ("\n--\n"): every input
// is a config or a FILE:LINE:COL error, never an abort or an exception.
#include <cstdlib>

#include "daemon/config/config.h"
#include "daemon/config/policies_file.h"
#include "daemon/config/prices_file.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::parts(fuzz::as_text(data, size), 3);
  while (in.size() < 3) in.push_back("");
  const std::string prices = fuzz::write_file("prices.yaml", in[1]);
  const std::string policies = fuzz::write_file("policies.yaml", in[2]);
  const std::string main_file = fuzz::write_file("tollgate.yaml", in[0]);
  LoadErrors errors;
  Config c = load_config(main_file, errors);
  for (const auto& l : errors.lines)
    if (l.empty()) abort();
  LoadErrors file_errors;
  (void)load_prices(prices, c, file_errors);
  (void)load_policies(policies, file_errors);
  for (const auto& l : file_errors.lines)
    if (l.find(':') == std::string::npos) abort();  // every error names where
  return 0;
}
