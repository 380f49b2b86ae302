#pragma once
// The FOCUS 1.2 export (CONTRACT §4.7): itemised charges as CSV rows a finance team can reconcile.
// A pure function: the API and the CLI print exactly the same body.

#include <string>
#include <vector>

#include "metering/time_zone.h"
#include "storage/report.h"

namespace tollgate {

// `currency` is the billing (reporting) currency; `tz` gives the local days' UTC bounds.
std::string focus_csv(const std::vector<FocusRow>& rows, const std::string& currency,
                      const TimeZone& tz);

}  // namespace tollgate
