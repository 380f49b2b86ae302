#pragma once
// The ledger's schema, versioned through PRAGMA user_version: migration N brings version N-1 to N.
// Append migrations; never edit one that has shipped.

#include <sqlite3.h>

#include <cstdint>

#include "metering/status.h"

namespace tollgate {

inline constexpr int kSchemaVersion = 20;

// The local day (text) and the receive time of event_rows row `r` (a string literal: "e"), as
// schema 15 stores them (schema.cpp). Migration 15's views are written with these: never edit.
// The day: days past ts_ms's UTC day (integer), or the day's text; ts_ms less its remainder by a
// day (floored, also below 0) is that UTC day's midnight. The `+` keeps SQLite from building an
// automatic index over the expression where it is a join's term.
// The CASTs give the expressions the columns' affinities (comparisons with text or numbers
// behave as before); a view shows no declared type for an expression, though.
#define TOLLGATE_EVENT_DAY(r)                                                                   \
  "+CAST(CASE WHEN typeof(" r ".day_offset) = 'integer' THEN date((" r ".ts_ms - ((" r          \
  ".ts_ms % 86400000) + 86400000) % 86400000) / 1000 + " r ".day_offset * 86400, 'unixepoch') " \
  "ELSE " r ".day_offset END AS TEXT)"
#define TOLLGATE_EVENT_RECEIVED(r)                                                              \
  "CAST(CASE WHEN typeof(" r ".received_offset_ms) = 'integer' THEN " r ".ts_ms + " r           \
  ".received_offset_ms ELSE " r ".received_offset_ms END AS INTEGER)"

// Schema 18: cache writes, egress, value units and revenue, which a typical event leaves at zero,
// are a row of event_extras (keyed by the event's rowid) for the events that set one, none for
// the others: four header bytes fewer an event. `x` is its alias, LEFT JOINed to event_rows `r`;
// a field of an event without the row is 0. The CAST keeps the column's INTEGER affinity (an
// analyst's `WHERE egress_bytes = '0'` compares as before); a view shows no declared type for it.
#define TOLLGATE_EXTRAS_JOIN(x, r) "LEFT JOIN event_extras " x " ON " x ".event_rowid = " r ".rowid\n"
#define TOLLGATE_EVENT_EXTRA(x, column) "CAST(IFNULL(" x "." column ", 0) AS INTEGER)"
// An event's sums from cache_write_tokens to reasoning_tokens, in TOLLGATE_ROLLUP_COLUMNS' order.
#define TOLLGATE_EVENT_SUM_COLUMNS(r, x)                                                        \
  TOLLGATE_EVENT_EXTRA(x, "cache_write_tokens") ", " r ".output_tokens, " r ".gpu_micros, "     \
  TOLLGATE_EVENT_EXTRA(x, "egress_bytes") ", " r ".cost_nanos, "                                \
  TOLLGATE_EVENT_EXTRA(x, "value_units_nanos") ", " TOLLGATE_EVENT_EXTRA(x, "revenue_nanos")   \
  ", " r ".reasoning_tokens"

// The days (past 1970-01-01) stored as offsets: those whose text SQLite's date() writes as
// format_date() does, 1900-01-01 to 9999-12-31 (date() writes 0300-03-01 as "0300-02-29", and
// the first centuries are not worth the risk). A day outside is stored as its text.
inline constexpr int64_t kFirstSqlDay = -25567, kLastSqlDay = 2932896;

// event_ts_blocks (schema 16): a block is the 2^10 rowids sharing rowid >> 10; `b` is its row's
// alias (a string literal), the expressions its first and last rowid.
inline constexpr int kTsBlockShift = 10;
#define TOLLGATE_ROWID_BLOCK(rowid) "(" rowid " >> 10)"
#define TOLLGATE_BLOCK_FIRST_ROWID(b) "(" b ".block << 10)"
#define TOLLGATE_BLOCK_LAST_ROWID(b) "((" b ".block << 10) + 1023)"

// Applies every pending migration up to `target` (tests stop early to build old ledgers) in one
// transaction. Refuses a database newer than this binary.
Status migrate(sqlite3* db, int target = kSchemaVersion);

}  // namespace tollgate
