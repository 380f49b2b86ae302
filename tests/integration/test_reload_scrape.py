"""/metrics and /v1/budgets scraped in a loop while policies are reloaded over and over, beside
ingest and admissions with an estimate. With TOLLGATE_ASAN_BIN (a build of the `asan` preset) it
runs that binary and fails on any AddressSanitizer or UndefinedBehaviorSanitizer report in the
daemon's stderr; with the normal binary it checks that nothing crashes and every answer is
consistent."""
import http.client
import json
import os
import re
import threading
import time
import unittest

import harness
from harness import Daemon, event

ASAN_BIN = os.environ.get("TOLLGATE_ASAN_BIN")
RELOADS = int(os.environ.get("TOLLGATE_RELOADS", "150"))

# Two shapes of the same budgets: a reload between them rebuilds some (their match changes) and
# keeps others, so both paths free and replace state while scrapes read it.
def policies(generation):
    lines = ["budgets:"]
    for i in range(20):
        features = "[f%d, g%d]" % (i, i) if (generation + i) % 2 else "f%d" % i
        lines += ["  - name: b%d" % i,
                  "    match: {feature: %s}" % features,
                  "    limit: %d" % (10 + generation % 3),
                  "    rules:",
                  "      - {at_percent: 50, action: alert}",
                  "      - {at_percent: 90, action: limit_rps, rps: %d, priorities: [standard]}" % (5 + generation % 2),
                  "      - {at_percent: 100, action: block, priorities: [batch]}"]
    return "\n".join(lines) + "\n"


SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer")


class ReloadWhileScrapingTest(unittest.TestCase):
    def setUp(self):
        if ASAN_BIN:
            harness.BIN = ASAN_BIN
        self.d = Daemon()
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(policies(0))
        self.d.start()
        self.stop = threading.Event()
        self.failures = []
        self.counts = {"scrapes": 0, "budgets": 0, "admits": 0, "ingested": 0}
        self.lock = threading.Lock()

    def tearDown(self):
        self.stop.set()
        self.d.cleanup()

    def note(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def loop(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        while not self.stop.is_set():
            try:
                body(conn)
            except Exception as e:  # noqa: BLE001 - any failure is the test's finding
                self.failures.append(repr(e))
                return

    def scrape(self, conn):
        s, data, _ = self.d.request("GET", "/metrics", conn=conn)
        text = data.decode()
        if s != 200:
            raise AssertionError("/metrics answered %d" % s)
        # One consistent snapshot: every budget has exactly one limit and one spend series.
        limits = re.findall(r'^tollgate_budget_limit\{budget="(b\d+)"', text, re.M)
        spends = re.findall(r'^tollgate_budget_spend\{budget="(b\d+)"', text, re.M)
        if sorted(limits) != sorted(spends) or len(limits) != 20 or len(set(limits)) != 20:
            raise AssertionError("inconsistent budget series: %s / %s" % (limits, spends))
        self.note("scrapes")

    def budgets(self, conn):
        s, data, _ = self.d.request("GET", "/v1/budgets", conn=conn)
        if s != 200 or len(json.loads(data)["budgets"]) != 20:
            raise AssertionError("/v1/budgets answered %d: %s" % (s, data[:200]))
        self.note("budgets")

    def admit(self, conn):
        i = self.counts["admits"] % 20
        s, data, _ = self.d.request(
            "POST", "/v1/admit",
            json.dumps({"feature": "f%d" % i, "priority": "batch", "estimated_cost": 0.01}),
            {"Content-Type": "application/json"}, conn=conn)
        if s not in (200, 429):
            raise AssertionError("/v1/admit answered %d: %s" % (s, data[:200]))
        self.note("admits")

    def ingest(self, conn):
        n = self.counts["ingested"]
        batch = [event("e%d" % (n + k), feature="f%d" % ((n + k) % 20), cost=0.001)
                 for k in range(50)]
        s, _, _ = self.d.post_usage(batch, conn=conn)
        if s != 200:
            raise AssertionError("/v1/usage answered %d" % s)
        self.note("ingested", len(batch))

    def test_reloads_under_scrapes_admissions_and_ingest(self):
        workers = [threading.Thread(target=self.loop, args=(f,), daemon=True)
                   for f in (self.scrape, self.scrape, self.budgets, self.admit, self.ingest)]
        for w in workers:
            w.start()
        path = os.path.join(self.d.dir, "policies.yaml")
        for generation in range(1, RELOADS + 1):
            with open(path, "w") as f:
                f.write(policies(generation))
            s, data, _ = self.d.request("POST", "/-/reload")
            self.assertEqual(s, 200, data)
            if self.failures or self.d.proc.poll() is not None:
                break
        time.sleep(0.2)
        self.stop.set()
        for w in workers:
            w.join(30)
        log = "".join(self.d.log)
        self.assertIsNone(self.d.proc.poll(), "the daemon died:\n" + log[-4000:])
        self.assertEqual(self.failures, [])
        self.assertIsNone(SANITIZER_REPORT.search(log), log[-8000:])
        self.assertGreater(self.counts["scrapes"], 10)
        self.assertGreater(self.counts["admits"], 10)
        self.assertEqual(self.d.stop(), 0)
        log = "".join(self.d.log)
        self.assertIsNone(SANITIZER_REPORT.search(log), log[-8000:])


if __name__ == "__main__":
    unittest.main()
