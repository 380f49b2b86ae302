"""HTTP framing and authentication before the body (CONTRACT §4.1), on raw sockets against the
real binary: a request is refused from its headers alone, and ambiguous framing is a 400 that
closes the connection."""
import hashlib
import socket
import time
import unittest

from harness import Daemon

AUTH = """auth:
  tokens:
    - {name: gateway, sha256: %s, roles: [ingest]}
""" % hashlib.sha256(b"gw-token").hexdigest()


def exchange(port, raw, read_timeout=3.0):
    """Sends raw bytes, returns (status line, whole response text, seconds to the first byte)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(read_timeout)
    start = time.monotonic()
    s.sendall(raw)
    data = b""
    first = None
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            if first is None:
                first = time.monotonic() - start
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    except socket.timeout:
        pass
    finally:
        s.close()
    text = data.decode("latin-1")
    return text.split("\r\n", 1)[0], text, first


class AuthBeforeBodyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(extra_config=AUTH).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_a_request_without_a_token_is_answered_from_its_headers(self):
        # Announces 8 MB and sends none of it: the answer must not wait for the body.
        head = (b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 8000000\r\n\r\n")
        status, text, first = exchange(self.d.port, head)
        self.assertIn(" 401 ", status, text)
        self.assertLess(first, 1.0)
        self.assertIn('"code":"unauthorized"', text)
        status, text, first = exchange(self.d.port, head.replace(b"Host: x", b"Host: x\r\nAuthorization: Bearer nope"))
        self.assertIn(" 401 ", status)
        # A known token without the route's role: 403, also before any body.
        status, text, first = exchange(
            self.d.port, b"POST /v1/overrides HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gw-token\r\n"
                         b"Content-Length: 5000000\r\n\r\n")
        self.assertIn(" 403 ", status, text)
        self.assertLess(first, 1.0)
        # Unknown paths too: nothing is read for a route that does not exist.
        status, text, first = exchange(self.d.port, b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        self.assertIn(" 404 ", status, text)
        self.assertLess(first, 1.0)
        self.assertGreaterEqual(self.d.metric_value("tollgate_http_requests_total", code="401"), 2)

    def test_the_right_token_gets_its_body_read(self):
        body = b'{"event_id":"fr-1","feature":"f","provider":"p","model":"m"}'
        status, text, _ = exchange(self.d.port, b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gw-token\r\n"
                                                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertIn(" 200 ", status, text)
        self.assertIn('"accepted":1', text)


class StrictFramingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def post(self, headers, body=b""):
        return exchange(self.d.port, b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                        headers + b"\r\n" + body)

    def test_ambiguous_transfer_codings_are_400_and_close(self):
        event = b'{"event_id":"te-1","feature":"f","provider":"p","model":"m"}'
        chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)
        for te in (b"gzip, chunked", b"chunked, identity", b"identity", b"chunked\r\nTransfer-Encoding: chunked"):
            status, text, _ = self.post(b"Transfer-Encoding: " + te + b"\r\n", chunk)
            self.assertIn(" 400 ", status, te)
            self.assertIn("Connection: close", text)
        status, text, _ = self.post(b"Transfer-Encoding: chunked\r\nContent-Length: 60\r\n", chunk)
        self.assertIn(" 400 ", status)
        # Plain chunked is fine.
        status, text, _ = self.post(b"Transfer-Encoding: chunked\r\n", chunk)
        self.assertIn(" 200 ", status, text)

    def test_obs_fold_is_400(self):
        status, text, _ = self.post(b"X-Folded: a\r\n b\r\nContent-Length: 2\r\n", b"[]")
        self.assertIn(" 400 ", status, text)
        self.assertIn("obs-fold", text)

    def test_headers_past_the_limit_are_431(self):
        status, text, _ = self.post(b"X-Big: " + b"a" * 20000 + b"\r\nContent-Length: 2\r\n", b"[]")
        self.assertIn(" 431 ", status, text)

    def test_refusals_before_the_header_is_parsed_answer_a_head_without_body_and_in_1_0(self):
        # 431 and obs-fold are answered before Beast reads the header: still no body for a HEAD,
        # and an HTTP/1.0 client gets an HTTP/1.0 answer.
        for raw, code in ((b"HEAD /healthz HTTP/1.1\r\nX: a\r\n b\r\n\r\n", b" 400 "),
                          (b"HEAD /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b" 431 ")):
            s = socket.create_connection(("127.0.0.1", self.d.port))
            s.settimeout(3)
            s.sendall(raw)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(code, head.split(b"\r\n")[0])
            self.assertIn(b"Content-Length: ", head)  # the length a GET's answer would have
            self.assertEqual(body, b"")
        status, text, _ = exchange(self.d.port, b"GET /healthz HTTP/1.0\r\nX: a\r\n b\r\n\r\n")
        self.assertTrue(status.startswith("HTTP/1.0 400 "), status)

    def test_a_refused_head_has_no_body_and_garbage_is_refused_at_once(self):
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.settimeout(3)
        s.sendall(b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b" 404 ", head)
        self.assertEqual(body, b"")  # HEAD: never a body, even for a refusal
        status, text, first = exchange(self.d.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS hello
        self.assertIn(" 400 ", status, text)
        self.assertLess(first, 1.0)

    def test_pipelined_requests_still_work(self):
        one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.settimeout(3)
        s.sendall(one * 3)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200"), 3)

    def test_empty_lines_before_a_request_are_skipped(self):
        status, text, _ = exchange(self.d.port, b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(" 200 ", status, text)

    def test_close_in_any_connection_header_closes(self):
        # Two Connection headers are one list (RFC 9110 §7.6.1): "close" in the second counts.
        for first in (b"GET /healthz", b"POST /v1/usage"):
            raw = first + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gw-token\r\n" \
                  b"Connection: keep-alive\r\nConnection: close\r\n"
            if first.startswith(b"POST"):
                body = b'{"event_id":"conn-close","feature":"f","provider":"p","model":"m"}'
                raw += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            else:
                raw += b"\r\n"
            s = socket.create_connection(("127.0.0.1", self.d.port))
            s.settimeout(3)
            s.sendall(raw)
            data = b""
            while True:  # the server must close: a timeout here fails the test
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            self.assertIn(b"Connection: close", data, first)


class LongHeaderLinesTest(unittest.TestCase):
    """server.max_header_bytes may be raised to 1 MiB, but a single header line past 65,000 bytes
    (Beast keeps a field's sizes in 16 bits and throws) is a 431, and the daemon lives on."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(server_extra="  max_header_bytes: 1048576\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_a_header_line_past_65000_bytes_is_431(self):
        big = b"X-Big: " + b"a" * 70000 + b"\r\n"
        for head in (b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" + big + b"\r\n[]",
                     b"GET /healthz HTTP/1.0\r\n" + big + b"\r\n",
                     b"HEAD /healthz HTTP/1.1\r\n" + big + b"\r\n"):
            status, text, _ = exchange(self.d.port, head)
            self.assertIn(" 431 ", status, text[:200])
        # A line within the bound, in a header past the default 16 KiB, is read.
        status, text, _ = exchange(self.d.port, b"GET /healthz HTTP/1.0\r\nX-Big: " + b"a" * 60000 + b"\r\n\r\n")
        self.assertIn(" 200 ", status, text[:200])
        status, text, _ = exchange(self.d.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        self.assertIn(" 200 ", status)
        self.assertIsNone(self.d.proc.poll())


if __name__ == "__main__":
    unittest.main()
