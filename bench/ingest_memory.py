#!/usr/bin/env python3
"""Peak daemon RSS while N clients each post one large NDJSON body of valid events at once.

    python3 bench/ingest_memory.py [CLIENTS=4] [EVENTS_PER_BODY=47000]

47,000 events of this shape make an 8.1 MB body, just under server.max_body_bytes (8 MiB).
Uses TOLLGATE_BIN (default build/tollgate). Prints the body size, each answer's status and the
peak and final RSS, sampled every 5 ms from /proc."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import Daemon  # noqa: E402


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def body(client, n):
    return "\n".join(json.dumps({
        "event_id": "m%d-%d" % (client, i), "feature": "feature-%d" % (i % 50), "team": "t%d" % (i % 7),
        "customer": "c%d" % (i % 1000), "provider": "alibaba", "model": "qwen3-max",
        "input_tokens": 1000, "output_tokens": 100}) for i in range(n)).encode()


def main():
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 47000
    d = Daemon().start()
    try:
        bodies = [body(c, events) for c in range(clients)]
        print("%d bodies of %.1f MB (%d events each)" % (clients, len(bodies[0]) / 1e6, events))
        peak, stop = [rss_mb(d.proc.pid)], threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(d.proc.pid))
                time.sleep(0.005)

        statuses = []

        def send(b):
            statuses.append(d.request("POST", "/v1/usage", b, {"Content-Type": "application/x-ndjson"})[0])

        w = threading.Thread(target=watch)
        w.start()
        senders = [threading.Thread(target=send, args=(b,)) for b in bodies]
        start = time.monotonic()
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        stop.set()
        w.join()
        print("answers %s in %.1f s; RSS peak %.0f MB, after %.0f MB" % (
            sorted(statuses), time.monotonic() - start, peak[0], rss_mb(d.proc.pid)))
    finally:
        d.stop()


if __name__ == "__main__":
    main()
