#include "storage/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "metering/dimensions.h"
#include "metering/text_rules.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

const char* kSums =
    "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), "
    "SUM(output_tokens), SUM(gpu_micros), SUM(cost_nanos), "
    "SUM(CASE WHEN priced_by = 'unpriced' THEN requests ELSE 0 END), SUM(value_units_nanos), "
    "SUM(revenue_nanos)";

ReportSums read_sums(const Statement& st, int first) {
  ReportSums s;
  int64_t* fields[] = {&s.requests,           &s.input_tokens,      &s.cached_input_tokens,
                       &s.cache_write_tokens, &s.output_tokens,     &s.gpu_micros,
                       &s.cost_nanos,         &s.unpriced_requests, &s.value_units_nanos,
                       &s.revenue_nanos};
  for (int i = 0; i < 10; ++i) *fields[i] = st.column_int(first + i);
  return s;
}

// SQL expression of the i-th group_by dimension: a dimension's column (its name in kDimensions,
// from our own table), or a tag's value out of the tags column, its JSON path a bound parameter
// (?3 + i; see bind_dims): no text a client sent is ever part of the SQL.
std::string dim_sql(const std::string& dim, size_t i) {
  if (tag_key(dim)) return "json_extract(tags, ?" + std::to_string(3 + i) + ")";
  return find_dimension(dim) ? dim : "NULL";
}

void bind_dims(Statement& st, const std::vector<std::string>& group_by,
               std::vector<std::string>& paths) {
  paths.reserve(group_by.size());  // bound text must stay put until the statement is done
  for (size_t i = 0; i < group_by.size(); ++i)
    if (auto key = tag_key(group_by[i])) {
      paths.push_back("$.\"" + std::string(*key) + "\"");
      st.bind(int(3 + i), paths.back());
    }
}

}  // namespace

void ReportSums::add(const ReportSums& o) {
  requests += o.requests;
  input_tokens += o.input_tokens;
  cached_input_tokens += o.cached_input_tokens;
  cache_write_tokens += o.cache_write_tokens;
  output_tokens += o.output_tokens;
  gpu_micros += o.gpu_micros;
  cost_nanos += o.cost_nanos;
  unpriced_requests += o.unpriced_requests;
  value_units_nanos += o.value_units_nanos;
  revenue_nanos += o.revenue_nanos;
}

Status validate_group_by(const std::vector<std::string>& group_by) {
  std::set<std::string> seen;
  for (const auto& d : group_by) {
    if (Status s = check_text("group_by", d); !s.ok())
      return Status::error(Code::kInvalidGroupBy, s.message());
    bool tag = tag_key(d) && d.size() <= 132 && d.find_first_of("\"'\\") == std::string::npos;
    if (!find_dimension(d) && !tag)
      return Status::error(Code::kInvalidGroupBy, "cannot group by \"" + d + "\"; use " +
                                                      dimension_names() + " or tag:<key>");
    if (!seen.insert(d).second)
      return Status::error(Code::kInvalidGroupBy, "\"" + d + "\" appears twice in group_by");
  }
  return {};
}

