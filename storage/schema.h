#pragma once
// The ledger's schema, versioned through PRAGMA user_version: migration N brings version N-1 to N.
// Append migrations; never edit one that has shipped.

#include <sqlite3.h>

#include <cstdint>

#include "metering/status.h"

namespace tollgate {

inline constexpr int kSchemaVersion = 18;

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

// Schema 18: the fields a typical event leaves at zero (cache writes, egress, value units,
// revenue, reservation id) are one JSON object, event_rows.extras, holding the non-zero ones under
// the events view's column names, in that order (json_object's compact text); NULL when all are
// zero. One column's header byte instead of five. `r` is the row's alias, `name` a field's name
// (string literals); a field not in the object is 0 (the reservation id: '').
#define TOLLGATE_EVENT_EXTRA(r, name) "IFNULL(json_extract(" r ".extras, '$." name "'), 0)"
#define TOLLGATE_EVENT_RESERVATION(r) "IFNULL(json_extract(" r ".extras, '$.reservation_id'), '')"
// The extras as an event's raw row is being read into a rollup row of one event (the sums'
// columns from cache_write_tokens to reasoning_tokens, as TOLLGATE_ROLLUP_COLUMNS names them).
#define TOLLGATE_EVENT_SUM_COLUMNS(r)                                                            \
  TOLLGATE_EVENT_EXTRA(r, "cache_write_tokens") ", " r ".output_tokens, " r ".gpu_micros, "      \
  TOLLGATE_EVENT_EXTRA(r, "egress_bytes") ", " r ".cost_nanos, "                                 \
  TOLLGATE_EVENT_EXTRA(r, "value_units_nanos") ", " TOLLGATE_EVENT_EXTRA(r, "revenue_nanos")    \
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
