"""Small batches beside large ones: how long a client sending 10-event batches waits for its
answers while another client posts 30,000-event NDJSON bodies in a loop on its own connection.
Prints the small batches' count, median, p99 and slowest answer. Standard library only.
    python3 bench/mixed_batches.py PORT [SECONDS=10]"""
import http.client
import json
import statistics
import sys
import threading
import time

port = int(sys.argv[1])
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
run = time.time_ns()


def event(i, prefix):
    return json.dumps({
        "event_id": f"{prefix}-{run}-{i}", "feature": f"feature-{i % 50:02d}",
        "team": f"team-{i % 7}", "customer": f"customer-{i % 1000:04d}", "provider": "openai",
        "model": "gpt-4o", "priority": "batch", "input_tokens": 1000 + i % 100,
        "output_tokens": 200, "tags": {"env": "prod", "cost_center": f"cc-{i % 20:02d}"}})


def post(conn, body):
    conn.request("POST", "/v1/usage", body, {"Content-Type": "application/x-ndjson"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"POST /v1/usage answered {response.status}")


stop = threading.Event()


def large_bodies():
    conn, n = http.client.HTTPConnection("127.0.0.1", port), 0
    while not stop.is_set():
        post(conn, "\n".join(event(n * 30000 + i, "large") for i in range(30000)))
        n += 1


large = threading.Thread(target=large_bodies)
large.start()
time.sleep(1)  # the first large body under way
conn, waits, k, start = http.client.HTTPConnection("127.0.0.1", port), [], 0, time.time()
while time.time() - start < seconds:
    body = "\n".join(event(k * 10 + i, "small") for i in range(10))
    k += 1
    sent = time.perf_counter()
    post(conn, body)
    waits.append((time.perf_counter() - sent) * 1000)
stop.set()
large.join()
waits.sort()
print(f"small batches: {len(waits)}, median {statistics.median(waits):.1f} ms, "
      f"p99 {waits[int(len(waits) * 0.99)]:.1f} ms, slowest {waits[-1]:.1f} ms")
