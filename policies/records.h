#pragma once
// The budget state's records, one type per concept, as the engine keeps them and the ledger stores
// them (storage/policy_store.h): overrides, audit entries, open reservations, and rows of cost
// history for rebuilding spend. Plain data.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metering/dimensions.h"
#include "metering/status.h"
#include "metering/time_util.h"

namespace tollgate {

struct Override {
  std::string id, budget, action = "suspend", reason, actor;
  EpochMs created = 0, until = 0;
};

struct AuditEntry {
  EpochMs ts = 0;
  std::string kind, budget, actor, detail;
};

// An open reservation as it is kept across restarts: budgets by name, not index.
struct StoredReservation {
  std::string id;
  std::vector<std::string> budgets;
  int64_t estimate_nanos = 0;
  EpochMs expires = 0;
};

// One row of cost history: the dimensions, a time (for daily rollups: the local day, ts 0), a
// cost in nanos.
struct SpendRow {
  Dimensions dims;
  std::string day_local;  // YYYY-MM-DD, daily rollups only
  EpochMs ts = 0;
  int64_t cost = 0;
};

// Cost history for rebuilding spend: calls `row` for each row at or after `since`; an error when
// the history could not be read completely.
using SpendScan =
    std::function<Status(EpochMs since, const std::function<void(const SpendRow&)>& row)>;

}  // namespace tollgate
