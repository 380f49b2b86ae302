// The report and FOCUS writers with hostile strings: whatever the dimension values, the JSON
// parses with the same values (U+FFFD for bytes that are not UTF-8); nothing crashes.
#include <boost/json.hpp>
#include <cstdlib>

#include "daemon/finance/focus_export.h"
#include "daemon/finance/report_format.h"
#include "metering/text_rules.h"
#include "tests/fuzz/fuzz_input.h"

using namespace tollgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::parts(fuzz::as_text(data, size), 6);
  DailyReport r;
  r.date = "2026-11-20";
  r.currency = "USD";
  r.group_by = {"feature", "tag:k"};
  ReportRow row;
  row.dims = {std::string(in[0]), in.size() > 1 ? std::optional<std::string>(in[1]) : std::nullopt};
  row.sums.requests = int64_t(size);
  row.sums.cost_nanos = int64_t(size) * 1'000'003;
  r.rows.push_back(row);
  r.total = row;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(report_json(r), ec);
  if (ec) abort();
  // Valid UTF-8 comes back as it went in; anything else as U+FFFD (still valid JSON).
  if (is_valid_utf8(in[0]) && v.at("rows").at(0).at("feature").as_string() != in[0]) abort();
  (void)report_csv(r);
  (void)report_table(r);
  FocusRow f;
  f.day_local = "2026-11-20";
  f.provider = std::string(in[0]);
  f.model = in.size() > 2 ? std::string(in[2]) : "m";
  f.feature = in.size() > 3 ? std::string(in[3]) : "";
  f.tags_json = in.size() > 4 ? std::optional<std::string>(in[4]) : std::nullopt;
  f.priced_by = "price_book";
  f.component = "input-tokens";
  f.quantity = int64_t(size) * 977;
  f.list_rate = 1'234'567'891;
  f.contracted_rate = 617'283'945;
  f.discount_nano_percent = 12'500'000'000;
  f.fx_nanos = 138'900'000;
  f.cost_nanos = 5;
  static auto tz = TimeZone::utc();
  (void)focus_csv({f}, "USD", *tz);
  return 0;
}
