"""Budget enforcement against the real binary: throttling, overrides, audit, reload, restart,
reservations, webhooks."""
import json
import os
import signal
import sqlite3
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

from harness import Daemon, event, wait_for

# qwen3-max: 1200 input + 300 output tokens = 0.00324 USD; 0.5 USD per event below via "cost".
POLICIES = """budgets:
  - name: chat-daily
    match: {feature: support-chat}
    period: day
    limit: 1
    rules:
      - {at_percent: 50, action: alert}
      - {at_percent: 100, action: alert}
      - {at_percent: 100, action: block, priorities: [batch]}
reservation_ttl_s: 300
"""


# A $10 budget that blocks batch jobs at 100%: the reservation tests' budget.
TEN_DOLLAR_JOBS = """budgets:
  - name: ten
    match: {feature: jobs}
    limit: 10
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
"""


def write_sql(db, sql):
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    try:
        con.execute(sql)
    finally:
        con.close()


def first_budget(d):
    return json.loads(d.request("GET", "/v1/budgets")[1])["budgets"][0]


class WebhookReceiver:
    """A local HTTP server that records every POSTed JSON body; the first `fail_first` posts get
    a 503 (and are not recorded), as from a flaky chat service."""

    def __init__(self, fail_first=0):
        received = self.received = []
        self.attempts = attempts = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                attempts[0] += 1
                if attempts[0] <= fail_first:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def budget_daemon(policies=POLICIES, extra=""):
    d = Daemon(extra_config=extra)
    with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
        f.write(policies)
    return d


def admit(d, priority, feature="support-chat", **extra):
    body = {"feature": feature, "priority": priority}
    body.update(extra)
    s, data, h = d.request("POST", "/v1/admit", json.dumps(body), {"Content-Type": "application/json"})
    return s, json.loads(data), h


