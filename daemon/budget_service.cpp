#include "daemon/budget_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <utility>

#include "daemon/config/policies_file.h"
#include "metering/json_text.h"
#include "storage/policy_store.h"

namespace tollgate {

namespace json = boost::json;

namespace {

// Period spend for the spend book: whole local days before today from the daily rollups (each
// dated at its local midnight), today from the 15-minute buckets. Periods start at local
// midnight, so this is exact, and a month costs ~30 rows per dimension set, not ~2,900.
SpendScan period_scan(sqlite3* db, std::shared_ptr<const TimeZone> tz, EpochMs now) {
  return [db, tz, now](EpochMs since, const std::function<void(const SpendRow&)>& row) {
    const int64_t today = tz->local_day(now), first = tz->local_day(since);
    Status s;
    if (first < today) {
      std::map<std::string, EpochMs> day_starts;
      s = scan_daily_costs(db, format_date(first), format_date(today - 1), [&](const SpendRow& c) {
        auto [it, fresh] = day_starts.try_emplace(c.day_local, 0);
        if (fresh) it->second = tz->day_start(*parse_date(c.day_local));
        SpendRow dated = c;
        dated.ts = it->second;
        row(dated);
      });
    }
    if (s.ok()) s = scan_rollup_costs(db, std::max(since, tz->day_start(today)), row);
    return s;
  };
}

// Burn-rate windows from the 15-minute rollups: hours of history in a few hundred rows per
// dimension set, where raw events would be millions.
SpendScan window_scan(sqlite3* db) {
  return [db](EpochMs since, const std::function<void(const SpendRow&)>& row) {
    return scan_rollup_costs(db, since, row);
  };
}

// How often the budgets' spend is checkpointed: after a crash a start reads the events of at
// most about this long (at full ingest a few hundred thousand) on top of the checkpoints.
constexpr auto kCheckpointEvery = std::chrono::seconds(5);

bool same_state(const SpendCheckpoint& a, const SpendCheckpoint& b) {
  return a.scope == b.scope && a.period_start == b.period_start && a.spend == b.spend &&
         a.ahead == b.ahead;
}

std::string alert_body(const AlertEvent& a) {
  JsonWriter w;
  w.begin_object();
  w.key("text").string(a.text);
  w.key("budget").string(a.budget);
  w.key("spend").money(a.spend);
  w.key("limit").money(a.limit);
  w.key("currency").string(a.currency);
  w.key("period_start").string(format_utc_ms(a.period_start));
  w.key("period_end").string(format_utc_ms(a.period_end));
  w.key("fired_at").string(format_utc_ms(a.fired_at));
  w.key("threshold_percent");
  if (auto pct = Money::parse(a.threshold))
    w.money(*pct);  // exact: "80" stays 80
  else
    w.string(a.threshold);  // burn-rate alerts name their windows
  return w.end_object().take();
}

}  // namespace

BudgetService::BudgetService(const Config& config, Ledger& ledger, metrics::Registry& registry,
                             Clock clock)
    : config_(config),
      ledger_(ledger),
      alerts_(config.webhooks, WebhookOptions{config.webhook.ca_file, config.webhook.timeout_ms},
              // Every failed delivery attempt, by why: a refused certificate is "tls".
              [&failures = registry.counter("tollgate_webhook_attempt_failures_total",
                                            "Failed alert webhook delivery attempts, by reason "
                                            "(connect, tls, request, status).",
                                            {"reason"})](const std::string& reason) {
                failures.with({reason})->inc();
              }),
      engine_(config.reporting.tz, config.reporting.currency, clock,
              PolicyEngine::Hooks{
                  [this](const AuditEntry& e) {
                    spdlog::info("audit: {} {} by {}: {}", e.kind, e.budget, e.actor, e.detail);
                    ledger_.run_on_writer([this, row = e](sqlite3* db) {
                      if (Status s = insert_audit(db, row); !s.ok()) {
                        audit_failures_->inc();
                        spdlog::warn("audit entry not written: {}", s.message());
                      }
                    });
                  },
                  [this](const AlertEvent& a) {
                    spdlog::warn("alert: {}", a.text);
                    alerts_total_.with({a.budget, a.threshold})->inc();
                    ledger_.run_on_writer([key = a.key, ts = a.fired_at](sqlite3* db) {
                      if (Status s = insert_alert_fired(db, key, ts); !s.ok())
                        spdlog::error("fired alert not recorded: {}", s.message());
                    });
                    alerts_.send(alert_body(a), a.text);
                  },
                  // Reservations are journaled behind the admission (never SQLite on that path)
                  // and written once a second.
                  [this](const StoredReservation& r) { journal_.opened(r); },
                  [this](const std::string& id) { journal_.closed(id); },
                  [this] {
                    if (!journal_.empty())
                      ledger_.run_on_writer([this](sqlite3* db) { flush_journal(db); });
                    const auto now = std::chrono::steady_clock::now();
                    if (now - last_checkpoint_ >= kCheckpointEvery) {
                      last_checkpoint_ = now;
                      ledger_.run_on_writer([this](sqlite3* db) { checkpoint_spend(db); });
                    }
                  }}),
      rebuild_failures_(registry
                            .counter("tollgate_spend_rebuild_failures_total",
                                     "Budget spend rebuilds from the ledger that failed.")
                            .with({})),
      audit_failures_(registry
                          .counter("tollgate_audit_write_failures_total",
                                   "Audit log entries that could not be written.")
                          .with({})),
      journal_failures_(registry
                            .counter("tollgate_reservation_write_failures_total",
                                     "Writes of open reservations to the ledger that failed "
                                     "(retried at the next flush).")
                            .with({})),
      checkpoint_failures_(registry
                               .counter("tollgate_spend_checkpoint_failures_total",
                                        "Writes of the budgets' spend checkpoints that failed "
                                        "(retried at the next; a start then reads more events "
                                        "or the rollups).")
                               .with({})),
      alerts_total_(registry.counter("tollgate_budget_alerts_total",
                                     "Budget alerts fired (once per budget, threshold and period).",
                                     {"budget", "threshold"})),
      decisions_(registry.counter("tollgate_admission_decisions_total", "Admission decisions.",
                                  {"feature", "priority", "decision"},
                                  metrics::Labels::kUserChosen)),
      decision_handles_(decisions_) {
  engine_.set_burn_history_limit(config.limits.max_burn_history_entries);
  add_collector(registry);
}

void BudgetService::flush_journal(sqlite3* db) {
  if (Status s = journal_.flush(db); !s.ok()) {
    journal_failures_->inc();
    spdlog::warn("open reservations not written (retried): {}", s.message());
  }
}

// One status snapshot per scrape (one lock), so the scrape never touches the engine's state
// again, and a concurrent reload cannot free what it reads.
void BudgetService::add_collector(metrics::Registry& registry) {
  registry.add_collector([this](std::vector<metrics::FamilySnapshot>& out) {
    using metrics::FamilySnapshot;
    using metrics::Type;
    FamilySnapshot limit{
        "tollgate_budget_limit", "Budget limit in the reporting currency.", Type::kGauge, {}};
    FamilySnapshot spend{
        "tollgate_budget_spend", "Spend in the budget's current period.", Type::kGauge, {}};
    FamilySnapshot reserved{
        "tollgate_budget_reserved", "Open reservations against the budget.", Type::kGauge, {}};
    FamilySnapshot forecast{"tollgate_budget_forecast",
                            "Spend projected linearly to the period end.",
                            Type::kGauge,
                            {}};
    FamilySnapshot util{
        "tollgate_budget_utilization_ratio", "(spend + reserved) / limit.", Type::kGauge, {}};
    FamilySnapshot burn{"tollgate_budget_burn_rate",
                        "Spend rate over the window relative to the sustainable rate.",
                        Type::kGauge,
                        {}};
    FamilySnapshot active{"tollgate_throttle_active",
                          "1 while a throttle is enforced for the priority (never in dry run).",
                          Type::kGauge,
                          {}};
    for (const BudgetStatus& b : engine_.status()) {
      std::vector<std::pair<std::string, std::string>> labels{
          {"budget", b.name},
          {"period", std::string(to_string(b.period))},
          {"currency", config_.reporting.currency}};
      limit.samples.push_back({"", labels, b.limit.to_double()});
      spend.samples.push_back({"", labels, b.spend.to_double()});
      reserved.samples.push_back({"", labels, b.reserved.to_double()});
      forecast.samples.push_back({"", labels, b.forecast.to_double()});
      util.samples.push_back({"", {{"budget", b.name}}, b.utilization});
      for (const auto& [window, rate] : b.burn_rates)
        burn.samples.push_back({"", {{"budget", b.name}, {"window", window}}, rate});
      // Every (priority, action) a rule of the budget can enforce, 0 or 1, so absence is not
      // ambiguous.
      std::map<std::pair<Priority, Action>, bool> enforced;
      for (auto pa : b.enforceable) enforced.try_emplace(pa, false);
      for (auto pa : b.throttles) enforced[pa] = true;
      for (const auto& [pa, on] : enforced)
        active.samples.push_back({"",
                                  {{"budget", b.name},
                                   {"priority", std::string(to_string(pa.first))},
                                   {"action", std::string(to_string(pa.second))}},
                                  on ? 1.0 : 0.0});
    }
    auto counter = [&](const char* name, const char* help, uint64_t n) {
      out.push_back({name, help, Type::kCounter, {{"", {}, double(n)}}});
    };
    counter("tollgate_reservation_mismatch_total",
            "Usage events whose reservation_id named a reservation on budgets they do not match "
            "(counted as usual; the reservation stays open).",
            engine_.reservation_mismatches());
    counter("tollgate_webhook_failures_total",
            "Alert deliveries given up after every retry failed.", alerts_.failures());
    counter("tollgate_ledger_commit_failures_total",
            "Ledger group commits that failed (their requests were answered 503).",
            ledger_.commit_failures());
    counter("tollgate_retention_prune_failures_total",
            "Retention prunes of raw events that failed.", ledger_.prune_failures());
    const auto flushes = ledger_.rollup_flushes();
    out.push_back({"tollgate_ledger_rollup_flushes_total",
                   "Rollup flushes from memory to the ledger, by what started them: "
                   "storage.rollup_flush_interval_ms, the bound limits.max_pending_rollup_rows, "
                   "a stop, a budget rebuild about to read them, a recovery (the raw events "
                   "past the rollup watermark after an unclean stop or a failed commit, a chunk "
                   "at a time).",
                   Type::kCounter,
                   {{"", {{"reason", "interval"}}, double(flushes.interval)},
                    {"", {{"reason", "max_pending_rollup_rows"}}, double(flushes.pending_rows)},
                    {"", {{"reason", "stop"}}, double(flushes.stop)},
                    {"", {{"reason", "rebuild"}}, double(flushes.read)},
                    {"", {{"reason", "recovery"}}, double(flushes.recovery)}}});
    counter("tollgate_burn_history_sheds_total",
            "Times the minute-precise burn history passed limits.max_burn_history_entries and "
            "its oldest 15-minute blocks were dropped early (a budget added or changed by a "
            "reload then takes those minutes from the 15-minute rollups).",
            engine_.burn_history_sheds());
    counter("tollgate_ledger_rollup_flush_failures_total",
            "Rollup flushes that failed (their rows stay in memory and are retried; the raw "
            "events hold them, so nothing is lost).",
            flushes.failures);
    out.push_back({"tollgate_ledger_pending_rollup_rows",
                   "15-minute rollup rows in memory, not yet flushed to the ledger.", Type::kGauge,
                   {{"", {}, double(ledger_.pending_rollup_rows())}}});
    out.push_back({"tollgate_ledger_recovery_backlog_events",
                   "Raw events past the rollup watermark that a recovery (after an unclean stop "
                   "or a failed commit) has yet to roll up, about; 0 when none runs.",
                   Type::kGauge, {{"", {}, double(ledger_.recovery_backlog_events())}}});
    out.push_back({"tollgate_ledger_unhealthy",
                   "1 while the ledger refuses writes: its files were removed or replaced, or "
                   "it is corrupt (see /readyz and the log).",
                   Type::kGauge,
                   {{"", {}, ledger_.unhealthy_reason().empty() ? 0.0 : 1.0}}});
    out.push_back({"tollgate_ledger_quick_check_running",
                   "1 while the whole ledger's quick_check runs in the background after start "
                   "(writes are acknowledged meanwhile; damage found marks the ledger unhealthy).",
                   Type::kGauge,
                   {{"", {}, ledger_.checking() ? 1.0 : 0.0}}});
    for (auto* f : {&limit, &spend, &reserved, &forecast, &util, &burn, &active})
      out.push_back(std::move(*f));
  });
}

BudgetService::~BudgetService() { engine_.stop_ticker(); }

void BudgetService::stop() {
  engine_.stop_ticker();
  ledger_.run_on_writer([this](sqlite3* db) {
    flush_journal(db);
    checkpoint_spend(db);  // the next start reads no event twice
  });
}

void BudgetService::checkpoint_spend(sqlite3* db) {
  // On the writer, between commits: the engine has recorded every committed event, so its
  // spend is the spend through the last rowid.
  // A start that could not rebuild the spend left an empty policy set: its checkpoints would
  // all look gone.
  if (!unready_reason().empty()) return;
  auto through = last_event_rowid(db);
  if (!through.ok()) {
    checkpoint_failures_->inc();
    return;
  }
  std::vector<SpendCheckpoint> changed;
  std::set<std::string> present;
  bool need_all = false;
  for (SpendCheckpoint& cp : engine_.spend_checkpoints(resend_all_minutes_)) {
    present.insert(cp.budget);
    auto it = checkpoints_.find(cp.budget);
    // A budget new to the table or of another scope replaces all its stored minutes, and the
    // engine gives all of them for a budget built anew or whose scope changed. Should it give
    // only the changed ones here, this budget waits for the next write, which asks for all.
    if ((it == checkpoints_.end() || it->second.scope != cp.scope) && !cp.all_minutes) {
      need_all = true;
      present.erase(cp.budget);  // its stored rows, if any, go with the budgets gone
      continue;
    }
    // Unchanged: the stored state is also the state through the newer rowid.
    if (it != checkpoints_.end() && same_state(it->second, cp) && cp.per_minute.empty() &&
        !cp.all_minutes)
      continue;
    changed.push_back(std::move(cp));
  }
  std::vector<std::string> gone;
  for (const auto& [name, cp] : checkpoints_)
    if (!present.count(name)) gone.push_back(name);
  if (changed.empty() && gone.empty() && through.value() == through_written_) return;
  if (Status s = save_spend_checkpoints(db, through.value(), changed, gone); !s.ok()) {
    checkpoint_failures_->inc();
    resend_all_minutes_ = true;  // the minutes taken from the engine were not written
    spdlog::warn("budget spend checkpoints not written: {}", s.message());
    return;
  }
  resend_all_minutes_ = need_all;
  through_written_ = through.value();
  ledger_.hold_prune_after(through_written_);
  for (SpendCheckpoint& cp : changed) {
    cp.per_minute.clear();  // the table has them; only the state is compared
    checkpoints_[cp.budget] = std::move(cp);
  }
  for (const auto& name : gone) checkpoints_.erase(name);
}

Status BudgetService::install(std::shared_ptr<const PolicySet> policies, bool at_start) {
  // On the writer thread: no commit (and so no record()) can interleave with the rebuild. The
  // engine reads the rollups without its lock, so admission and scrapes go on meanwhile.
  std::promise<Status> done;
  ledger_.run_on_writer([&](sqlite3* db) {
    // Before the first scan (none when no budget is rebuilt), the pending rollups are flushed:
    // the scans then read compact rows, not the last seconds of raw events joined to their
    // strings (at full ingest, that read stalled the writer at every reload).
    bool flushed = false;
    auto flushed_first = [&](SpendScan scan) {
      return SpendScan([&, scan = std::move(scan)](EpochMs since, const auto& row) {
        if (!std::exchange(flushed, true)) ledger_.flush_rollups_before_read();
        return scan(since, row);
      });
    };
    // At a start, budgets whose scope is unchanged take their spend from their checkpoints:
    // a row each and the events since, where a monthly budget at a company's cardinality
    // would read a month of daily rollups (about a row per event).
    SpendSeeds seeds;
    bool seeded = false;
    if (at_start) {
      // Until the first checkpoint of this run, retention keeps what the stored ones do not
      // count (all of it when there are none).
      ledger_.hold_prune_after(0);
      auto loaded = load_spend_checkpoints(db);
      auto last = last_event_rowid(db);
      if (!loaded.ok() || !last.ok()) {
        spdlog::warn("budget spend checkpoints not read ({}); rebuilding from the rollups",
                     (loaded.ok() ? last.status() : loaded.status()).message());
      } else {
        // Checkpoints past the last event belong to events this file no longer has.
        const std::vector<SpendCheckpoint>& stored = loaded->checkpoints;
        seeded = loaded->through_rowid <= last.value();
        // What the table holds, so the next checkpoint writes only changes and deletes the
        // budgets gone; unusable ones without their scope, so each is written anew.
        for (const SpendCheckpoint& cp : stored)
          checkpoints_[cp.budget] = {cp.budget, seeded ? cp.scope : "", cp.period_start,
                                     cp.spend, cp.ahead};
        if (!stored.empty()) {
          through_written_ = loaded->through_rowid;
          if (seeded)
            ledger_.hold_prune_after(through_written_);
          else
            spdlog::warn("budget spend checkpoints name events past the ledger's last ({}); "
                         "rebuilding from the rollups", last.value());
        }
        if (seeded) {
          seeds = std::move(loaded.value());
          seeds.tail = [db](int64_t after, const auto& row) {
            return scan_events_after(db, after, row);
          };
        }
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    Status s = engine_.install(
        policies, flushed_first(period_scan(db, config_.reporting.tz, system_now_ms())),
        flushed_first(window_scan(db)), seeded ? &seeds : nullptr);
    if (s.ok() && at_start && !policies->budgets.empty())
      spdlog::info("budget spend: {} of {} budgets from their checkpoints ({} events after "
                   "them), the others from the rollups, in {} ms",
                   seeds.used, policies->budgets.size(), seeds.tail_events,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count());
    done.set_value(s);
  });
  Status s = done.get_future().get();
  std::lock_guard lock(unready_mu_);
  if (s.ok()) {
    unready_.clear();
    return s;
  }
  rebuild_failures_->inc();
  spdlog::warn("budget spend could not be rebuilt from the ledger: {}", s.message());
  return s;
}

std::string BudgetService::unready_reason() const {
  std::lock_guard lock(unready_mu_);
  return unready_;
}

void BudgetService::start(std::shared_ptr<const PolicySet> policies) {
  // Fired alerts and overrides first, so the first evaluation neither re-fires nor throttles
  // what an override suspends.
  std::promise<void> restored;
  ledger_.run_on_writer([&](sqlite3* db) {
    engine_.restore(load_active_overrides(db, system_now_ms()), load_alerts_fired(db));
    restored.set_value();
  });
  restored.get_future().wait();
  if (Status s = install(policies, true); !s.ok()) {
    // Fail safe: without its spend no budget can be enforced exactly; stay unready (load
    // balancers and orchestrators keep traffic away) until a reload rebuilds it.
    std::lock_guard lock(unready_mu_);
    unready_ = "budget spend could not be rebuilt from the ledger (" + s.message() +
               "); fix the database and reload";
  }
  std::promise<void> reserved;
  ledger_.run_on_writer([&](sqlite3* db) {
    engine_.restore_reservations(load_reservations(db, system_now_ms()));
    reserved.set_value();
  });
  reserved.get_future().wait();
  engine_.start_ticker();
}

std::vector<std::string> BudgetService::check() const {
  LoadErrors errors;
  if (!config_.policies_file.empty()) load_policies(config_.policies_file, errors, config_.coordinated());
  return errors.lines;
}

std::shared_ptr<const PolicySet> BudgetService::read_policies(LoadErrors& errors) const {
  return config_.policies_file.empty() ? std::make_shared<const PolicySet>()
                                       : load_policies(config_.policies_file, errors, config_.coordinated());
}

std::vector<std::string> BudgetService::reload() {
  LoadErrors errors;
  auto set = read_policies(errors);
  if (!errors.ok()) return errors.lines;
  return install_policies(set);
}

std::vector<std::string> BudgetService::install_policies(std::shared_ptr<const PolicySet> set) {
  std::lock_guard lock(reload_mu_);
  const auto start = std::chrono::steady_clock::now();
  if (Status s = install(set); !s.ok())
    return {"budget spend could not be rebuilt from the ledger; the running policies stay: " +
            s.message()};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::info("policies reloaded: {} budgets{}, installed in {} ms", set->budgets.size(),
               set->dry_run ? " (dry run)" : "", ms);
  return {};
}

void BudgetService::create_override(const std::string& budget, int64_t duration_s,
                                    const std::string& reason, const std::string& actor,
                                    std::function<void(Result<Override>)> done) {
  auto created = engine_.add_override(budget, duration_s, reason, actor);
  if (!created.ok()) return done(created.status());
  Override o = created.value();
  ledger_.run_on_writer([this, o, done = std::move(done)](sqlite3* db) {
    Status s = insert_override(db, o);
    if (!s.ok()) {
      engine_.remove_override(o.id, "tollgate");  // not durable: not in force either
      return done(Status::error(Code::kStorageUnavailable,
                                "the override could not be stored: " + s.message()));
    }
    done(o);
  });
}

void BudgetService::delete_override(const std::string& id, const std::string& actor,
                                    std::function<void(Result<bool>)> done) {
  if (!engine_.remove_override(id, actor)) return done(false);
  ledger_.run_on_writer([id, done = std::move(done)](sqlite3* db) {
    Status s = end_override(db, id, system_now_ms());
    if (!s.ok()) return done(Status::error(Code::kStorageUnavailable, s.message()));
    done(true);
  });
}

void BudgetService::count_decision(const std::string& feature, Priority p, Decision d) {
  decision_handles_.get({feature, to_string(p), to_string(d)})->inc();
}

}  // namespace tollgate
