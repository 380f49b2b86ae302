"""A real Prometheus (Debian's) scrapes a live Tollgate every second with the shipped alert
rules; every PromQL expression of every dashboard panel and every rule is evaluated through
Prometheus's HTTP API after traffic that crosses a budget."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import Daemon, event, wait_for

ROOT = os.path.join(os.path.dirname(__file__), "../..")
RULES = os.path.join(ROOT, "dashboards/prometheus/alerts.yml")
DASHBOARDS = [os.path.join(ROOT, "dashboards/grafana", f) for f in ("tollgate-oncall.json", "tollgate-finops.json")]

POLICIES = """budgets:
  - name: chat-daily
    match: {feature: support-chat}
    limit: 1
    rules:
      - {at_percent: 80, action: alert}
      - {at_percent: 100, action: block, priorities: [batch]}
      - {at_percent: 100, action: limit_rps, rps: 100, priorities: [standard]}
"""

# Panels whose queries the traffic below must fill (title → at least one series).
MUST_HAVE_DATA = {
    "Active throttles and why", "Budget utilisation", "Burn rate (1h and 5m)", "Budget spend vs limit",
    "Admission decisions", "Throttled admissions by priority", "Ingest rate and rejects",
    "Unpriced events (last hour)", "Ledger commit p99", "HTTP errors", "Last reload", "Tollgate up",
    "Cost per hour by feature", "Cost per hour by model", "Tokens per second by kind",
    "Cost per 1k tokens by model", "Top spenders (last 24h)", "Cost in the last 24h",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def substitute(expr):
    """Grafana's variables as a dashboard user would have them: every budget and feature."""
    for var, value in (("$__rate_interval", "1m"), ("$__interval", "5s"), ("$__range", "1h"),
                       ("$budget", ".*"), ("$feature", ".*"), ("$job", "tollgate"),
                       ("$instance", ".*")):
        expr = expr.replace(var, value)
    return expr