class ThrottleTest(unittest.TestCase):
    def setUp(self):
        self.hook = WebhookReceiver()
        self.d = budget_daemon(extra="alerting:\n  webhooks:\n    - url: %s\n" % self.hook.url).start()

    def tearDown(self):
        self.d.cleanup()
        self.hook.close()

    def test_a_one_dollar_budget_blocks_batch_within_a_second_critical_and_standard_stay_allowed(self):
        self.assertEqual(admit(self.d, "batch")[0], 200)
        self.d.post_usage([event("u1", cost=0.6)])
        self.assertEqual(admit(self.d, "batch")[0], 200)
        self.d.post_usage([event("u2", cost=0.4)])  # crosses 100%
        crossed = time.monotonic()
        s, body, h = admit(self.d, "batch")
        self.assertLess(time.monotonic() - crossed, 1.0)
        self.assertEqual(s, 429)
        self.assertEqual((body["decision"], body["budget"], body["action"]), ("throttle", "chat-daily", "block"))
        self.assertIn("budget chat-daily is at 100% of its 1 USD daily limit", body["reason"])
        self.assertEqual(h["Retry-After"], str(body["retry_after_s"]))
        self.assertGreater(body["retry_after_s"], 0)
        self.assertEqual(admit(self.d, "critical")[1]["decision"], "allow")
        self.assertEqual(admit(self.d, "standard")[1]["decision"], "allow")
        self.assertEqual(admit(self.d, "batch", feature="other")[1]["decision"], "allow")
        # GET works too, with the same answer.
        s, data, _ = self.d.request("GET", "/v1/admit?feature=support-chat&priority=batch")
        self.assertEqual(s, 429)

        # Exactly one webhook per threshold, Slack-compatible.
        wait_for(lambda: len(self.hook.received) >= 2)
        time.sleep(0.3)
        self.assertEqual(sorted(a["threshold_percent"] for a in self.hook.received), [50, 100])
        fifty = [a for a in self.hook.received if a["threshold_percent"] == 50][0]
        self.assertRegex(fifty["text"], r"^budget chat-daily at 50% \(0\.6 of 1 USD, day \d{4}-\d\d-\d\d\)$")
        self.assertEqual((fifty["budget"], fifty["limit"], fifty["currency"]), ("chat-daily", 1, "USD"))
        for key in ("spend", "period_start", "period_end", "fired_at"):
            self.assertIn(key, fifty)
        self.d.post_usage([event("u3", cost=0.1)])
        self.d.request("GET", "/v1/budgets")
        time.sleep(1.5)  # a ticker round: still one per threshold
        self.assertEqual(len(self.hook.received), 2)
        self.assertEqual(self.d.metric_value("tollgate_budget_alerts_total", budget="chat-daily"), 2)

        # Budgets, throttles and metrics tell the same story.
        b = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((b["name"], b["state"], b["limit"], b["spend"]), ("chat-daily", "throttling", 1, 1.1))
        self.assertEqual(b["reserved"], 0)
        self.assertAlmostEqual(b["utilization"], 1.1)
        self.assertGreaterEqual(b["forecast"], 1.1)
        self.assertIn("block at 100%", b["active_rules"])
        self.assertIsNone(b["override"])
        s, data, h = self.d.request("GET", "/v1/throttles")
        t = json.loads(data)
        self.assertEqual(h["ETag"], '"%d"' % t["generation"])
        self.assertEqual([(x["budget"], x["action"], x["priorities"]) for x in t["throttles"]],
                         [("chat-daily", "block", ["batch"])])
        self.assertEqual(self.d.request("GET", "/v1/throttles", headers={"If-None-Match": h["ETag"]})[0], 304)
        self.assertEqual(self.d.metric_value("tollgate_throttle_active", budget="chat-daily", priority="batch", action="block"), 1)
        self.assertEqual(self.d.metric_value("tollgate_admission_decisions_total", priority="batch", decision="throttle"), 2)

    def test_override_lifts_the_throttle_and_the_audit_log_shows_both(self):
        self.d.post_usage([event("o1", cost=1)])
        self.assertEqual(admit(self.d, "batch")[0], 429)
        s, data, _ = self.d.request("POST", "/v1/overrides", json.dumps({"budget": "chat-daily", "action": "suspend", "duration_s": 3600}))
        self.assertEqual((s, json.loads(data)["error"]["code"]), (400, "missing_field"))  # reason required
        s, data, _ = self.d.request("POST", "/v1/overrides", json.dumps(
            {"budget": "chat-daily", "action": "suspend", "duration_s": 3600, "reason": "INC-42 launch"}))
        self.assertEqual(s, 201)
        o = json.loads(data)
        self.assertTrue(o["id"] and o["until"])
        self.assertEqual(admit(self.d, "batch")[0], 200)
        b = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((b["state"], b["override"]["id"]), ("overridden", o["id"]))
        self.assertEqual([x["id"] for x in json.loads(self.d.request("GET", "/v1/overrides")[1])["overrides"]], [o["id"]])
        self.assertEqual(self.d.request("POST", "/v1/overrides", json.dumps(
            {"budget": "nope", "action": "suspend", "duration_s": 60, "reason": "x"}))[0], 404)

        def kinds():
            entries = json.loads(self.d.request("GET", "/v1/audit?since=2000-01-01T00:00:00Z")[1])["entries"]
            return [e["kind"] for e in entries], entries
        wait_for(lambda: "throttle_stop" in kinds()[0])
        k, entries = kinds()
        self.assertEqual(k[:3], ["throttle_start", "override_created", "throttle_stop"])
        self.assertIn("INC-42 launch", entries[1]["detail"])
        self.assertEqual(entries[1]["actor"], "anonymous")
        # Deleting it brings the throttle back.
        self.assertEqual(self.d.request("DELETE", "/v1/overrides/" + o["id"])[0], 204)
        self.assertEqual(self.d.request("DELETE", "/v1/overrides/" + o["id"])[0], 404)
        self.assertEqual(admit(self.d, "batch")[0], 429)

    def test_reload_raises_the_limit(self):
        self.d.post_usage([event("r1", cost=1)])
        self.assertEqual(admit(self.d, "batch")[0], 429)
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES.replace("limit: 1\n", "limit: 5\n"))
        self.assertEqual(self.d.request("POST", "/-/reload")[0], 200)
        self.assertEqual(admit(self.d, "batch")[0], 200)
        b = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((b["limit"], b["spend"]), (5, 1))  # spend carried across the reload
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES.replace("action: block", "action: smash"))
        s, data, _ = self.d.request("POST", "/-/reload")
        self.assertEqual(s, 400)
        self.assertRegex(json.loads(data)["error"]["errors"][0], r"policies\.yaml:\d+:\d+: action must be")
        self.assertEqual(json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]["limit"], 5)


