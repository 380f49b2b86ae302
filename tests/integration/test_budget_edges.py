"""Budget enforcement at its edges against the real binary: reservations settled only by their
own budgets' events, a failed spend rebuild, dry-run throttle gauges, reservations written once a
second."""
import json
import sqlite3
import unittest

from harness import event, wait_for
from test_budgets import TEN_DOLLAR_JOBS, budget_daemon


def admit(d, **body):
    s, data, _ = d.request("POST", "/v1/admit", json.dumps(body), {"Content-Type": "application/json"})
    return s, json.loads(data)


class ReservationMismatchTest(unittest.TestCase):
    def setUp(self):
        self.d = budget_daemon(TEN_DOLLAR_JOBS).start()

    def tearDown(self):
        self.d.cleanup()

    def test_an_event_of_another_feature_does_not_release_the_reservation(self):
        s, body = admit(self.d, feature="jobs", priority="batch", estimated_cost=9)
        self.assertEqual(s, 200)
        rid = body["reservation_id"]
        s, r, _ = self.d.post_usage([event("other-1", feature="chat", cost=0.5, reservation_id=rid)])
        self.assertEqual((s, r["accepted"]), (200, 1))
        budget = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((budget["reserved"], budget["spend"]), (9, 0))
        self.assertEqual(self.d.metric_value("tollgate_reservation_mismatch_total"), 1)
        self.assertEqual(admit(self.d, feature="jobs", priority="batch", estimated_cost=9)[0], 429)
        # The reservation's own budget's event settles it.
        self.d.post_usage([event("jobs-1", feature="jobs", cost=8, reservation_id=rid)])
        budget = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((budget["reserved"], budget["spend"]), (0, 8))

    def test_reservations_reach_the_ledger_within_a_second_without_ingest(self):
        rids = [admit(self.d, feature="jobs", priority="batch", estimated_cost=1)[1]["reservation_id"]
                for _ in range(5)]
        wait_for(lambda: len(self.d.query("SELECT id FROM reservations")) == 5, timeout=5)
        self.d.post_usage([event("jobs-%d" % i, feature="jobs", cost=1, reservation_id=rid)
                           for i, rid in enumerate(rids)])
        wait_for(lambda: len(self.d.query("SELECT id FROM reservations")) == 0, timeout=5)


class FailedRebuildTest(unittest.TestCase):
    def test_a_spend_rebuild_that_fails_keeps_the_daemon_unready_and_says_why(self):
        d = budget_daemon(TEN_DOLLAR_JOBS)
        try:
            d.start()
            d.post_usage([event("jobs-1", feature="jobs", cost=10)])
            self.assertEqual(d.stop(), 0)
            con = sqlite3.connect(d.db)
            # Without its checkpoint the budget's spend is rebuilt from the (broken) rollups.
            con.executescript("DROP TABLE rollup_15m_rows; CREATE TABLE rollup_15m_rows (x); "
                              "DELETE FROM budget_spend;")
            con.close()
            d.start(expect_ready=False)
            wait_for(lambda: d.port, timeout=15)
            status, body, _ = d.request("GET", "/readyz")
            self.assertEqual(status, 503)
            self.assertIn("budget spend could not be rebuilt", body.decode())
            self.assertEqual(d.metric_value("tollgate_spend_rebuild_failures_total"), 1)
            s, data, _ = d.request("POST", "/-/reload")
            self.assertEqual(s, 400, data)
            self.assertEqual(d.get("/readyz")[0], 503)
        finally:
            d.cleanup()


class DryRunGaugeTest(unittest.TestCase):
    def test_throttle_active_is_zero_for_a_dry_run_rule(self):
        d = budget_daemon(TEN_DOLLAR_JOBS + "dry_run: true\n").start()
        try:
            d.post_usage([event("jobs-1", feature="jobs", cost=10)])
            wait_for(lambda: json.loads(d.request("GET", "/v1/budgets")[1])["budgets"][0]["state"] == "alert")
            self.assertEqual(d.metric_value("tollgate_throttle_active", budget="ten", priority="batch",
                                            action="block"), 0)
            self.assertEqual(admit(d, feature="jobs", priority="batch")[0], 200)
        finally:
            d.cleanup()


class DegradedModeCountersTest(unittest.TestCase):
    def test_every_degraded_mode_has_its_counter_from_the_start(self):
        d = budget_daemon(TEN_DOLLAR_JOBS).start()
        try:
            for name in ("tollgate_spend_rebuild_failures_total", "tollgate_ledger_commit_failures_total",
                         "tollgate_retention_prune_failures_total", "tollgate_audit_write_failures_total",
                         "tollgate_webhook_failures_total", "tollgate_reservation_mismatch_total",
                         "tollgate_reservation_write_failures_total",
                         "tollgate_http_handler_exceptions_total"):
                self.assertEqual(d.metric_value(name), 0, name)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
