#pragma once
// The finance reads shared by the API and the CLI, so `tollgate report` and `tollgate export`
// print exactly the API's bodies. Each opens its own read-only connection: call off I/O threads.

#include <optional>
#include <string>
#include <vector>

#include "metering/status.h"
#include "metering/time_zone.h"
#include "storage/report.h"

namespace tollgate {

struct ReportSettings {
  // One ledger, or several merged exactly (instances or regions sharing a currency and zone).
  std::vector<std::string> db_paths;
  std::string currency = "USD";
  std::shared_ptr<const TimeZone> tz = TimeZone::utc();
  uint64_t max_rows = 0;  // limits.max_report_rows for the API; 0 (no bound) for the CLI
};

struct ReportQuery {
  std::optional<std::string> date;      // YYYY-MM-DD; default: yesterday in the reporting zone
  std::optional<std::string> group_by;  // comma-separated; default: feature
  std::string format = "json";          // json | csv | table
};

struct Rendered {
  std::string body, content_type;
};

// Errors: invalid_date, invalid_group_by, invalid_format (400), too_many_rows (422, more rows
// than s.max_rows) or storage_unavailable (503).
Result<Rendered> render_daily_report(const ReportSettings& s, const ReportQuery& q, EpochMs now);
Result<Rendered> render_focus_export(const ReportSettings& s, const std::string& from,
                                     const std::string& to);
// Several ledgers: the events of local days from..to stored in more than one of them.
Result<SharedEvents> find_shared_events(const ReportSettings& s, int64_t from_day, int64_t to_day);

}  // namespace tollgate