class PrometheusTest(unittest.TestCase):
    def setUp(self):
        self.promtool = shutil.which("promtool")
        self.prometheus = shutil.which("prometheus")
        self.assertIsNotNone(self.prometheus, "deploy/test.sh installs the prometheus package")
        self.d = Daemon()
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        self.d.start()
        self.pdir = tempfile.mkdtemp(prefix="tollgate-prom-")
        self.pport = free_port()
        with open(os.path.join(self.pdir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n  - job_name: tollgate\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (os.path.abspath(RULES), self.d.port))
        self.prom = subprocess.Popen(
            [self.prometheus, "--config.file=" + os.path.join(self.pdir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(self.pdir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.pport, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def tearDown(self):
        self.prom.terminate()
        self.prom.wait(20)
        self.prom.stderr.close()
        self.d.cleanup()
        shutil.rmtree(self.pdir, ignore_errors=True)

    def api(self, path, **params):
        url = "http://127.0.0.1:%d%s" % (self.pport, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        # While Prometheus starts it answers 503 in plain text: wait for it to become ready.
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    return json.load(r)
            except urllib.error.HTTPError as e:
                body = e.read()
                try:
                    return json.loads(body)
                except ValueError:
                    if time.time() > deadline:
                        raise AssertionError("Prometheus answered %d: %r" % (e.code, body[:200]))
                    time.sleep(0.2)

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)

    def has_data(self, expr):
        try:
            r = self.query(expr)
        except urllib.error.URLError:  # Prometheus still starting
            return False
        return r["status"] == "success" and len(r["data"]["result"]) > 0

    def test_dashboards_and_rules_evaluate_and_the_exhausted_alert_goes_pending(self):
        wait_for(lambda: self.has_data('up{job="tollgate"} == 1'), timeout=30, interval=0.2)
        # Traffic: spend that crosses the budget, admissions of every outcome, a reject, unpriced.
        self.d.post_usage([event("p%d" % i, cost=0.1) for i in range(5)])
        self.d.post_usage([event("q%d" % i, cost=0.1, model="gpt-4o", provider="openai") for i in range(7)])
        self.d.post_usage([event("u1", provider="acme", model="mystery"), {"event_id": "bad"}])
        for priority in ("batch", "standard", "critical"):
            self.d.request("GET", "/v1/admit?feature=support-chat&priority=" + priority)
        self.d.request("GET", "/v1/nothing")  # a 404 for the HTTP errors panel
        # A few scrapes, so rate() has two points everywhere.
        time.sleep(4)
        self.d.post_usage([event("r%d" % i, cost=0.01) for i in range(3)])
        for _ in range(3):
            self.d.request("GET", "/v1/admit?feature=support-chat&priority=batch")
        time.sleep(3)

        checked = 0
        for path in DASHBOARDS:
            dashboard = json.load(open(path))
            for v in dashboard["templating"]["list"]:
                if v["type"] == "query":
                    q = substitute(v["query"]["query"])
                    m = re.match(r"label_values\((.*), (\w+)\)$", q)
                    self.assertIsNotNone(m, q)
                    r = self.api("/api/v1/label/%s/values" % m.group(2), **{"match[]": m.group(1)})
                    self.assertEqual(r["status"], "success", q)
                    self.assertTrue(r["data"], "variable %s has no values" % v["name"])
            for panel in dashboard["panels"]:
                for t in panel["targets"]:
                    expr = substitute(t["expr"])
                    r = self.query(expr)
                    self.assertEqual(r["status"], "success", "%s: %s: %s" % (panel["title"], expr, r.get("error")))
                    checked += 1
                    if panel["title"] in MUST_HAVE_DATA and t["refId"] == "A":
                        self.assertTrue(r["data"]["result"], "%s returned no data: %s" % (panel["title"], expr))
        self.assertGreater(checked, 20)

        rules = self.api("/api/v1/rules")
        exprs = [rule["query"] for g in rules["data"]["groups"] for rule in g["rules"]]
        self.assertEqual(len(exprs), 11, "every shipped rule is loaded")
        for expr in exprs:
            self.assertEqual(self.query(expr)["status"], "success", expr)

        def exhausted_state():
            alerts = self.api("/api/v1/alerts")["data"]["alerts"]
            return [a["state"] for a in alerts
                    if a["labels"]["alertname"] == "TollgateBudgetExhausted" and a["labels"]["budget"] == "chat-daily"]
        self.assertEqual(wait_for(exhausted_state, timeout=20), ["pending"])


class PrometheusTokenTest(unittest.TestCase):
    """auth.metrics: read, scraped by a real Prometheus with and without its bearer token."""

    def test_metrics_behind_a_token(self):
        import hashlib
        prometheus = shutil.which("prometheus")
        self.assertIsNotNone(prometheus)
        d = Daemon(extra_config="auth:\n  metrics: read\n  tokens:\n"
                                "    - {name: prom, sha256: %s, roles: [read]}\n"
                                % hashlib.sha256(b"prom-secret").hexdigest()).start()
        pdir = tempfile.mkdtemp(prefix="tollgate-prom-")
        pport = free_port()
        token_file = os.path.join(pdir, "token")
        with open(token_file, "w") as f:
            f.write("prom-secret")
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s}\nscrape_configs:\n"
                    "  - job_name: with-token\n    authorization: {credentials_file: %s}\n"
                    "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                    "  - job_name: no-token\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                    % (token_file, d.port, d.port))
        prom = subprocess.Popen(
            [prometheus, "--config.file=" + os.path.join(pdir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(pdir, "data"),
             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(d.get("/metrics")[0], 401)

            def up(job):
                url = "http://127.0.0.1:%d/api/v1/query?%s" % (pport, urllib.parse.urlencode({"query": 'up{job="%s"}' % job}))
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        result = json.load(r)["data"]["result"]
                except (urllib.error.URLError, ValueError, KeyError):
                    return None
                return result[0]["value"][1] if result else None

            wait_for(lambda: up("with-token") == "1" and up("no-token") == "0", timeout=60)
        finally:
            prom.terminate()
            prom.wait(20)
            d.cleanup()
            shutil.rmtree(pdir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
