"""Proxies throttle through Tollgate with no code of their own: GET /v1/authz answered to a real
nginx (Debian's nginx-light, auth_request) running deploy/examples/nginx-tollgate.conf in front
of a small upstream that echoes what it received."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Daemon, event, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
EXAMPLE = os.path.join(ROOT, "deploy/examples/nginx-tollgate.conf")

# Spend 1 USD of a 1 USD budget: batch is blocked, standard rerouted to the cheaper model.
POLICIES = """budgets:
  - name: summarize-daily
    match: {feature: summarize}
    period: day
    limit: 1
    rules:
      - {at_percent: 50, action: reroute, model: qwen-turbo, priorities: [standard]}
      - {at_percent: 100, action: block, priorities: [batch]}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoUpstream:
    """The model server: answers 200 with the path and the headers it received, as JSON."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"path": self.path,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Nginx:
    """nginx running the example server block, with the test's addresses in it, plus a second
    server that proxies without asking Tollgate (to measure what the check adds)."""

    def __init__(self, tollgate_port, upstream_port):
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.dir = tempfile.mkdtemp(prefix="tollgate-nginx-")
        os.chmod(self.dir, 0o777)
        self.port, self.direct_port = free_port(), free_port()
        with open(EXAMPLE) as f:
            example = f.read()
        for old, new in (("server 127.0.0.1:9470;", "server 127.0.0.1:%d;" % tollgate_port),
                         ("server 127.0.0.1:8000;", "server 127.0.0.1:%d;" % upstream_port),
                         ("listen 127.0.0.1:8080", "listen 127.0.0.1:%d" % self.port)):
            self.assert_once(example, old)
            example = example.replace(old, new)
        temp = "".join("%s_temp_path %s/%s;\n" % (k, self.dir, k)
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = ("daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                "events {}\nhttp {\naccess_log off;\n%s%s\n"
                "server { listen 127.0.0.1:%d; location / { proxy_pass http://models; } }\n}\n"
                % (self.dir, self.dir, temp, example, self.direct_port))
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        check = subprocess.run([self.binary, "-t", "-c", self.conf, "-p", self.dir],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([self.binary, "-c", self.conf, "-p", self.dir],
                                     stderr=subprocess.PIPE, text=True)
        wait_for(lambda: self.reachable(), timeout=10)

    @staticmethod
    def assert_once(text, needle):
        assert text.count(needle) == 1, "the example must hold %r exactly once" % needle

    def reachable(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def request(self, priority, model="qwen3-max", port=None, path="/v1/chat/completions"):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        c.request("GET", path, headers={"X-Tollgate-Feature": "summarize",
                                        "X-Tollgate-Priority": priority, "X-Model": model})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body, {k.lower(): v for k, v in r.getheaders()}

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def spend(d, usd):
    status, body, _ = d.post_usage([event("gw-spend-%s" % usd, feature="summarize", cost=usd)])
    assert status == 200 and body["accepted"] == 1, body


class AuthzRouteTest(unittest.TestCase):
    """The route itself, as Envoy's ext_authz HTTP service and nginx call it."""

    def setUp(self):
        self.d = Daemon()
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        self.d.start()

    def tearDown(self):
        self.d.cleanup()

    def authz(self, priority, path="/v1/authz", method="GET", extra=None):
        h = {"X-Tollgate-Feature": "summarize", "X-Tollgate-Priority": priority}
        h.update(extra or {})
        return self.d.request(method, path, headers=h)

    def test_allow_reroute_and_throttle_in_headers(self):
        s, _, h = self.authz("batch")
        self.assertEqual((s, h["X-Tollgate-Decision"]), (200, "allow"))
        spend(self.d, 1)
        s, body, h = self.authz("batch")
        self.assertEqual(s, 429)
        self.assertEqual(h["X-Tollgate-Decision"], "throttle")
        self.assertGreater(int(h["Retry-After"]), 0)
        self.assertEqual(h["X-Tollgate-Budget"], "summarize-daily")
        self.assertIn(b"summarize-daily", body)
        s, _, h = self.authz("standard")
        self.assertEqual((s, h["X-Tollgate-Decision"], h["X-Tollgate-Model"]),
                         (200, "reroute", "qwen-turbo"))
        s, _, h = self.authz("critical")
        self.assertEqual((s, h["X-Tollgate-Decision"]), (200, "allow"))

    def test_envoy_form_any_method_and_the_original_path_appended(self):
        spend(self.d, 1)
        s, _, h = self.authz("batch", path="/v1/authz/v1/chat/completions?x=1", method="POST")
        self.assertEqual((s, h["X-Tollgate-Decision"]), (429, "throttle"))
        s, _, _ = self.authz("critical", path="/v1/authz/anything", method="PUT")
        self.assertEqual(s, 200)
        self.assertEqual(self.d.metric_value("tollgate_http_requests_total", route="/v1/authz",
                                             code="429"), 1)

    def test_deny_status_for_nginx_and_bad_requests(self):
        spend(self.d, 1)
        s, _, h = self.authz("batch", path="/v1/authz?deny_status=403")
        self.assertEqual((s, h["X-Tollgate-Decision"]), (403, "throttle"))
        self.assertIn("Retry-After", h)
        s, body, _ = self.authz("batch", path="/v1/authz?deny_status=200")
        self.assertEqual(s, 400)
        self.assertIn(b"deny_status", body)
        s, body, _ = self.d.request("GET", "/v1/authz", headers={"X-Tollgate-Priority": "batch"})
        self.assertEqual(s, 400)
        self.assertIn(b"feature", body)
        s, body, _ = self.authz("urgent")
        self.assertEqual(s, 400)
        self.assertIn(b"priority", body)

    def test_estimated_cost_header_reserves(self):
        s, _, h = self.authz("batch", extra={"X-Tollgate-Estimated-Cost": "0.6"})
        self.assertEqual(s, 200)
        self.assertTrue(h.get("X-Tollgate-Reservation-Id"))
        s, _, h = self.authz("batch", extra={"X-Tollgate-Estimated-Cost": "0.6"})
        self.assertEqual(s, 429)  # 0.6 reserved + 0.6 would pass the 1 USD block


