"""Budget alerts over HTTPS (Slack's and most incoming webhooks are https-only): a local TLS
receiver with a certificate from a test CA gets the alert; one whose certificate the CA did not
sign is refused, and the refusal is counted."""
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import unittest

from harness import Daemon, event, wait_for

POLICIES = """budgets:
  - name: chat-daily
    match: {feature: support-chat}
    limit: 1
    rules:
      - {at_percent: 50, action: alert}
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A test CA, a localhost certificate it signs, and a self-signed impostor."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Tollgate test CA", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "bad.key", "-out",
            "bad.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost", cwd=d)


class TlsReceiver:
    def __init__(self, cert, key):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://localhost:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookTlsTest(unittest.TestCase):
    def setUp(self):
        self.pki = tempfile.mkdtemp(prefix="tollgate-pki-")
        make_pki(self.pki)
        self.good = TlsReceiver(os.path.join(self.pki, "server.pem"),
                                os.path.join(self.pki, "server.key"))
        self.bad = TlsReceiver(os.path.join(self.pki, "bad.pem"), os.path.join(self.pki, "bad.key"))
        self.d = Daemon(extra_config="alerting:\n  ca_file: %s\n  timeout_ms: 2000\n  webhooks:\n"
                        "    - url: %s\n    - url: %s\n" % (os.path.join(self.pki, "ca.pem"),
                                                          self.good.url, self.bad.url))
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        self.d.start()

    def tearDown(self):
        self.d.cleanup()
        self.good.close()
        self.bad.close()
        shutil.rmtree(self.pki, ignore_errors=True)

    def test_verified_receiver_gets_the_alert_and_an_impostor_is_refused(self):
        s, body, _ = self.d.post_usage([event("tls-1", cost=0.6)])
        self.assertEqual((s, body["accepted"]), (200, 1))
        self.assertTrue(wait_for(lambda: len(self.good.received) == 1, timeout=15))
        self.assertEqual(self.good.received[0]["budget"], "chat-daily")
        self.assertTrue(wait_for(lambda: (self.d.metric_value(
            "tollgate_webhook_attempt_failures_total", reason="tls") or 0) >= 1, timeout=15))
        self.assertEqual(self.bad.received, [])
        self.assertTrue(any("TLS handshake" in line for line in self.d.log), "".join(self.d.log))


if __name__ == "__main__":
    unittest.main()
