#include "storage/report.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "metering/dimensions.h"
#include "metering/text_rules.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

// The same sums from rollup_daily_dim, which keeps the unpriced requests as a column.
const char* kDimSums =
    "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), "
    "SUM(output_tokens), SUM(gpu_micros), SUM(cost_nanos), SUM(unpriced_requests), "
    "SUM(value_units_nanos), SUM(revenue_nanos)";

ReportSums read_sums(const Statement& st, int first) {
  ReportSums s;
  int64_t* fields[] = {&s.requests,           &s.input_tokens,      &s.cached_input_tokens,
                       &s.cache_write_tokens, &s.output_tokens,     &s.gpu_micros,
                       &s.cost_nanos,         &s.unpriced_requests, &s.value_units_nanos,
                       &s.revenue_nanos};
  for (int i = 0; i < 10; ++i) *fields[i] = st.column_int(first + i);
  return s;
}

using GroupKey = std::vector<std::optional<std::string>>;
// One group's sums on one day; false: a sum passed int64.
using TakeGroup = std::function<bool(const std::string& day, GroupKey key, const ReportSums&)>;

// Hash of a group's ids (the day's index first).
struct IdsHash {
  size_t operator()(const std::vector<int64_t>& ids) const {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int64_t id : ids) h = (h ^ static_cast<uint64_t>(id)) * 0xBF58476D1CE4E5B9ull;
    return static_cast<size_t>(h ^ (h >> 31));
  }
};