Result<DailyReport> daily_report(sqlite3* db, int64_t day, const std::vector<std::string>& group_by,
                                 const std::string& currency) {
  if (Status s = validate_group_by(group_by); !s.ok()) return s;
  std::string dims;
  for (size_t i = 0; i < group_by.size(); ++i) dims += dim_sql(group_by[i], i) + ", ";
  // The day and the seven before it, in one pass over the day index.
  std::string sql = "SELECT day_local, " + dims + kSums +
                    " FROM rollup_daily WHERE day_local BETWEEN ?1 AND ?2 GROUP BY day_local" +
                    (group_by.empty() ? "" : ", " + dims.substr(0, dims.size() - 2));
  Statement st(db, sql);
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  const std::string date = format_date(day), first = format_date(day - 7),
                    prev = format_date(day - 1);
  st.bind(1, first).bind(2, date);
  std::vector<std::string> paths;
  bind_dims(st, group_by, paths);
  std::map<std::vector<std::optional<std::string>>, ReportRow> groups;
  DailyReport report;
  report.date = date;
  report.currency = currency;
  report.group_by = group_by;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    const std::string row_day = st.column_text(0);
    std::vector<std::optional<std::string>> key;
    for (size_t i = 0; i < group_by.size(); ++i) {
      if (sqlite3_column_type(st.get(), 1 + int(i)) == SQLITE_NULL)
        key.emplace_back(std::nullopt);
      else
        key.emplace_back(st.column_text(1 + int(i)));
    }
    ReportSums sums = read_sums(st, 1 + int(group_by.size()));
    ReportRow& row = groups[key];
    row.dims = key;
    if (row_day == date) {
      row.sums.add(sums);
      report.total.sums.add(sums);
    } else {
      row.prev_7d_cost_nanos += sums.cost_nanos;
      report.total.prev_7d_cost_nanos += sums.cost_nanos;
      if (row_day == prev) {
        row.prev_day_cost_nanos += sums.cost_nanos;
        report.total.prev_day_cost_nanos += sums.cost_nanos;
      }
    }
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  for (auto& [key, row] : groups)
    if (row.sums.requests != 0 || row.sums.cost_nanos != 0 || row.sums.input_tokens != 0 ||
        row.sums.output_tokens != 0)
      report.rows.push_back(std::move(row));
  std::stable_sort(
      report.rows.begin(), report.rows.end(),
      [](const ReportRow& a, const ReportRow& b) { return a.sums.cost_nanos > b.sums.cost_nanos; });
  return report;
}

Result<std::vector<FocusRow>> focus_rows(sqlite3* db, int64_t from_day, int64_t to_day) {
  const std::string from = format_date(from_day), to = format_date(to_day);
  const char* kGroup = "day_local, provider, model, region, feature, team";
  const char* kShared =
      "COUNT(DISTINCT customer), MIN(customer), COUNT(DISTINCT priority), MIN(priority), "
      "COUNT(DISTINCT tags), MIN(tags)";
  auto read_shared = [](const Statement& st, FocusRow& r) {
    r.day_local = st.column_text(0);
    r.provider = st.column_text(1);
    r.model = st.column_text(2);
    r.region = st.column_text(3);
    r.feature = st.column_text(4);
    r.team = st.column_text(5);
    if (st.column_int(6) == 1) r.customer = st.column_text(7);
    if (st.column_int(8) == 1) r.priority = st.column_text(9);
    if (st.column_int(10) == 1) r.tags_json = st.column_text(11);
  };
  using GroupKey = std::tuple<std::string, std::string, std::string, std::string, std::string,
                              std::string>;
  auto group_of = [](const FocusRow& r) {
    return GroupKey{r.day_local, r.provider, r.model, r.region, r.feature, r.team};
  };
  std::vector<FocusRow> rows;
  std::map<GroupKey, __int128> itemised;  // cost of each group's charges
  {
    const std::string price =
        "priced_by, component, sku_price_id, pricing_currency, fx_nanos, list_rate_nanos, "
        "contracted_rate_nanos, discount_nano_percent";
    Statement st(db, std::string("SELECT ") + kGroup + ", " + kShared + ", " + price +
                         ", SUM(quantity), SUM(cost_nanos) FROM charges_daily "
                         "WHERE day_local BETWEEN ?1 AND ?2 GROUP BY " +
                         kGroup + ", " + price + " ORDER BY " + kGroup + ", " + price);
    if (!st.ok()) return Status::error(Code::kStorageError, st.error());
    st.bind(1, from).bind(2, to);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      FocusRow r;
      read_shared(st, r);
      r.priced_by = st.column_text(12);
      r.component = st.column_text(13);
      r.sku_price_id = st.column_text(14);
      r.pricing_currency = st.column_text(15);
      r.fx_nanos = st.column_int(16);
      r.list_rate = st.column_int(17);
      r.contracted_rate = st.column_int(18);
      r.discount_nano_percent = st.column_int(19);
      r.quantity = st.column_int(20);
      r.cost_nanos = st.column_int(21);
      itemised[group_of(r)] += r.cost_nanos;
      rows.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  }
  // What the rollups hold beyond the itemised charges: events stored before schema 7.
  Statement st(db, std::string("SELECT ") + kGroup + ", " + kShared +
                       ", SUM(cost_nanos) FROM rollup_daily WHERE day_local BETWEEN ?1 AND ?2 "
                       "GROUP BY " +
                       kGroup);
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, from).bind(2, to);
  int rc;
  std::vector<FocusRow> unitemised;
  while ((rc = st.step()) == SQLITE_ROW) {
    FocusRow r;
    read_shared(st, r);
    auto it = itemised.find(group_of(r));
    const __int128 rest = __int128(st.column_int(12)) - (it == itemised.end() ? 0 : it->second);
    if (it != itemised.end() && rest == 0) continue;
    r.cost_nanos = static_cast<int64_t>(rest);  // a part of the day's total, which fits
    unitemised.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  rows.insert(rows.end(), std::make_move_iterator(unitemised.begin()),
              std::make_move_iterator(unitemised.end()));
  std::stable_sort(rows.begin(), rows.end(), [&](const FocusRow& a, const FocusRow& b) {
    return group_of(a) < group_of(b);
  });
  return rows;
}

