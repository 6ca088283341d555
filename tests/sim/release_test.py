#!/usr/bin/python3
"""The shipped Message Center upgrade against the simulator when the running
version is outside the playbook's `release.upgrades_from`: the simulated
deployment runs v2.2.0 (or the compose service v2.3.1), and both a real run
and a dry run abort in preflight, naming the running version, the range and
what to run first, with nothing changed: same image, no pod, no backup, the
same schema.  Also: a database at a schema other than release.schema.from
aborts before the backup."""
import glob
import json
import os
import shlex
import subprocess
import tempfile
import unittest

SRC = os.environ.get("LOCKSTEP_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCKSTEP = os.environ.get("LOCKSTEP_BIN") or os.path.join(SRC, "build", "lockstep")
SIM = os.path.join(SRC, "tools", "sim")
PLAYBOOK = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
PY = "/usr/bin/python3"
TOO_OLD = ("deployment core-admin runs v2.2.0, outside the versions release 2.5.0 upgrades from "
           "(>=2.4.0 <2.5.0): first upgrade it with the playbook of a release in >=2.4.0 <2.5.0, then run this one")


class ReleaseBoundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim_release.")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.dir = os.path.join(cls.tmp.name, "sim")
        cls.db = f"simrel_{os.getpid()}"
        argv = [PY, os.path.join(SIM, "start"), "--background", "--dir", cls.dir, "--db", cls.db]
        if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
            argv += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout
        cls.addClassCleanup(subprocess.run, [PY, os.path.join(SIM, "stop"), "--dir", cls.dir], check=False,
                            capture_output=True)
        cls.env = dict(os.environ)
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                cls.env[k] = shlex.split(v.replace('"$PATH"', os.environ["PATH"]))[0]

    def ctl(self, *args):
        return subprocess.run([PY, os.path.join(SIM, "ctl"), *args], check=True, env=self.env,
                              capture_output=True, text=True, timeout=60).stdout

    def world(self):
        return json.loads(self.ctl("show"))

    def seed(self, image="registry.example/core-admin:v2.2.0", schema="11"):
        self.ctl("init", "--mongodb-uri", self.env["MONGODB_URI"], "--db", self.env["MONGODB_DB"],
                 "--image", image, "--schema", schema)

    def run_upgrade(self, *extra):
        """Text output (it carries the failed state's message); the path from
        the run's journal."""
        backups = os.path.join(self.tmp.name, "backups")
        state = tempfile.mkdtemp(dir=self.tmp.name, prefix="state.")
        args = [LOCKSTEP, "run", PLAYBOOK, "--env", "sim", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12",
                "--set", "backup_dir=" + backups, "--state-dir", state, "--yes", *extra]
        p = subprocess.run(args, cwd=SRC, env=self.env, capture_output=True, text=True, timeout=300)
        journals = glob.glob(os.path.join(state, "runs", "*", "journal.jsonl"))
        self.assertEqual(len(journals), 1, p.stdout + p.stderr)
        with open(journals[0], encoding="utf-8") as f:
            events = [json.loads(x) for x in f if x.strip()]
        path = [e["state"] for e in events if e.get("event") == "state_entered"]
        return p, path, p.stdout + p.stderr, backups

    def assert_untouched(self, before, backups, image):
        after = self.world()
        dep = after["state"]["deployments"]["default/core-admin"]
        self.assertEqual(dep["containers"]["core-admin"], image)
        self.assertEqual(after["state"]["deployments"], before["state"]["deployments"])
        self.assertEqual(after["state"].get("pods", []), before["state"].get("pods", []), "no pod ran")
        self.assertFalse(os.path.exists(backups) and os.listdir(backups), "no backup was written")

    def check_too_old(self, *extra):
        self.seed()
        before = self.world()
        p, path, text, backups = self.run_upgrade(*extra)
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])
        self.assertEqual(path, ["release_notes", "check_inputs", "running_version", "k8s_running_version", "aborted"])
        self.assertIn(TOO_OLD, text)
        self.assertIn("upgrade.yaml:", text, "the message names the playbook line")
        self.assert_untouched(before, backups, "registry.example/core-admin:v2.2.0")

    def test_real_run_too_old(self):
        self.check_too_old()

    def test_dry_run_too_old(self):
        self.check_too_old("--dry-run")

    def test_dry_run_in_range_passes_the_check(self):
        self.seed(image="registry.example/core-admin:v2.4.0")
        p, path, text, _ = self.run_upgrade("--dry-run")
        self.assertEqual(p.returncode, 0, text[-3000:])
        self.assertEqual(path[:5], ["release_notes", "check_inputs", "running_version", "k8s_running_version",
                                    "check_window"])

    def test_compose_service_outside(self):
        self.seed(image="registry.example/core-admin:v2.4.0")
        compose = os.path.join(self.tmp.name, "compose.yml")
        with open(compose, "w") as f:
            f.write("services:\n  core-admin:\n    image: registry.example/core-admin:${IMAGE_TAG:-v2.4.0}\n")
        subprocess.run(["docker", "compose", "-f", compose, "-p", "mc", "up", "-d"], env=dict(self.env, IMAGE_TAG="v2.3.1"),
                       check=True, capture_output=True, timeout=60)
        for extra in ([], ["--dry-run"]):
            p, path, text, _ = self.run_upgrade("--set", "platform=compose", "--set", "compose_file=" + compose,
                                                "--set", "compose_project=mc", *extra)
            self.assertEqual(p.returncode, 1, text[-3000:])
            self.assertEqual(path[-2:], ["compose_running_version", "aborted"])
            self.assertIn("compose service core-admin runs v2.3.1, outside the versions release 2.5.0 upgrades from "
                          "(>=2.4.0 <2.5.0)", text)
            services = self.world()["state"]["compose"]["mc"]["services"]
            self.assertEqual(services["core-admin"]["image"], "registry.example/core-admin:v2.3.1")

    def test_schema_not_release_from(self):
        self.seed(image="registry.example/core-admin:v2.4.0", schema="10")
        p, path, text, backups = self.run_upgrade("--dry-run")
        self.assertEqual(p.returncode, 1, text[-3000:])
        self.assertEqual(path[-2:], ["read_schema", "aborted"])
        self.assertIn("the database is at schema 10, not 11, the schema release 2.5.0 upgrades from", text)
        self.assertNotIn("backup", path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
