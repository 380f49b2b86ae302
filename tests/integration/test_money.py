"""Exact money under any input (the real binary): no sum wraps, no string changes an output's shape."""
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from datetime import datetime, timedelta, timezone

from harness import BIN, Daemon, event

POLICIES = """budgets:
  - name: block-budget
    match: {feature: big}
    period: day
    limit: 10
    rules:
      - at_percent: 100
        action: block
        priorities: [batch]
"""

HOSTILE = ['quote"d', 'back\\slash', "line\u2028sep", "emoji \U0001F600", "=cmd|' /C calc'!A0",
           "+1+2", "-sum(A1)", "@SUM(1)", "a,b", "{}", "\\u0001{}"]


def today():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class MoneyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(extra_config="limits:\n  max_event_cost: 1000000000\n")
        with open(os.path.join(cls.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_caller_costs_past_the_limit_are_refused_and_nothing_wraps(self):
        # The report: two caller-priced events of 9e9 wrapped the budget negative.
        s, body, _ = self.d.post_usage([event("wrap-1", feature="big", cost=9e9),
                                        event("wrap-2", feature="big", cost="9000000000")])
        self.assertEqual(s, 200)
        self.assertEqual(body["rejected"], 2, body)
        self.assertEqual({e["code"] for e in body["errors"]}, {"cost_out_of_range"})
        # Near the int64 edge: ten events at the configured maximum (1e9 units = 1e18 nanos) fill
        # the day to 9e18 nanos; the tenth would pass 9.22e18 and is refused by the ledger.
        events = [event("edge-%d" % i, feature="big", cost=1000000000, priority="batch")
                  for i in range(10)]
        s, body, _ = self.d.post_usage(events)
        self.assertEqual((body["accepted"], body["rejected"]), (9, 1), body)
        self.assertEqual(body["errors"][0]["code"], "cost_out_of_range")
        s, body, _ = self.d.post_usage([event("edge-more", feature="big", cost=1000000000)])
        self.assertEqual(body["errors"][0]["code"], "cost_out_of_range")
        # The ledger, the report and the budget all hold the exact, positive sum.
        rows = self.d.query("SELECT SUM(cost_nanos) FROM rollup_daily WHERE feature = 'big'")
        self.assertEqual(rows[0][0], 9 * 10**18)
        self.assertEqual(self.d.query("SELECT MIN(cost_nanos) FROM rollup_daily")[0][0] >= 0, True)
        s, data, _ = self.d.request("GET", "/v1/reports/daily?date=%s&group_by=feature" % today())
        report = json.loads(data)
        big = [r for r in report["rows"] if r["feature"] == "big"][0]
        self.assertEqual(big["cost"], 9000000000)
        self.assertIn('"cost":9000000000,', data.decode())
        s, data, _ = self.d.request("GET", "/v1/budgets")
        budget = json.loads(data)["budgets"][0]
        self.assertEqual(budget["spend"], 9000000000)
        self.assertNotEqual(budget["state"], "ok")
        s, data, _ = self.d.request("POST", "/v1/admit", json.dumps({"feature": "big", "priority": "batch"}))
        self.assertEqual(s, 429, data)

    def test_estimates_past_the_limit_are_refused(self):
        s, data, _ = self.d.request("POST", "/v1/admit", json.dumps(
            {"feature": "x", "priority": "standard", "estimated_cost": 2e9}))
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(data)["error"]["code"], "cost_out_of_range")

    def test_control_characters_are_refused_on_every_route_that_takes_a_dimension(self):
        s, body, _ = self.d.post_usage([event("ctl-1", feature="\u0001{}"),
                                        event("ctl-2", tags={"k": "a\u007fb"}),
                                        event("ctl-3", team="x\ny")])
        self.assertEqual([e["code"] for e in body["errors"]], ["invalid_string"] * 3)
        s, data, _ = self.d.request("POST", "/v1/admit", json.dumps({"feature": "\u0001", "priority": "standard"}))
        self.assertEqual((s, json.loads(data)["error"]["code"]), (400, "invalid_string"))
        s, data, _ = self.d.request("GET", "/v1/admit?feature=%ff%fe&priority=standard")
        self.assertEqual((s, json.loads(data)["error"]["code"]), (400, "invalid_string"))
        s, data, _ = self.d.request("POST", "/v1/overrides", json.dumps(
            {"budget": "block-budget", "action": "suspend", "duration_s": 60, "reason": "\u0001{}"}))
        self.assertEqual((s, json.loads(data)["error"]["code"]), (400, "invalid_string"))
        s, data, _ = self.d.request("GET", "/v1/reports/daily?group_by=tag:%01")
        self.assertEqual(s, 400)

    def test_hostile_strings_round_trip_through_every_output(self):
        events = [event("hostile-%d" % i, feature=f, team=f, tags={"k": f}, cost="0.5")
                  for i, f in enumerate(HOSTILE)]
        s, body, _ = self.d.post_usage(events)
        self.assertEqual(body["accepted"], len(HOSTILE), body)
        day = today()
        s, data, _ = self.d.request("GET", "/v1/reports/daily?date=%s&group_by=feature,team,tag:k" % day)
        report = json.loads(data)  # parses: the shape holds
        got = {r["feature"]: r for r in report["rows"]}
        for f in HOSTILE:
            self.assertEqual(got[f]["team"], f)
            self.assertEqual(got[f]["tag:k"], f)
            self.assertEqual(got[f]["cost"], 0.5)
        self.assertNotIn("\u2028", data.decode())  # escaped for JavaScript
        s, data, _ = self.d.request("GET", "/v1/reports/daily?date=%s&group_by=feature&format=csv" % day)
        cells = {row[0] for row in csv.reader(io.StringIO(data.decode()))}
        for f in HOSTILE:
            neutralised = "'" + f if f[0] in "=+-@" else f
            self.assertIn(neutralised, cells)
        s, data, _ = self.d.request("GET", "/v1/export/focus?from=%s&to=%s" % (day, day))
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        self.assertTrue(rows)
        for r in rows:
            self.assertFalse(r["x_Feature"][:1] in ("=", "+", "-", "@") if "x_Feature" in r else False)
            json.loads(r["Tags"])
        s, data, _ = self.d.request("GET", "/metrics")
        path = os.path.join(self.d.dir, "metrics.txt")
        with open(path, "wb") as f:
            f.write(data)
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=data, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
