#pragma once
// The commands that need no daemon: report daily, export focus, backup, prices import.

#include <string>
#include <vector>

#include "daemon/finance/reports.h"

namespace tollgate {

// The ledger that report, export and backup read: a configuration's, or ledger files (the CLI
// checks that exactly one of the two is given; only report and export take several files).
struct LedgerSource {
  std::string config_path;  // the ledger this configuration names, in its currency and zone
  // Ledger files, in the currency and zone the daemon recorded in them; several (one per
  // instance or region) are merged exactly and must share both.
  std::vector<std::string> db_paths;
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