// The full daily rollups by `group_by` (two or more dimensions, or a tag), over the days from
// `first` to `date`: the stored daily rows, the events left as their raw rows and the raw events
// past the watermark (what the rollup_daily view adds up) are read as dim_values ids and added up here, and only each group's
// ids are then looked up as strings. At a company's cardinality (about a row per event) SQLite's
// GROUP BY sorts every row: over the view's strings 8.0 s for a day of 2 million events, over the
// ids 4.4 s; the rows alone read in 0.1 s. A group keeps the report day's sums and only the cost
// of the days before (all the report shows of them), so memory grows with the groups, not with
// groups times days. Two tag sets may share a tag's value: the caller adds equal keys up.
Status full_rollup_groups(sqlite3* db, const std::string& first, const std::string& prev,
                          const std::string& date, const std::vector<std::string>& group_by,
                          const TakeGroup& take, const Status& overflow, uint64_t max_groups,
                          const Status& too_many) {
  // The columns past the day (the raw rows hold theirs as an offset: schema 15), by name: the
  // raw rows' dimensions of few values are their dim_sets row's (schema 17).
  std::string dims;
  for (const auto& d : group_by) dims += ", " + (tag_key(d) ? std::string("tags") : d) + "_id";
  // A dimension's name is its column's (group_by is validated before this). The unpriced flag
  // stands where ReportSums has its unpriced requests; read in the scan's own snapshot. The raw
  // rows' cache writes, value units and revenue are in event_extras, NULL when it has no row
  // for the event (schema 18); no other table read here has columns of those names.
  auto sums = [](const char* cache_write, const char* value_units, const char* revenue) {
    return std::string(", requests, input_tokens, cached_input_tokens, ") + cache_write +
           ", output_tokens, gpu_micros, cost_nanos, "
           "IFNULL(priced_by_id = (SELECT id FROM dim_values WHERE value = 'unpriced'), 0), " +
           value_units + ", " + revenue;
  };
  const std::string columns =
      dims + sums("cache_write_tokens", "value_units_nanos", "revenue_nanos");
  const std::string raw_columns =
      dims + sums("IFNULL(cache_write_tokens, 0)", "IFNULL(value_units_nanos, 0)",
                  "IFNULL(revenue_nanos, 0)");
  Statement st(db, "SELECT day_local" + columns +
                       " FROM rollup_daily_rows WHERE day_local BETWEEN ?1 AND ?2 UNION ALL "
                       "SELECT g.day_local" + raw_columns +
                       " FROM rollup_raw_ranges g CROSS JOIN event_rows e ON e.rowid BETWEEN "
                       "g.first_rowid AND g.last_rowid LEFT JOIN dim_sets s ON s.id = e.set_id "
                       TOLLGATE_EXTRAS_JOIN("x", "e") "WHERE g.day_local BETWEEN ?1 AND ?2 AND "
                       "e.listed AND " TOLLGATE_EVENT_DAY("e") " = g.day_local UNION ALL "
                       "SELECT day" + raw_columns +
                       " FROM (SELECT " TOLLGATE_EVENT_DAY("e") " AS day, * FROM event_rows e "
                       "LEFT JOIN dim_sets s ON s.id = e.set_id " TOLLGATE_EXTRAS_JOIN("x", "e")
                       "WHERE e.rowid > (SELECT through_rowid FROM rollup_watermark)) WHERE day "
                       "BETWEEN ?1 AND ?2");
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, first).bind(2, date);
  struct Sums {
    ReportSums today;
    int64_t prev_day = 0, earlier = 0;  // the cost of the day before; of the six before that
    bool has_today = false, has_prev = false, has_earlier = false;
  };
  const int n = int(group_by.size());
  Statement value(db, "SELECT value FROM dim_values WHERE id = ?1");
  Statement tag(db, "SELECT json_extract(value, ?2) FROM dim_values WHERE id = ?1");
  if (!value.ok() || !tag.ok()) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  // A tag's groups are its values, not the tag sets holding them (at a company's cardinality
  // nearly a set per event): each tag set's value is looked up once, and the value's index
  // stands in the group's ids, so the groups held (and their bound) are the report's.
  struct TagValues {
    std::string path;                             // $."key", bound: never part of the SQL
    std::unordered_map<int64_t, int64_t> of_set;  // tags id → value index
    std::map<std::optional<std::string>, int64_t> index;
    std::vector<std::optional<std::string>> values;  // value index → value (null: no such tag)
  };
  std::vector<TagValues> tags(group_by.size());
  for (int i = 0; i < n; ++i)
    if (const auto key = tag_key(group_by[size_t(i)]))
      tags[size_t(i)].path = "$.\"" + std::string(*key) + "\"";
  Status failed;
  // Tag sets can be nearly one per event (a request id as a tag): the cache of their values is
  // emptied when it reaches the report's bound (or, unbounded from the CLI, a million sets), so
  // its memory is bounded like the groups'; past that a set may be looked up again.
  const size_t max_cached_sets = max_groups ? max_groups : 1'000'000;
  auto tag_value = [&](TagValues& t, int64_t set_id) -> int64_t {
    if (t.of_set.size() >= max_cached_sets) t.of_set.clear();
    auto [it, fresh] = t.of_set.try_emplace(set_id, 0);
    if (!fresh) return it->second;
    tag.reset();
    tag.bind(1, set_id).bind(2, t.path);
    std::optional<std::string> v;
    const int step = tag.step();
    if (step == SQLITE_ROW && sqlite3_column_type(tag.get(), 0) != SQLITE_NULL)
      v = tag.column_text(0);
    else if (step != SQLITE_ROW && step != SQLITE_DONE)  // e.g. tags that are not JSON
      failed = Status::error(Code::kStorageError, sqlite3_errmsg(db));
    auto [at, added] = t.index.try_emplace(v, int64_t(t.values.size()));
    if (added) t.values.push_back(std::move(v));
    return it->second = at->second;
  };
  std::unordered_map<std::vector<int64_t>, Sums, IdsHash> by_ids;
  std::vector<int64_t> ids(static_cast<size_t>(n));
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
    const std::string_view day = text ? text : "";
    for (int i = 0; i < n; ++i) {
      TagValues& t = tags[size_t(i)];
      ids[size_t(i)] = t.path.empty() ? st.column_int(1 + i) : tag_value(t, st.column_int(1 + i));
    }
    if (!failed.ok()) return failed;
    ReportSums row = read_sums(st, 1 + n);
    row.unpriced_requests = row.unpriced_requests ? row.requests : 0;
    Sums& g = by_ids[ids];
    if (max_groups && by_ids.size() > max_groups) return too_many;
    bool ok = true;
    if (day == date) {
      ok = g.today.add(row);
      g.has_today = true;
    } else if (day == prev) {
      ok = !__builtin_add_overflow(g.prev_day, row.cost_nanos, &g.prev_day);
      g.has_prev = true;
    } else {
      ok = !__builtin_add_overflow(g.earlier, row.cost_nanos, &g.earlier);
      g.has_earlier = true;
    }
    if (!ok) return overflow;
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  // Each group's ids as strings, each id looked up once (a tag's values are known already).
  std::vector<std::unordered_map<int64_t, std::optional<std::string>>> names(group_by.size());
  auto name = [&](int i, int64_t id) -> const std::optional<std::string>& {
    if (!tags[size_t(i)].path.empty()) return tags[size_t(i)].values[size_t(id)];
    auto [it, fresh] = names[size_t(i)].try_emplace(id);
    if (!fresh) return it->second;
    value.reset();
    value.bind(1, id);
    const int step = value.step();
    if (step == SQLITE_ROW && sqlite3_column_type(value.get(), 0) != SQLITE_NULL)
      it->second = value.column_text(0);
    else if (step != SQLITE_ROW && step != SQLITE_DONE)
      failed = Status::error(Code::kStorageError, sqlite3_errmsg(db));
    return it->second;
  };
  for (const auto& [group, sums] : by_ids) {
    GroupKey key;
    for (int i = 0; i < n; ++i) key.push_back(name(i, group[size_t(i)]));
    if (!failed.ok()) return failed;
    ReportSums prev_day, earlier;
    prev_day.cost_nanos = sums.prev_day;
    earlier.cost_nanos = sums.earlier;
    if ((sums.has_today && !take(date, key, sums.today)) ||
        (sums.has_prev && !take(prev, key, prev_day)) ||
        (sums.has_earlier && !take(first, key, earlier)))
      return overflow;
  }
  return {};
}

}  // namespace