class RebuildFlushTest(unittest.TestCase):
    """A reload that rebuilds a budget first writes the rollups waiting in memory, so its scan
    reads stored rollup rows rather than the raw events past the watermark; one that rebuilds
    nothing flushes nothing. The spend is the same either way."""

    def test_a_rebuild_flushes_the_pending_rollups_first_and_keeps_the_spend(self):
        d = Daemon(storage_extra="  rollup_flush_interval_ms: 60000\n")
        self.addCleanup(d.cleanup)
        with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        d.start()
        d.post_usage([event("rf1", cost=0.25), event("rf2", cost=0.5)])

        def flushes():
            return d.metric_value("tollgate_ledger_rollup_flushes_total", reason="rebuild")

        def stored_rollup_rows():
            return d.query("SELECT COUNT(*) FROM rollup_15m_rows")[0][0]

        self.assertEqual((flushes(), stored_rollup_rows()), (0, 0))
        self.assertEqual(d.request("POST", "/-/reload")[0], 200)  # the same budgets: no rebuild
        self.assertEqual((flushes(), stored_rollup_rows()), (0, 0))
        with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES.replace("match: {feature: support-chat}",
                                     "match: {feature: [support-chat, other]}"))
        self.assertEqual(d.request("POST", "/-/reload")[0], 200)
        self.assertEqual(flushes(), 1)
        self.assertEqual(stored_rollup_rows(), 1)
        b = json.loads(d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual(b["spend"], 0.75)
        self.assertEqual(d.query("SELECT SUM(cost_nanos) FROM rollup_15m")[0][0], 750000000)


class RestartAndRaceTest(unittest.TestCase):
    def test_restart_keeps_spend_throttles_overrides_and_fired_alerts(self):
        hook = WebhookReceiver()
        d = budget_daemon(extra="alerting:\n  webhooks:\n    - url: %s\n" % hook.url).start()
        try:
            d.post_usage([event("k1", cost=0.7), event("k2", cost=0.3, feature="support-chat")])
            self.assertEqual(admit(d, "batch")[0], 429)
            wait_for(lambda: len(hook.received) == 2)
            self.assertEqual(d.stop(), 0)
            d.start()
            self.assertEqual(admit(d, "batch")[0], 429)
            b = first_budget(d)
            self.assertEqual(b["spend"], 1)
            time.sleep(1.5)
            self.assertEqual(len(hook.received), 2, "alerts must not fire again after a restart")
            s, data, _ = d.request("POST", "/v1/overrides", json.dumps(
                {"budget": "chat-daily", "action": "suspend", "duration_s": 600, "reason": "restart test"}))
            self.assertEqual(s, 201)
            self.assertEqual(d.stop(), 0)
            d.start()
            self.assertEqual(admit(d, "batch")[0], 200, "the override survives a restart")
        finally:
            d.cleanup()
            hook.close()

    def test_restart_rebuilds_a_monthly_budget_from_daily_and_15_minute_rollups(self):
        import datetime
        now = datetime.datetime.now(datetime.timezone.utc)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
        d = budget_daemon(policies="""budgets:
  - name: monthly
    match: {feature: support-chat}
    period: month
    limit: 100
""").start()
        try:
            events = [event("now", ts=iso(now - datetime.timedelta(seconds=5)), cost=3),
                      event("last-month", ts=iso(month_start - datetime.timedelta(hours=1)), cost=50)]
            if now - month_start > datetime.timedelta(hours=2):  # an earlier day of this month
                events.append(event("early", ts=iso(month_start + datetime.timedelta(hours=1)), cost=7))
            expected = 3 + (7 if len(events) == 3 else 0)
            self.assertEqual(d.post_usage(events)[1]["accepted"], len(events))
            spend = lambda: first_budget(d)["spend"]
            self.assertEqual(spend(), expected)
            self.assertEqual(d.stop(), 0)
            write_sql(d.db, "DELETE FROM budget_spend")  # no checkpoint: the rollups are read
            d.start()
            self.assertEqual(spend(), expected, "rebuilt from the rollups at start")
            self.assertTrue(any("0 of 1 budgets from their checkpoints" in l for l in d.log), d.log)
        finally:
            d.cleanup()

    def test_a_start_takes_spend_from_the_checkpoints_and_the_events_after_them(self):
        import datetime
        iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
        ts = iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5))
        monthly = """budgets:
  - name: monthly
    match: {feature: [support-chat]}
    period: month
    limit: 1000
  - name: idle
    match: {feature: [nothing-sent]}
    period: month
    limit: 1000
"""
        d = budget_daemon(policies=monthly).start()
        spend = lambda: first_budget(d)["spend"]
        checkpoint = lambda: d.query("SELECT spend_nanos, through_rowid FROM budget_spend, "
                                     "budget_spend_through WHERE budget = 'monthly'")
        last_rowid = lambda: d.query("SELECT MAX(rowid) FROM event_rows")[0][0]
        try:
            events = [event("c-1", ts=ts, cost=1.5), event("c-2", ts=ts, cost=1.5),
                      event("c-other", ts=ts, feature="search", cost=9)]
            self.assertEqual(d.post_usage(events)[1]["accepted"], 3)
            self.assertEqual(d.stop(), 0)
            self.assertEqual(checkpoint(), [(3_000_000_000, last_rowid())], "written at the stop")
            self.assertEqual(d.query("SELECT SUM(nanos) FROM budget_spend_minutes "
                                     "WHERE budget = 'monthly'"), [(3_000_000_000,)],
                             "the burn-rate minutes too")
            # Read at the start, not rebuilt: a checkpoint changed behind the daemon's back shows.
            write_sql(d.db, "UPDATE budget_spend SET spend_nanos = spend_nanos + 100000000000 "
                            "WHERE budget = 'monthly'")
            d.start()
            self.assertEqual(spend(), 103)
            # An idle budget's unchanged checkpoint counts through the last event too.
            self.assertTrue(any("2 of 2 budgets from their checkpoints (0 events after" in l
                                for l in d.log), d.log)
            # kill -9: an event the checkpoint has, then one it may not have; each counted once.
            self.assertEqual(d.post_usage([event("c-3", ts=ts, cost=0.25)])[1]["accepted"], 1)
            wait_for(lambda: checkpoint() == [(103_250_000_000, last_rowid())], timeout=15)
            self.assertEqual(d.post_usage([event("c-4", ts=ts, cost=0.5)])[1]["accepted"], 1)
            d.stop(signal.SIGKILL)
            d.start()
            self.assertEqual(spend(), 103.75)
            # A checkpoint older than the last event: the event is read after it, once.
            self.assertEqual(d.stop(), 0)
            write_sql(d.db, "UPDATE budget_spend SET spend_nanos = spend_nanos - 500000000 "
                            "WHERE budget = 'monthly'")
            write_sql(d.db, "UPDATE budget_spend_through SET through_rowid = through_rowid - 1")
            d.start()
            self.assertEqual(spend(), 103.75)
            self.assertTrue(any("(1 events after" in l for l in d.log), d.log)
            # Another match: the checkpoint is not this budget's spend; the rollups are read.
            self.assertEqual(d.stop(), 0)
            with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
                f.write(monthly.replace("[support-chat]", "[support-chat, search]"))
            d.start()
            self.assertEqual(spend(), 3.75 + 9)
            # A checkpoint table that cannot be read: the rollups, and the log says why.
            self.assertEqual(d.stop(), 0)
            write_sql(d.db, "UPDATE budget_spend SET ahead = 'not:a;list'")
            d.start()
            self.assertEqual(spend(), 3.75 + 9)
            self.assertTrue(any("checkpoints not read" in l for l in d.log), d.log)
        finally:
            d.cleanup()

    def test_fifty_concurrent_reservations_against_a_ten_dollar_budget_admit_exactly_ten(self):
        d = budget_daemon(policies=TEN_DOLLAR_JOBS).start()
        try:
            results, barrier = [], threading.Barrier(50)

            def caller():
                barrier.wait()
                results.append(admit(d, "batch", feature="jobs", estimated_cost=1))

            threads = [threading.Thread(target=caller) for _ in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            admitted = [r for r in results if r[0] == 200]
            self.assertEqual(len(admitted), 10)
            self.assertEqual(len({r[1]["reservation_id"] for r in admitted}), 10)
            b = first_budget(d)
            self.assertEqual(b["reserved"], 10)
            # Settling one at its actual cost frees the difference.
            rid = admitted[0][1]["reservation_id"]
            d.post_usage([event("settle", feature="jobs", priority="batch", cost=0.5, reservation_id=rid)])
            b = first_budget(d)
            self.assertEqual((b["reserved"], b["spend"]), (9, 0.5))
            self.assertEqual(admit(d, "batch", feature="jobs", estimated_cost=0.5)[0], 200)
            self.assertEqual(admit(d, "batch", feature="jobs", estimated_cost=0.01)[0], 429)
        finally:
            d.cleanup()

    def test_open_reservations_survive_a_restart_and_settle_after_it(self):
        d = budget_daemon(policies=TEN_DOLLAR_JOBS).start()
        try:
            ids = [admit(d, "batch", feature="jobs", estimated_cost=2.5)[1]["reservation_id"] for _ in range(4)]
            self.assertEqual(admit(d, "batch", feature="jobs", estimated_cost=0.01)[0], 429)
            self.assertEqual(d.stop(), 0)
            d.start()
            b = first_budget(d)
            self.assertEqual(b["reserved"], 10, "the promised spend is still promised")
            self.assertEqual(admit(d, "batch", feature="jobs", estimated_cost=0.01)[0], 429)
            d.post_usage([event("s1", feature="jobs", priority="batch", cost=1, reservation_id=ids[0])])
            b = first_budget(d)
            self.assertEqual((b["reserved"], b["spend"]), (7.5, 1))
            self.assertEqual(d.stop(), 0)
            d.start()
            b = first_budget(d)
            self.assertEqual((b["reserved"], b["spend"]), (7.5, 1), "settled ones stay settled")
        finally:
            d.cleanup()

    def test_promtool_accepts_the_policy_series(self):
        import shutil
        import subprocess
        d = budget_daemon(policies=POLICIES.replace("reservation_ttl_s: 300\n", "") + """  - name: burner
    limit: 100
    rules:
      - {burn_rate: {long: 1h, short: 5m, factor: 14.4}, action: block, priorities: [batch]}
      - {at_percent: 100, action: limit_rps, rps: 5, priorities: [standard]}
""").start()
        try:
            d.post_usage([event("p1", cost=1)])
            admit(d, "batch")
            text = d.metrics()
            for name in ("tollgate_budget_limit", "tollgate_budget_spend", "tollgate_budget_reserved",
                         "tollgate_budget_forecast", "tollgate_budget_utilization_ratio",
                         "tollgate_budget_burn_rate", "tollgate_throttle_active",
                         "tollgate_admission_decisions_total", "tollgate_budget_alerts_total"):
                self.assertIn("# TYPE %s " % name, text)
            self.assertEqual(d.metric_value("tollgate_budget_limit", budget="burner", period="day", currency="USD"), 100)
            self.assertIsNotNone(d.metric_value("tollgate_budget_burn_rate", budget="burner", window="5m"))
            self.assertEqual(d.metric_value("tollgate_throttle_active", budget="burner", priority="standard", action="limit_rps"), 0)
            p = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            d.cleanup()

    def test_a_failing_webhook_is_retried_with_backoff_and_delivers_once(self):
        hook = WebhookReceiver(fail_first=2)
        d = budget_daemon(extra="alerting:\n  webhooks:\n    - url: %s\n" % hook.url).start()
        try:
            started = time.monotonic()
            d.post_usage([event("w1", cost=0.6)])  # crosses 50%
            wait_for(lambda: hook.received, timeout=20)
            self.assertGreaterEqual(time.monotonic() - started, 1.4, "0.5 s then 1 s of backoff")
            self.assertEqual(hook.attempts[0], 3)
            self.assertEqual([a["threshold_percent"] for a in hook.received], [50])
            self.assertTrue(any("retry 2" in l for l in d.log), "".join(d.log))
        finally:
            d.cleanup()
            hook.close()

    def test_admission_input_errors(self):
        d = budget_daemon().start()
        try:
            s, body, _ = admit(d, "urgent")
            self.assertEqual((s, body["error"]["code"]), (400, "invalid_admission"))
            s, data, _ = d.request("POST", "/v1/admit", json.dumps({"priority": "batch"}))
            self.assertEqual((s, json.loads(data)["error"]["code"]), (400, "missing_field"))
            s, data, _ = d.request("GET", "/v1/admit?feature=x&priority=batch&estimated_cost=1")
            self.assertEqual(s, 400)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
