#pragma once
// The commands that need no daemon: report daily, export focus, backup, prices import.

#include <string>

#include "daemon/finance/reports.h"

namespace tollgate {

// The ledger that report, export and backup read: exactly one of the two (the CLI checks).
struct LedgerSource {
  std::string config_path;  // the ledger this configuration names, in its currency and zone
  std::string db_path;      // a ledger file, in the currency and zone the daemon recorded in it
};

// Each prints its result on stdout (backup and prices import: their summary on stderr) and
// returns the exit code: 0, or 1 with the reason on stderr.
int report_daily(const LedgerSource& from, const ReportQuery& q);
int export_focus(const LedgerSource& from, const std::string& first_day,
                 const std::string& last_day);
int backup(const LedgerSource& from, const std::string& out);
// `out` empty: the prices file goes to stdout.
int prices_import(const std::string& litellm_path, const std::string& out);

}  // namespace tollgate