bool ReportSums::add(const ReportSums& o) {
  ReportSums r = *this;
  int64_t* to[] = {&r.requests,     &r.input_tokens,      &r.cached_input_tokens,
                   &r.cache_write_tokens, &r.output_tokens, &r.gpu_micros,
                   &r.cost_nanos,   &r.unpriced_requests, &r.value_units_nanos,
                   &r.revenue_nanos};
  const int64_t* from[] = {&o.requests,     &o.input_tokens,      &o.cached_input_tokens,
                           &o.cache_write_tokens, &o.output_tokens, &o.gpu_micros,
                           &o.cost_nanos,   &o.unpriced_requests, &o.value_units_nanos,
                           &o.revenue_nanos};
  for (int i = 0; i < 10; ++i)
    if (__builtin_add_overflow(*to[i], *from[i], to[i])) return false;
  *this = r;
  return true;
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
                                 const std::string& currency, uint64_t max_rows) {
  return daily_report(std::vector<sqlite3*>{db}, day, group_by, currency, max_rows);
}

Result<DailyReport> daily_report(const std::vector<sqlite3*>& dbs, int64_t day,
                                 const std::vector<std::string>& group_by,
                                 const std::string& currency, uint64_t max_rows) {
  if (Status s = validate_group_by(group_by); !s.ok()) return s;
  // The day and the seven before it, in one pass over the day index. By one dimension (or none)
  // from the per-dimension rollups: a few rows per day, where rollup_daily has a row per
  // dimension set (at a company's cardinality, about one per event). The totals read priority's
  // rows (every event has one). Else from the full rollups, grouped by ids.
  const bool by_one = group_by.size() <= 1 && (group_by.empty() || !tag_key(group_by[0]));
  const std::string date = format_date(day), first = format_date(day - 7),
                    prev = format_date(day - 1);
  const Status overflow = Status::error(
      Code::kStorageError, "the ledgers' sums for " + date + " pass 2^63 in their unit");
  // The groups are held in memory, so their number is bounded (max_rows, 0: none) as they are
  // read, not after: a report by customer, feature and a tag over a day of millions of events
  // would otherwise cost gigabytes before one row was sent.
  std::string dims;
  for (const auto& d : group_by) dims += (dims.empty() ? "" : ",") + d;
  const Status too_many = Status::error(
      Code::kTooManyRows,
      "the report for " + date + " by " + (dims.empty() ? std::string("nothing") : dims) +
          " has more than " + std::to_string(max_rows) +
          " rows (counting the groups of the 7 days before, which it compares with); group by "
          "fewer dimensions, or raise limits.max_report_rows (`tollgate report` has no such "
          "bound)");
  // Every ledger's groups go into one map before any row is dropped, so a group quiet today in
  // one ledger still brings its previous days to the same group busy in another.
  std::map<GroupKey, ReportRow> groups;
  bool too_large = false;
  DailyReport report;
  report.date = date;
  report.currency = currency;
  report.group_by = group_by;
  const TakeGroup take = [&](const std::string& row_day, GroupKey key, const ReportSums& sums) {
    ReportRow& row = groups[key];
    if (max_rows && groups.size() > max_rows) {
      too_large = true;
      return false;
    }
    row.dims = std::move(key);
    if (row_day == date) return row.sums.add(sums) && report.total.sums.add(sums);
    row.prev_7d_cost_nanos += sums.cost_nanos;
    report.total.prev_7d_cost_nanos += sums.cost_nanos;
    return row_day != prev ||
           !(__builtin_add_overflow(row.prev_day_cost_nanos, sums.cost_nanos,
                                    &row.prev_day_cost_nanos) ||
             __builtin_add_overflow(report.total.prev_day_cost_nanos, sums.cost_nanos,
                                    &report.total.prev_day_cost_nanos));
  };
  for (sqlite3* db : dbs) {
    if (!by_one) {
      if (Status s = full_rollup_groups(db, first, prev, date, group_by, take, overflow,
                                        max_rows, too_many);
          !s.ok())
        return too_large ? too_many : s;
      continue;
    }
    Statement st(db, "SELECT day_local, value, " + std::string(kDimSums) +
                         " FROM rollup_daily_dim WHERE dimension = '" +
                         (group_by.empty() ? std::string("priority")
                                           : std::string(find_dimension(group_by[0])->name)) +
                         "' AND day_local BETWEEN ?1 AND ?2 GROUP BY day_local, value");
    if (!st.ok()) return Status::error(Code::kStorageError, st.error());
    st.bind(1, first).bind(2, date);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      GroupKey key;
      if (!group_by.empty()) {
        if (sqlite3_column_type(st.get(), 1) == SQLITE_NULL)
          key.emplace_back(std::nullopt);
        else
          key.emplace_back(st.column_text(1));
      }
      if (!take(st.column_text(0), std::move(key), read_sums(st, 2)))
        return too_large ? too_many : overflow;
    }
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  }
  for (auto& [key, row] : groups)
    if (row.sums.requests != 0 || row.sums.cost_nanos != 0 || row.sums.input_tokens != 0 ||
        row.sums.output_tokens != 0)
      report.rows.push_back(std::move(row));
  std::stable_sort(
      report.rows.begin(), report.rows.end(),
      [](const ReportRow& a, const ReportRow& b) { return a.sums.cost_nanos > b.sums.cost_nanos; });
  return report;
}

