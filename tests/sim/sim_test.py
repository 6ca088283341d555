#!/usr/bin/python3
"""The simulator's own behaviour (tools/sim): rollouts, undo, pause, set
image, get/NotFound, migration pods moving the schema version in MongoDB
(and its faults), logs faults cleared by the second migration, docker pull/
run/compose, the diagnostics API.  Uses LOCKSTEP_TEST_MONGODB_URI when set
(tools/with-test-servers), else tools/sim/start launches its own server."""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

SRC = os.environ.get("LOCKSTEP_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(SRC, "tools", "sim")
PY = "/usr/bin/python3"


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim_test.")
        cls.dir = os.path.join(cls.tmp.name, "sim")
        argv = [PY, os.path.join(SIM, "start"), "--background", "--dir", cls.dir, "--db", f"simtest_{os.getpid()}",
                "--namespace", "mc"]
        uri = os.environ.get("LOCKSTEP_TEST_MONGODB_URI")
        if uri:
            argv += ["--mongodb-uri", uri]
        cls.addClassCleanup(cls.tmp.cleanup)
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        # Registered at once, so servers never outlive a failing setUpClass.
        cls.addClassCleanup(subprocess.run, [PY, os.path.join(SIM, "stop"), "--dir", cls.dir], check=False)
        cls.env = dict(os.environ)
        for line in out.splitlines():
            k, v = line[len("export "):].split("=", 1)
            cls.env[k] = v.strip("'").replace('"$PATH"', os.environ["PATH"])
        cls.base = dict(cls.env)

    def setUp(self):
        # A fresh world per test, same MongoDB.
        self.ctl("init", "--mongodb-uri", self.env["MONGODB_URI"], "--db", self.env["MONGODB_DB"],
                 "--namespace", "mc")

    def run_prog(self, prog, *args, env=None, ok=None):
        e = dict(self.env, **(env or {}))
        p = subprocess.run([os.path.join(SIM, "bin", prog), *args], capture_output=True, text=True, env=e,
                           timeout=300)
        if ok is True:
            self.assertEqual(p.returncode, 0, p.stderr)
        if ok is False:
            self.assertNotEqual(p.returncode, 0, p.stdout)
        return p

    def kubectl(self, *args, ok=True, env=None):
        return self.run_prog("kubectl", "--namespace=mc", *args, ok=ok, env=env)

    def ctl(self, *args):
        subprocess.run([PY, os.path.join(SIM, "ctl"), *args], check=True, env=self.env, capture_output=True)

    def image(self):
        dep = json.loads(self.kubectl("get", "deployment", "core-admin", "-o", "json").stdout)
        return dep["spec"]["template"]["spec"]["containers"][0]["image"]

    def schema(self):
        return json.loads(urllib.request.urlopen(self.env["CORE_API"] + "/api/diagnostics").read())["dbSchema"]

    def test_set_image_and_undo_restores_previous_image(self):
        self.assertEqual(self.image(), "registry.example/core-admin:v2.4.0")
        self.kubectl("run", "migrate", "--image=registry.example/core-admin:v2.5.0", "--restart=Never", "--rm",
                     "--attach", "--", "yarn", "migrate")
        out = self.kubectl("set", "image", "deployment/core-admin", "core-admin=registry.example/core-admin:v2.5.0")
        self.assertEqual(out.stdout, "deployment.apps/core-admin image updated\n")
        self.assertEqual(self.image(), "registry.example/core-admin:v2.5.0")
        self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=5s")
        self.assertEqual(self.kubectl("rollout", "undo", "deployment/core-admin").stdout,
                         "deployment.apps/core-admin rolled back\n")
        self.assertEqual(self.image(), "registry.example/core-admin:v2.4.0")
        # undo again flips back; --to-revision picks one
        self.kubectl("rollout", "undo", "deployment/core-admin")
        self.assertEqual(self.image(), "registry.example/core-admin:v2.5.0")
        hist = self.kubectl("rollout", "history", "deployment/core-admin").stdout
        self.assertIn("v2.4.0", hist)
        p = self.kubectl("rollout", "undo", "deployment/core-admin", "--to-revision=99", ok=False)
        self.assertIn("unable to find specified revision 99", p.stderr)

    def test_undo_without_history_fails(self):
        p = self.kubectl("rollout", "undo", "deployment/core-admin", ok=False)
        self.assertIn('no rollout history found for deployment "core-admin"', p.stderr)

    def test_paused_rollout_never_reports_ready(self):
        self.assertEqual(self.kubectl("rollout", "pause", "deployment/core-admin").stdout,
                         "deployment.apps/core-admin paused\n")
        self.assertIn("already paused", self.kubectl("rollout", "pause", "deployment/core-admin", ok=False).stderr)
        p = self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=1s", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("deployment is paused", p.stdout)
        self.assertIn("error: timed out waiting for the condition", p.stderr)
        self.assertIn("cannot rollback a paused deployment", self.kubectl("rollout", "undo", "deployment/core-admin",
                                                                          ok=False).stderr)
        self.kubectl("rollout", "resume", "deployment/core-admin")
        self.assertIn("successfully rolled out",
                      self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=2s").stdout)

    def test_new_image_before_migration_crashes_and_fault_never_ready(self):
        self.kubectl("set", "image", "deployment/core-admin", "core-admin=registry.example/core-admin:v2.5.0")
        p = self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=1s", ok=False)
        self.assertIn("CrashLoopBackOff: schema_version 11 is older than 12", p.stdout)
        d = json.loads(urllib.request.urlopen(self.env["CORE_API"] + "/api/diagnostics").read())
        self.assertEqual(d["coreApi"], "DOWN")
        self.kubectl("rollout", "undo", "deployment/core-admin")
        self.ctl("fault", "rollout=never-ready")
        self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=1s", ok=False)
        self.ctl("fault", "rollout=none")
        self.kubectl("rollout", "status", "deployment/core-admin", "--timeout=1s")

    def test_migration_pod_moves_schema_version(self):
        self.assertEqual(self.schema(), 11)
        p = self.kubectl("run", "migrate", "--image=registry.example/core-admin:v2.5.0", "--restart=Never", "--rm",
                         "--attach", "--env=NODE_ENV=production", "--", "yarn", "migrate")
        self.assertIn("migrations complete: schema_version 12", p.stdout)
        self.assertEqual(self.schema(), 12)
        p = self.kubectl("run", "check-version", "--image=registry.example/core-admin:v2.5.0", "--restart=Never",
                         "--rm", "--attach", "--command", "--", "node", "-e", "print(schema_version)")
        self.assertEqual(p.stdout.splitlines()[0], "schema_version: 12")

    def test_migration_faults(self):
        self.ctl("fault", "migration=fail")
        p = self.kubectl("run", "migrate", "--image=core-admin:v2.5.0", "--restart=Never", "--rm", "--attach",
                         "--", "yarn", "migrate", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("pod mc/migrate terminated (Error)", p.stderr)
        self.assertEqual(self.schema(), 11)
        self.ctl("fault", "migration=half")
        self.ctl("image", "core-admin:v3.0.0", "schema=14")
        self.kubectl("run", "migrate", "--image=core-admin:v3.0.0", "--restart=Never", "--rm", "--attach",
                     "--", "yarn", "migrate", ok=False)
        self.assertEqual(self.schema(), 12)  # half applied
        self.ctl("fault", "migration=ok")
        self.kubectl("run", "migrate", "--image=core-admin:v3.0.0", "--restart=Never", "--rm", "--attach",
                     "--", "yarn", "migrate")
        self.assertEqual(self.schema(), 14)

    def test_unknown_field_logs_cleared_by_second_migration(self):
        self.ctl("fault", "logs=unknown-field")
        sel = ("logs", "-l", "app=core-admin", "--since=5m", "--tail=-1")
        self.assertIn("MongoServerError: unknown field", self.kubectl(*sel).stdout)
        mig = ("run", "migrate", "--image=core-admin:v2.5.0", "--restart=Never", "--rm", "--attach", "--",
               "yarn", "migrate")
        self.kubectl(*mig)
        self.assertIn("MongoServerError: unknown field", self.kubectl(*sel).stdout)
        self.kubectl(*mig)
        logs = self.kubectl(*sel).stdout
        self.assertNotIn("MongoServerError", logs)
        self.assertIn("listening on :3000", logs)
        self.assertEqual(len(self.kubectl("logs", "-l", "app=core-admin", "--tail=1").stdout.splitlines()), 1)
        self.assertIn("No resources found in mc namespace.", self.kubectl("logs", "-l", "app=nope").stderr)

    def test_get_secret_and_not_found(self):
        s = json.loads(self.kubectl("get", "secret", "core-admin-env", "-o", "json").stdout)
        self.assertEqual(sorted(s["data"]), ["MONGODB_DB", "MONGODB_URI", "SMTP_HOST"])
        p = self.kubectl("get", "secret", "nope", "-o", "json", ok=False)
        self.assertEqual(p.stderr, 'Error from server (NotFound): secrets "nope" not found\n')
        p = self.kubectl("get", "deployment", "nope", "-o", "json", ok=False)
        self.assertIn('deployments.apps "nope" not found', p.stderr)
        # another namespace holds nothing
        self.assertNotEqual(self.run_prog("kubectl", "get", "deployment", "core-admin", "-o", "json").returncode, 0)

    def test_env_from_override(self):
        p = self.kubectl("run", "show", "--image=core-admin:v2.5.0", "--restart=Never", "--rm", "--attach",
                         '--overrides={"spec":{"containers":[{"name":"show","envFrom":[{"secretRef":{"name":"core-admin-env"}}]}]}}',
                         "--override-type=strategic", "--command", "--", "env")
        self.assertIn("SMTP_HOST=smtp.example.org", p.stdout)

    def test_image_with_metacharacters_is_one_element(self):
        bad = "core-admin:v1;touch " + os.path.join(self.tmp.name, "pwned")
        self.kubectl("set", "image", "deployment/core-admin", "core-admin=" + bad)
        self.assertEqual(self.image(), bad)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "pwned")))

    def test_docker_pull_run_compose(self):
        self.assertIn("Downloaded newer image", self.run_prog("docker", "pull", "registry.example/core-admin:v2.5.0",
                                                              ok=True).stdout)
        self.assertIn("manifest unknown", self.run_prog("docker", "pull", "core-admin:v9", ok=False).stderr)
        envf = os.path.join(self.tmp.name, "app.env")
        with open(envf, "w") as f:
            f.write("# comment\nNODE_ENV=production\n")
        p = self.run_prog("docker", "run", "--rm", "--env-file", envf, "-e", "X=1", "core-admin:v2.5.0", "env", ok=True)
        self.assertEqual(p.stdout, "NODE_ENV=production\nX=1\n")
        self.run_prog("docker", "run", "--rm", "--env-file", envf, "core-admin:v2.5.0", "yarn", "migrate", ok=True)
        self.assertEqual(self.schema(), 12)
        compose = os.path.join(self.tmp.name, "docker-compose.yml")
        with open(compose, "w") as f:
            f.write("services:\n  core-admin:\n    image: registry.example/core-admin:${IMAGE_TAG:-v2.4.0}\n")
        self.run_prog("docker", "compose", "-f", compose, "-p", "mc", "up", "-d", env={"IMAGE_TAG": "v2.5.0"}, ok=True)
        ps = self.run_prog("docker", "compose", "-f", compose, "-p", "mc", "ps", "--format", "json", ok=True).stdout
        self.assertEqual(json.loads(ps)["Image"], "registry.example/core-admin:v2.5.0")
        self.assertEqual(json.loads(ps)["State"], "running")
        p = self.run_prog("docker", "compose", "-f", "/nonexistent/compose.yml", "ps", ok=False)
        self.assertIn("no such file or directory", p.stderr)

    def test_docker_manifest_inspect_asks_the_registry(self):
        # Known images answer with a schema 2 manifest, before any pull, and
        # change nothing; unknown ones fail as docker does.
        p = self.run_prog("docker", "manifest", "inspect", "registry.example/core-admin:v2.5.1", ok=True)
        man = json.loads(p.stdout)
        self.assertEqual(man["schemaVersion"], 2)
        self.assertEqual(man["mediaType"], "application/vnd.docker.distribution.manifest.v2+json")
        self.assertTrue(man["config"]["digest"].startswith("sha256:"))
        again = json.loads(self.run_prog("docker", "manifest", "inspect", "core-admin:v2.5.1", ok=True).stdout)
        self.assertEqual(again, man)  # stable digests, with or without the registry prefix
        other = json.loads(self.run_prog("docker", "manifest", "inspect", "core-admin:v2.5.0", ok=True).stdout)
        self.assertNotEqual(other["config"]["digest"], man["config"]["digest"])
        verbose = json.loads(self.run_prog("docker", "manifest", "inspect", "--insecure", "-v",
                                           "registry.example/core-admin:v2.4.0", ok=True).stdout)
        self.assertEqual(verbose["Ref"], "registry.example/core-admin:v2.4.0")
        self.assertEqual(verbose["SchemaV2Manifest"]["schemaVersion"], 2)
        p = self.run_prog("docker", "manifest", "inspect", "registry.example/core-admin:v9.9.9", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "no such manifest: registry.example/core-admin:v9.9.9\n")
        self.assertEqual(p.stdout, "")
        p = self.run_prog("docker", "manifest", "inspect", "registry.example/core-admin", ok=False)
        self.assertIn("no such manifest: registry.example/core-admin:latest", p.stderr)
        self.assertNotEqual(self.run_prog("docker", "manifest", "inspect", ok=False).returncode, 0)
        self.assertNotEqual(self.run_prog("docker", "manifest", "push", "x", ok=False).returncode, 0)
        state = json.loads(subprocess.run([PY, os.path.join(SIM, "ctl"), "show"], check=True, env=self.env,
                                          capture_output=True, text=True).stdout)["state"]
        self.assertEqual(state["pulled"], [])

    def test_diagnostics_api(self):
        base = self.env["CORE_API"]
        self.assertEqual(json.loads(urllib.request.urlopen(base + "/api/diagnostics/auditfallback").read()),
                         {"fileSize": 0})
        self.ctl("fallback", "512")
        self.assertEqual(json.loads(urllib.request.urlopen(base + "/api/diagnostics/auditfallback").read()),
                         {"fileSize": 512})
        self.ctl("fault", "core=down")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(base + "/api/health")
        self.assertEqual(cm.exception.code, 503)
        self.ctl("fault", "clear")
        self.assertEqual(json.loads(urllib.request.urlopen(base + "/api/health").read()), {"status": "ok"})


if __name__ == "__main__":
    unittest.main(verbosity=1)
