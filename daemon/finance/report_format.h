#pragma once
// Renderings of the daily report (JSON, CSV, aligned table). Pure functions:
// the API and the CLI print exactly the same bodies.

#include <string>
#include <vector>

#include "metering/time_zone.h"
#include "storage/report.h"

namespace tollgate {

std::string report_json(const DailyReport& r);
std::string report_csv(const DailyReport& r);
std::string report_table(const DailyReport& r);

// RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. A cell that a
// spreadsheet would run as a formula (starts with = + - @, tab or CR, and is not a plain number)
// is quoted with a leading apostrophe.
void append_csv_field(std::string& out, std::string_view value);

}  // namespace tollgate
