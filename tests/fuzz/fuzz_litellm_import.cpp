// The LiteLLM price-map import: any JSON text is imported or refused with an error, and what it
// writes loads back as a prices file without errors.
#include <cstdlib>

#include "daemon/config/config.h"
#include "daemon/config/prices_file.h"
#include "daemon/finance/litellm_import.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = import_litellm(std::string(fuzz::as_text(data, size)), "fuzz.json");
  if (!r.ok()) return 0;
  const std::string path = fuzz::write_file("imported.yaml", r.value().yaml);
  Config c;
  LoadErrors errors;
  (void)load_prices(path, c, errors);
  if (!errors.ok()) abort();  // the import wrote a file the daemon refuses
  return 0;
}
