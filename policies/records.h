#pragma once
// The budget state's records, one type per concept, as the engine keeps them and the ledger stores
// them (storage/policy_store.h): overrides, audit entries, open reservations, and rows of cost
// history for rebuilding spend. Plain data.

#include <cstdint>
#include <functional>
#include <map>
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

// A budget's period spend as the engine counted it through every event up to a rowid of the
// ledger (SpendSeeds::through_rowid, one for all checkpoints stored together), kept in the ledger
// so a start reads it instead of a month of rollups. `scope` says what it was counted under
// (period, match, zone, currency, burn windows): a checkpoint whose scope is not the budget's is
// not used.
struct SpendCheckpoint {
  std::string budget, scope;
  EpochMs period_start = 0;
  int64_t spend = 0;                  // nanos stamped in the period
  std::map<EpochMs, int64_t> ahead;  // nanos stamped in later periods, by period start
  std::map<int64_t, int64_t> per_minute;  // burn-rate history: minute (epoch ms / 60000) → nanos
  // Writing: per_minute holds only the minutes changed since the last checkpoint, unless
  // `all_minutes`; the budget's stored minutes before `minutes_from` have left its windows.
  bool all_minutes = false;
  int64_t minutes_from = 0;
};

// The raw events after `after_rowid`, in rowid order, as cost rows (ts = the event's).
using TailScan =
    std::function<Status(int64_t after_rowid, const std::function<void(const SpendRow&)>& row)>;

// What a start may rebuild spend from besides the rollups; install() says what it took.
struct SpendSeeds {
  std::vector<SpendCheckpoint> checkpoints;
  int64_t through_rowid = 0;  // every checkpoint counts the events up to this rowid
  TailScan tail;
  size_t used = 0;         // budgets whose period spend came from a checkpoint
  size_t tail_events = 0;  // events after the checkpoints read for them
};

}  // namespace tollgate
