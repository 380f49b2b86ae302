"""Deployment files checked against the tools that read them: systemd-analyze, the Dockerfile
against the setup script and the binary's libraries, Kubernetes manifests for dangling names,
promtool on the scrape config, and a runbook section for every alert."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import BIN

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def setup_build_packages():
    m = re.search(r"build_pkgs=\(([^)]*)\)", read("deploy/setup.sh"))
    return set(m.group(1).split())


def dockerfile_stages():
    """[(from, [packages apt-get installs])] per stage."""
    stages = []
    text = read("deploy/Dockerfile").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append((line.split()[1], []))
        elif line.startswith("RUN ") and "apt-get install" in line:
            after = line.split("apt-get install", 1)[1].split("&&")[0]
            stages[-1][1].extend(w for w in after.split() if not w.startswith("-"))
    return stages


class SystemdTest(unittest.TestCase):
    def test_unit_passes_systemd_analyze_verify(self):
        unit = read("deploy/systemd/tollgate.service")
        for key in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes",
                    "StateDirectory=tollgate", "NoNewPrivileges=yes", "ProtectSystem=strict"):
            self.assertIn(key, unit)
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed here")
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "tollgate.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/tollgate", os.path.abspath(BIN)))
            p = subprocess.run([analyze, "verify", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotIn("tollgate.service:", p.stderr, p.stderr)  # no complaint about our unit
        finally:
            shutil.rmtree(d)


class InstallTest(unittest.TestCase):
    def test_cmake_install_puts_everything_where_the_docs_and_the_unit_say(self):
        build_dir = os.path.dirname(os.path.abspath(BIN))
        d = tempfile.mkdtemp()
        try:
            p = subprocess.run(["cmake", "--install", build_dir, "--prefix", d],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            unit = read("deploy/systemd/tollgate.service")
            # The unit runs the installed binary, and its documentation is where install puts it.
            self.assertIn("ExecStart=/usr/local/bin/tollgate serve", unit)
            for doc in re.findall(r"file:/usr/local/(\S+)", unit):
                self.assertTrue(os.path.isfile(os.path.join(d, doc)), doc)
            for path in ("bin/tollgate", "lib/systemd/system/tollgate.service",
                         "share/tollgate/examples/tollgate.yaml",
                         "share/tollgate/examples/prices.yaml",
                         "share/tollgate/examples/policies.yaml",
                         "share/tollgate/dashboards/grafana/tollgate-oncall.json",
                         "share/tollgate/dashboards/grafana/tollgate-finops.json",
                         "share/tollgate/dashboards/prometheus/alerts.yml",
                         "share/doc/tollgate/README.md", "share/doc/tollgate/RUNBOOK.md"):
                self.assertTrue(os.path.isfile(os.path.join(d, path)), path)
            installed = os.path.join(d, "bin/tollgate")
            self.assertTrue(os.access(installed, os.X_OK))
            v = subprocess.run([installed, "--version"], capture_output=True, text=True, timeout=30)
            self.assertRegex(v.stdout, r"^tollgate \d+\.\d+\.\d+")
        finally:
            shutil.rmtree(d)


class DockerfileTest(unittest.TestCase):
    def test_multi_stage_on_debian_12_with_the_setup_scripts_packages(self):
        stages = dockerfile_stages()
        self.assertEqual([s[0] for s in stages], ["debian:12", "debian:12-slim"])
        self.assertEqual(set(stages[0][1]), setup_build_packages(),
                         "the build stage installs exactly what deploy/setup.sh installs to build")
        text = read("deploy/Dockerfile")
        for needle in ("COPY --from=build", "USER 10001", "VOLUME /var/lib/tollgate", "EXPOSE 9470", "ENTRYPOINT"):
            self.assertIn(needle, text)
        for src in re.findall(r"^COPY (?!--from)(.*) /etc/tollgate/$", text, re.M)[0].split():
            self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)

    @unittest.skipIf(os.environ.get("TOLLGATE_SANITIZED"),
                     "a sanitizer build (clang) links other libraries than the image's g++ build")
    def test_runtime_stage_provides_every_library_the_binary_links(self):
        runtime = dockerfile_stages()[1][1]
        deps = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *runtime],
                              capture_output=True, text=True).stdout
        available = set(runtime) | {l.strip().split()[-1].split(":")[0] for l in deps.splitlines()}
        ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
        libs = [l.split("=>")[1].split()[0] for l in ldd.splitlines() if "=>" in l and "/" in l]
        missing = []
        for lib in libs:
            owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True).stdout
            if not owner:
                owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True).stdout
            pkg = owner.split(":")[0]
            if pkg not in available:
                missing.append((lib, pkg))
        self.assertEqual(missing, [], "libraries whose packages the runtime stage does not install")


class KubernetesTest(unittest.TestCase):
    def setUp(self):
        self.docs = list(yaml.safe_load_all(read("deploy/kubernetes/tollgate.yaml")))
        self.by_kind = {}
        for d in self.docs:
            self.by_kind.setdefault(d["kind"], []).append(d)

    def test_every_name_referenced_exists(self):
        sts = self.by_kind["StatefulSet"][0]
        self.assertEqual(sts["spec"]["replicas"], 1)
        services = {s["metadata"]["name"]: s for s in self.by_kind["Service"]}
        self.assertIn(sts["spec"]["serviceName"], services)
        self.assertEqual(services[sts["spec"]["serviceName"]]["spec"]["clusterIP"], "None")  # headless
        pod = sts["spec"]["template"]
        pod_labels = pod["metadata"]["labels"]
        self.assertLessEqual(sts["spec"]["selector"]["matchLabels"].items(), pod_labels.items())
        container = pod["spec"]["containers"][0]
        port_names = {p["name"] for p in container["ports"]}
        for s in services.values():
            self.assertLessEqual(s["spec"]["selector"].items(), pod_labels.items())
            for p in s["spec"]["ports"]:
                self.assertIn(p["targetPort"], port_names)
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertIn(container[probe]["httpGet"]["port"], port_names)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
        configmaps = {c["metadata"]["name"]: c for c in self.by_kind["ConfigMap"]}
        for m in container["volumeMounts"]:
            self.assertTrue(m["name"] in volumes or m["name"] in claims, m["name"])
        for v in volumes.values():
            if "configMap" in v:
                self.assertIn(v["configMap"]["name"], configmaps)
        # The config the container is started with is a key of the mounted ConfigMap.
        config_path = container["args"][container["args"].index("--config") + 1]
        mount = [m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"] + "/")][0]
        cm = configmaps[volumes[mount["name"]]["configMap"]["name"]]
        self.assertIn(os.path.basename(config_path), cm["data"])
        # The ServiceMonitor finds the ClusterIP service and its port.
        sm = self.by_kind["ServiceMonitor"][0]
        matched = [s for s in services.values()
                   if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
                   and "app.kubernetes.io/component" not in s["metadata"]["labels"]]
        self.assertEqual([s["metadata"]["name"] for s in matched], ["tollgate"])
        self.assertIn(sm["spec"]["endpoints"][0]["port"], {p["name"] for p in matched[0]["spec"]["ports"]})

    def test_configmap_holds_the_shipped_files_and_they_pass_check(self):
        data = self.by_kind["ConfigMap"][0]["data"]
        self.assertEqual(data["tollgate.yaml"], read("deploy/container/tollgate.yaml"))
        self.assertEqual(data["prices.yaml"], read("deploy/examples/prices.yaml"))
        self.assertEqual(data["policies.yaml"], read("deploy/examples/policies.yaml"))
        d = tempfile.mkdtemp()
        try:
            for name, text in data.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text.replace("/var/lib/tollgate/", d + "/"))
            p = subprocess.run([BIN, "check", "--config", os.path.join(d, "tollgate.yaml")], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            shutil.rmtree(d)


class KubernetesScaleOutTest(unittest.TestCase):
    """deploy/kubernetes/global: a kustomize overlay of the single-instance deployment."""

    def test_the_overlay_scales_out_and_its_configuration_passes_check(self):
        base = yaml.safe_load(read("deploy/kubernetes/kustomization.yaml"))
        self.assertEqual(base["resources"], ["tollgate.yaml"])
        overlay = yaml.safe_load(read("deploy/kubernetes/global/kustomization.yaml"))
        self.assertEqual(overlay["resources"], ["../"])
        patches = {p["path"]: yaml.safe_load(read("deploy/kubernetes/global/" + p["path"]))
                   for p in overlay["patches"]}
        base_docs = {(d["kind"], d["metadata"]["name"]) for d in
                     yaml.safe_load_all(read("deploy/kubernetes/tollgate.yaml"))}
        for patch in patches.values():  # each patches something the base has
            self.assertIn((patch["kind"], patch["metadata"]["name"]), base_docs)
        self.assertEqual(patches["replicas.yaml"]["spec"]["replicas"], 3)
        data = patches["config.yaml"]["data"]
        self.assertIn("coordination:", data["tollgate.yaml"])
        self.assertIn("scope: global", data["policies.yaml"])
        d = tempfile.mkdtemp()
        try:
            files = dict(data, **{"prices.yaml": read("deploy/examples/prices.yaml")})
            for name, text in files.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text.replace("/var/lib/tollgate/", d + "/"))
            p = subprocess.run([BIN, "check", "--config", os.path.join(d, "tollgate.yaml")],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            shutil.rmtree(d)


class PrometheusConfigTest(unittest.TestCase):
    def test_scrape_config_passes_promtool(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "prometheus.yml")
            with open(path, "w") as f:
                f.write(read("deploy/prometheus/scrape.yml").replace(
                    "/etc/prometheus/tollgate-alerts.yml", os.path.join(ROOT, "dashboards/prometheus/alerts.yml")))
            p = subprocess.run(["promtool", "check", "config", path], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            shutil.rmtree(d)


class RunbookTest(unittest.TestCase):
    def test_every_alert_has_a_summary_and_a_runbook_section(self):
        rules = yaml.safe_load(read("dashboards/prometheus/alerts.yml"))
        runbook = read("deploy/RUNBOOK.md")
        sections = set(re.findall(r"^## (\S+)$", runbook, re.M))
        for group in rules["groups"]:
            for rule in group["rules"]:
                name = rule["alert"]
                self.assertTrue(rule["annotations"]["summary"], name)
                self.assertEqual(rule["annotations"]["runbook"], "deploy/RUNBOOK.md#" + name.lower())
                self.assertIn(name.lower(), sections, name)
                body = runbook.split("## " + name.lower(), 1)[1].split("\n## ", 1)[0]
                for part in ("**What it means.**", "**What to check.**", "**What to do.**", "**Undo.**"):
                    self.assertIn(part, body, name)


if __name__ == "__main__":
    unittest.main()
