"""A real etcd cluster on loopback for the tests of global budgets: N members, each with its own
data directory and ports, started and killed one by one."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdCluster:
    def __init__(self, members=3, tls_dir=None):
        """tls_dir: a directory with ca.pem, server.pem/key and client.pem/key: client URLs are
        https:// and every client must present a certificate the CA signed."""
        self.tls_dir = tls_dir
        if not os.path.exists(ETCD):
            raise RuntimeError("etcd is not installed: deploy/setup.sh --tests installs etcd-server")
        # Members fsync every entry: on tmpfs that is free, so the tests measure Tollgate, not the disk.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.mkdtemp(prefix="tollgate-etcd-", dir=shm)
        self.names = ["m%d" % i for i in range(members)]
        self.client = {n: free_port() for n in self.names}
        self.peer = {n: free_port() for n in self.names}
        self.procs = {}
        self.initial = ",".join("%s=http://127.0.0.1:%d" % (n, self.peer[n]) for n in self.names)

    @property
    def scheme(self):
        return "https" if self.tls_dir else "http"

    @property
    def endpoints(self):
        return ["%s://127.0.0.1:%d" % (self.scheme, self.client[n]) for n in self.names]

    def start_member(self, name):
        log = open(os.path.join(self.dir, name + ".log"), "a")
        tls = []
        if self.tls_dir:
            t = self.tls_dir
            tls = ["--cert-file", os.path.join(t, "server.pem"), "--key-file", os.path.join(t, "server.key"),
                   "--trusted-ca-file", os.path.join(t, "ca.pem"), "--client-cert-auth"]
        client_url = "%s://127.0.0.1:%d" % (self.scheme, self.client[name])
        self.procs[name] = subprocess.Popen(
            [ETCD, "--name", name, "--data-dir", os.path.join(self.dir, name)] + tls +
            ["--listen-client-urls", client_url, "--advertise-client-urls", client_url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer[name],
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer[name],
             "--initial-cluster", self.initial, "--initial-cluster-state", "new",
             "--initial-cluster-token", os.path.basename(self.dir),
             "--heartbeat-interval", "100", "--election-timeout", "1000"],
            stdout=log, stderr=log)
        log.close()

    def start(self):
        for n in self.names:
            self.start_member(n)
        self.wait_healthy()
        return self

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call("/v3/kv/range", {"key": b64("health")})
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy; logs in " + self.dir)

    def call(self, path, body):
        context = None
        if self.tls_dir:
            import ssl
            context = ssl.create_default_context(cafile=os.path.join(self.tls_dir, "ca.pem"))
            context.load_cert_chain(os.path.join(self.tls_dir, "client.pem"),
                                    os.path.join(self.tls_dir, "client.key"))
        for name in list(self.procs):
            url = "%s://127.0.0.1:%d%s" % (self.scheme, self.client[name], path)
            try:
                req = urllib.request.Request(url, json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2, context=context) as r:
                    return json.loads(r.read())
            except OSError:
                continue
        raise OSError("no etcd member answered " + path)

    def enable_auth(self, user, password, prefix):
        """etcd's authentication on: root, and `user` allowed to read and write under `prefix`."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        for path, body in (("/v3/auth/role/add", {"name": "root"}),
                           ("/v3/auth/user/add", {"name": "root", "password": "root-" + password}),
                           ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                           ("/v3/auth/role/add", {"name": "tollgate"}),
                           ("/v3/auth/role/grant", {"name": "tollgate", "perm": {
                               "permType": "READWRITE", "key": b64(prefix), "range_end": b64(end)}}),
                           ("/v3/auth/user/add", {"name": user, "password": password}),
                           ("/v3/auth/user/grant", {"user": user, "role": "tollgate"}),
                           ("/v3/auth/enable", {})):
            self.call(path, body)

    def keys(self, prefix):
        """{key: (value, lease)} under prefix."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        out = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)})
        return {unb64(kv["key"]): (unb64(kv.get("value", "")), int(kv.get("lease", 0)))
                for kv in out.get("kvs", [])}

    def stop(self):
        for name in list(self.procs):
            self.kill(name)
        shutil.rmtree(self.dir, ignore_errors=True)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()
