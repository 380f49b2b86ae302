"""Global budgets on a real 3-member etcd cluster and three Tollgate instances: the shared limit
holds under concurrent reservations on all three, a threshold crossed on one instance throttles
the others within a second, and the instances ride out an etcd member lost, quorum lost and an
instance killed."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from etcd_cluster import EtcdCluster
from harness import Daemon, event, wait_for

PREFIX = "/tollgate-test/"
POLICIES = """budgets:
  - name: shared
    scope: global
    match: {feature: jobs}
    limit: 10
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
  - name: half
    scope: global
    match: {feature: reports}
    limit: 10
    rules:
      - {at_percent: 50, action: block, priorities: [batch]}
  - name: outage
    scope: global
    match: {feature: outage}
    limit: 10
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
  - name: burn
    scope: global
    match: {feature: burn}
    limit: 10
    rules:
      - burn_rate: {long: 1h, short: 5m, factor: 14.4}
        action: block
        priorities: [batch]
  - name: shared-loss
    scope: global
    on_coordination_loss: local_share
    match: {feature: loss}
    limit: 10
    rules:
      - {at_percent: 100, action: block, priorities: [batch]}
"""
NANOS = 10 ** 9


def coordination(cluster, name):
    return ("coordination:\n  etcd:\n    endpoints: [%s]\n  prefix: %s\n  instance: %s\n"
            "  lease_ttl_s: 2\n  sync_interval_ms: 100\n  expected_instances: 3\n"
            % (", ".join(cluster.endpoints), PREFIX, name))


def admit(d, **body):
    s, data, _ = d.request("POST", "/v1/admit", json.dumps(body), {"Content-Type": "application/json"})
    return s, json.loads(data)


def budget(d, name):
    for b in json.loads(d.request("GET", "/v1/budgets")[1])["budgets"]:
        if b["name"] == name:
            return b
    raise KeyError(name)


def ledger_spend(d, feature):
    rows = d.query("SELECT COALESCE(SUM(cost_nanos), 0) FROM events WHERE feature = ?", (feature,))
    return rows[0][0]


class GlobalBudgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(3).start()
        cls.daemons = {}
        for name in ("a", "b", "c"):
            d = Daemon(extra_config=coordination(cls.etcd, name))
            with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
                f.write(POLICIES)
            cls.daemons[name] = d.start()
        for d in cls.daemons.values():
            wait_for(lambda: budget(d, "shared")["coordination"] == "ok", timeout=10)

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons.values():
            d.cleanup()
        cls.etcd.stop()

    def test_1_the_shared_limit_holds_under_concurrent_reservations_on_every_instance(self):
        step = 0.01
        admitted = {n: 0 for n in self.daemons}
        problems = []
        stop = threading.Event()

        def client(name, d):
            n = 0
            while not stop.is_set():
                s, body = admit(d, feature="jobs", priority="batch", estimated_cost=step)
                if s != 200:
                    # 429: the grant used up (ask again in 1 s) or, at the very end, the global
                    # spend itself within an estimate of the limit: both are answers, not problems.
                    if s != 429:
                        problems.append((s, body))
                    time.sleep(0.01)
                    continue
                n += 1
                admitted[name] += 1
                status, r, _ = d.post_usage([event("%s-job-%d" % (name, n), feature="jobs", cost=step,
                                                   reservation_id=body["reservation_id"])])
                if status != 200 or r["accepted"] != 1:
                    problems.append((status, r))

        threads = [threading.Thread(target=client, args=(n, d)) for n, d in self.daemons.items()]
        started = time.monotonic()
        for t in threads:
            t.start()
        try:
            # Until the three ledgers together reach the limit, or 60 s. Each instance's last
            # grant may end less than one estimate short of what it could admit: up to one
            # estimate per instance stays unspent.
            wait_for(lambda: sum(ledger_spend(d, "jobs") for d in self.daemons.values())
                     >= 10 * NANOS - 3 * step * NANOS, timeout=60, interval=0.1)
            reached = time.monotonic() - started
            time.sleep(1)  # every instance still refusing a second later
        finally:
            stop.set()
            for t in threads:
                t.join()
            print("\ngrants: %s" % [budget(d, "shared")["grant"] for d in self.daemons.values()])
        total = sum(ledger_spend(d, "jobs") for d in self.daemons.values())
        overshoot = (total - 10 * NANOS) / NANOS
        print("\nglobal budget of 10 on 3 instances: admitted %s, spend %.2f (overshoot %.2f) "
              "in %.1f s" % (admitted, total / NANOS, overshoot, reached))
        # Every cent here went through a reservation against a grant, and the grants never add
        # up past the limit: no overshoot at all.
        self.assertEqual(problems, [])
        self.assertLessEqual(total, 10 * NANOS)
        self.assertTrue(all(admitted[n] > 0 for n in admitted), admitted)
        for d in self.daemons.values():
            self.assertEqual(admit(d, feature="jobs", priority="batch", estimated_cost=step)[0], 429)
            # Critical work is not listed in the rule: still admitted.
            self.assertEqual(admit(d, feature="jobs", priority="critical")[0], 200)
            self.assertEqual(budget(d, "shared")["scope"], "global")
            # Every instance's spend, as published (within a sync interval or two).
            wait_for(lambda: abs(budget(d, "shared")["spend"] * NANOS - total) < 1, timeout=5)

    def test_2_a_threshold_crossed_on_one_instance_throttles_the_others_within_a_second(self):
        a, b, c = self.daemons["a"], self.daemons["b"], self.daemons["c"]
        for d in (b, c):
            self.assertEqual(admit(d, feature="reports", priority="batch")[0], 200)
        status, r, _ = a.post_usage([event("a-report-1", feature="reports", cost=6)])
        crossed = time.monotonic()
        self.assertEqual(status, 200)
        latency = {}
        for name, d in (("b", b), ("c", c)):
            wait_for(lambda: d.get("/v1/admit?feature=reports&priority=batch")[0] == 429, timeout=5,
                     interval=0.005)
            latency[name] = time.monotonic() - crossed
        print("\nbatch throttled on the other instances after: %s" %
              {k: "%.0f ms" % (v * 1000) for k, v in latency.items()})
        self.assertTrue(all(v < 1.0 for v in latency.values()), latency)
        wait_for(lambda: budget(b, "half")["spend"] == 6, timeout=5)

    def test_3_one_etcd_member_lost_changes_nothing(self):
        # m0 is every instance's first endpoint, the one they talk to: they must move on.
        self.etcd.kill("m0")
        try:
            d = self.daemons["b"]
            before = d.metric_value("tollgate_coordination_grants_total")
            # A fresh budget period's worth of work on another feature of the shared budget is
            # not possible (it is spent), so watch "half"'s grants renew under usage.
            for i in range(5):
                d.post_usage([event("b-report-%d" % i, feature="reports", cost=0.5)])
            wait_for(lambda: d.metric_value("tollgate_coordination_grants_total") > before, timeout=5)
            for d in self.daemons.values():
                wait_for(lambda: d.metric_value("tollgate_coordination_up") == 1, timeout=5)
                self.assertEqual(budget(d, "half")["coordination"], "ok")
        finally:
            self.etcd.start_member("m0")

    def test_4_quorum_lost_instances_go_on_within_their_grants_then_degrade_and_recover(self):
        self.etcd.wait_healthy()
        self.etcd.kill("m1")
        self.etcd.kill("m2")
        try:
            d = self.daemons["c"]
            # Within its grant (1% of 10: at least 0.10) batch work goes on while etcd is down...
            within = 0
            while admit(d, feature="outage", priority="batch", estimated_cost=0.01)[0] == 200:
                within += 1
                self.assertLess(within, 200)
            self.assertGreaterEqual(within, 10)
            print("\nadmitted within the grant while etcd had no quorum: %d x 0.01" % within)
            # ... then the grant is spent and cannot grow: refused, asked again every second.
            s, body = admit(d, feature="outage", priority="batch", estimated_cost=0.01)
            self.assertEqual((s, body["retry_after_s"]), (429, 1))
            # Critical work is never refused; the budget says it is degraded after a lease TTL.
            wait_for(lambda: budget(d, "half")["coordination"] == "degraded", timeout=10)
            self.assertEqual(d.metric_value("tollgate_budget_coordinated", budget="half"), 0)
            self.assertEqual(d.metric_value("tollgate_coordination_up"), 0)
            self.assertEqual(admit(d, feature="jobs", priority="critical")[0], 200)
            self.assertEqual(d.get("/readyz")[0], 200)
            # local_share: this instance alone may now reach limit / expected_instances (10 / 3):
            # six estimates of 0.5 (3.0), not a seventh (3.5).
            loss = [admit(d, feature="loss", priority="batch", estimated_cost=0.5)[0] for _ in range(8)]
            self.assertEqual(loss, [200] * 6 + [429] * 2)
            # Usage is still acknowledged and kept.
            s, r, _ = d.post_usage([event("c-during-outage", feature="reports", cost=0.25)])
            self.assertEqual((s, r["accepted"]), (200, 1))
        finally:
            self.etcd.start_member("m1")
            self.etcd.start_member("m2")
        self.etcd.wait_healthy()
        for d in self.daemons.values():
            wait_for(lambda: budget(d, "half")["coordination"] == "ok", timeout=20)
        # Back: a new grant, and batch work on "outage" is admitted again.
        wait_for(lambda: admit(self.daemons["c"], feature="outage", priority="batch",
                               estimated_cost=0.01)[0] == 200, timeout=10)
        # The event acknowledged during the outage is in the global spend once published.
        total = sum(ledger_spend(d, "reports") for d in self.daemons.values())
        wait_for(lambda: abs(budget(self.daemons["a"], "half")["spend"] * NANOS - total) < 1, timeout=5)

    def test_5_an_instance_killed_keeps_its_spend_and_returns_its_grant(self):
        self.etcd.wait_healthy()
        a = self.daemons["a"]
        a_spend = ledger_spend(a, "reports")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        grant_key = None
        keys = self.etcd.keys(PREFIX)
        for k in keys:
            if "/half/" in k and k.endswith("/grant/a"):
                grant_key = k
        self.assertIsNotNone(grant_key, keys)
        spent_key = grant_key.replace("/grant/a", "/spent/a")
        started = time.monotonic()
        wait_for(lambda: grant_key not in self.etcd.keys(PREFIX), timeout=10)
        print("\nthe killed instance's grant returned after %.1f s (lease TTL 2 s)" %
              (time.monotonic() - started))
        self.assertEqual(int(self.etcd.keys(PREFIX)[spent_key][0]), a_spend)
        b = self.daemons["b"]
        total = sum(ledger_spend(d, "reports") for d in self.daemons.values())
        self.assertAlmostEqual(budget(b, "half")["spend"], total / NANOS, places=6)
        # Restarted, it counts its own ledger once: the global spend is unchanged.
        a.start()
        wait_for(lambda: budget(a, "half")["coordination"] == "ok", timeout=10)
        for d in self.daemons.values():
            wait_for(lambda: abs(budget(d, "half")["spend"] * NANOS - total) < 1, timeout=5)
        self.assertEqual(int(self.etcd.keys(PREFIX)[spent_key][0]), a_spend)

    def test_6_a_second_process_under_a_live_instance_name_is_refused(self):
        twin = Daemon(extra_config=coordination(self.etcd, "b"))
        try:
            with open(os.path.join(twin.dir, "policies.yaml"), "w") as f:
                f.write(POLICIES)
            twin.start()
            wait_for(lambda: any("is held by another live process" in l for l in twin.log), timeout=10)
            # It never gets a grant: batch waits there, and after a lease TTL it says degraded.
            self.assertEqual(admit(twin, feature="outage", priority="batch", estimated_cost=0.01)[0], 429)
            wait_for(lambda: budget(twin, "outage")["coordination"] == "degraded", timeout=10)
            # The real "b" is untouched.
            self.assertEqual(budget(self.daemons["b"], "outage")["coordination"], "ok")
        finally:
            twin.cleanup()


    def test_7_burn_rates_are_global(self):
        a, b = self.daemons["a"], self.daemons["b"]
        self.assertEqual(b.get("/v1/admit?feature=burn&priority=batch")[0], 200)
        # 6.1 spent in a minute on "a" alone: over 14.4x on both windows of a daily 10 (6 an
        # hour, 0.5 in five minutes), so batch is blocked on "b" too, which spent nothing.
        a.post_usage([event("a-burn-1", feature="burn", cost=6.1)])
        wait_for(lambda: b.get("/v1/admit?feature=burn&priority=batch")[0] == 429, timeout=5)
        self.assertGreater(budget(b, "burn")["burn_rates"]["5m"], 14.4)
        self.assertEqual(ledger_spend(b, "burn"), 0)


class EtcdAuthenticationTest(unittest.TestCase):
    """coordination.etcd.username and password_file against an etcd with authentication on."""

    def test_a_user_with_its_password_coordinates_a_wrong_password_is_refused_and_said(self):
        etcd = EtcdCluster(1).start()
        daemons = []
        try:
            etcd.enable_auth("tollgate", "s3cret pass", PREFIX)
            for name, password in (("good", "s3cret pass"), ("bad", "wrong")):
                d = Daemon(extra_config=coordination(etcd, name))
                with open(os.path.join(d.dir, "etcd-password"), "w") as f:
                    f.write(password + "\n")
                with open(d.config) as f:
                    text = f.read()
                with open(d.config, "w") as f:
                    f.write(text.replace("  etcd:\n", "  etcd:\n    username: tollgate\n"
                                                     "    password_file: etcd-password\n"))
                with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
                    f.write(POLICIES)
                daemons.append(d.start())
            good, bad = daemons
            wait_for(lambda: budget(good, "outage")["coordination"] == "ok", timeout=10)
            self.assertEqual(admit(good, feature="outage", priority="batch", estimated_cost=0.01)[0], 200)
            wait_for(lambda: any('refused the credentials of user "tollgate"' in l for l in bad.log),
                     timeout=10)
            self.assertFalse(any("wrong" in l for l in bad.log), "the password is never logged")
            wait_for(lambda: budget(bad, "outage")["coordination"] == "degraded", timeout=10)
        finally:
            for d in daemons:
                d.cleanup()
            etcd.stop()


def make_pki(d):
    """A test CA, a certificate for 127.0.0.1 (etcd's) and a client certificate it signs."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Tollgate test CA")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", who + ".key", "-out", who + ".csr",
                "-subj", "/CN=" + who)
        openssl("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", who + ".pem", "-days", "2", "-extfile", "san.ext")


