// Evaluator table tests with an injected clock.
#include "policies/engine.h"

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <thread>

#include "daemon/config/policies_file.h"
#include "tests/unit/support/temp_dir.h"

using namespace tollgate;

namespace {

EpochMs at(const char* ts) { return *parse_rfc3339(ts); }

std::shared_ptr<const PolicySet> policies(const std::string& yaml, bool coordinated = false) {
  testing::TempDir dir;
  LoadErrors errors;
  auto set = load_policies(dir.write("policies.yaml", yaml), errors, coordinated);
  INFO((errors.lines.empty() ? std::string() : errors.lines[0]));
  REQUIRE(errors.ok());
  return set;
}

const SpendScan kNoHistory = [](EpochMs, const std::function<void(const SpendRow&)>&) {
  return Status();
};

struct Fixture {
  EpochMs now = at("2026-11-21T10:00:00Z");
  std::vector<AuditEntry> audit;
  std::vector<AlertEvent> alerts;
  std::vector<std::string> reserved, released;
  std::shared_ptr<const TimeZone> tz;
  std::unique_ptr<PolicyEngine> engine;
  std::vector<UsageEvent> kept;

  explicit Fixture(const std::string& yaml, const std::string& zone = "UTC",
                   bool coordinated = false) {
    tz = TimeZone::load(zone).value();
    engine = std::make_unique<PolicyEngine>(
        tz, "USD", [this] { return now; },
        PolicyEngine::Hooks{[this](const AuditEntry& e) { audit.push_back(e); },
                            [this](const AlertEvent& a) { alerts.push_back(a); },
                            [this](const StoredReservation& r) { reserved.push_back(r.id); },
                            [this](const std::string& id) { released.push_back(id); }});
    REQUIRE(engine->install(policies(yaml, coordinated), kNoHistory, kNoHistory).ok());
  }
  void spend(double usd, const std::string& feature = "chat", Priority p = Priority::kStandard,
             const std::string& reservation = "") {
    UsageEvent e;
    e.event_id = "e" + std::to_string(kept.size());
    e.feature = feature;
    e.priority = p;
    e.ts_ms = now;
    e.cost = Money::from_nanos(static_cast<int64_t>(usd * 1e9 + 0.5));
    e.reservation_id = reservation;
    engine->record({&e});
  }
  Decision decide(Priority p, const std::string& feature = "chat") {
    Dimensions d;
    d.feature = feature;
    d.priority = p;
    return engine->admit(d, std::nullopt).decision;
  }
  AdmitDecision admit(Priority p, std::optional<double> estimate = std::nullopt) {
    Dimensions d;
    d.feature = "chat";
    d.priority = p;
    return engine->admit(d, estimate
                                ? std::optional<Money>(Money::from_nanos(int64_t(*estimate * 1e9)))
                                : std::nullopt);
  }
};

const char* kLadder = R"(budgets:
  - name: chat-daily
    match: {feature: chat}
    period: day
    limit: 10
    rules:
      - {at_percent: 80, action: alert}
      - {at_percent: 90, action: reroute, model: cheap, priorities: [standard, batch]}
      - {at_percent: 100, action: limit_rps, rps: 2, priorities: [standard]}
      - {at_percent: 100, action: block, priorities: [batch]}
)";

// Limit 10, block batch at 100%: the reservation tests' budget.
const char* kBlockAtTen = R"(budgets:
  - name: r
    match: {feature: chat}
    limit: 10
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
)";

}  // namespace

TEST_CASE("each action at its threshold, only for the priorities it lists, strictest wins") {
  Fixture f(kLadder);
  f.spend(7.99);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  CHECK(f.alerts.empty());
  f.spend(0.01);  // 80%: alert only
  CHECK(f.alerts.size() == 1);
  CHECK(f.alerts[0].text == "budget chat-daily at 80% (8 of 10 USD, day 2026-11-21)");
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  f.spend(1.0);  // 90%: reroute standard and batch
  CHECK(f.decide(Priority::kStandard) == Decision::kReroute);
  CHECK(f.decide(Priority::kBatch) == Decision::kReroute);
  CHECK(f.decide(Priority::kCritical) == Decision::kAllow);
  CHECK(f.admit(Priority::kStandard).model == "cheap");
  f.spend(1.0);  // 100%: batch blocked (block beats reroute), standard limited to 2/s
  auto blocked = f.admit(Priority::kBatch);
  CHECK(blocked.decision == Decision::kThrottle);
  CHECK(blocked.action == "block");
  CHECK(blocked.retry_after_s == 14 * 3600);  // to the end of the UTC day
  CHECK(blocked.reason.find("budget chat-daily is at 100% of its 10 USD daily limit") == 0);
  CHECK(blocked.reason.find("batch requests are blocked until 2026-11-22T00:00:00.000Z") !=
        std::string::npos);
  // Within the rate, a limited request falls through to the milder reroute.
  CHECK(f.decide(Priority::kStandard) == Decision::kReroute);
  CHECK(f.decide(Priority::kStandard) == Decision::kReroute);
  auto limited = f.admit(Priority::kStandard);
  CHECK(limited.decision == Decision::kThrottle);
  CHECK(limited.action == "limit_rps");
  CHECK(limited.retry_after_s == 1);
  f.now += 1000;  // a second later two more tokens
  CHECK(f.decide(Priority::kStandard) == Decision::kReroute);
  CHECK(f.decide(Priority::kCritical) == Decision::kAllow);
  CHECK(f.decide(Priority::kBatch, "other-feature") == Decision::kAllow);  // not this budget
  // Throttle starts are audited with their reasons.
  int starts = 0;
  for (const auto& e : f.audit) starts += e.kind == "throttle_start";
  CHECK(starts == 3);
}

