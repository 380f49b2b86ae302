// Daily report and FOCUS rows against hand-computed fixtures, on a real ledger file.
#include "storage/report.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <array>
#include <future>
#include <limits>
#include <map>

#include "daemon/finance/focus_export.h"
#include "daemon/finance/report_format.h"
#include "storage/ledger.h"
#include "storage/policy_store.h"
#include "storage/sqlite_util.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {

EpochMs at(const char* ts) { return *parse_rfc3339(ts); }

UsageEvent ev(const std::string& id, const char* ts, const std::string& feature, int64_t cost_nanos,
              int64_t requests = 1) {
  UsageEvent e;
  e.event_id = id;
  e.ts_ms = at(ts);
  e.feature = feature;
  e.team = "cx";
  e.provider = "alibaba";
  e.model = "qwen3-max";
  e.requests = requests;
  e.input_tokens = 1000 * requests;
  e.output_tokens = 100 * requests;
  e.cost = Money::from_nanos(cost_nanos);
  e.priced_by = PricedBy::kPriceBook;
  return e;
}

struct Ledgered {
  testing::TempDir dir;
  std::string path = dir.file("l.db");
  sqlite3* db = nullptr;

  Ledgered(std::vector<UsageEvent> events, const std::string& zone) {
    LedgerOptions o;
    o.path = path;
    o.timezone = TimeZone::load(zone).value();
    auto l = Ledger::open(o);
    REQUIRE(l.ok());
    std::promise<Status> done;
    l.value()->submit(std::move(events), [&](Status s, std::vector<Stored>,
                                             std::vector<UsageEvent>) { done.set_value(s); });
    REQUIRE(done.get_future().get().ok());
    l.value()->stop();
    db = open_read_only(path).value();
  }
  ~Ledgered() { sqlite3_close(db); }
};

const int64_t kUsd = Money::kNanosPerUnit;

}  // namespace

TEST_CASE(
    "report: Asia/Kolkata days, changes vs the previous day and a 7-day window with a missing "
    "day") {
  // Report day D = 2026-11-20 in Kolkata (UTC+5:30): [2026-11-19T18:30Z, 2026-11-20T18:30Z).
  Ledgered l(
      {
          ev("d1", "2026-11-19T18:30:00Z", "chat", 5 * kUsd, 2),  // D, first minute
          ev("d2", "2026-11-20T18:29:59Z", "chat", 7 * kUsd, 1),  // D, last second
          ev("d3", "2026-11-20T18:30:00Z", "chat", 100 * kUsd),   // D+1: not in the report
          ev("p1", "2026-11-19T10:00:00Z", "chat", 10 * kUsd),    // D-1
          // D-2 (2026-11-18) has no usage at all.
          ev("w3", "2026-11-17T10:00:00Z", "chat", 7 * kUsd),  // D-3 .. D-7: 7 each
          ev("w4", "2026-11-16T10:00:00Z", "chat", 7 * kUsd),
          ev("w5", "2026-11-15T10:00:00Z", "chat", 7 * kUsd),
          ev("w6", "2026-11-14T10:00:00Z", "chat", 7 * kUsd),
          ev("w7", "2026-11-13T10:00:00Z", "chat", 7 * kUsd),
          ev("w8", "2026-11-12T10:00:00Z", "chat", 1000 * kUsd),  // D-8: outside the window
          ev("s1", "2026-11-20T05:00:00Z", "search", 3 * kUsd),   // D, new feature
      },
      "Asia/Kolkata");
  auto r = daily_report(l.db, *parse_date("2026-11-20"), {"feature"}, "USD");
  REQUIRE(r.ok());
  REQUIRE(r->rows.size() == 2);
  const ReportRow& chat = r->rows[0];
  CHECK(*chat.dims[0] == "chat");
  CHECK(chat.sums.cost_nanos == 12 * kUsd);
  CHECK(chat.sums.requests == 3);
  CHECK(chat.prev_day_cost_nanos == 10 * kUsd);
  CHECK(chat.prev_7d_cost_nanos == 45 * kUsd);  // 10 + 0 + 5 × 7
  CHECK(r->total.sums.cost_nanos == 15 * kUsd);
  CHECK(r->total.sums.cost_nanos == r->rows[0].sums.cost_nanos + r->rows[1].sums.cost_nanos);

  const std::string json = report_json(r.value());
  // chat: +20% vs 10; vs the 7-day average 45/7: (12 - 6.428571) / 6.428571 = +86.67%
  CHECK(
      json.find(
          R"("feature":"chat","requests":3,"input_tokens":3000,"cached_input_tokens":0,"output_tokens":300,"gpu_seconds":0,"cost":12,"unpriced_requests":0,"cost_per_request":4,"cost_per_1k_tokens":3.636363636,"value_units":0,"cost_per_value_unit":null,"revenue":0,"margin":-12,"change_vs_prev_day_pct":20.00,"change_vs_7d_avg_pct":86.67})") !=
      std::string::npos);
  // search had no cost before: both changes are null, never a division by zero.
  CHECK(
      json.find(
          R"("feature":"search","requests":1,"input_tokens":1000,"cached_input_tokens":0,"output_tokens":100,"gpu_seconds":0,"cost":3,"unpriced_requests":0,"cost_per_request":3,"cost_per_1k_tokens":2.727272727,"value_units":0,"cost_per_value_unit":null,"revenue":0,"margin":-3,"change_vs_prev_day_pct":null,"change_vs_7d_avg_pct":null})") !=
      std::string::npos);
  CHECK(json.find(R"("total":{"requests":4,)") != std::string::npos);
  CHECK(json.find(R"("date":"2026-11-20","currency":"USD")") != std::string::npos);
}

