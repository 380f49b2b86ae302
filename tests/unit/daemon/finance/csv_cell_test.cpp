// CSV cells: RFC 4180 quoting, and neutralisation of what a spreadsheet would run as a formula.
#include <doctest/doctest.h>

#include "daemon/finance/report_format.h"

using namespace tollgate;

namespace {
std::string cell(std::string_view v) {
  std::string out;
  append_csv_field(out, v);
  return out;
}
}  // namespace

TEST_CASE("a cell a spreadsheet would run as a formula gets a leading apostrophe") {
  CHECK(cell("=cmd|' /C calc'!A0") == "\"'=cmd|' /C calc'!A0\"");
  CHECK(cell("+1+2") == "\"'+1+2\"");
  CHECK(cell("-sum(A1)") == "\"'-sum(A1)\"");
  CHECK(cell("@SUM(1)") == "\"'@SUM(1)\"");
  CHECK(cell("\t=1") == "\"'\t=1\"");
  // Plain numbers stay numbers; other text is untouched.
  CHECK(cell("-3.5") == "-3.5");
  CHECK(cell("support-chat") == "support-chat");
  CHECK(cell("a,\"b\"") == "\"a,\"\"b\"\"\"");
  CHECK(cell("=a,\"b\"") == "\"'=a,\"\"b\"\"\"");
}