TEST_CASE("period rollover lifts throttles and starts from zero") {
  Fixture f(kLadder);
  f.now = at("2026-11-21T23:59:00Z");
  f.spend(10);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  f.now = at("2026-11-22T00:00:01Z");
  f.engine->tick();
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  CHECK(f.engine->status()[0].spend.nanos() == 0);
  CHECK(f.audit.back().kind == "throttle_stop");
  // The 80% alert fires again in the new period, once.
  f.spend(8);
  f.spend(0.5);
  CHECK(f.alerts.size() == 2);
}

TEST_CASE("Asia/Kolkata days: the period turns at 18:30 UTC") {
  Fixture f(kLadder, "Asia/Kolkata");
  f.now = at("2026-11-21T18:29:00Z");
  f.spend(10);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  CHECK(f.admit(Priority::kBatch).retry_after_s == 60);
  f.now = at("2026-11-21T18:30:00Z");
  f.engine->tick();
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  auto st = f.engine->status()[0];
  CHECK(st.period_start == at("2026-11-21T18:30:00Z"));
  CHECK(st.period_end == at("2026-11-22T18:30:00Z"));
}

TEST_CASE("period bounds: weeks from Monday, months, and a DST change in America/New_York") {
  auto ny = TimeZone::load("America/New_York").value();
  auto [ds, de] = period_bounds(Period::kDay, *ny, at("2026-03-08T12:00:00Z"));
  CHECK(ds == at("2026-03-08T05:00:00Z"));
  CHECK(de - ds == 23 * 3'600'000);  // the spring-forward day has 23 hours
  auto [fs, fe] = period_bounds(Period::kDay, *ny, at("2026-11-01T12:00:00Z"));
  CHECK(fe - fs == 25 * 3'600'000);
  auto utc = TimeZone::utc();
  auto [ws, we] = period_bounds(Period::kWeek, *utc, at("2026-11-22T10:00:00Z"));  // a Sunday
  CHECK(ws == at("2026-11-16T00:00:00Z"));
  CHECK(we == at("2026-11-23T00:00:00Z"));
  auto [ms, me] = period_bounds(Period::kMonth, *ny, at("2026-03-15T00:00:00Z"));
  CHECK(ms == at("2026-03-01T05:00:00Z"));
  CHECK(me == at("2026-04-01T04:00:00Z"));
}

TEST_CASE("burn rate holds only while both windows exceed the factor") {
  Fixture f(R"(budgets:
  - name: burn
    match: {feature: chat}
    limit: 24
    rules:
      - burn_rate: {long: 1h, short: 5m, factor: 2}
        action: block
        priorities: [batch]
)");
  // Sustainable: 1 USD per hour. 3 USD within 5 minutes: long 3x, short 36x.
  f.now = at("2026-11-21T10:00:00Z");
  f.spend(1.5);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);  // long window 1.5x only
  f.now += 60'000;
  f.spend(1.5);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  auto burn = f.engine->status()[0].burn_rates;
  // The standard windows come first (5m, 30m, 1h, 6h); the rule's are among them.
  REQUIRE(burn.size() == 4);
  CHECK(burn[0].first == "5m");
  CHECK(burn[0].second == doctest::Approx(36.0));
  CHECK(burn[2].first == "1h");
  CHECK(burn[2].second == doctest::Approx(3.0));
  CHECK(burn[3].second == doctest::Approx(0.5));  // 3 USD over 6 h against 1 USD/h
  // Ten quiet minutes later the short window is cold again: the throttle lifts.
  f.now += 10 * 60'000;
  f.engine->tick();
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
}

TEST_CASE("dry run computes and flags, never enforces") {
  Fixture f(std::string(kLadder) + "dry_run: true\n");
  f.spend(10);
  auto d = f.admit(Priority::kBatch);
  CHECK(d.decision == Decision::kThrottle);
  CHECK(d.dry_run);
  CHECK(f.engine->table()->dry_run);
  CHECK(f.engine->status()[0].state == "alert");
}

