"""Starts the real tollgate binary on port 0 and talks HTTP to it (stdlib only)."""
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("TOLLGATE_BIN", os.path.join(os.path.dirname(__file__), "../../build/tollgate"))
EXAMPLES = os.environ.get("TOLLGATE_EXAMPLES", os.path.join(os.path.dirname(__file__), "../../deploy/examples"))

PRICES = """prices:
  - provider: alibaba
    model: qwen3-max
    per_1m_input_tokens: 1.20
    per_1m_output_tokens: 6.00
    per_1m_cached_input_tokens: 0.24
    batch_discount_percent: 50
    tiers:
      - above_input_tokens: 32000
        per_1m_input_tokens: 2.40
        per_1m_output_tokens: 12.00
  - provider: openai
    model: gpt-4o
    per_1m_input_tokens: 2.50
    per_1m_cached_input_tokens: 1.25
    per_1m_output_tokens: 10.00
"""


def wait_for(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %.1fs" % timeout)


class Daemon:
    """One tollgate serve process on its own temporary directory."""

    def __init__(self, workdir=None, extra_config="", prices=PRICES, storage_extra="", server_extra=""):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="tollgate-it-")
        self.db = os.path.join(self.dir, "tollgate.db")
        with open(os.path.join(self.dir, "prices.yaml"), "w") as f:
            f.write(prices)
        with open(os.path.join(self.dir, "policies.yaml"), "w") as f:
            f.write("budgets: []\n")
        self.config = os.path.join(self.dir, "tollgate.yaml")
        with open(self.config, "w") as f:
            f.write("server:\n  listen: 127.0.0.1:0\n  threads: 2\n" + server_extra +
                    "storage:\n  path: tollgate.db\n  commit_interval_ms: 5\n" + storage_extra +
                    "prices_file: prices.yaml\npolicies_file: policies.yaml\n" + extra_config)
        self.proc = None
        self.log = []

    def start(self, expect_ready=True):
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.log = []
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config],
                                     stderr=subprocess.PIPE, text=True)
        self.port = None
        port_found = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on [^ ]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    port_found.set()
            port_found.set()

        threading.Thread(target=pump, daemon=True).start()
        if expect_ready:
            port_found.wait(15)
            assert self.port, "daemon did not start:\n" + "".join(self.log)
            wait_for(lambda: self.get("/readyz")[0] == 200)
        return self

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if own:
            c.close()
        return r.status, data, dict(r.getheaders())

    def get(self, path, **kw):
        try:
            return self.request("GET", path, **kw)
        except (ConnectionError, OSError):
            return 0, b"", {}

    def post_usage(self, events, ndjson=False, conn=None, headers=None):
        h = dict(headers or {})
        if ndjson:
            body = "\n".join(json.dumps(e) for e in events) + "\n"
            h["Content-Type"] = "application/x-ndjson"
        else:
            body = json.dumps(events)
            h["Content-Type"] = "application/json"
        status, data, hdrs = self.request("POST", "/v1/usage", body, h, conn=conn)
        return status, (json.loads(data) if data else None), hdrs

    def metrics(self):
        status, data, _ = self.request("GET", "/metrics")
        assert status == 200
        return data.decode()

    def metric_value(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total, found = 0.0, False
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(m.group(4))
                found = True
        return total if found else None

    def sanitizer_reports(self):
        """Reports a sanitizer build of the daemon wrote to its log (none in a plain build)."""
        markers = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")
        return [l for l in self.log if any(m in l for m in markers)]

    def check_sanitizers(self):
        reports = self.sanitizer_reports()
        if reports:
            raise AssertionError("sanitizer report from the daemon:\n" + "".join(self.log[-200:]))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        try:
            return self._stop(sig, timeout)
        finally:
            time.sleep(0.05)  # the log pump reads the last lines
            self.check_sanitizers()

    def _stop(self, sig, timeout):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("daemon did not stop within %ds" % timeout)
        return self.proc.returncode if self.proc else None

    def query(self, sql, args=()):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.05)  # the log pump reads the last lines
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.check_sanitizers()


def event(event_id, **fields):
    e = {"event_id": event_id, "feature": "support-chat", "provider": "alibaba",
         "model": "qwen3-max", "input_tokens": 1200, "output_tokens": 300}
    e.update(fields)
    return e


class AckingLoad:
    """Clients posting batches of unique events on keep-alive connections until stopped,
    recording every event_id the daemon acknowledged (HTTP 200)."""

    def __init__(self, daemon, clients, batch, prefix):
        self.acked, self.lock, self.stop_event = [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(daemon, t, batch, prefix), daemon=True)
                        for t in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, d, t, size, prefix):
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
        i = 0
        while not self.stop_event.is_set():
            batch = [event("%s%d-%d-%d" % (prefix, t, i, k)) for k in range(size)]
            i += 1
            try:
                status, _, _ = d.post_usage(batch, conn=conn)
            except Exception:  # noqa: BLE001 - the server went away: nothing acknowledged
                return
            if status == 200:
                with self.lock:
                    self.acked.extend(e["event_id"] for e in batch)

    def wait_for_acks(self, n, timeout=30):
        wait_for(lambda: len(self.acked) >= n, timeout=timeout)

    def snapshot(self):
        with self.lock:
            return list(self.acked)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join()
        return self.snapshot()
