"""`tollgate wait` against the real daemon: a batch job asks for admission, waits out throttles,
runs with its reservation in the environment, and gives back what is left of it."""
import json
import os
import subprocess
import threading
import time
import unittest

from harness import BIN, Daemon, event
from test_budgets import TEN_DOLLAR_JOBS as POLICIES


def reserved(d):
    return json.loads(d.request("GET", "/v1/budgets")[1])["budgets"][0]["reserved"]


class WaitTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        with open(os.path.join(self.d.dir, "policies.yaml"), "w") as f:
            f.write(POLICIES)
        self.d.start()
        self.url = "http://127.0.0.1:%d" % self.d.port

    def tearDown(self):
        self.d.cleanup()

    def wait(self, *args, command, timeout=60):
        return subprocess.run([BIN, "wait", "--url", self.url, "--feature", "jobs", *args, "--",
                               *command], capture_output=True, text=True, timeout=timeout)

    def spend(self, usd, eid="w-spend"):
        s, body, _ = self.d.post_usage([event(eid, feature="jobs", priority="batch", cost=usd)])
        self.assertEqual((s, body["accepted"]), (200, 1))

    def test_runs_with_its_reservation_and_releases_the_rest(self):
        out = os.path.join(self.d.dir, "env.txt")
        p = self.wait("--estimated-cost", "4", command=[
            "sh", "-c", 'echo "$TOLLGATE_RESERVATION_ID" > "$0"; exit 3', out])
        self.assertEqual(p.returncode, 3, p.stderr)  # the command's own exit code
        with open(out) as f:
            self.assertTrue(f.read().strip())
        self.assertEqual(reserved(self.d), 0)  # released when the command ended

    def test_usage_posted_by_the_job_settles_its_reservation(self):
        script = ("import json,os,sys,urllib.request;"
                  "e={'event_id':'job-1','feature':'jobs','priority':'batch','provider':'p',"
                  "'model':'m','cost':1.5,'reservation_id':os.environ['TOLLGATE_RESERVATION_ID']};"
                  "r=urllib.request.Request(sys.argv[1]+'/v1/usage',json.dumps(e).encode(),"
                  "{'Content-Type':'application/json'});urllib.request.urlopen(r).read()")
        p = self.wait("--estimated-cost", "4", command=["python3", "-c", script, self.url])
        self.assertEqual(p.returncode, 0, p.stderr)
        b = json.loads(self.d.request("GET", "/v1/budgets")[1])["budgets"][0]
        self.assertEqual((b["spend"], b["reserved"]), (1.5, 0))

    def test_times_out_while_throttled(self):
        self.spend(10)
        t = time.time()
        p = self.wait("--timeout", "2", command=["true"])
        self.assertEqual(p.returncode, 75, p.stderr)
        self.assertGreaterEqual(time.time() - t, 1.9)
        self.assertIn("throttled by budget ten", p.stderr)

    def test_waits_until_the_throttle_lifts(self):
        self.spend(10)

        def lift():
            time.sleep(1)
            s, _, _ = self.d.request("POST", "/v1/overrides", json.dumps(
                {"budget": "ten", "action": "suspend", "duration_s": 600, "reason": "test"}))
            self.assertEqual(s, 201)

        threading.Thread(target=lift).start()
        t = time.time()
        p = self.wait("--timeout", "30", command=["true"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("throttled by budget ten", p.stderr)
        self.assertLess(time.time() - t, 15)

    def test_critical_is_not_held(self):
        self.spend(10)
        p = self.wait("--priority", "critical", "--timeout", "1", command=["true"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unreachable_and_unrunnable(self):
        p = subprocess.run([BIN, "wait", "--url", "http://127.0.0.1:1", "--feature", "jobs", "--",
                            "true"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 69, p.stderr)
        self.assertIn("cannot reach", p.stderr)
        p = self.wait(command=["/nonexistent/job"])
        self.assertEqual(p.returncode, 127, p.stderr)
        p = subprocess.run([BIN, "wait", "--feature", "jobs"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)  # no command: a usage error
        self.assertIn("command", p.stderr)

    def test_release_route(self):
        s, body, _ = self.d.request("POST", "/v1/admit", json.dumps(
            {"feature": "jobs", "priority": "batch", "estimated_cost": 3}))
        rid = json.loads(body)["reservation_id"]
        self.assertEqual(reserved(self.d), 3)
        self.assertEqual(self.d.request("DELETE", "/v1/reservations/" + rid)[0], 204)
        self.assertEqual(reserved(self.d), 0)
        s, body, _ = self.d.request("DELETE", "/v1/reservations/" + rid)
        self.assertEqual(s, 404)
        self.assertIn(b"unknown_reservation", body)


if __name__ == "__main__":
    unittest.main()
