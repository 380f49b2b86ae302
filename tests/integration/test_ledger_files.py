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


if __name__ == "__main__":
    unittest.main()
