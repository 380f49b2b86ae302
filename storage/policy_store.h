#pragma once
// SQL for the budget state kept in the ledger: overrides, fired alerts, the audit log, and the
// cost history the spend book is rebuilt from. Plain functions over a connection; writes belong
// on the ledger's writer thread (Ledger::run_on_writer), reads on a read-only connection.

#include <sqlite3.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "metering/status.h"
#include "metering/time_util.h"
#include "policies/records.h"

namespace tollgate {

Status insert_override(sqlite3* db, const Override& o);
Status end_override(sqlite3* db, const std::string& id, EpochMs ended_ms);
std::vector<Override> load_active_overrides(sqlite3* db, EpochMs now);

Status insert_reservation(sqlite3* db, const StoredReservation& r);
Status delete_reservation(sqlite3* db, const std::string& id);
// Unexpired reservations; expired ones are deleted on the way.
std::vector<StoredReservation> load_reservations(sqlite3* db, EpochMs now);

Status insert_alert_fired(sqlite3* db, const std::string& key, EpochMs ts);
std::set<std::string> load_alerts_fired(sqlite3* db);

Status insert_audit(sqlite3* db, const AuditEntry& row);
// Entries at or after `since`, oldest first, at most `limit`.
Result<std::vector<AuditEntry>> read_audit(sqlite3* db, EpochMs since, int limit);

// 15-minute rollups with bucket start at or after `since` (ts = bucket start).
Status scan_rollup_costs(sqlite3* db, EpochMs since,
                         const std::function<void(const SpendRow&)>& row);
// Daily rollups of the local days from..to (YYYY-MM-DD, inclusive); ts is 0, day_local set. A
// dimension set may come in several rows (by status and pricing, and its events not yet
// flushed): callers add them up.
Status scan_daily_costs(sqlite3* db, const std::string& from, const std::string& to,
                        const std::function<void(const SpendRow&)>& row);

// The budgets' spend checkpoints and the rowid they count through (policies/records.h; no tail
// set); `ahead` that cannot be read is an error.
Result<SpendSeeds> load_spend_checkpoints(sqlite3* db);
// Writes `changed` (their minutes as SpendCheckpoint says: the changed ones, or all), deletes
// the checkpoints of `gone` budgets and moves every checkpoint to `through_rowid`, in one
// transaction (the others' states did not change, so they are the states through it too).
Status save_spend_checkpoints(sqlite3* db, int64_t through_rowid,
                              const std::vector<SpendCheckpoint>& changed,
                              const std::vector<std::string>& gone);
// The largest rowid of the raw events (0 when there is none).
Result<int64_t> last_event_rowid(sqlite3* db);
// The raw events after `after_rowid` as cost rows (ts = the event's), in rowid order.
Status scan_events_after(sqlite3* db, int64_t after_rowid,
                         const std::function<void(const SpendRow&)>& row);

// Opens a read-only connection (WAL readers never block the writer).
Result<sqlite3*> open_read_only(const std::string& path);

}  // namespace tollgate