namespace {

Status too_many_charges(int64_t from_day, int64_t to_day, uint64_t max_rows) {
  return Status::error(Code::kTooManyRows,
                       "the export from " + format_date(from_day) + " to " + format_date(to_day) +
                           " has more than " + std::to_string(max_rows) +
                           " rows; export fewer days at a time, or raise limits.max_report_rows "
                           "(`tollgate export` has no such bound)");
}

}  // namespace

Result<std::vector<FocusRow>> focus_rows(sqlite3* db, int64_t from_day, int64_t to_day,
                                         uint64_t max_rows) {
  const std::string from = format_date(from_day), to = format_date(to_day);
  const char* kGroup = "day_local, provider, model, region, feature, team";
  // Customer, priority and tags are named where the whole row has one: (count 1, value).
  const char* kShared =
      "COUNT(DISTINCT customer), MIN(customer), COUNT(DISTINCT priority), MIN(priority), "
      "COUNT(DISTINCT tags), MIN(tags)";
  const char* kSharedCharges =
      "1 + (MIN(customer_lo) < MAX(customer_hi)), MIN(customer_lo), "
      "1 + (MIN(priority_lo) < MAX(priority_hi)), MIN(priority_lo), "
      "1 + (MIN(tags_lo) < MAX(tags_hi)), MIN(tags_lo)";
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
    Statement st(db, std::string("SELECT ") + kGroup + ", " + kSharedCharges + ", " + price +
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
      if (max_rows && rows.size() > max_rows) return too_many_charges(from_day, to_day, max_rows);
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
    if (max_rows && rows.size() + unitemised.size() > max_rows)
      return too_many_charges(from_day, to_day, max_rows);
  }
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  rows.insert(rows.end(), std::make_move_iterator(unitemised.begin()),
              std::make_move_iterator(unitemised.end()));
  std::stable_sort(rows.begin(), rows.end(), [&](const FocusRow& a, const FocusRow& b) {
    return group_of(a) < group_of(b);
  });
  return rows;
}

