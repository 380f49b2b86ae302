#pragma once
// The ledger's schema, versioned through PRAGMA user_version: migration N brings version N-1 to N.
// Append migrations; never edit one that has shipped.

#include <sqlite3.h>

#include "metering/status.h"

namespace tollgate {

inline constexpr int kSchemaVersion = 14;

// Applies every pending migration up to `target` (tests stop early to build old ledgers) in one
// transaction. Refuses a database newer than this binary.
Status migrate(sqlite3* db, int target = kSchemaVersion);

}  // namespace tollgate
