"""The ledger's files: a damaged database is refused at start; a database or WAL removed or
replaced under the running daemon stops acknowledgements (503), takes it out of readiness, is
counted and logged once, instead of acknowledging into a file nobody can read back."""
import os
import shutil
import subprocess
import time
import unittest

from harness import BIN, Daemon, event, wait_for


class LedgerFilesTest(unittest.TestCase):
    def test_a_removed_wal_stops_acknowledgements(self):
        d = Daemon().start()
        try:
            self.assertEqual(d.post_usage([event("w1")])[0], 200)
            os.unlink(d.db + "-wal")  # an operator's rm, a cleanup script
            s, body, h = d.post_usage([event("w2")])
            self.assertEqual(s, 503, body)
            self.assertEqual(body["error"]["code"], "storage_unavailable")
            self.assertIn("-wal was removed", body["error"]["message"])
            self.assertEqual(d.get("/readyz")[0], 503)
            self.assertEqual(d.metric_value("tollgate_ledger_unhealthy"), 1)
            for i in range(3):
                self.assertEqual(d.post_usage([event("w3-%d" % i)])[0], 503)
            # The log is read by another thread: wait for the line, then check it came once.
            wait_for(lambda: any("ledger refuses writes" in l for l in d.log), timeout=5)
            self.assertEqual(sum("ledger refuses writes" in l for l in d.log), 1)  # logged once
            # A restart reopens the files: w1 was committed before, and the daemon is ready again.
            d.stop()
            d.start()
            self.assertEqual(d.query("SELECT COUNT(*) FROM events WHERE event_id = 'w1'")[0][0], 1)
            self.assertEqual(d.metric_value("tollgate_ledger_unhealthy"), 0)
        finally:
            d.cleanup()

    def test_a_replaced_database_is_noticed_without_traffic(self):
        d = Daemon().start()
        try:
            self.assertEqual(d.post_usage([event("r1")])[0], 200)
            shutil.copy(d.db, d.db + ".copy")
            os.replace(d.db + ".copy", d.db)  # same name, another file
            wait_for(lambda: d.get("/readyz")[0] == 503, timeout=5)  # checked every second
            self.assertIn("was replaced", d.get("/readyz")[1].decode())
            self.assertEqual(d.post_usage([event("r2")])[0], 503)
        finally:
            d.cleanup()

    def test_a_damaged_ledger_is_refused_at_start(self):
        d = Daemon().start()
        try:
            d.post_usage([event("c%d" % i) for i in range(2000)])
            d.stop()
            size = os.path.getsize(d.db)
            with open(d.db, "r+b") as f:  # overwrite pages in the middle of the file
                f.seek(size // 2)
                f.write(os.urandom(8192))
            p = subprocess.run([BIN, "serve", "--config", d.config], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("is damaged", p.stderr)
            self.assertIn("tollgate backup", p.stderr)
        finally:
            d.cleanup()

    def test_corruption_found_while_serving_takes_the_daemon_out_of_readiness(self):
        d = Daemon().start()
        try:
            # Enough events (ids spread over the whole index) that the ledger outgrows SQLite's
            # page cache, so a later commit reads pages from the file.
            for b in range(20):
                s, _, _ = d.post_usage([event("k-%d-%06d" % (b, (i * 7919) % 100000), feature="f%d" % (i % 50),
                                              customer="c%d" % i) for i in range(1000)])
                self.assertEqual(s, 200)
            import sqlite3
            con = sqlite3.connect(d.db, timeout=10)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
            page = con.execute("PRAGMA page_size").fetchone()[0]
            con.close()
            size = os.path.getsize(d.db)
            with open(d.db, "r+b") as f:  # a disk that returns garbage for most pages
                f.seek(page * 2)
                f.write(os.urandom(size - page * 2))
            failures_before = d.metric_value("tollgate_ledger_commit_failures_total") or 0
            statuses = []
            for i in range(20):
                s, body, _ = d.post_usage([event("late-%d-%d" % (i, j), customer="n%d" % j) for j in range(50)])
                statuses.append(s)
                if s == 503:
                    break
            self.assertEqual(statuses[-1], 503, statuses)
            self.assertEqual(body["error"]["code"], "storage_unavailable")
            s, text, _ = d.get("/readyz")
            self.assertEqual(s, 503)
            self.assertIn("corrupt", text.decode())
            self.assertIn("tollgate backup", text.decode())
            self.assertEqual(d.metric_value("tollgate_ledger_unhealthy"), 1)
            self.assertGreater(d.metric_value("tollgate_ledger_commit_failures_total"), failures_before)
            # From now on refused at once, without touching the file; logged once.
            for i in range(3):
                self.assertEqual(d.post_usage([event("after-%d" % i)])[0], 503)
            wait_for(lambda: any("ledger refuses writes" in l for l in d.log), timeout=5)
            self.assertEqual(sum("ledger refuses writes" in l for l in d.log), 1)
            self.assertEqual(d.get("/healthz")[0], 200)  # alive: on-call sees why, nothing crashed
        finally:
            d.cleanup()


class UpgradeTest(unittest.TestCase):
    """A ledger of the previous schema (7, written here from the migrations' own SQL) is migrated
    at start, said in the log, and keeps every charge."""

    def test_a_schema_7_ledger_is_migrated_at_start_and_keeps_its_charges(self):
        import re
        import sqlite3
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        with open(os.path.join(root, "storage", "schema.cpp")) as f:
            migrations = re.findall(r'R"sql\((.*?)\)sql"', f.read(), re.S)
        d = Daemon()
        try:
            con = sqlite3.connect(d.db)
            for m in migrations[:7]:
                con.executescript(m)
            con.execute("PRAGMA user_version = 7")
            con.executescript("""
INSERT INTO charges_daily VALUES
  ('2026-11-21', 'p', 'm', '', 'chat', 'cx', 'acme', 'batch', '{}', 'caller', 'caller-priced',
   'caller-priced', 'USD', 1000000000, 0, 0, 0, 1, 300),
  ('2026-11-21', 'p', 'm', '', 'chat', 'cx', 'globex', 'batch', '{}', 'caller', 'caller-priced',
   'caller-priced', 'USD', 1000000000, 0, 0, 0, 1, 400);
INSERT INTO events (event_id, ts_ms, day_local, feature, team, customer, tags, provider, model,
  region, priority, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests,
  gpu_micros, egress_bytes, latency_ms, status, cost_nanos, currency, priced_by, price_ref,
  value_units_nanos, revenue_nanos, reservation_id, received_ms)
VALUES ('before-upgrade', 1763683200000, '2025-11-21', 'chat', 'cx', 'acme', '{}', 'p', 'm', '',
  'batch', 0, 0, 0, 0, 1, 0, 0, 0, 'ok', 700, 'USD', 'caller', '', 0, 0, '', 1763683200000);
INSERT INTO rollup_15m (bucket_ms, day_local, feature, team, customer, tags, provider, model,
  region, priority, status, priced_by, currency, events, requests, input_tokens,
  cached_input_tokens, cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos,
  value_units_nanos, revenue_nanos)
VALUES (1763683200000, '2025-11-21', 'chat', 'cx', 'acme', '{}', 'p', 'm', '', 'batch', 'ok',
  'caller', 'USD', 1, 1, 0, 0, 0, 0, 0, 0, 700, 0, 0);
INSERT INTO rollup_daily SELECT day_local, feature, team, customer, tags, provider, model, region,
  priority, status, priced_by, currency, events, requests, input_tokens, cached_input_tokens,
  cache_write_tokens, output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos,
  revenue_nanos, reasoning_tokens FROM rollup_15m;""")
            con.commit()
            con.close()
            d.start()
            self.assertTrue(any("migrating the ledger from schema 7 to" in l for l in d.log), d.log)
            self.assertTrue(any("migrated to schema" in l for l in d.log), d.log)
            self.assertEqual(d.query("SELECT COUNT(*), SUM(cost_nanos), MIN(customer_lo), "
                                     "MAX(customer_hi) FROM charges_daily")[0],
                             (1, 700, "acme", "globex"))
            s, r, _ = d.post_usage([event("after-upgrade", cost=0.25)])
            self.assertEqual((s, r["accepted"]), (200, 1))
            # Schema 9: the event stored before counts once, in the stored rollups (the
            # watermark starts past it), the new one through the views until flushed.
            for view in ("rollup_15m", "rollup_daily"):
                self.assertEqual(d.query("SELECT COUNT(*), SUM(cost_nanos) FROM %s" % view)[0],
                                 (2, 700 + 250_000_000), view)
            self.assertEqual(d.stop(), 0)
            # Flushed: the old event in its stored row, the new one the first under its key, so
            # left as its raw row: marked listed, inside its day's range (schema 14).
            self.assertEqual(d.query("SELECT SUM(events), SUM(cost_nanos) FROM rollup_daily_rows")[0],
                             (1, 700))
            self.assertEqual(d.query("SELECT COUNT(*), SUM(e.cost_nanos) FROM rollup_raw_ranges g "
                                     "JOIN event_rows e ON e.rowid BETWEEN g.first_rowid AND "
                                     "g.last_rowid AND e.listed JOIN events v ON v.rowid = e.rowid "
                                     "AND v.day_local = g.day_local")[0],
                             (1, 250_000_000))
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