class EtcdTlsTest(unittest.TestCase):
    """https:// endpoints: etcd's certificate verified against coordination.etcd.ca_file, and a
    client certificate presented for etcd's --client-cert-auth."""

    def test_coordination_over_tls_with_a_client_certificate(self):
        pki = tempfile.mkdtemp(prefix="tollgate-pki-")
        make_pki(pki)
        etcd = EtcdCluster(1, tls_dir=pki).start()
        daemons = []
        try:
            for name, files in (("tls", "    ca_file: %s/ca.pem\n    cert_file: %s/client.pem\n"
                                        "    key_file: %s/client.key\n" % (pki, pki, pki)),
                                ("nocert", "    ca_file: %s/ca.pem\n" % pki)):
                d = Daemon(extra_config=coordination(etcd, name))
                with open(d.config) as f:
                    text = f.read()
                with open(d.config, "w") as f:
                    f.write(text.replace("  etcd:\n", "  etcd:\n" + files))
                with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
                    f.write(POLICIES)
                daemons.append(d.start())
            good, nocert = daemons
            wait_for(lambda: budget(good, "outage")["coordination"] == "ok", timeout=10)
            self.assertEqual(admit(good, feature="outage", priority="batch", estimated_cost=0.01)[0], 200)
            # Without a client certificate etcd ends the handshake: said, and degraded.
            wait_for(lambda: any("coordination:" in l and "certificate" in l for l in nocert.log),
                     timeout=10)
            wait_for(lambda: budget(nocert, "outage")["coordination"] == "degraded", timeout=10)
        finally:
            for d in daemons:
                d.cleanup()
            etcd.stop()
            shutil.rmtree(pki, ignore_errors=True)


class LocalBudgetsNeedNoEtcdTest(unittest.TestCase):
    def test_scope_global_without_a_coordination_block_is_a_config_error(self):
        d = Daemon()
        try:
            with open(os.path.join(d.dir, "policies.yaml"), "w") as f:
                f.write(POLICIES)
            import subprocess
            from harness import BIN
            out = subprocess.run([BIN, "check", "--config", d.config], capture_output=True, text=True)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr, r"policies.yaml:3:12: scope: global needs the main file's "
                                         r"coordination block")
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
