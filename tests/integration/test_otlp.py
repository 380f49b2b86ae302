"""OpenTelemetry in: the real OpenTelemetry JS SDK (sdk-trace-base with the OTLP/HTTP protobuf and
JSON exporters, from npm) sends GenAI spans to POST /v1/traces of the real binary; the ledger holds
the hand-computed costs, re-sent spans are duplicates, malformed bodies are 400s storing nothing."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Daemon

OTEL_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "../otel"))

# Prices of the harness: qwen3-max input 1.20, cached 0.24, output 6.00 per 1M, batch -50%;
# gpt-4o input 2.50, output 10.00 per 1M.
SUMMARIZE = {"name": "chat qwen3-max", "attributes": {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "alibaba",
    "gen_ai.request.model": "qwen3-max", "gen_ai.response.model": "qwen3-max",
    # The convention's input_tokens includes the 800 cache reads.
    "gen_ai.usage.input_tokens": 2000, "gen_ai.usage.cache_read.input_tokens": 800,
    "gen_ai.usage.output_tokens": 300, "tollgate.priority": "batch"}}
# (1200 × 1.20 + 800 × 0.24 + 300 × 6.00) / 1e6 = 0.003432, batch half: 0.001716
SUMMARIZE_NANOS = 1_716_000
CLASSIFY = {"name": "chat gpt-4o", "attributes": {
    "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-2024-08-06",
    "gen_ai.response.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 100, "tollgate.team": "search"}}
# (1000 × 2.50 + 100 × 10.00) / 1e6 = 0.0035
CLASSIFY_NANOS = 3_500_000
PLAIN = {"name": "GET /health", "attributes": {"http.request.method": "GET"}}


class OtlpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = shutil.which("node")
        if not cls.node or not os.path.isdir(os.path.join(OTEL_DIR, "node_modules")):
            raise AssertionError("deploy/setup.sh --tests installs node and tests/otel's packages")

    def setUp(self):
        self.d = Daemon().start()
        self.url = "http://127.0.0.1:%d" % self.d.port
        self.tmp = tempfile.mkdtemp(prefix="tollgate-otel-")

    def tearDown(self):
        self.d.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def send(self, encoding, spans, resource=None, ids=None):
        specs = {"resource": resource or {"service.name": "summarizer", "tollgate.team": "ml"},
                 "spans": spans}
        if ids:
            specs["ids"] = ids
        path = os.path.join(self.tmp, "specs.json")
        with open(path, "w") as f:
            json.dump(specs, f)
        p = subprocess.run([self.node, os.path.join(OTEL_DIR, "send_spans.js"), self.url, encoding,
                            path], capture_output=True, text=True, timeout=60, cwd=OTEL_DIR)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def events(self):
        return self.d.query("SELECT event_id, feature, team, priority, provider, model, cost_nanos, "
                            "input_tokens, cached_input_tokens, output_tokens FROM events "
                            "ORDER BY cost_nanos")

    def check_ledger(self, ids):
        rows = self.events()
        self.assertEqual(len(rows), 2, rows)
        summarize, classify = rows
        self.assertEqual(summarize, (ids[0][0] + ids[0][1], "summarizer", "ml", "batch", "alibaba",
                                     "qwen3-max", SUMMARIZE_NANOS, 1200, 800, 300))
        # Span attributes win over the resource's (team), the response model over the request's,
        # and the older gen_ai.system names the provider.
        self.assertEqual(classify, (ids[1][0] + ids[1][1], "summarizer", "search", "standard",
                                    "openai", "gpt-4o", CLASSIFY_NANOS, 1000, 0, 100))

    def test_protobuf_exporter_costs_and_duplicates(self):
        ids = [["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"],
               ["0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7"],
               ["4bf92f3577b34da6a3ce929d0e0e4736", "53995c3f42cd8ad8"]]
        self.assertEqual(self.send("proto", [SUMMARIZE, CLASSIFY, PLAIN], ids=ids)["ok"], True)
        self.check_ledger(ids)
        self.assertEqual(self.d.metric_value("tollgate_otlp_spans_skipped_total"), 1)
        # The same spans again (an exporter's retry): duplicates, nothing counted twice.
        self.assertEqual(self.send("proto", [SUMMARIZE, CLASSIFY, PLAIN], ids=ids)["ok"], True)
        self.check_ledger(ids)
        self.assertEqual(self.d.metric_value("tollgate_ingest_events_total", result="duplicate"), 2)

    def test_json_exporter(self):
        ids = [["5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"],
               ["5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b175"]]
        self.assertEqual(self.send("json", [SUMMARIZE, CLASSIFY], ids=ids)["ok"], True)
        self.check_ledger(ids)

    def test_malformed_bodies_are_400_and_store_nothing(self):
        for ctype, body in (("application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f"),
                            ("application/x-protobuf", b"\x0a\x05\x12\x03\x12"),
                            ("application/json", b'{"resourceSpans": [')):
            s, data, _ = self.d.request("POST", "/v1/traces", body, {"Content-Type": ctype})
            self.assertEqual(s, 400, data)
            err = json.loads(data)["error"]
            self.assertTrue(err["message"], err)
        self.assertEqual(self.events(), [])

    def test_partial_success_names_the_rejected_span(self):
        body = {"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "summarizer"}}]},
            "scopeSpans": [{"spans": [
                {"traceId": "1" * 32, "spanId": "2" * 16, "name": "ok",
                 "endTimeUnixNano": "0", "attributes": [
                     {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                     {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                     {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
                     {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 5}}]},
                {"traceId": "1" * 32, "spanId": "3" * 16, "name": "no model", "attributes": [
                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}}]}]}]}]}
        s, data, h = self.d.request("POST", "/v1/traces", json.dumps(body),
                                    {"Content-Type": "application/json"})
        self.assertEqual(s, 200, data)
        partial = json.loads(data)["partialSuccess"]
        self.assertEqual(partial["rejectedSpans"], "1")
        self.assertIn("3333333333333333", partial["errorMessage"])
        self.assertIn("model", partial["errorMessage"])
        self.assertEqual(len(self.events()), 1)


if __name__ == "__main__":
    unittest.main()


class CollectorExampleTest(unittest.TestCase):
    """No collector binary is packaged here: the example is checked as far as a YAML reader can."""

    def test_pipeline_names_defined_parts_and_points_at_v1_traces(self):
        import yaml
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
        with open(os.path.join(root, "deploy/examples/otel-collector.yaml")) as f:
            conf = yaml.safe_load(f)
        for name, pipeline in conf["service"]["pipelines"].items():
            self.assertTrue(name.startswith("traces"))
            for kind in ("receivers", "processors", "exporters"):
                for part in pipeline[kind]:
                    self.assertIn(part, conf[kind], "%s %s is not defined" % (kind, part))
        exporter = conf["exporters"]["otlphttp/tollgate"]
        self.assertTrue(exporter["traces_endpoint"].endswith("/v1/traces"))
        self.assertEqual(exporter["encoding"], "proto")
        span_filter = conf["processors"]["filter/genai_usage"]["traces"]["span"][0]
        self.assertIn("gen_ai.usage.input_tokens", span_filter)