TEST_CASE("report: grouping by several dimensions and by a tag; unknown dimensions refused") {
  auto a = ev("a", "2026-11-20T10:00:00Z", "chat", 1 * kUsd);
  a.tags = {{"cost_center", "cc-42"}};
  auto b = ev("b", "2026-11-20T11:00:00Z", "chat", 2 * kUsd);
  b.tags = {{"cost_center", "cc-43"}};
  auto c = ev("c", "2026-11-20T12:00:00Z", "chat", 4 * kUsd);
  c.priced_by = PricedBy::kUnpriced;
  c.cost = Money();
  Ledgered l({a, b, c}, "UTC");
  auto r = daily_report(l.db, *parse_date("2026-11-20"), {"feature", "tag:cost_center"}, "USD");
  REQUIRE(r.ok());
  REQUIRE(r->rows.size() == 3);
  CHECK(*r->rows[0].dims[1] == "cc-43");
  CHECK(*r->rows[1].dims[1] == "cc-42");
  CHECK_FALSE(r->rows[2].dims[1].has_value());  // no such tag: null, not ""
  CHECK(r->rows[2].sums.unpriced_requests == 1);
  CHECK(r->total.sums.unpriced_requests == 1);
  CHECK(report_csv(r.value()).find("\r\nchat,,1,1000,0,100,0,0,1,0,0,0,,0,0,,\r\n") !=
        std::string::npos);
  CHECK(validate_group_by({"colour"}).code_name() == "invalid_group_by");
  CHECK(validate_group_by({"tag:x\"y"}).code_name() == "invalid_group_by");
  CHECK(validate_group_by({"team", "team"}).code_name() == "invalid_group_by");
}

TEST_CASE("CSV quoting of awkward values") {
  std::string out;
  append_csv_field(out, "a,\"b\"");
  CHECK(out == "\"a,\"\"b\"\"\"");
  out.clear();
  append_csv_field(out, "line\nbreak");
  CHECK(out == "\"line\nbreak\"");
  out.clear();
  append_csv_field(out, "plain");
  CHECK(out == "plain");
}

