"""Ingest end to end: the real binary, real SQLite files, HTTP on a real port."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest
from decimal import Decimal

from harness import BIN, EXAMPLES, AckingLoad, Daemon, event, wait_for


class IngestTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon().start()

    def tearDown(self):
        self.d.cleanup()

    def test_health_and_readiness(self):
        self.assertEqual(self.d.get("/healthz")[:2], (200, b"ok\n"))
        self.assertEqual(self.d.get("/readyz")[0], 200)

    def test_accepts_json_array_single_and_ndjson_and_prices_exactly(self):
        s, body, _ = self.d.post_usage([event("a1"), event("a2", priority="batch")])
        self.assertEqual(s, 200)
        self.assertEqual(body, {"accepted": 2, "duplicates": 0, "rejected": 0, "unpriced": 0, "errors": []})
        s, body, _ = self.d.request("POST", "/v1/usage", json.dumps(event("a3", input_tokens=40000)))
        self.assertEqual((s, json.loads(body)["accepted"]), (200, 1))
        n1 = event("n1", provider="openai", model="gpt-4o",
                   usage={"prompt_tokens": 1000, "completion_tokens": 10,
                          "prompt_tokens_details": {"cached_tokens": 600}})
        del n1["input_tokens"], n1["output_tokens"]
        s, body, _ = self.d.post_usage([n1,
                                        event("n2", provider="acme", model="mystery")], ndjson=True)
        self.assertEqual((body["accepted"], body["unpriced"]), (2, 1))
        rows = dict(self.d.query("SELECT event_id, cost FROM ledger_events"))
        self.assertAlmostEqual(rows["a1"], 0.00324, places=12)
        self.assertAlmostEqual(rows["a2"], 0.00162, places=12)                 # batch: 50% off
        self.assertAlmostEqual(rows["a3"], 40000 * 2.4e-6 + 300 * 12e-6, places=12)  # tier
        self.assertAlmostEqual(rows["n1"], 400 * 2.5e-6 + 600 * 1.25e-6 + 10 * 10e-6, places=12)
        self.assertEqual(rows["n2"], 0)
        priced_by = dict(self.d.query("SELECT event_id, priced_by FROM ledger_events"))
        self.assertEqual(priced_by["n2"], "unpriced")
        self.assertEqual(self.d.metric_value("tollgate_unpriced_events_total", provider="acme", model="mystery"), 1)
        tokens = self.d.query("SELECT input_tokens, cached_input_tokens FROM ledger_events WHERE event_id='n1'")
        self.assertEqual(tokens, [(400, 600)])

    def test_views_totals_equal_ingested_totals_to_the_nano(self):
        expected = 0
        events = []
        for i in range(300):
            inp, out = 1000 + i * 37, 50 + i
            events.append(event("t%d" % i, input_tokens=inp, output_tokens=out, team="cx" if i % 2 else "ml",
                                revenue="0.0%d" % (i % 10)))
            expected += inp * 1_200_000_000 + out * 6_000_000_000  # nanos per 1M tokens × tokens
        for chunk in range(0, 300, 100):
            s, body, _ = self.d.post_usage(events[chunk:chunk + 100])
            self.assertEqual(body["accepted"], 100)
        expected_nanos = int((Decimal(expected) / Decimal(10**6)).to_integral_value())
        raw = self.d.query("SELECT SUM(cost_nanos) FROM events")[0][0]
        rollup = self.d.query("SELECT SUM(cost_nanos) FROM rollup_15m")[0][0]
        daily = self.d.query("SELECT SUM(cost) FROM daily_costs")[0][0]
        # Every event's cost is an exact number of nanos here, so the sums are exact too.
        self.assertEqual(raw, expected_nanos)
        self.assertEqual(rollup, expected_nanos)
        self.assertEqual(round(daily * 1e9), expected_nanos)
        self.assertEqual(self.d.query("SELECT SUM(requests), SUM(input_tokens) FROM daily_costs")[0],
                         (300, sum(e["input_tokens"] for e in events)))
        metric = self.d.metric_value("tollgate_cost_total", feature="support-chat", currency="USD")
        self.assertAlmostEqual(metric, expected_nanos / 1e9, places=6)
        self.assertEqual(self.d.metric_value("tollgate_ingest_events_total", result="accepted"), 300)

    def test_duplicates_are_not_stored_or_counted_again(self):
        self.d.post_usage([event("d1", input_tokens=100)])
        s, body, _ = self.d.post_usage([event("d1", input_tokens=999999), event("d2")])
        self.assertEqual((body["accepted"], body["duplicates"]), (1, 1))
        self.assertEqual(self.d.query("SELECT input_tokens FROM events WHERE event_id='d1'"), [(100,)])
        self.assertEqual(self.d.metric_value("tollgate_ingest_events_total", result="duplicate"), 1)

    def test_rejections_have_index_event_id_code_and_message(self):
        s, body, _ = self.d.post_usage([event("ok1"), {"event_id": "bad1", "feature": "f"},
                                        event("bad2", priority="urgent"), event("bad3", input_tokens=-1)])
        self.assertEqual(s, 200)
        self.assertEqual((body["accepted"], body["rejected"]), (1, 3))
        self.assertEqual([(e["index"], e["event_id"], e["code"]) for e in body["errors"]],
                         [(1, "bad1", "missing_field"), (2, "bad2", "invalid_priority"),
                          (3, "bad3", "invalid_count")])
        self.assertIn("provider", body["errors"][0]["message"])
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM events"), [(1,)])
        self.assertEqual(self.d.metric_value("tollgate_ingest_events_total", result="rejected"), 3)

    def test_malformed_body_is_400_and_stores_nothing(self):
        s, body, _ = self.d.request("POST", "/v1/usage", '[{"event_id": "x",', {"Content-Type": "application/json"})
        self.assertEqual(s, 400)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "invalid_json")
        self.assertTrue(err["message"])
        self.assertEqual(self.d.request("POST", "/v1/usage", "")[0], 400)
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM events"), [(0,)])

    def test_oversize_body_413_and_headers_431(self):
        big = "[" + ",".join([json.dumps(event("big%d" % i)) for i in range(80000)]) + "]"
        self.assertGreater(len(big), 8 * 1024 * 1024)
        s, body, _ = self.d.request("POST", "/v1/usage", big, {"Content-Type": "application/json"})
        self.assertEqual(s, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "payload_too_large")
        s, body, _ = self.d.request("GET", "/healthz", headers={"X-Filler": "a" * 20000})
        self.assertEqual(s, 431)
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM events"), [(0,)])

    def test_unknown_route_404_and_wrong_method_405(self):
        s, body, _ = self.d.request("GET", "/v1/nothing")
        self.assertEqual((s, json.loads(body)["error"]["code"]), (404, "not_found"))
        s, body, h = self.d.request("GET", "/v1/usage")
        self.assertEqual((s, h.get("Allow")), (405, "POST"))

    def test_concurrent_clients_share_group_commits(self):
        errors = []

        def client(t):
            try:
                for i in range(20):
                    s, body, _ = self.d.post_usage([event("c%d-%d-%d" % (t, i, k)) for k in range(5)])
                    assert s == 200 and body["accepted"] == 5, body
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM events"), [(1600,)])
        commits = self.d.metric_value("tollgate_ledger_batch_events_count")
        self.assertEqual(self.d.metric_value("tollgate_ledger_batch_events_sum"), 1600)
        self.assertLess(commits, 320, "320 requests should share fewer commits")

    def test_storage_failure_is_503_with_retry_after_and_nothing_acknowledged(self):
        self.d.post_usage([event("s1")])
        con = __import__("sqlite3").connect(self.d.db)
        con.execute("CREATE TRIGGER poison BEFORE INSERT ON event_rows "
                    "WHEN NEW.event_id = 'bad' BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END")
        con.commit()
        con.close()
        s, body, h = self.d.post_usage([event("s2"), event("bad")])
        self.assertEqual(s, 503)
        self.assertEqual(body["error"]["code"], "storage_unavailable")
        self.assertEqual(h.get("Retry-After"), "1")
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM events WHERE event_id = 's2'"), [(0,)])
        s, body, _ = self.d.post_usage([event("s2")])  # the retry of the good one lands
        self.assertEqual((s, body["accepted"]), (200, 1))


class IngestOffIoThreadTest(unittest.TestCase):
    """A batch is decoded on the ingest pool, not on the I/O thread that read it: with one I/O
    thread, an admission check sent while a large batch is being decoded is answered first."""

    def test_admission_is_answered_while_a_large_batch_decodes(self):
        d = Daemon()
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("threads: 2\n", "threads: 1\n"))
        d.start()
        try:
            # ~8 MiB of events that validation refuses (negative tokens): the answer comes as soon
            # as they are decoded, with nothing to commit, so it marks the decode's end.
            line = json.dumps(event("big-000000", input_tokens=-1)) + "\n"
            n = (8 * 1024 * 1024 - 64) // len(line)
            body = "".join(json.dumps(event("big-%06d" % i, input_tokens=-1)) + "\n"
                           for i in range(n)).encode()
            order = []
            lock = threading.Lock()
            s = socket.create_connection(("127.0.0.1", d.port), timeout=60)
            s.sendall(b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson"
                      b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

            def read_ingest_answer():
                data = s.recv(4096)
                with lock:
                    order.append(("ingest", data.split(b"\r\n", 1)[0]))

            reader = threading.Thread(target=read_ingest_answer)
            reader.start()
            # sendall returns with megabytes still in the socket buffers; once the server has
            # read them it decodes for hundreds of milliseconds (~60,000 events).
            time.sleep(0.1)
            status, _, _ = d.request("GET", "/v1/admit?feature=support-chat&priority=batch")
            with lock:
                order.append(("admit", status))
            reader.join(60)
            s.close()
            self.assertEqual([o[0] for o in order], ["admit", "ingest"], order)
            self.assertEqual(order[0][1], 200)
            self.assertEqual(order[1][1], b"HTTP/1.1 200 OK")
            self.assertEqual(d.query("SELECT COUNT(*) FROM events")[0][0], 0)
        finally:
            d.cleanup()


class LifecycleTest(unittest.TestCase):
    def test_restart_keeps_totals_and_resent_events_are_duplicates(self):
        d = Daemon().start()
        try:
            events = [event("r%d" % i, input_tokens=100 + i) for i in range(200)]
            self.assertEqual(d.post_usage(events)[1]["accepted"], 200)
            before = d.query("SELECT SUM(cost_nanos), COUNT(*) FROM events")
            self.assertEqual(d.stop(), 0)
            d.start()
            s, body, _ = d.post_usage(events)
            self.assertEqual((body["accepted"], body["duplicates"]), (0, 200))
            self.assertEqual(d.query("SELECT SUM(cost_nanos), COUNT(*) FROM events"), before)
        finally:
            d.cleanup()

    def stop_under_load(self, sig):
        """Stops a daemon with `sig` under 8 clients of load; returns it (stopped) and the ids
        it acknowledged."""
        d = Daemon().start()
        load = AckingLoad(d, clients=8, batch=50, prefix="L")
        load.wait_for_acks(2000)
        code = d.stop(sig)
        return d, load.stop(), code

    def assert_all_stored(self, d, acked):
        stored = {r[0] for r in d.query("SELECT event_id FROM events")}
        self.assertEqual([e for e in acked if e not in stored], [], "acknowledged events lost")

    def test_sigterm_during_load_loses_no_acknowledged_event(self):
        d, acked, code = self.stop_under_load(signal.SIGTERM)
        try:
            self.assertEqual(code, 0)
            self.assert_all_stored(d, acked)
            self.assertTrue(any("stopped cleanly" in l for l in d.log), "".join(d.log))
        finally:
            d.cleanup()

    def test_kill_9_during_load_loses_no_acknowledged_event(self):
        # A crash, not a drain: what was acknowledged was committed, and WAL keeps it.
        d, acked, _ = self.stop_under_load(signal.SIGKILL)
        try:
            d.start()  # recovery: the lock died with the process; the WAL is replayed
            self.assert_all_stored(d, acked)
            raw = d.query("SELECT COUNT(*), SUM(cost_nanos) FROM events")[0]
            rolled = d.query("SELECT SUM(events), SUM(cost_nanos) FROM rollup_15m")[0]
            self.assertEqual(raw, rolled, "raw events and rollups commit together or not at all")
        finally:
            d.cleanup()

    def test_second_daemon_on_same_database_refuses_to_start(self):
        d = Daemon().start()
        try:
            p = subprocess.run([BIN, "serve", "--config", d.config], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertIn("database is locked by pid %d" % d.proc.pid, p.stderr)
            # Readers keep working beside the daemon.
            self.assertEqual(d.query("SELECT COUNT(*) FROM events"), [(0,)])
        finally:
            d.cleanup()

    def test_startup_failure_on_bad_config_is_exit_1_with_reason(self):
        d = Daemon(extra_config="bogus: 1\n")
        try:
            p = subprocess.run([BIN, "serve", "--config", d.config], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertRegex(p.stderr, r"tollgate\.yaml:\d+:\d+: unknown key \"bogus\"")
        finally:
            d.cleanup()


class CliTest(unittest.TestCase):
    def test_version(self):
        p = subprocess.run([BIN, "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^tollgate \d+\.\d+\.\d+\n$")

    def test_check_accepts_the_example_and_reports_every_error(self):
        p = subprocess.run([BIN, "check", "--config", os.path.join(EXAMPLES, "tollgate.yaml")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = Daemon(prices="prices:\n  - provider: p\n    model: m\n    per_1m_input_tokens: -1\n    currency: XYZ\n")
        try:
            p = subprocess.run([BIN, "check", "--config", d.config], capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 2, p.stderr)
            for line in lines:
                self.assertRegex(line, r"^.*prices\.yaml:\d+:\d+: .+")
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
