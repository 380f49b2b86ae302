"""Auth, reload, and the metrics endpoint checked by promtool."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import unittest

from harness import Daemon, event, wait_for


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


AUTH = """auth:
  tokens:
    - {name: gateway, sha256: %s, roles: [ingest, admit]}
    - {name: sre, sha256: %s, roles: [admin]}
    - {name: viewer, sha256: %s, roles: [read]}
""" % (sha("gw-secret"), sha("sre-secret"), sha("view-secret"))


class AuthTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(extra_config=AUTH).start()

    def tearDown(self):
        self.d.cleanup()

    def test_roles(self):
        s, body, h = self.d.post_usage([event("a1")])
        self.assertEqual(s, 401)
        self.assertEqual(body["error"]["code"], "unauthorized")
        self.assertEqual(h.get("WWW-Authenticate"), "Bearer")
        s, body, _ = self.d.post_usage([event("a1")], headers={"Authorization": "Bearer nope"})
        self.assertEqual(s, 401)
        s, body, _ = self.d.post_usage([event("a1")], headers={"Authorization": "Bearer view-secret"})
        self.assertEqual((s, body["error"]["code"]), (403, "forbidden"))
        s, body, _ = self.d.post_usage([event("a1")], headers={"Authorization": "Bearer gw-secret"})
        self.assertEqual((s, body["accepted"]), (200, 1))
        s, body, _ = self.d.post_usage([event("a2")], headers={"Authorization": "Bearer sre-secret"})
        self.assertEqual((s, body["accepted"]), (200, 1))  # admin implies ingest
        self.assertEqual(self.d.request("POST", "/-/reload", headers={"Authorization": "Bearer gw-secret"})[0], 403)
        self.assertEqual(self.d.request("POST", "/-/reload", headers={"Authorization": "Bearer sre-secret"})[0], 200)
        # No token needed for operations endpoints.
        for path in ("/healthz", "/readyz", "/metrics"):
            self.assertEqual(self.d.get(path)[0], 200, path)


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon().start()
        self.prices = os.path.join(self.d.dir, "prices.yaml")

    def tearDown(self):
        self.d.cleanup()

    def cost_of(self, event_id, **fields):
        self.assertEqual(self.d.post_usage([event(event_id, **fields)])[1]["accepted"], 1)
        return self.d.query("SELECT cost_nanos FROM events WHERE event_id = ?", (event_id,))[0][0]

    def test_reload_swaps_prices_and_a_bad_file_never_replaces_the_running_one(self):
        self.assertEqual(self.cost_of("r1", model="new-model"), 0)  # unpriced
        with open(self.prices, "a") as f:
            f.write("  - {provider: alibaba, model: new-model, per_1m_input_tokens: 1, per_1m_output_tokens: 1}\n")
        s, body, _ = self.d.request("POST", "/-/reload")
        self.assertEqual((s, json.loads(body)), (200, {"reloaded": True}))
        self.assertEqual(self.cost_of("r2", model="new-model"), 1_500_000)
        self.assertEqual(self.d.metric_value("tollgate_config_last_reload_successful"), 1)

        with open(self.prices, "a") as f:
            f.write("  - {provider: x, model: y, per_1m_input_tokens: lots}\n  - {provider: x, colour: red}\n")
        s, body, _ = self.d.request("POST", "/-/reload")
        self.assertEqual(s, 400)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "invalid_config")
        self.assertEqual(len(err["errors"]), 3, err)  # lots, colour, missing model
        self.assertRegex(err["errors"][0], r"prices\.yaml:\d+:\d+: ")
        self.assertEqual(self.cost_of("r3", model="new-model"), 1_500_000)  # old book still runs
        self.assertEqual(self.d.metric_value("tollgate_config_last_reload_successful"), 0)

    def test_reload_is_all_or_nothing_under_a_hammer_of_good_and_bad_files(self):
        # Each round writes a new price and a policies file; every other round the policies file
        # is bad. A refused reload must leave the previous price in force (never the new one).
        policies = os.path.join(self.d.dir, "policies.yaml")
        good_policies = "budgets:\n  - {name: b%d, period: day, limit: 10, match: {feature: f}}\n"
        bad_policies = "budgets:\n  - {name: b%d, period: fortnight, limit: 10}\n"
        in_force = 0
        for i in range(1, 41):
            price = i  # per 1M input tokens
            with open(self.prices, "w") as f:
                f.write("prices:\n  - {provider: alibaba, model: hammer, per_1m_input_tokens: %d}\n" % price)
            bad = i % 2 == 0
            with open(policies, "w") as f:
                f.write((bad_policies if bad else good_policies) % i)
            s, body, _ = self.d.request("POST", "/-/reload")
            self.assertEqual(s, 400 if bad else 200, body)
            if not bad:
                in_force = price
            cost = self.cost_of("hammer-%d" % i, model="hammer", input_tokens=1_000_000, output_tokens=0)
            self.assertEqual(cost, in_force * 1_000_000_000, "round %d" % i)
            budgets = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"]
            self.assertEqual([b["name"] for b in budgets], ["b%d" % (i if not bad else i - 1)])

    def test_sighup_reloads(self):
        with open(self.prices, "a") as f:
            f.write("  - {provider: alibaba, model: hup-model, per_1m_input_tokens: 2}\n")
        self.d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("reloaded" in l for l in self.d.log))
        self.assertEqual(self.cost_of("h1", model="hup-model", output_tokens=0), 2_400_000)


class MetricsTest(unittest.TestCase):
    def test_promtool_accepts_a_live_scrape_with_every_ingest_series(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool is missing: deploy/test.sh installs the prometheus package")
        d = Daemon().start()
        try:
            d.post_usage([event("m1"), event("m2", provider="acme", model="unknown"),
                          event("m3", status="error", team='quote"and\\slash')])
            d.post_usage([{"event_id": "bad"}])
            d.get("/nope")
            text = d.metrics()
            for name in ("tollgate_cost_total", "tollgate_tokens_total", "tollgate_requests_total",
                         "tollgate_unpriced_events_total", "tollgate_ingest_events_total",
                         "tollgate_ledger_commit_duration_seconds", "tollgate_ledger_batch_events",
                         "tollgate_http_requests_total", "tollgate_http_request_duration_seconds",
                         "tollgate_config_last_reload_successful",
                         "tollgate_config_last_reload_success_timestamp_seconds",
                         "tollgate_metric_series_dropped_total", "tollgate_build_info",
                         "process_resident_memory_bytes", "process_cpu_seconds_total",
                         "process_start_time_seconds", "process_open_fds"):
                self.assertIn("# TYPE %s " % name, text, name)
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(d.metric_value("tollgate_requests_total", status="error"), 1)
            self.assertEqual(d.metric_value("tollgate_tokens_total", kind="input"), 3600)
            self.assertEqual(d.metric_value("tollgate_http_requests_total", route="other", code="404"), 1)
            self.assertGreater(d.metric_value("process_resident_memory_bytes"), 1e6)
        finally:
            d.cleanup()

    def test_series_cap_folds_into_other(self):
        d = Daemon(extra_config="metrics: {max_series: 40}\n").start()
        try:
            d.post_usage([event("f%d" % i, feature="feature-%d" % i) for i in range(60)])
            self.assertGreater(d.metric_value("tollgate_metric_series_dropped_total"), 0)
            self.assertIsNotNone(d.metric_value("tollgate_cost_total", feature="__other__"))
            total = d.metric_value("tollgate_cost_total")
            self.assertAlmostEqual(total, 60 * 0.00324, places=9)  # folded, never lost
            # The cap is per family, and operational families never fold: a flood of features
            # leaves every route and code of tollgate_http_requests_total whole, 400/413/404
            # included.
            d.post_usage([{"event_id": "bad"}])
            d.request("POST", "/v1/usage", "x" * 9_000_000, {"Content-Type": "application/json"})
            d.get("/nope")
            text = d.metrics()
            self.assertNotIn('tollgate_http_requests_total{route="__other__"', text)
            self.assertNotIn('tollgate_http_request_duration_seconds_bucket{route="__other__"', text)
            for code in ("200", "404", "413"):
                self.assertIn('code="%s"' % code, text)
            self.assertEqual(d.metric_value("tollgate_http_requests_total", route="/v1/usage", code="200"), 2)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()


class LimitsTest(unittest.TestCase):
    def test_idle_timeout_and_max_connections(self):
        import socket
        import time
        d = Daemon()
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("  threads: 2\n", "  threads: 2\n  idle_timeout_s: 2\n  max_connections: 3\n"))
        d.start()
        try:
            # A request that never finishes arriving is cut after idle_timeout_s.
            slow = socket.create_connection(("127.0.0.1", d.port))
            slow.sendall(b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            slow.settimeout(5)
            start = time.monotonic()
            self.assertEqual(slow.recv(100), b"")
            self.assertLess(time.monotonic() - start, 6)  # 2 s, checked every 0.5 s
            slow.close()
            # Past max_connections new connections are closed at once; the open ones keep working.
            # Each held connection first gets an answer, so all three are surely counted.
            def answered_connection():
                # The timed-out session above may take a moment to release its slot.
                for _ in range(50):
                    c = socket.create_connection(("127.0.0.1", d.port))
                    c.settimeout(10)
                    try:
                        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        if b"200 OK" in c.recv(1000):
                            return c
                    except ConnectionResetError:
                        pass
                    c.close()
                    time.sleep(0.1)
                self.fail("no connection slot became free")

            held = [answered_connection() for _ in range(3)]
            extra = socket.create_connection(("127.0.0.1", d.port))
            extra.settimeout(10)
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(extra.recv(100), b"")
            except ConnectionResetError:
                pass
            held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", held[0].recv(1000))
            for s in held:
                s.close()
            extra.close()
        finally:
            d.cleanup()


class ServiceManagerTest(unittest.TestCase):
    def test_systemd_readiness_watchdog_and_stopping_over_notify_socket(self):
        import socket
        import tempfile
        path = tempfile.mktemp(prefix="tollgate-notify-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        d = Daemon()
        try:
            d.proc = None
            import subprocess as sp
            proc = sp.Popen([os.environ.get("TOLLGATE_BIN", "../../build/tollgate"), "serve", "--config", d.config,
                             "--log-format", "json"], stderr=sp.PIPE, env=env, text=True)
            messages = []
            while not any("READY=1" in m for m in messages):
                messages.append(sock.recv(1024).decode())
            watchdog = 0
            while watchdog < 2:  # pinged every WATCHDOG_USEC / 2 from the I/O loop
                if "WATCHDOG=1" in sock.recv(1024).decode():
                    watchdog += 1
            proc.send_signal(signal.SIGTERM)
            while not any("STOPPING=1" in m for m in messages):
                messages.append(sock.recv(1024).decode())
            self.assertEqual(proc.wait(20), 0)
            lines = [json.loads(l) for l in proc.stderr.read().splitlines()]
            self.assertTrue(all(set(l) == {"ts", "level", "msg"} for l in lines), lines)
            self.assertTrue(any(l["msg"].startswith("listening on 127.0.0.1:") for l in lines))
            proc.stderr.close()
        finally:
            sock.close()
            os.unlink(path)
            d.cleanup()
