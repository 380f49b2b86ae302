#include "daemon/finance/reports.h"

#include <sqlite3.h>

#include <memory>

#include "daemon/finance/focus_export.h"
#include "daemon/finance/report_format.h"
#include "storage/policy_store.h"
#include "storage/report.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

constexpr int64_t kMaxExportDays = 366;

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

Result<Db> open(const std::string& path) {
  auto db = open_read_only(path);
  if (!db.ok()) return db.status();
  Db conn(db.value(), &sqlite3_close);
  // Readers never migrate: a ledger of another schema version gets a clear word instead of a
  // missing-table error.
  Statement version(conn.get(), "PRAGMA user_version");
  const int64_t v = version.ok() && version.step() == SQLITE_ROW ? version.column_int(0) : -1;
  if (v != kSchemaVersion)
    return Status::error(
        Code::kStorageUnavailable,
        path + " has ledger schema version " + std::to_string(v) +
            ", this tollgate reads version " + std::to_string(kSchemaVersion) +
            (v < kSchemaVersion ? ": start this version's daemon on it once to migrate it"
                                : ": use the newer tollgate that wrote it"));
  return conn;
}

// Every ledger of the settings, open; the first that cannot be read fails them all.
Result<std::vector<Db>> open_all(const std::vector<std::string>& paths) {
  std::vector<Db> dbs;
  for (const auto& path : paths) {
    auto db = open(path);
    if (!db.ok()) return db.status();
    dbs.push_back(std::move(db.value()));
  }
  return dbs;
}

std::vector<sqlite3*> handles(const std::vector<Db>& dbs) {
  std::vector<sqlite3*> out;
  for (const auto& db : dbs) out.push_back(db.get());
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string part = s.substr(pos, comma - pos);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) out.push_back(part);
    pos = comma + 1;
  }
  return out;
}

// A read that failed: the ledger could not be read (503), unless the answer was too big.
Status unavailable_unless_too_many(const Status& s) {
  if (s.code() == Code::kTooManyRows) return s;
  return Status::error(Code::kStorageUnavailable, s.message());
}

}  // namespace

Result<Rendered> render_daily_report(const ReportSettings& s, const ReportQuery& q, EpochMs now) {
  int64_t day = s.tz->local_day(now) - 1;
  if (q.date) {
    auto d = parse_date(*q.date);
    if (!d)
      return Status::error(Code::kInvalidDate, "date must be YYYY-MM-DD, got \"" + *q.date + "\"");
    day = *d;
  }
  const std::vector<std::string> group_by =
      q.group_by ? split(*q.group_by) : std::vector<std::string>{"feature"};
  if (Status st = validate_group_by(group_by); !st.ok()) return st;
  if (q.format != "json" && q.format != "csv" && q.format != "table")
    return Status::error(Code::kInvalidFormat,
                         "format must be json, csv or table, got \"" + q.format + "\"");
  auto dbs = open_all(s.db_paths);
  if (!dbs.ok()) return dbs.status();
  auto report = daily_report(handles(dbs.value()), day, group_by, s.currency, s.max_rows);
  if (!report.ok()) return unavailable_unless_too_many(report.status());
  if (q.format == "csv") return Rendered{report_csv(report.value()), "text/csv; charset=utf-8"};
  if (q.format == "table")
    return Rendered{report_table(report.value()), "text/plain; charset=utf-8"};
  return Rendered{report_json(report.value()), "application/json"};
}

Result<Rendered> render_focus_export(const ReportSettings& s, const std::string& from,
                                     const std::string& to) {
  auto f = parse_date(from), t = parse_date(to);
  if (!f || !t)
    return Status::error(Code::kInvalidDate, "from and to must be dates YYYY-MM-DD (to is inclusive)");
  if (*t < *f)
    return Status::error(Code::kInvalidDate, "to (" + to + ") is before from (" + from + ")");
  if (*t - *f >= kMaxExportDays)
    return Status::error(Code::kInvalidDate, "export at most 366 days at a time");
  auto dbs = open_all(s.db_paths);
  if (!dbs.ok()) return dbs.status();
  auto rows = focus_rows(handles(dbs.value()), *f, *t, s.max_rows);
  if (!rows.ok()) return unavailable_unless_too_many(rows.status());
  return Rendered{focus_csv(rows.value(), s.currency, *s.tz), "text/csv; charset=utf-8"};
}

Result<SharedEvents> find_shared_events(const ReportSettings& s, int64_t from_day,
                                       int64_t to_day) {
  auto dbs = open_all(s.db_paths);
  if (!dbs.ok()) return dbs.status();
  return shared_events(handles(dbs.value()), from_day, to_day);
}

}  // namespace tollgate
