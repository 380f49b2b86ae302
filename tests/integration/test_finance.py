"""Finance reads against the real binary: reports, FOCUS export, CLI = API bodies, backup under load."""
import csv
import io
import json
import sqlite3
import subprocess
import unittest
from decimal import Decimal

from harness import BIN, AckingLoad, Daemon, event


class FinanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()
        events = []
        for day, n in (("2026-11-20", 4), ("2026-11-19", 2), ("2026-11-16", 3)):
            for i in range(n):
                events.append(event("%s-%d" % (day, i), ts=day + "T12:00:00Z", input_tokens=1000 + i,
                                    team="cx", revenue="0.01", value_units=1))
        events.append(event("odd", ts="2026-11-20T13:00:00Z", feature='a,"b"', cost=0.5,
                            tags={"cost_center": "cc,42"}))
        events.append(event("unpriced", ts="2026-11-20T14:00:00Z", feature="x", provider="acme", model="m"))
        # Yesterday and today relative to now are outside the 35-day check only if old: these are
        # fixed dates, so the retention must allow them.
        s, body, _ = cls.d.post_usage(events)
        assert body["accepted"] == len(events), body

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def api(self, path):
        s, data, h = self.d.request("GET", path)
        return s, data.decode(), h

    def cli(self, *args):
        # Bytes, then decoded without newline translation: CSV lines end in CRLF.
        p = subprocess.run([BIN, *args], capture_output=True, timeout=30)
        p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
        return p

    def test_report_json_and_csv_are_the_same_from_the_cli_and_the_api(self):
        for fmt in ("json", "csv"):
            s, api_body, h = self.api("/v1/reports/daily?date=2026-11-20&group_by=feature,team&format=" + fmt)
            self.assertEqual(s, 200)
            p = self.cli("report", "daily", "--config", self.d.config, "--date", "2026-11-20",
                         "--group-by", "feature,team", "--format", fmt)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, api_body)
            p = self.cli("report", "daily", "--db", self.d.db, "--date", "2026-11-20",
                         "--group-by", "feature,team", "--format", fmt)
            self.assertEqual(p.stdout, api_body, "--db reads the settings the daemon recorded")
        self.assertTrue(h["Content-Type"].startswith("text/csv"))

    def test_report_values_totals_and_csv_round_trip(self):
        r = json.loads(self.api("/v1/reports/daily?date=2026-11-20")[1])
        self.assertEqual((r["date"], r["currency"]), ("2026-11-20", "USD"))
        rows = {row["feature"]: row for row in r["rows"]}
        chat = rows["support-chat"]
        self.assertEqual(chat["requests"], 4)
        self.assertEqual(Decimal(str(chat["cost"])), Decimal("0.003") * 4 + Decimal("0.0000012") * 6)
        prev = Decimal("0.003") * 2 + Decimal("0.0000012")  # 2 events the day before
        today = Decimal(str(chat["cost"]))
        self.assertEqual(chat["change_vs_prev_day_pct"], float(round((today - prev) / prev * 100, 2)))
        self.assertIsNone(rows["x"]["cost_per_value_unit"])
        self.assertEqual(rows["x"]["unpriced_requests"], 1)
        total = sum(Decimal(str(row["cost"])) for row in r["rows"])
        self.assertEqual(Decimal(str(r["total"]["cost"])), total)
        # CSV parses back to the same values, awkward feature names included.
        table = list(csv.DictReader(io.StringIO(self.api("/v1/reports/daily?date=2026-11-20&format=csv")[1])))
        self.assertEqual({row["feature"] for row in table}, {"support-chat", 'a,"b"', "x"})
        self.assertEqual(Decimal([row for row in table if row["feature"] == 'a,"b"'][0]["cost"]), Decimal("0.5"))

    def test_table_format_for_the_terminal(self):
        p = self.cli("report", "daily", "--config", self.d.config, "--date", "2026-11-20")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Daily cost 2026-11-20 (USD)", p.stdout)
        self.assertRegex(p.stdout, r"TOTAL\s+6\s")

    def test_focus_export_billed_cost_per_day_equals_the_report_and_quotes_correctly(self):
        s, body, h = self.api("/v1/export/focus?from=2026-11-16&to=2026-11-20")
        self.assertEqual(s, 200)
        p = self.cli("export", "focus", "--config", self.d.config, "--from", "2026-11-16", "--to", "2026-11-20")
        self.assertEqual(p.stdout, body)
        rows = list(csv.DictReader(io.StringIO(body)))
        for column in ("BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
                       "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
                       "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
                       "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit",
                       "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "RegionId",
                       "ResourceId", "Tags"):
            self.assertIn(column, rows[0])
        for day in ("2026-11-16", "2026-11-19", "2026-11-20"):
            billed = sum(Decimal(r["BilledCost"]) for r in rows if r["ChargePeriodStart"].startswith(day))
            report = json.loads(self.api("/v1/reports/daily?date=" + day)[1])
            self.assertEqual(billed, Decimal(str(report["total"]["cost"])), day)
        odd = [r for r in rows if r["x_Feature"] == 'a,"b"'][0]
        self.assertEqual(json.loads(odd["Tags"])["cost_center"], "cc,42")
        self.assertEqual((odd["ChargePeriodStart"], odd["ChargePeriodEnd"]), ("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"))
        self.assertEqual(odd["ResourceId"], "qwen3-max")

    def test_input_errors(self):
        self.assertEqual(self.api("/v1/reports/daily?date=yesterday")[0], 400)
        s, body, _ = self.api("/v1/reports/daily?group_by=colour")
        self.assertEqual((s, json.loads(body)["error"]["code"]), (400, "invalid_group_by"))
        self.assertEqual(self.api("/v1/reports/daily?format=xml")[0], 400)
        self.assertEqual(self.api("/v1/export/focus?from=2026-11-20")[0], 400)
        self.assertEqual(self.api("/v1/export/focus?from=2026-11-20&to=2026-11-01")[0], 400)
        p = self.cli("report", "daily", "--db", "/nonexistent/x.db")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot open", p.stderr)


class BackupTest(unittest.TestCase):
    def test_backup_under_load_is_consistent_and_holds_every_event_acknowledged_before_it(self):
        d = Daemon().start()
        try:
            load = AckingLoad(d, clients=3, batch=100, prefix="b")
            load.wait_for_acks(3000)
            before = load.snapshot()
            out = d.dir + "/copy.db"
            p = subprocess.run([BIN, "backup", "--config", d.config, "--out", out], capture_output=True, text=True, timeout=60)
            load.stop()
            self.assertEqual(p.returncode, 0, p.stderr)
            con = sqlite3.connect(out)
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            stored = {r[0] for r in con.execute("SELECT event_id FROM events")}
            self.assertEqual([e for e in before if e not in stored], [])
            # The copy is consistent: its rollups hold exactly its raw events.
            raw = con.execute("SELECT COUNT(*), SUM(cost_nanos) FROM events").fetchone()
            rolled = con.execute("SELECT SUM(events), SUM(cost_nanos) FROM rollup_15m").fetchone()
            self.assertEqual(raw, rolled)
            con.close()
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