Result<std::vector<FocusRow>> focus_rows(const std::vector<sqlite3*>& dbs, int64_t from_day,
                                         int64_t to_day, uint64_t max_rows) {
  if (dbs.size() == 1) return focus_rows(dbs.front(), from_day, to_day, max_rows);
  // Each ledger splits its own rollups into charges (and the unitemised rest); then charges that
  // are the same charge in every respect but amount are one row.
  auto key_of = [](const FocusRow& r) {
    return std::tie(r.day_local, r.provider, r.model, r.region, r.feature, r.team, r.priced_by,
                    r.component, r.sku_price_id, r.pricing_currency, r.fx_nanos, r.list_rate,
                    r.contracted_rate, r.discount_nano_percent);
  };
  auto before = [&](const FocusRow& a, const FocusRow& b) { return key_of(a) < key_of(b); };
  std::vector<FocusRow> all;
  for (sqlite3* db : dbs) {
    auto rows = focus_rows(db, from_day, to_day, max_rows);
    if (!rows.ok()) return rows.status();
    all.insert(all.end(), std::make_move_iterator(rows->begin()),
               std::make_move_iterator(rows->end()));
  }
  std::stable_sort(all.begin(), all.end(), before);
  std::vector<FocusRow> merged;
  for (FocusRow& r : all) {
    if (merged.empty() || key_of(merged.back()) != key_of(r)) {
      merged.push_back(std::move(r));
      if (max_rows && merged.size() > max_rows) return too_many_charges(from_day, to_day, max_rows);
      continue;
    }
    FocusRow& m = merged.back();
    if (__builtin_add_overflow(m.quantity, r.quantity, &m.quantity) ||
        __builtin_add_overflow(m.cost_nanos, r.cost_nanos, &m.cost_nanos))
      return Status::error(Code::kStorageError,
                           "the ledgers' charges for " + m.day_local + " pass 2^63 in their unit");
    if (m.customer != r.customer) m.customer.reset();
    if (m.priority != r.priority) m.priority.reset();
    if (m.tags_json != r.tags_json) m.tags_json.reset();
  }
  return merged;
}

Result<SharedEvents> shared_events(const std::vector<sqlite3*>& dbs, int64_t from_day,
                                   int64_t to_day) {
  // Local days lie within a day of their UTC days, so the times narrow the scan: the blocks of
  // rowids whose times meet them (event_ts_blocks, schema 16), and the events past the rollup
  // watermark, which the blocks may not hold yet.
  constexpr int64_t kDayMs = 86'400'000;
  SharedEvents shared;
  for (size_t j = 1; j < dbs.size(); ++j) {
    // Two disjoint parts (at or below the watermark, past it), streamed.
    Statement scan(dbs[j],
                   "SELECT e.event_id, e.cost_nanos FROM event_ts_blocks b CROSS JOIN event_rows "
                   "e ON e.rowid BETWEEN " TOLLGATE_BLOCK_FIRST_ROWID("b") " AND "
                   TOLLGATE_BLOCK_LAST_ROWID("b") " WHERE b.min_ts_ms <= ?2 AND b.max_ts_ms >= "
                   "?1 AND e.rowid <= (SELECT through_rowid FROM rollup_watermark) AND e.ts_ms "
                   "BETWEEN ?1 AND ?2 AND " TOLLGATE_EVENT_DAY("e") " BETWEEN ?3 AND ?4 "
                   "UNION ALL SELECT e.event_id, e.cost_nanos FROM event_rows e WHERE e.rowid > "
                   "(SELECT through_rowid FROM rollup_watermark) AND e.ts_ms BETWEEN ?1 AND ?2 "
                   "AND " TOLLGATE_EVENT_DAY("e") " BETWEEN ?3 AND ?4");
    if (!scan.ok()) return Status::error(Code::kStorageError, scan.error());
    const std::string from = format_date(from_day), to = format_date(to_day);
    scan.bind(1, (from_day - 1) * kDayMs).bind(2, (to_day + 2) * kDayMs).bind(3, from).bind(4, to);
    std::vector<Statement> probes;
    for (size_t i = 0; i < j; ++i) {
      probes.emplace_back(dbs[i], "SELECT 1 FROM events WHERE event_id = ?1");
      if (!probes.back().ok()) return Status::error(Code::kStorageError, probes.back().error());
    }
    int rc;
    while ((rc = scan.step()) == SQLITE_ROW) {
      const std::string id = scan.column_text(0);
      for (Statement& probe : probes) {
        probe.reset();
        probe.bind(1, id);
        const int found = probe.step();
        if (found == SQLITE_ROW) {
          ++shared.events;
          shared.cost_nanos += scan.column_int(1);
          break;
        }
        if (found != SQLITE_DONE)
          return Status::error(Code::kStorageError, sqlite3_errmsg(sqlite3_db_handle(probe.get())));
      }
    }
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(dbs[j]));
  }
  return shared;
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
