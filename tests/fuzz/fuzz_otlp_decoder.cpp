// The OTLP/HTTP traces decoder, protobuf and JSON: no crash, no sanitizer report.
#include "metering/otlp_decoder.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const OtlpMapping mapping = OtlpMapping::defaults();
  const std::string_view text = fuzz::as_text(data, size);
  const EpochMs now = 1'795'000'000'000;
  for (OtlpEncoding enc : {OtlpEncoding::kProtobuf, OtlpEncoding::kJson})
    (void)decode_otlp_traces(text, enc, mapping, now, now - 35LL * 86'400'000,
                             Money::from_nanos(1'000'000 * Money::kNanosPerUnit));
  return 0;
}
