#pragma once
// The daily unit-economics report (CONTRACT §4.6) and the FOCUS export rows (§4.7), read from
// the daily rollups, never from raw events, so a day of ten million events still answers fast.
// Plain functions over a read-only connection.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "metering/status.h"
#include "metering/time_zone.h"

namespace tollgate {

struct ReportSums {
  int64_t requests = 0, input_tokens = 0, cached_input_tokens = 0, cache_write_tokens = 0,
          output_tokens = 0, gpu_micros = 0, cost_nanos = 0, unpriced_requests = 0,
          value_units_nanos = 0, revenue_nanos = 0;
  // Adds `o`; false (and unchanged) when a sum would pass int64, which only ledgers merged
  // together can reach (SQLite's SUM already refuses it within one).
  [[nodiscard]] bool add(const ReportSums& o);
};

struct ReportRow {
  std::vector<std::optional<std::string>> dims;  // one per group_by dimension; nullopt: no such tag
  ReportSums sums;
  int64_t prev_day_cost_nanos = 0;
  __int128 prev_7d_cost_nanos = 0;  // sum over the 7 days before (128 bits: 7 days may pass int64)
};

struct DailyReport {
  std::string date;  // YYYY-MM-DD, local day in the reporting time zone
  std::string currency;
  std::vector<std::string> group_by;
  std::vector<ReportRow> rows;  // by cost, highest first
  ReportRow total;
};

// group_by: feature, team, customer, model, provider, region, priority, tag:<key>.
Status validate_group_by(const std::vector<std::string>& group_by);
// max_rows bounds the groups held (those of the day and of the 7 days before it), checked as
// they are read: past it, too_many_rows. 0: no bound (the command line's offline reports).
Result<DailyReport> daily_report(sqlite3* db, int64_t day, const std::vector<std::string>& group_by,
                                 const std::string& currency, uint64_t max_rows = 0);
// The same over several ledgers (instances or regions, each its own events): groups with the
// same dimensions are one row, summed exactly. The ledgers must share a currency (the caller
// checks their meta).
Result<DailyReport> daily_report(const std::vector<sqlite3*>& dbs, int64_t day,
                                 const std::vector<std::string>& group_by,
                                 const std::string& currency, uint64_t max_rows = 0);

// One FOCUS charge (CONTRACT §4.7): a day × provider × model × region × feature × team × SKU
// component × price, summed from charges_daily. A row with an empty component holds the cost of
// events stored before charges were itemised (schema 7), unsplit: what rollup_daily has for the
// group beyond its itemised charges.
struct FocusRow {
  std::string day_local, provider, model, region, feature, team;
  std::optional<std::string> customer, priority, tags_json;  // set when the same for the whole row
  std::string priced_by;  // price_book, caller, unpriced; "" when not itemised
  std::string component;  // to_string(Component), "caller-priced"; "" when not itemised
  std::string sku_price_id, pricing_currency;
  int64_t fx_nanos = 0, list_rate = 0, contracted_rate = 0, discount_nano_percent = 0;
  int64_t quantity = 0;    // in the component's ledger unit
  int64_t cost_nanos = 0;  // reporting currency
};
// Days from..to inclusive, in day, dimension and price order. More than max_rows rows (0: no
// bound): too_many_rows, found as they are read.
Result<std::vector<FocusRow>> focus_rows(sqlite3* db, int64_t from_day, int64_t to_day,
                                         uint64_t max_rows = 0);
// The same over several ledgers: charges with the same day, dimensions, component and price are
// one row (quantities and costs summed exactly); customer, priority and tags stay set only where
// every ledger's row had the same one.
Result<std::vector<FocusRow>> focus_rows(const std::vector<sqlite3*>& dbs, int64_t from_day,
                                         int64_t to_day, uint64_t max_rows = 0);

// Events stored in more than one of the ledgers (the same event_id: a client that sent one event
// to two instances, each of which acknowledged it), among those of local days from..to. A merged
// report counts each copy; this says how many and how much, so no one trusts it blindly.
struct SharedEvents {
  int64_t events = 0;
  __int128 cost_nanos = 0;  // the extra copies' cost, reporting currency
};
Result<SharedEvents> shared_events(const std::vector<sqlite3*>& dbs, int64_t from_day,
                                   int64_t to_day);

// Ledger settings recorded by the daemon (reporting currency, time zone), for --db readers.
struct LedgerMeta {
  std::string currency = "USD";
  std::string timezone = "UTC";
};
LedgerMeta read_meta(sqlite3* db);
Status write_meta(sqlite3* db, const LedgerMeta& meta);

// A consistent copy of a live database (SQLite online backup), written to a temporary file,
// checked with PRAGMA integrity_check, then renamed over `out_path`.
Status backup_database(const std::string& src_path, const std::string& out_path);

}  // namespace tollgate