TEST_CASE(
    "reservations: with limit 10, block at 100% and estimates of 1, exactly 10 of 50 are "
    "admitted") {
  Fixture f(std::string(kBlockAtTen) + "reservation_ttl_s: 60\n");
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  std::vector<std::string> ids(50);
  for (int t = 0; t < 50; ++t)
    threads.emplace_back([&, t] {
      auto d = f.admit(Priority::kBatch, 1.0);
      if (d.decision == Decision::kAllow) {
        admitted.fetch_add(1);
        ids[t] = d.reservation_id;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(admitted.load() == 10);
  auto st = f.engine->status()[0];
  CHECK(st.reserved.nanos() == 10'000'000'000);
  CHECK(st.state == "throttling");
  // Settling one reservation with an actual cost of 0.25 frees 0.75.
  std::string id;
  for (auto& i : ids)
    if (!i.empty()) id = i;
  f.spend(0.25, "chat", Priority::kBatch, id);
  st = f.engine->status()[0];
  CHECK(st.reserved.nanos() == 9'000'000'000);
  CHECK(st.spend.nanos() == 250'000'000);
  CHECK(f.admit(Priority::kBatch, 0.75).decision == Decision::kAllow);
  CHECK(f.admit(Priority::kBatch, 0.000000001).decision == Decision::kThrottle);
  // Unsettled reservations expire after reservation_ttl_s.
  f.now += 61'000;
  f.engine->tick();
  CHECK(f.engine->status()[0].reserved.nanos() == 0);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  // Every reservation opened was closed again, for the ledger's copy.
  CHECK(f.reserved.size() == 11);
  CHECK(f.released.size() == 11);
  CHECK(std::find(f.released.begin(), f.released.end(), id) != f.released.end());
}

TEST_CASE("reservations restored after a restart count against their budgets by name") {
  Fixture f(kBlockAtTen);
  f.engine->restore_reservations({{"res_a", {"r"}, 10'000'000'000, f.now + 60'000},
                                  {"res_gone", {"no-such-budget"}, 5, f.now + 60'000},
                                  {"res_old", {"r"}, 5, f.now - 1}});
  CHECK(f.engine->status()[0].reserved.nanos() == 10'000'000'000);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
}

TEST_CASE("an override lifts every throttle of its budget until it expires, audited") {
  Fixture f(kLadder);
  f.spend(10);
  REQUIRE(f.decide(Priority::kBatch) == Decision::kThrottle);
  auto o = f.engine->add_override("chat-daily", 600, "launch day", "sre");
  REQUIRE(o.ok());
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  CHECK(f.engine->status()[0].state == "overridden");
  CHECK(f.engine->table()->throttles.empty());
  CHECK_FALSE(f.engine->add_override("nope", 600, "x", "sre").ok());
  f.now += 601'000;
  f.engine->tick();
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  std::vector<std::string> kinds;
  for (const auto& e : f.audit) kinds.push_back(e.kind);
  CHECK(std::count(kinds.begin(), kinds.end(), "override_created") == 1);
  CHECK(std::count(kinds.begin(), kinds.end(), "override_expired") == 1);
  CHECK(std::count(kinds.begin(), kinds.end(), "throttle_stop") >= 1);
}

TEST_CASE("alerts fire once per budget, threshold and period, also across a restart") {
  Fixture f(kLadder);
  f.spend(9);
  f.spend(0.1);
  f.engine->tick();
  REQUIRE(f.alerts.size() == 1);
  Fixture g(kLadder);
  g.engine->restore({}, {f.alerts[0].key});
  g.spend(9);
  CHECK(g.alerts.empty());
}

TEST_CASE("install rebuilds spend from history and keeps it for budgets that stay the same") {
  Fixture f(kLadder);
  f.spend(3);
  auto history = [&](EpochMs since, const std::function<void(const SpendRow&)>& row) {
    SpendRow r;
    r.dims.feature = "chat";
    r.ts = at("2026-11-21T09:00:00Z");
    r.cost = 7'000'000'000;
    if (r.ts >= since) row(r);
    r.ts = at("2026-11-20T09:00:00Z");  // yesterday: not this period
    if (r.ts >= since) row(r);
    return Status();
  };
  // Same budget, higher limit: spend carried (3), history not re-read.
  CHECK(f.engine
            ->install(policies(std::string(kLadder).replace(std::string(kLadder).find("limit: 10"),
                                                            9, "limit: 20")),
                      history, kNoHistory)
            .ok());
  CHECK(f.engine->status()[0].spend.nanos() == 3'000'000'000);
  CHECK(f.engine->status()[0].limit.nanos() == 20'000'000'000);
  // A new budget is rebuilt from history: today's 7 only.
  CHECK(f.engine
            ->install(policies(R"(budgets:
  - {name: fresh, match: {feature: chat}, limit: 5, rules: [{at_percent: 100, action: block, priorities: [batch]}]}
)"),
                      history, kNoHistory)
            .ok());
  CHECK(f.engine->status()[0].spend.nanos() == 7'000'000'000);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
}

TEST_CASE("matching: lists, trailing globs, priority and tags") {
  Fixture f(R"(budgets:
  - name: m
    match: {feature: ["chat", "batch-*"], priority: batch, "tag:cc": cc-42}
    limit: 1
    rules: [{at_percent: 1, action: block, priorities: [batch]}]
)");
  Dimensions d;
  d.feature = "batch-embed";
  d.priority = Priority::kBatch;
  d.tags = {{"cc", "cc-42"}};
  CHECK(f.engine->policies()->budgets[0].matches(d));
  d.tags = {{"cc", "cc-43"}};
  CHECK_FALSE(f.engine->policies()->budgets[0].matches(d));
  d.tags = {};
  CHECK_FALSE(f.engine->policies()->budgets[0].matches(d));
  d.tags = {{"cc", "cc-42"}};
  d.feature = "batchy";
  CHECK_FALSE(f.engine->policies()->budgets[0].matches(d));
  d.feature = "chat";
  d.priority = Priority::kStandard;
  CHECK_FALSE(f.engine->policies()->budgets[0].matches(d));
}

TEST_CASE("policy file errors carry FILE:LINE:COL") {
  testing::TempDir dir;
  LoadErrors errors;
  load_policies(dir.write("p.yaml", R"(budgets:
  - name: Bad Name
    limit: 0
    match: {colour: red, feature: "a*b"}
    rules:
      - {at_percent: 100, action: block}
      - {at_percent: 100, action: limit_rps, priorities: [batch]}
      - {action: alert}
      - {at_percent: 50, action: explode}
      - {burn_rate: {long: 5m, short: 1h, factor: 2}, action: block, priorities: [batch]}
  - name: dup
    limit: 1
  - name: dup
    limit: 1
dry_run: maybe
)"),
                errors);
  std::vector<std::string> lines;
  for (auto& l : errors.lines) lines.push_back(l.substr(l.find("p.yaml:")));
  REQUIRE(lines.size() == 11);
  CHECK(lines[0].rfind("p.yaml:15:10: dry_run must be true or false", 0) == 0);
  CHECK(lines[1].rfind("p.yaml:2:11: budget name must match", 0) == 0);
  CHECK(lines[2].rfind("p.yaml:4:13: unknown match field \"colour\"", 0) == 0);
  CHECK(lines[3].rfind("p.yaml:4:35: \"*\" is allowed only at the end", 0) == 0);
  CHECK(lines[4].rfind("p.yaml:3:12: limit must be positive", 0) == 0);
  CHECK(lines[5].rfind("p.yaml:6:9: a block rule must list the priorities it affects", 0) == 0);
  CHECK(lines[6].rfind("p.yaml:7:9: limit_rps needs rps", 0) == 0);
  CHECK(lines[7].rfind("p.yaml:8:9: a rule needs exactly one of at_percent or burn_rate", 0) == 0);
  CHECK(lines[8].rfind("p.yaml:9:34: action must be alert, block, limit_rps or reroute", 0) == 0);
  CHECK(lines[9].rfind("p.yaml:10:39: burn_rate short window must be shorter", 0) == 0);
  CHECK(lines[10].rfind("p.yaml:13:11: duplicate budget name \"dup\"", 0) == 0);
}

TEST_CASE("two limit_rps rules of one budget each keep their own rate") {
  Fixture f(R"(budgets:
  - name: chat-daily
    match: {feature: chat}
    limit: 1
    rules:
      - {at_percent: 100, action: limit_rps, rps: 100, priorities: [standard]}
      - {at_percent: 100, action: limit_rps, rps: 1, priorities: [batch]}
)");
  f.spend(1);
  const EpochMs start = f.now;
  int standard = 0, batch = 0;
  // 20 simulated seconds, both priorities asking every millisecond.
  for (f.now = start; f.now < start + 20'000; ++f.now) {
    standard += f.decide(Priority::kStandard) == Decision::kAllow;
    batch += f.decide(Priority::kBatch) == Decision::kAllow;
  }
  // Each bucket starts full (one second's worth), then refills at its own rate.
  CHECK(standard == doctest::Approx(100 * 21).epsilon(0.10));
  CHECK(batch == doctest::Approx(1 * 21).epsilon(0.10));
}

TEST_CASE("a reload keeps a rule's bucket only while the rule is the same rule") {
  const std::string yaml = R"(budgets:
  - name: chat-daily
    match: {feature: chat}
    limit: 1
    rules:
      - {at_percent: 100, action: limit_rps, rps: 2, priorities: [batch]}
)";
  Fixture f(yaml);
  f.spend(1);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  REQUIRE(f.engine->install(policies(yaml), kNoHistory, kNoHistory).ok());
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);  // same rule: same empty bucket
  std::string faster = yaml;
  faster.replace(faster.find("rps: 2"), 6, "rps: 3");
  REQUIRE(f.engine->install(policies(faster), kNoHistory, kNoHistory).ok());
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);  // another rate: its own bucket
}

TEST_CASE("a reservation is settled only by an event of the budgets it reserved on") {
  Fixture f(kBlockAtTen);
  AdmitDecision first = f.admit(Priority::kBatch, 9);
  REQUIRE(first.decision == Decision::kAllow);
  f.spend(0.5, "other-feature", Priority::kBatch, first.reservation_id);
  CHECK(f.engine->status()[0].reserved.nanos() == 9'000'000'000);
  CHECK(f.engine->reservation_mismatches() == 1);
  CHECK(f.released.empty());
  CHECK(f.admit(Priority::kBatch, 9).decision == Decision::kThrottle);
  f.spend(8, "chat", Priority::kBatch, first.reservation_id);
  CHECK(f.engine->status()[0].reserved.nanos() == 0);
  CHECK(f.engine->status()[0].spend.nanos() == 8'000'000'000);
  CHECK(f.released == std::vector<std::string>{first.reservation_id});
}

TEST_CASE("spend saturates instead of wrapping, and a saturated budget still throttles") {
  Fixture f(kLadder);
  UsageEvent e;
  e.feature = "chat";
  e.ts_ms = f.now;
  e.cost = Money::from_nanos(INT64_MAX);
  f.engine->record({&e});
  f.engine->record({&e});
  CHECK(f.engine->status()[0].spend.nanos() == INT64_MAX);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  CHECK(f.admit(Priority::kBatch, 1).decision == Decision::kThrottle);
}

namespace {

// Steps around period boundaries: after every one, the live book must equal a book rebuilt from
// the same events as the ledger's 15-minute rollups would give them back.
struct Step {
  const char* now;
  int ts_offset_s;  // the event's stamp relative to now (+ ahead, - late)
  double usd;
};

void check_live_equals_rebuilt(const std::string& zone, const std::vector<Step>& steps) {
  const std::string yaml = R"(budgets:
  - {name: d, match: {feature: chat}, period: day, limit: 1000, rules: []}
  - {name: w, match: {feature: chat}, period: week, limit: 1000, rules: []}
  - {name: m, match: {feature: chat}, period: month, limit: 1000, rules: []}
)";
  Fixture live(yaml, zone);
  std::vector<SpendRow> rollups;
  for (const Step& step : steps) {
    live.now = at(step.now);
    live.engine->tick();
    UsageEvent e;
    e.feature = "chat";
    e.ts_ms = live.now + step.ts_offset_s * 1000;
    e.cost = Money::from_nanos(static_cast<int64_t>(step.usd * 1e9));
    live.engine->record({&e});
    SpendRow row;
    row.dims.feature = "chat";
    row.ts = e.ts_ms / 900'000 * 900'000;
    row.cost = e.cost.nanos();
    rollups.push_back(row);

    Fixture rebuilt("budgets: []", zone);
    rebuilt.now = live.now;
    auto history = [&](EpochMs since, const std::function<void(const SpendRow&)>& fn) {
      for (const SpendRow& r : rollups)
        if (r.ts >= since) fn(r);
      return Status();
    };
    REQUIRE(rebuilt.engine->install(policies(yaml), history, history).ok());
    const auto a = live.engine->status(), b = rebuilt.engine->status();
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(zone << " at " << step.now << ", budget " << a[i].name);
      CHECK(a[i].period_start == b[i].period_start);
      CHECK(a[i].spend.nanos() == b[i].spend.nanos());
    }
  }
}

}  // namespace

TEST_CASE("an event counts in the period its stamp falls in, live as after a restart") {
  // Kolkata (+5:30): Monday 30 November starts at 18:30 UTC on the 29th (day and week), and
  // December at 18:30 UTC on 30 November (day and month).
  check_live_equals_rebuilt("Asia/Kolkata", {{"2026-11-29T18:20:00Z", 0, 1},
                                             {"2026-11-29T18:28:00Z", 120, 50},  // next day, week
                                             {"2026-11-29T18:29:00Z", 30, 2},
                                             {"2026-11-29T18:31:00Z", -120, 4},  // late
                                             {"2026-11-29T18:35:00Z", 0, 8},
                                             {"2026-11-30T18:27:00Z", 240, 16},  // next month
                                             {"2026-11-30T18:29:59Z", 0, 32},
                                             {"2026-11-30T18:30:00Z", 0, 64},
                                             {"2026-11-30T18:45:00Z", -900, 3}});
  // New York: 1 November 2026 (a Sunday) falls back from EDT to EST at 06:00 UTC; Monday starts
  // at 05:00 UTC; December at 05:00 UTC on 1 December.
  check_live_equals_rebuilt("America/New_York", {{"2026-11-01T03:57:00Z", 240, 50},
                                                 {"2026-11-01T05:58:00Z", 180, 1},  // across DST
                                                 {"2026-11-01T06:01:00Z", 0, 2},
                                                 {"2026-11-02T04:58:00Z", 120, 4},  // next week
                                                 {"2026-11-02T05:01:00Z", -180, 8},
                                                 {"2026-12-01T04:56:00Z", 299, 16},  // next month
                                                 {"2026-12-01T05:00:01Z", 0, 32}});
}

TEST_CASE("spend stamped in the next period survives the rollover and is shown after it") {
  Fixture f(kLadder);
  f.now = at("2026-11-21T23:58:00Z");
  UsageEvent e;
  e.feature = "chat";
  e.ts_ms = at("2026-11-22T00:02:00Z");
  e.cost = Money::from_nanos(50'000'000'000);
  f.engine->record({&e});
  CHECK(f.engine->status()[0].spend.nanos() == 0);
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  f.now = at("2026-11-22T00:00:01Z");
  CHECK(f.engine->status()[0].spend.nanos() == 50'000'000'000);  // before any tick
  f.engine->tick();
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
}

TEST_CASE("a failed history read installs nothing and keeps the running state") {
  Fixture f(kLadder);
  f.spend(3);
  const SpendScan broken = [](EpochMs, const std::function<void(const SpendRow&)>&) {
    return Status::error(Code::kStorageError, "disk I/O error");
  };
  Status s = f.engine->install(policies(R"(budgets:
  - {name: other, match: {feature: chat}, limit: 5, rules: []}
)"),
                               broken, kNoHistory);
  CHECK_FALSE(s.ok());
  CHECK(f.engine->status()[0].name == "chat-daily");
  CHECK(f.engine->status()[0].spend.nanos() == 3'000'000'000);
}

TEST_CASE("dry run: throttles are computed but none is reported as enforced") {
  Fixture f(std::string(kLadder) + "dry_run: true\n");
  f.spend(10);
  const BudgetStatus st = f.engine->status()[0];
  CHECK(st.throttles.empty());
  CHECK_FALSE(st.enforceable.empty());
  CHECK(st.state == "alert");
}

namespace {

const char* kGlobal = R"(budgets:
  - name: shared
    scope: global
    match: {feature: chat}
    limit: 10
    rules:
      - {at_percent: 50, action: alert}
      - {at_percent: 100, action: block, priorities: [batch]}
)";

constexpr int64_t kUsd = 1'000'000'000;

}  // namespace

TEST_CASE("global budget: no grant yet, batch waits; thresholds see every instance's spend") {
  Fixture f(kGlobal, "UTC", /*coordinated=*/true);
  // Before the coordinator's first grant nothing may be spent here: batch is throttled, critical
  // (not listed) is not.
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  CHECK(f.decide(Priority::kCritical) == Decision::kAllow);
  const EpochMs day = *parse_rfc3339("2026-11-21T00:00:00Z");
  f.engine->set_share("shared", {day, 0, 2 * kUsd, true});
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  f.spend(1.5);
  // An estimate that fits the grant is admitted; one that does not is refused.
  CHECK(f.admit(Priority::kBatch, 0.5).decision == Decision::kAllow);
  CHECK(f.admit(Priority::kBatch, 0.01).decision == Decision::kThrottle);
  // The grant used up: batch is throttled as if the budget were spent, and the reason says why;
  // but no alert fires, the budget being at 20% globally.
  REQUIRE(f.engine->cancel_reservation(f.reserved.at(0)));
  f.spend(0.5);
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  REQUIRE(f.engine->table()->throttles.size() == 1);
  CHECK(f.engine->table()->throttles[0].reason.find("share of the global budget is used up") !=
        std::string::npos);
  CHECK(f.alerts.empty());
  // The others have spent 3 and a larger grant came: 5 of 10 globally, the 50% alert fires (on the
  // global spend) and batch flows again.
  f.engine->set_share("shared", {day, 3 * kUsd, 4 * kUsd, true});
  CHECK(f.decide(Priority::kBatch) == Decision::kAllow);
  REQUIRE(f.alerts.size() == 1);
  CHECK(f.alerts[0].threshold.find("50") != std::string::npos);
  auto st = f.engine->status().at(0);
  CHECK(st.scope == Scope::kGlobal);
  CHECK(st.spend.nanos() == 5 * kUsd);
  CHECK(st.local_spend.nanos() == 2 * kUsd);
  CHECK(st.grant.nanos() == 4 * kUsd);
  CHECK(st.coordinated);
  // A share of another period counts for nothing: waiting for this period's grant.
  f.engine->set_share("shared", {day - 86'400'000, 0, 100 * kUsd, true});
  CHECK(f.decide(Priority::kBatch) == Decision::kThrottle);
  CHECK_FALSE(f.engine->status().at(0).coordinated);
}

TEST_CASE("global_view: the grant bounds our spend, the others' spend only shifts thresholds") {
  Budget b;
  b.limit = Money::from_nanos(10 * kUsd);
  BudgetSpend local;
  local.period_start = 1000;
  local.spend = 2 * kUsd;
  local.reserved = kUsd;
  GlobalShare g{1000, 4 * kUsd, 5 * kUsd, true};
  CHECK(global_view(b, local, &g).spend == 6 * kUsd);
  CHECK(within_grant(local, &g, 2 * kUsd));       // 2 + 1 + 2 = 5: fits exactly
  CHECK_FALSE(within_grant(local, &g, 2 * kUsd + 1));
  CHECK(global_view(b, local, &g, 2 * kUsd + 1).spend == 10 * kUsd);  // judged spent
  local.spend = 4 * kUsd;  // 4 + 1 reserved = 5: used up
  CHECK_FALSE(within_grant(local, &g));
  CHECK(global_view(b, local, &g).spend == 10 * kUsd);
  // Past the limit already (others' 9 + ours 4): stays what it is, never lowered to the limit.
  g.remote = 9 * kUsd;
  CHECK(global_view(b, local, &g).spend == 13 * kUsd);
  // Saturates instead of wrapping.
  g.remote = std::numeric_limits<int64_t>::max();
  CHECK(global_view(b, local, &g).spend == std::numeric_limits<int64_t>::max());
  CHECK_FALSE(within_grant(local, nullptr));
}

TEST_CASE("spend checkpoints: a start takes a budget's spend from its checkpoint and the events after it") {
  Fixture f(kLadder);
  f.spend(3);
  f.spend(1, "search");  // not the budget's
  auto cps = f.engine->spend_checkpoints(false);
  REQUIRE(cps.size() == 1);
  CHECK(cps[0].budget == "chat-daily");
  CHECK(cps[0].spend == 3'000'000'000);
  CHECK(cps[0].period_start == at("2026-11-21T00:00:00Z"));
  CHECK(cps[0].ahead.empty());
  const int64_t minute = f.now / 60'000;
  CHECK(cps[0].per_minute == std::map<int64_t, int64_t>{{minute, 3'000'000'000}});
  CHECK(cps[0].minutes_from < minute - 6 * 60);  // the 6 h standard window stays
  // Minutes are given once, until they change again (or all of them are asked for).
  CHECK(f.engine->spend_checkpoints(false)[0].per_minute.empty());
  CHECK(f.engine->spend_checkpoints(true)[0].per_minute.size() == 1);
  f.spend(0.5);
  CHECK(f.engine->spend_checkpoints(false)[0].per_minute ==
        std::map<int64_t, int64_t>{{minute, 3'500'000'000}});
  cps[0].per_minute[minute - 30] = 4'000'000'000;  // as stored: minutes before the last
  {
    // The clock stepped back into the day before: the period's spend is lost, so the budget
    // gives no checkpoint (a start rebuilds it) until it is built anew.
    Fixture back(kLadder);
    back.spend(1);
    back.now = at("2026-11-20T23:00:00Z");
    back.spend(1);
    CHECK(back.engine->spend_checkpoints(false).empty());
    back.now = at("2026-11-21T10:00:00Z");
    back.spend(1);
    CHECK(back.engine->spend_checkpoints(false).empty());
  }
  {
    // A reload that keeps the budget but lengthens its burn windows: another scope, so the
    // next checkpoint gives all its minutes (they replace the stored ones).
    Fixture kept(kLadder);
    kept.spend(1);
    kept.now += 120'000;
    kept.spend(2);
    REQUIRE(kept.engine->spend_checkpoints(false)[0].all_minutes);
    CHECK(kept.engine->spend_checkpoints(false)[0].per_minute.empty());
    std::string day_window = kLadder;
    day_window += "      - {burn_rate: {long: 24h, short: 1h, factor: 2}, action: alert}\n";
    REQUIRE(kept.engine->install(policies(day_window), kNoHistory, kNoHistory).ok());
    auto after = kept.engine->spend_checkpoints(false);
    REQUIRE(after.size() == 1);
    CHECK(after[0].all_minutes);
    CHECK(after[0].per_minute.size() == 2);
    CHECK(after[0].scope != cps[0].scope);
    CHECK(after[0].spend == 3'000'000'000);  // kept, not rebuilt
  }

  bool rollups_read = false;
  const SpendScan rollups = [&](EpochMs since, const std::function<void(const SpendRow&)>& row) {
    rollups_read = true;
    SpendRow r;
    r.dims.feature = "chat";
    r.ts = at("2026-11-21T09:00:00Z");
    r.cost = 7'000'000'000;
    if (r.ts >= since) row(r);
    return Status();
  };
  // Events 10..12 as the ledger has them: 10 is in the checkpoints already (they count through
  // rowid 10), 12 is another feature.
  auto tail = [&](int64_t after, const std::function<void(const SpendRow&)>& row) {
    SpendRow r;
    r.ts = at("2026-11-21T09:59:00Z");
    r.dims.feature = "chat";
    r.cost = 5'000'000'000;
    if (after < 10) row(r);
    r.cost = 2'000'000'000;
    if (after < 11) row(r);
    r.dims.feature = "search";
    if (after < 12) row(r);
    return Status();
  };
  bool windows_read = false;
  const SpendScan windows = [&](EpochMs, const std::function<void(const SpendRow&)>&) {
    windows_read = true;
    return Status();
  };
  auto start = [&](const std::string& yaml, std::vector<SpendCheckpoint> checkpoints) {
    auto g = std::make_unique<Fixture>("budgets: []\n");
    SpendSeeds seeds{std::move(checkpoints), 10, tail};
    rollups_read = windows_read = false;
    REQUIRE(g->engine->install(policies(yaml), rollups, windows, &seeds).ok());
    return std::make_pair(std::move(g), seeds);
  };
  {
    auto [g, seeds] = start(kLadder, cps);
    CHECK_FALSE(rollups_read);
    CHECK_FALSE(windows_read);
    CHECK(seeds.used == 1);
    CHECK(seeds.tail_events == 2);  // those after rowid 10
    CHECK(g->engine->status()[0].spend.nanos() == 5'000'000'000);  // 3 + the event after
    // The burn history: the stored minutes and the event after the checkpoint (only that one
    // is unsaved).
    CHECK(g->engine->spend_checkpoints(false)[0].per_minute ==
          std::map<int64_t, int64_t>{{minute - 1, 2'000'000'000}});
    CHECK(g->engine->spend_checkpoints(true)[0].per_minute ==
          std::map<int64_t, int64_t>{{minute - 30, 4'000'000'000},
                                     {minute, 3'000'000'000},
                                     {minute - 1, 2'000'000'000}});
  }
  {
    // Another match: the checkpoint is not this budget's spend; the rollups are read.
    std::string wider = kLadder;
    wider.replace(wider.find("{feature: chat}"), 15, "{feature: [chat, search]}");
    auto [g, seeds] = start(wider, cps);
    CHECK(rollups_read);
    CHECK(windows_read);
    CHECK(seeds.used == 0);
    CHECK(g->engine->status()[0].spend.nanos() == 7'000'000'000);
  }
  {
    // Another period: the same.
    std::string weekly = kLadder;
    weekly.replace(weekly.find("period: day"), 11, "period: week");
    auto [g, seeds] = start(weekly, cps);
    CHECK(rollups_read);
    CHECK(g->engine->status()[0].spend.nanos() == 7'000'000'000);
  }
  {
    // A checkpoint of yesterday: today starts from what it had stamped ahead into today.
    auto old = cps;
    old[0].period_start = at("2026-11-20T00:00:00Z");
    old[0].spend = 9'000'000'000;
    old[0].ahead[at("2026-11-21T00:00:00Z")] = 1'500'000'000;
    auto [g, seeds] = start(kLadder, old);
    CHECK_FALSE(rollups_read);
    CHECK(g->engine->status()[0].spend.nanos() == 3'500'000'000);  // 1.5 + 2
  }
  {
    // No checkpoint for the budget: the rollups.
    auto [g, seeds] = start(kLadder, {});
    CHECK(rollups_read);
    CHECK(g->engine->status()[0].spend.nanos() == 7'000'000'000);
  }
}

TEST_CASE("a reload that lengthens a kept budget's burn window reads the older minutes once") {
  // The standard windows reach 6 hours; a 24-hour burn rule added by a reload widens it.
  const char* before = R"(budgets:
  - {name: w, match: {feature: chat}, limit: 1000, rules: [{at_percent: 100, action: block, priorities: [batch]}]}
)";
  const char* after = R"(budgets:
  - name: w
    match: {feature: chat}
    limit: 1000
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
      - {burn_rate: {long: 24h, short: 1h, factor: 2}, action: alert}
)";
  Fixture f(before);
  f.spend(2);  // in the kept minutes
  const EpochMs spent_at = f.now;
  f.now += 60'000;
  int scans = 0;
  auto window = [&](EpochMs since, const std::function<void(const SpendRow&)>& row) {
    ++scans;
    auto bucket = [&](EpochMs ts, int64_t nanos, const std::string& feature = "chat") {
      SpendRow r;
      r.dims.feature = feature;
      r.ts = ts / (15 * 60'000) * (15 * 60'000);
      r.cost = nanos;
      if (r.ts >= since) row(r);
    };
    bucket(spent_at - 20 * 3'600'000, 5'000'000'000);  // 20 h ago: only in the longer window
    bucket(spent_at - 20 * 3'600'000, 9'000'000'000, "search");  // another feature's
    bucket(spent_at - 3 * 3'600'000, 7'000'000'000);    // inside the kept window: never again
    bucket(spent_at - 25 * 3'600'000, 11'000'000'000);  // older than 24 h
    bucket(spent_at, 2'000'000'000);                    // the kept minute's own bucket
    return Status();
  };
  REQUIRE(f.engine->install(policies(after), kNoHistory, window).ok());
  CHECK(scans == 1);
  CHECK(f.engine->status()[0].spend.nanos() == 2'000'000'000);  // kept, not re-read
  auto minutes = [&] {
    const auto checkpoints = f.engine->spend_checkpoints(true);
    REQUIRE(checkpoints.size() == 1);
    return checkpoints[0].per_minute;
  };
  const EpochMs old_bucket = (spent_at - 20 * 3'600'000) / (15 * 60'000) * (15 * 60'000);
  const std::map<int64_t, int64_t> want = {
      {(old_bucket + 14 * 60'000) / 60'000, 5'000'000'000},  // dated at its last minute
      {spent_at / 60'000, 2'000'000'000}};
  CHECK(minutes() == want);
  // The same set again: nothing widened, nothing read, nothing added twice.
  REQUIRE(f.engine->install(policies(after), kNoHistory, window).ok());
  CHECK(scans == 1);
  CHECK(minutes() == want);
}

TEST_CASE("a tick during a reload's history scan trims nothing the reload still reads") {
  // x keeps 24 hours in the burn history; w's longest window grows from 6 hours (kept minutes)
  // to 24 or 48 hours. The scan crosses a minute and the ticker runs meanwhile.
  auto sets = [](const char* w_window) {
    std::string x = R"(  - name: x
    match: {feature: other}
    limit: 1000
    rules:
      - {burn_rate: {long: 24h, short: 1h, factor: 2}, action: alert}
)";
    std::string before = "budgets:\n  - {name: w, match: {feature: chat}, limit: 1000, rules: "
                         "[{at_percent: 100, action: block, priorities: [batch]}]}\n" + x;
    std::string after = std::string("budgets:\n  - name: w\n    match: {feature: chat}\n") +
                        "    limit: 1000\n    rules:\n      - {burn_rate: {long: " + w_window +
                        ", short: 1h, factor: 2}, action: alert}\n" + x;
    return std::pair{before, after};
  };
  // 24h: the ticker would trim w's kept minute 10:00 (6 hours and a minute old by then).
  // 48h: it would trim the burn history's minute 10:00, which the reload pinned (it is where
  // the history is complete from), once the scan has run a minute.
  struct Case {
    const char* window;
    EpochMs age, scan_takes;
  };
  for (const Case c : {Case{"24h", 6 * 3'600'000 + 119'000, 2'000},
                       Case{"48h", 24 * 3'600'000 + 59'000, 62'000}}) {
    const std::string window = c.window;
    CAPTURE(window);
    const auto [before, after] = sets(c.window);
    Fixture f(before);
    const EpochMs t0 = f.now;
    f.spend(3);
    f.now = t0 + c.age;
    f.engine->tick();
    auto scan = [&](EpochMs, const std::function<void(const SpendRow&)>&) {
      f.now += c.scan_takes;
      f.engine->tick();
      return Status();
    };
    REQUIRE(f.engine->install(policies(after), kNoHistory, scan).ok());
    const auto checkpoints = f.engine->spend_checkpoints(true);
    REQUIRE(checkpoints.size() == 2);
    CHECK(checkpoints[0].per_minute == std::map<int64_t, int64_t>{{t0 / 60'000, 3'000'000'000}});
  }
}

TEST_CASE("a budget a reload adds gets the burn minutes of spend recorded while none was set") {
  Fixture f("budgets: []\n");
  f.spend(2);  // no budget matches it: only the burn history keeps it
  const EpochMs spent_at = f.now;
  f.now += 60'000;
  REQUIRE(f.engine
              ->install(policies(R"(budgets:
  - name: w
    match: {feature: chat}
    limit: 1000
    rules:
      - {burn_rate: {long: 1h, short: 5m, factor: 2}, action: alert}
)"),
                        kNoHistory, kNoHistory)
              .ok());
  const auto checkpoints = f.engine->spend_checkpoints(true);
  REQUIRE(checkpoints.size() == 1);
  CHECK(checkpoints[0].per_minute ==
        std::map<int64_t, int64_t>{{spent_at / 60'000, 2'000'000'000}});
}