TEST_CASE(
    "FOCUS rows of caller-priced cost: one per day × provider × model × region × feature × team; "
    "BilledCost per day equals the report") {
  auto x = ev("x", "2026-11-20T10:00:00Z", "chat", 2 * kUsd);
  x.priced_by = PricedBy::kCaller;
  x.customer = "acme";
  auto y = ev("y", "2026-11-20T11:00:00Z", "chat", 3 * kUsd);
  y.customer = "globex";  // same row, another customer: Tags cannot name one
  y.priced_by = PricedBy::kCaller;
  auto z = ev("z", "2026-11-21T11:00:00Z", "chat", 5 * kUsd);
  z.customer = "acme";
  z.priced_by = PricedBy::kCaller;
  Ledgered l({x, y, z}, "Asia/Kolkata");
  auto rows = focus_rows(l.db, *parse_date("2026-11-20"), *parse_date("2026-11-21"));
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK(rows->at(0).cost_nanos == 5 * kUsd);
  CHECK(rows->at(0).component == "caller-priced");
  CHECK_FALSE(rows->at(0).customer.has_value());
  CHECK(*rows->at(1).customer == "acme");
  auto report = daily_report(l.db, *parse_date("2026-11-20"), {}, "USD");
  CHECK(report->total.sums.cost_nanos == rows->at(0).cost_nanos);
  auto tz = TimeZone::load("Asia/Kolkata").value();
  std::string csv = focus_csv(rows.value(), "USD", *tz);
  // The Kolkata day 2026-11-20 is 2026-11-19T18:30Z to 2026-11-20T18:30Z; its month likewise.
  // CONTRACT §4.7 (updated): decimal columns are written as decimals (5.0), PricingQuantity in
  // 1M tokens.
  CHECK(csv.find(
            "5.0,tollgate,Tollgate ledger,USD,2026-11-30T18:30:00Z,2026-10-31T18:30:00Z,Usage,,") ==
        0 + csv.find("\r\n") + 2);
  CHECK(
      csv.find(
          ",2026-11-20T18:30:00Z,2026-11-19T18:30:00Z,5.0,5.0,alibaba,5.0,5.0,Units,alibaba,"
          "alibaba,AI and Machine Learning,LLM Inference,,qwen3-max,") != std::string::npos);
  CHECK(csv.find(R"("customer"":""acme"")") != std::string::npos);
}

TEST_CASE("report over several ledgers: groups merged before quiet ones are dropped, sums checked") {
  // "chat" is quiet today in the first ledger but was used the day before; busy today in the
  // second. The merged row brings the first ledger's day before.
  Ledgered a({ev("a1", "2026-11-19T10:00:00Z", "chat", 10 * kUsd),
              ev("a2", "2026-11-20T10:00:00Z", "search", 4 * kUsd)},
             "UTC");
  Ledgered b({ev("b1", "2026-11-20T10:00:00Z", "chat", 20 * kUsd),
              ev("a2", "2026-11-20T11:00:00Z", "search", 4 * kUsd)},  // acknowledged by both
             "UTC");
  auto r = daily_report({a.db, b.db}, *parse_date("2026-11-20"), {"feature"}, "USD");
  REQUIRE(r.ok());
  REQUIRE(r->rows.size() == 2);
  CHECK(*r->rows[0].dims[0] == "chat");
  CHECK(r->rows[0].sums.cost_nanos == 20 * kUsd);
  CHECK(r->rows[0].prev_day_cost_nanos == 10 * kUsd);
  CHECK(r->rows[1].sums.cost_nanos == 8 * kUsd);
  CHECK(r->total.sums.cost_nanos == 28 * kUsd);
  CHECK(r->total.prev_day_cost_nanos == 10 * kUsd);

  auto shared = shared_events({a.db, b.db}, *parse_date("2026-11-13"), *parse_date("2026-11-20"));
  REQUIRE(shared.ok());
  CHECK(shared->events == 1);
  CHECK(shared->cost_nanos == 4 * kUsd);
  CHECK(shared_events({a.db, b.db}, *parse_date("2026-11-21"), *parse_date("2026-11-22"))->events ==
        0);

  auto charges = focus_rows({a.db, b.db}, *parse_date("2026-11-19"), *parse_date("2026-11-20"));
  REQUIRE(charges.ok());
  __int128 total = 0;
  for (const auto& row : charges.value()) total += row.cost_nanos;
  CHECK(total == 38 * kUsd);
  CHECK(charges->size() == 3);  // chat on the 19th, chat and search on the 20th

  // Two ledgers whose sums pass int64 together (each alone fits): an error, never a wrap.
  const int64_t big = std::numeric_limits<int64_t>::max() / 2 + 1;
  Ledgered c({ev("c1", "2026-11-20T10:00:00Z", "chat", big)}, "UTC");
  Ledgered d({ev("d1", "2026-11-20T10:00:00Z", "chat", big)}, "UTC");
  auto wrapped = daily_report({c.db, d.db}, *parse_date("2026-11-20"), {"feature"}, "USD");
  REQUIRE_FALSE(wrapped.ok());
  CHECK(wrapped.status().message().find("pass 2^63") != std::string::npos);
}

TEST_CASE("FOCUS rows over several ledgers: the same charge is one row; a customer kept only if shared") {
  auto x = ev("x", "2026-11-20T10:00:00Z", "chat", 2 * kUsd);
  x.priced_by = PricedBy::kCaller;
  x.customer = "acme";
  auto y = ev("y", "2026-11-20T11:00:00Z", "chat", 3 * kUsd);
  y.priced_by = PricedBy::kCaller;
  y.customer = "acme";
  auto z = ev("z", "2026-11-20T12:00:00Z", "chat", 5 * kUsd);
  z.priced_by = PricedBy::kCaller;
  z.customer = "globex";
  Ledgered a({x}, "UTC"), b({y}, "UTC"), c({z}, "UTC");
  auto same = focus_rows({a.db, b.db}, *parse_date("2026-11-20"), *parse_date("2026-11-20"));
  REQUIRE(same.ok());
  REQUIRE(same->size() == 1);
  CHECK(same->at(0).cost_nanos == 5 * kUsd);
  CHECK(*same->at(0).customer == "acme");
  auto mixed = focus_rows({a.db, b.db, c.db}, *parse_date("2026-11-20"), *parse_date("2026-11-20"));
  REQUIRE(mixed.ok());
  REQUIRE(mixed->size() == 1);
  CHECK(mixed->at(0).cost_nanos == 10 * kUsd);
  CHECK_FALSE(mixed->at(0).customer.has_value());
}

TEST_CASE("a report by one dimension (per-dimension rollups) equals the full rollups, flushed or not") {
  testing::TempDir dir;
  LedgerOptions o;
  o.path = dir.file("l.db");
  o.rollup_flush_interval_ms = 60'000;
  auto l = Ledger::open(o);
  REQUIRE(l.ok());
  std::vector<UsageEvent> events;
  for (int i = 0; i < 40; ++i) {
    UsageEvent e = ev("e" + std::to_string(i), "2026-11-20T10:00:00Z", i % 3 ? "chat" : "search",
                      (i + 1) * 1000, 1 + i % 2);
    e.customer = "c" + std::to_string(i % 7);
    e.team = i % 2 ? "cx" : "infra";
    e.tags = {{"cc", "cc-" + std::to_string(i % 2)}, {"env", i % 3 ? "prod" : "dev"}};
    if (i % 5 == 0) {
      e.priced_by = PricedBy::kUnpriced;
      e.cost = Money();
    }
    events.push_back(e);
  }
  // Days before the report day, in the stored rows and past the watermark: the report's
  // previous-day and 7-day columns. One without a "cc" tag: a null group beside the others.
  for (const char* ts : {"2026-11-19T10:00:00Z", "2026-11-15T10:00:00Z", "2026-11-19T11:00:00Z"}) {
    UsageEvent e = ev(std::string("p") + ts, ts, "chat", 7000, 1);
    e.customer = "c1";
    e.team = "cx";
    e.tags = {{"cc", "cc-1"}, {"env", "prod"}};
    if (ts[9] == '9' && ts[12] == '0')
      events.insert(events.begin(), e);  // stored by the first batch's flush
    else
      events.push_back(e);  // past the watermark
  }
  UsageEvent untagged = ev("untagged", "2026-11-20T10:30:00Z", "chat", 11000, 1);
  untagged.customer = "c1";
  events.push_back(untagged);
  auto submit = [&](std::vector<UsageEvent> batch) {
    std::promise<Status> done;
    l.value()->submit(std::move(batch), [&](Status s, std::vector<Stored>, std::vector<UsageEvent>) {
      done.set_value(s);
    });
    REQUIRE(done.get_future().get().ok());
  };
  submit({events.begin(), events.begin() + 25});
  l = Status();  // stopped and flushed: 25 events in the stored rows
  l = Ledger::open(o);
  REQUIRE(l.ok());
  submit({events.begin() + 25, events.end()});  // 15 more past the watermark, read from the views
  sqlite3* db = open_read_only(o.path).value();
  for (const char* dim : {"feature", "team", "customer", "priority"}) {
    CAPTURE(dim);
    auto one = daily_report(db, *parse_date("2026-11-20"), {dim}, "USD");
    auto two = daily_report(db, *parse_date("2026-11-20"), {dim, "tag:none"}, "USD");
    REQUIRE(one.ok());
    REQUIRE(two.ok());
    REQUIRE(one->rows.size() == two->rows.size());
    for (size_t i = 0; i < one->rows.size(); ++i) {
      CHECK(one->rows[i].dims[0] == two->rows[i].dims[0]);
      CHECK(one->rows[i].sums.cost_nanos == two->rows[i].sums.cost_nanos);
      CHECK(one->rows[i].sums.requests == two->rows[i].sums.requests);
      CHECK(one->rows[i].sums.unpriced_requests == two->rows[i].sums.unpriced_requests);
      CHECK(one->rows[i].sums.input_tokens == two->rows[i].sums.input_tokens);
    }
    CHECK(one->total.sums.cost_nanos == two->total.sums.cost_nanos);
  }
  auto total = daily_report(db, *parse_date("2026-11-20"), {}, "USD");
  REQUIRE(total.ok());
  CHECK(total->total.sums.requests == 61);
  CHECK(total->total.sums.unpriced_requests == 12);  // events 0, 5, ..., 35: 1 or 2 requests each
  // Several dimensions and tags are grouped by ids and named after: the same groups and sums as
  // grouping the rollup_daily view's strings, stored rows and raw events alike. Four tag sets
  // share two values of "cc": their groups are added up.
  // A group: its dimensions (null apart from "") → cost, unpriced requests, the previous day's
  // cost, the cost of the 7 days before.
  using Groups = std::map<std::vector<std::string>, std::array<int64_t, 4>>;
  const std::string kNull = "(null)";
  auto by_sql = [&](const std::string& sql) {
    Groups out;
    Statement st(db, sql);
    REQUIRE(st.ok());
    const int n = sqlite3_column_count(st.get()) - 4;
    while (st.step() == SQLITE_ROW) {
      std::vector<std::string> key;
      for (int c = 0; c < n; ++c)
        key.push_back(sqlite3_column_type(st.get(), c) == SQLITE_NULL ? kNull : st.column_text(c));
      out[key] = {st.column_int(n), st.column_int(n + 1), st.column_int(n + 2),
                  st.column_int(n + 3)};
    }
    return out;
  };
  auto by_report = [&](const std::vector<std::string>& group_by) {
    Groups out;
    auto r = daily_report(db, *parse_date("2026-11-20"), group_by, "USD");
    REQUIRE(r.ok());
    for (const auto& row : r->rows) {
      std::vector<std::string> key;
      for (const auto& d : row.dims) key.push_back(d.value_or(kNull));
      CHECK(out.count(key) == 0);  // one row per group
      out[key] = {row.sums.cost_nanos, row.sums.unpriced_requests, row.prev_day_cost_nanos,
                  static_cast<int64_t>(row.prev_7d_cost_nanos)};
    }
    return out;
  };
  const char* kDay =
      " FROM rollup_daily WHERE day_local BETWEEN '2026-11-13' AND '2026-11-20' GROUP BY ";
  const char* kSums =
      ", SUM(IIF(day_local = '2026-11-20', cost_nanos, 0)), "
      "SUM(IIF(day_local = '2026-11-20' AND priced_by = 'unpriced', requests, 0)), "
      "SUM(IIF(day_local = '2026-11-19', cost_nanos, 0)), "
      "SUM(IIF(day_local < '2026-11-20', cost_nanos, 0))";
  const char* kToday = " HAVING SUM(IIF(day_local = '2026-11-20', requests, 0)) > 0";
  const auto by_customer_team = by_report({"customer", "team"});
  CHECK(by_customer_team ==
        by_sql(std::string("SELECT customer, team") + kSums + kDay + "1, 2" + kToday));
  CHECK(by_customer_team.at({"c1", "cx"})[2] == 14000);  // the day before
  CHECK(by_customer_team.at({"c1", "cx"})[3] == 21000);  // the 7 days before
  auto cc = by_report({"tag:cc"});
  CHECK(cc.size() == 3);  // cc-0, cc-1, and the event without the tag
  CHECK(cc.count({kNull}) == 1);
  CHECK(cc == by_sql(std::string("SELECT json_extract(tags, '$.cc')") + kSums + kDay + "1" +
                     kToday));
  CHECK(by_report({"team", "tag:env", "tag:cc"}) ==
        by_sql(std::string("SELECT team, json_extract(tags, '$.env'), json_extract(tags, '$.cc')") +
               kSums + kDay + "1, 2, 3" + kToday));
  sqlite3_close(db);
}

TEST_CASE("limits.max_report_rows: a report or an export with more rows is refused as it is read") {
  // Three features today and a fourth only the day before: a report by feature holds four
  // groups (the day before is compared with), shows three.
  std::vector<UsageEvent> events = {ev("a", "2026-11-20T10:00:00Z", "chat", 1 * kUsd),
                                    ev("b", "2026-11-20T10:00:00Z", "search", 2 * kUsd),
                                    ev("c", "2026-11-20T10:00:00Z", "summarise", 3 * kUsd),
                                    ev("d", "2026-11-19T10:00:00Z", "translate", 4 * kUsd)};
  for (auto& e : events) e.priced_by = PricedBy::kCaller;  // one FOCUS charge per event
  Ledgered l(events, "UTC");
  const int64_t day = *parse_date("2026-11-20");
  for (const std::vector<std::string>& by :
       {std::vector<std::string>{"feature"}, std::vector<std::string>{"feature", "team"}}) {
    CAPTURE(by.size());
    auto fits = daily_report(l.db, day, by, "USD", 4);
    REQUIRE(fits.ok());
    CHECK(fits->rows.size() == 3);
    auto over = daily_report(l.db, day, by, "USD", 3);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code_name() == "too_many_rows");
    CHECK(over.status().message().find("more than 3 rows") != std::string::npos);
    CHECK(over.status().message().find("limits.max_report_rows") != std::string::npos);
    CHECK(daily_report(l.db, day, by, "USD", 0).ok());  // 0: no bound
  }
  CHECK(http_status(Code::kTooManyRows) == 422);
  // Two ledgers: each alone fits, their groups together do not.
  Ledgered other({ev("e", "2026-11-20T10:00:00Z", "rerank", 1 * kUsd)}, "UTC");
  CHECK(daily_report(std::vector<sqlite3*>{l.db, other.db}, day, {"feature"}, "USD", 5).ok());
  CHECK(daily_report(std::vector<sqlite3*>{l.db, other.db}, day, {"feature"}, "USD", 4)
            .status()
            .code_name() == "too_many_rows");

  auto charges = focus_rows(l.db, day - 1, day, 4);
  REQUIRE(charges.ok());
  CHECK(charges->size() == 4);
  auto too_many = focus_rows(l.db, day - 1, day, 3);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.status().code_name() == "too_many_rows");
  CHECK(too_many.status().message().find("export fewer days") != std::string::npos);
  CHECK(focus_rows(l.db, day, day, 3).ok());  // one day: three charges
  CHECK(focus_rows(std::vector<sqlite3*>{l.db, other.db}, day, day, 3).status().code_name() ==
        "too_many_rows");

  // By a tag, the groups are its values, not the tag sets that hold them: five sets, two values.
  // With a bound of 2 the cache of set values is emptied as it is read, and the sums still hold.
  std::vector<UsageEvent> tagged;
  for (int i = 0; i < 5; ++i) {
    tagged.push_back(ev("t" + std::to_string(i), "2026-11-20T10:00:00Z", "chat", kUsd));
    tagged.back().tags = {{"env", i % 2 ? "prod" : "dev"}, {"request", "r" + std::to_string(i)}};
  }
  Ledgered t(tagged, "UTC");
  for (const std::vector<std::string>& by :
       {std::vector<std::string>{"tag:env"}, std::vector<std::string>{"feature", "tag:env"}}) {
    CAPTURE(by.size());
    auto two = daily_report(t.db, day, by, "USD", 2);
    REQUIRE(two.ok());
    REQUIRE(two->rows.size() == 2);
    CHECK(*two->rows[0].dims.back() == "dev");  // 3 USD against 2
    CHECK(two->rows[0].sums.cost_nanos == 3 * kUsd);
    CHECK(daily_report(t.db, day, by, "USD", 1).status().code_name() == "too_many_rows");
  }
  auto by_request = daily_report(t.db, day, {"tag:request"}, "USD", 4);
  CHECK(by_request.status().code_name() == "too_many_rows");
}