LedgerMeta read_meta(sqlite3* db) {
  LedgerMeta m;
  Statement st(db, "SELECT key, value FROM meta");
  while (st.ok() && st.step() == SQLITE_ROW) {
    if (st.column_text(0) == "currency") m.currency = st.column_text(1);
    if (st.column_text(0) == "timezone") m.timezone = st.column_text(1);
  }
  return m;
}

Status write_meta(sqlite3* db, const LedgerMeta& meta) {
  Status s = exec_sql(db, "BEGIN IMMEDIATE");
  for (auto [k, v] : {std::pair{"currency", &meta.currency}, {"timezone", &meta.timezone}}) {
    if (!s.ok()) break;
    Statement st(db,
                 "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO UPDATE SET value = "
                 "excluded.value");
    st.bind(1, std::string_view(k)).bind(2, *v);
    if (!st.ok() || st.step() != SQLITE_DONE)
      s = Status::error(Code::kStorageError, sqlite3_errmsg(db));
  }
  if (s.ok()) return exec_sql(db, "COMMIT");
  exec_sql(db, "ROLLBACK");
  return s;
}

Status backup_database(const std::string& src_path, const std::string& out_path) {
  sqlite3* src = nullptr;
  if (sqlite3_open_v2(src_path.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string msg = src ? sqlite3_errmsg(src) : "out of memory";
    sqlite3_close(src);
    return Status::error(Code::kStorageError, "cannot open " + src_path + ": " + msg);
  }
  sqlite3_busy_timeout(src, 5000);
  const std::string tmp = out_path + ".tmp";
  std::remove(tmp.c_str());
  sqlite3* dst = nullptr;
  Status s;
  if (sqlite3_open(tmp.c_str(), &dst) != SQLITE_OK) {
    s = Status::error(Code::kStorageError, "cannot create " + tmp + ": " +
                                           (dst ? sqlite3_errmsg(dst) : "out of memory"));
  } else {
    // One step copies every page inside one read transaction: a consistent snapshot, while the
    // daemon (in WAL mode) keeps committing.
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
      s = Status::error(Code::kStorageError, std::string("backup failed: ") + sqlite3_errmsg(dst));
    } else {
      int rc = sqlite3_backup_step(b, -1);
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE)
        s = Status::error(Code::kStorageError, std::string("backup failed: ") + sqlite3_errstr(rc));
    }
    if (s.ok()) {
      Statement check(dst, "PRAGMA integrity_check");
      if (!check.ok() || check.step() != SQLITE_ROW || check.column_text(0) != "ok")
        s = Status::error(Code::kStorageError, "the copy fails PRAGMA integrity_check");
    }
  }
  sqlite3_close(dst);
  sqlite3_close(src);
  if (s.ok() && std::rename(tmp.c_str(), out_path.c_str()) != 0)
    s = Status::error(Code::kStorageError, "cannot rename " + tmp + " to " + out_path);
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace tollgate
