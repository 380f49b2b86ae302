"""Finance across instances: `report daily` and `export focus` merge several ledgers (one per
instance or region) exactly, refuse ledgers that report differently, and say when one event was
acknowledged by two of them."""
import csv
import io
import json
import os
import subprocess
import unittest
from decimal import Decimal

from harness import BIN, Daemon, event

DAY = "2026-11-20"


def cli(*args):
    p = subprocess.run([BIN, *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def billed(csv_text):
    """BilledCost per (ChargePeriodStart, x_Feature, SkuPriceId) and the rows, of a FOCUS CSV."""
    rows = list(csv.DictReader(io.StringIO(csv_text, newline="")))
    return rows, sum(Decimal(r["BilledCost"]) for r in rows)


class MergeLedgersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Two instances, each its own ledger: "eu" and "us". Feature "shared" is used on both,
        # the others on one; "dup" was acknowledged by both (a client that retried elsewhere).
        cls.eu, cls.us = Daemon(), Daemon()
        for d, prefix, features in ((cls.eu, "eu", ("shared", "eu-only")),
                                    (cls.us, "us", ("shared", "us-only"))):
            d.start()
            events = [event("%s-%d" % (prefix, i), ts=DAY + "T1%d:00:00Z" % i, feature=f,
                            input_tokens=1000 + 7 * i, output_tokens=300 + i, team="t-" + prefix)
                      for i, f in enumerate(features * 3)]
            events.append(event("%s-prev" % prefix, ts="2026-11-19T12:00:00Z", feature="shared"))
            events.append(event("dup", ts=DAY + "T09:00:00Z", feature="shared"))
            s, body, _ = d.post_usage(events)
            assert body["accepted"] == len(events), body
            d.stop()

    @classmethod
    def tearDownClass(cls):
        cls.eu.cleanup()
        cls.us.cleanup()

    def report_day(self, day, *dbs):
        return self.report(*dbs, day=day)[0]

    def report(self, *dbs, day=DAY):
        args = ["report", "daily", "--date", day, "--format", "json", "--group-by", "feature"]
        for db in dbs:
            args += ["--db", db]
        code, out, err = cli(*args)
        self.assertEqual(code, 0, err)
        return json.loads(out), err

    def test_the_merged_report_is_the_exact_sum_of_each_ledgers_report(self):
        eu, _ = self.report(self.eu.db)
        us, _ = self.report(self.us.db)
        both, err = self.report(self.eu.db, self.us.db)
        rows = {r["feature"]: r for r in both["rows"]}
        self.assertEqual(set(rows), {"shared", "eu-only", "us-only"})
        for field in ("cost", "requests", "input_tokens", "output_tokens"):
            per_ledger = {}
            for report in (eu, us):
                for r in report["rows"]:
                    per_ledger[r["feature"]] = per_ledger.get(r["feature"], 0) + Decimal(str(r[field]))
            for feature, value in per_ledger.items():
                self.assertEqual(Decimal(str(rows[feature][field])), value, (feature, field))
            self.assertEqual(Decimal(str(both["total"][field])),
                             Decimal(str(eu["total"][field])) + Decimal(str(us["total"][field])), field)
        # The day before comes from both ledgers too: "shared" was used on both then.
        prev = {r["feature"]: Decimal(str(r["cost"]))
                for r in self.report_day("2026-11-19", self.eu.db, self.us.db)["rows"]}
        today = Decimal(str(rows["shared"]["cost"]))
        self.assertAlmostEqual(float(rows["shared"]["change_vs_prev_day_pct"]),
                               float((today - prev["shared"]) / prev["shared"] * 100), places=1)
        self.assertIsNone(rows["us-only"]["change_vs_prev_day_pct"])
        self.assertEqual([r["feature"] for r in both["rows"]],
                         sorted(rows, key=lambda f: -Decimal(str(rows[f]["cost"]))), "by cost")
        # The event both instances acknowledged is counted twice, and the report says so.
        self.assertIn("warning: 1 events of 2026-11-13..2026-11-20 are in more than one", err)
        _, alone = self.report(self.eu.db)
        self.assertEqual(alone, "", "one ledger: nothing to warn of")

    def test_the_merged_focus_export_adds_up_to_the_merged_report(self):
        code, out, err = cli("export", "focus", "--db", self.eu.db, "--db", self.us.db,
                             "--from", "2026-11-19", "--to", DAY)
        self.assertEqual(code, 0, err)
        rows, total = billed(out)
        singles = []
        for db in (self.eu.db, self.us.db):
            c, o, e = cli("export", "focus", "--db", db, "--from", "2026-11-19", "--to", DAY)
            self.assertEqual(c, 0, e)
            singles.append(billed(o))
        self.assertEqual(total, singles[0][1] + singles[1][1])
        # The same charge in both ledgers (feature "shared", same model and price, same day) is one
        # row; the teams differ, so those rows are per team and not merged.
        self.assertLess(len(rows), len(singles[0][0]) + len(singles[1][0]) + 1)
        self.assertIn("warning: 1 events of 2026-11-19..2026-11-20", err)
        both, _ = self.report(self.eu.db, self.us.db)
        day_total = sum(Decimal(r["BilledCost"]) for r in rows if r["ChargePeriodStart"].startswith(DAY))
        self.assertEqual(day_total, Decimal(str(both["total"]["cost"])))

    def test_ledgers_that_report_differently_are_not_merged(self):
        other = Daemon(extra_config="reporting:\n  currency: USD\n  timezone: Asia/Kolkata\n")
        try:
            other.start()
            other.post_usage([event("k-1", ts=DAY + "T12:00:00Z")])
            other.stop()
            code, out, err = cli("report", "daily", "--db", self.eu.db, "--db", other.db, "--date", DAY)
            self.assertEqual(code, 1)
            self.assertEqual(out, "")
            self.assertIn("Asia/Kolkata", err)
            self.assertIn("cannot be merged exactly", err)
        finally:
            other.cleanup()

    def test_the_same_ledger_twice_is_refused_not_counted_twice(self):
        link = self.eu.db + ".again"
        os.symlink(self.eu.db, link)
        try:
            for second in (self.eu.db, link):
                code, out, err = cli("report", "daily", "--db", self.eu.db, "--db", second,
                                     "--date", DAY)
                self.assertEqual((code, out), (1, ""))
                self.assertIn("are the same ledger", err)
        finally:
            os.remove(link)

    def test_backup_copies_one_ledger(self):
        code, _, err = cli("backup", "--db", self.eu.db, "--db", self.us.db, "--out", "/tmp/x.db")
        self.assertEqual(code, 1)
        self.assertIn("--db", err)

    def test_a_missing_ledger_fails_the_merge(self):
        code, out, err = cli("report", "daily", "--db", self.eu.db, "--db", "/nonexistent/t.db",
                             "--date", DAY)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("/nonexistent/t.db", err)


if __name__ == "__main__":
    unittest.main()