class NginxTest(unittest.TestCase):
    """The example nginx config, for real: throttle, reroute, fail open and fail closed."""

    def setUp(self):
        if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
            self.fail("deploy/test.sh installs nginx-light")
        self.d = Daemon()
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        self.d.start()
        self.upstream = EchoUpstream()
        self.nginx = Nginx(self.d.port, self.upstream.port)

    def tearDown(self):
        self.nginx.stop()
        self.upstream.stop()
        self.d.cleanup()

    def test_batch_throttled_standard_rerouted_critical_passes(self):
        for p in ("batch", "standard", "critical"):
            s, body, _ = self.nginx.request(p)
            self.assertEqual(s, 200, body)
            seen = json.loads(body)["headers"]
            self.assertEqual((seen["x-tollgate-decision"], seen["x-model"]), ("allow", "qwen3-max"))
        spend(self.d, 1)
        s, body, h = self.nginx.request("batch")
        self.assertEqual(s, 429, body)
        self.assertGreater(int(h["retry-after"]), 0)
        s, body, _ = self.nginx.request("standard")
        self.assertEqual(s, 200)
        seen = json.loads(body)
        self.assertEqual((seen["headers"]["x-tollgate-decision"], seen["headers"]["x-model"]),
                         ("reroute", "qwen-turbo"))
        self.assertEqual(seen["path"], "/v1/chat/completions")
        s, body, _ = self.nginx.request("critical")
        self.assertEqual((s, json.loads(body)["headers"]["x-model"]), (200, "qwen3-max"))

    def test_tollgate_down_fails_open_for_critical_and_closed_for_batch(self):
        self.d.stop()
        s, body, _ = self.nginx.request("critical")
        self.assertEqual(s, 200, body)
        self.assertEqual(json.loads(body)["headers"]["x-tollgate-decision"], "unchecked")
        s, _, _ = self.nginx.request("standard")
        self.assertEqual(s, 200)
        s, _, _ = self.nginx.request("batch")
        self.assertEqual(s, 503)

    def test_latency_the_check_adds(self):
        samples = {self.nginx.direct_port: [], self.nginx.port: []}
        for i in range(620):  # alternating, so both see the same load on the machine
            for port, got in samples.items():
                t = time.perf_counter()
                s, _, _ = self.nginx.request("standard", port=port)
                if i >= 20:  # warm-up
                    got.append(time.perf_counter() - t)
                self.assertEqual(s, 200)

        def p50_p99(got):
            got.sort()
            return got[len(got) // 2], got[int(len(got) * 0.99)]

        direct = p50_p99(samples[self.nginx.direct_port])
        checked = p50_p99(samples[self.nginx.port])
        print("\nnginx latency, p50/p99 ms: without the check %.2f/%.2f, with auth_request to "
              "Tollgate %.2f/%.2f (adds %.2f ms at p50)" % (
                  direct[0] * 1e3, direct[1] * 1e3, checked[0] * 1e3, checked[1] * 1e3,
                  (checked[0] - direct[0]) * 1e3))


class NewRoutesAuthTest(unittest.TestCase):
    """Each route this file's features add answers only to its role: authz and releasing a
    reservation need admit, OTLP traces need ingest (admin implies every role)."""

    def test_roles_of_authz_reservations_and_traces(self):
        import hashlib
        tokens = {"gw": ["admit"], "ing": ["ingest"], "view": ["read"], "sre": ["admin"]}
        conf = "auth:\n  tokens:\n" + "".join(
            "    - {name: %s, sha256: %s, roles: [%s]}\n" % (
                n, hashlib.sha256(n.encode()).hexdigest(), ", ".join(r)) for n, r in tokens.items())
        d = Daemon(extra_config=conf).start()
        try:
            def status(method, path, token, body=None):
                h = {"X-Tollgate-Feature": "f", "X-Tollgate-Priority": "batch",
                     "Content-Type": "application/json"}
                if token:
                    h["Authorization"] = "Bearer " + token
                return d.request(method, path, body, h)[0]

            for method, path, body, allowed in (
                    ("GET", "/v1/authz", None, {"gw", "sre"}),
                    ("POST", "/v1/authz/v1/chat", None, {"gw", "sre"}),
                    ("DELETE", "/v1/reservations/r-1", None, {"gw", "sre"}),
                    ("POST", "/v1/traces", "{}", {"ing", "sre"})):
                self.assertEqual(status(method, path, None, body), 401, path)
                for token in tokens:
                    got = status(method, path, token, body)
                    if token in allowed:
                        self.assertNotIn(got, (401, 403), (path, token))
                    else:
                        self.assertEqual(got, 403, (path, token))
        finally:
            d.cleanup()


class EnvoyExampleTest(unittest.TestCase):
    """Envoy is not packaged here: the example is checked as far as a YAML reader can."""

    def test_two_ext_authz_filters_fail_open_and_closed_on_v1_authz(self):
        import yaml
        with open(os.path.join(ROOT, "deploy/examples/envoy-tollgate.yaml")) as f:
            conf = yaml.safe_load(f)
        hcm = conf["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        filters = {f["name"]: f.get("typed_config", {}) for f in hcm["http_filters"]}
        self.assertIs(filters["tollgate-fail-open"]["failure_mode_allow"], True)
        self.assertIs(filters["tollgate-fail-closed"]["failure_mode_allow"], False)
        for name in ("tollgate-fail-open", "tollgate-fail-closed"):
            self.assertEqual(filters[name]["http_service"]["path_prefix"], "/v1/authz")
        clusters = {c["name"] for c in conf["static_resources"]["clusters"]}
        for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
            self.assertIn(route["route"]["cluster"], clusters)
            (disabled,) = route["typed_per_filter_config"].keys()
            self.assertIn(disabled, filters)


if __name__ == "__main__":
    unittest.main()
