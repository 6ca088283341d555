#!/usr/bin/python3
"""`lockstep run` of tests/sim/upgrade.yaml against the simulator: the
upgrade path end to end (pause, migrate, set image, resume, rollout status,
get, logs, scan, pull, compose, undo); the same with MongoServerError lines
injected into the logs, which must route to the rollback; a preflight
outside the maintenance window that changes nothing; a failing migration;
and an image tag full of shell metacharacters that reaches kubectl as one
argv element."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("LOCKSTEP_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCKSTEP = os.environ.get("LOCKSTEP_BIN") or os.path.join(SRC, "build", "lockstep")
SIM = os.path.join(SRC, "tools", "sim")
PLAYBOOK = os.path.join(SRC, "tests", "sim", "upgrade.yaml")
PY = "/usr/bin/python3"
INSIDE = "2026-11-25T02:30:00Z"  # 03:30 in Berlin, a Wednesday


class PlaybookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim_playbook.")
        cls.dir = os.path.join(cls.tmp.name, "sim")
        argv = [PY, os.path.join(SIM, "start"), "--background", "--dir", cls.dir, "--db", f"simpb_{os.getpid()}",
                "--namespace", "mc"]
        if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
            argv += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
        cls.addClassCleanup(cls.tmp.cleanup)
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        # Registered at once, so servers never outlive a failing setUpClass.
        cls.addClassCleanup(subprocess.run, [PY, os.path.join(SIM, "stop"), "--dir", cls.dir], check=False)
        cls.env = dict(os.environ)
        for line in out.splitlines():
            k, v = line[len("export "):].split("=", 1)
            cls.env[k] = v.strip("'").replace('"$PATH"', os.environ["PATH"])
        cls.compose = os.path.join(cls.tmp.name, "compose.yml")
        with open(cls.compose, "w") as f:
            f.write("services:\n  core-admin:\n    image: registry.example/core-admin:${IMAGE_TAG:-v2.4.0}\n")

    def setUp(self):
        self.ctl("init", "--mongodb-uri", self.env["MONGODB_URI"], "--db", self.env["MONGODB_DB"], "--namespace", "mc")

    def ctl(self, *args):
        subprocess.run([PY, os.path.join(SIM, "ctl"), *args], check=True, env=self.env, capture_output=True)

    def run_playbook(self, tag="v2.5.0", now=INSIDE):
        env = dict(self.env, LOCKSTEP_NOW=now)
        p = subprocess.run([LOCKSTEP, "run", PLAYBOOK, "--set", "new_tag=" + tag, "--set", "compose_file=" + self.compose,
                            "--state-dir", os.path.join(self.tmp.name, "state"), "--output", "json", "--yes"],
                           capture_output=True, text=True, env=env, timeout=600)
        events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        path = [e["state"] for e in events if e["event"] == "state_entered"]
        return p, path, events

    def show(self):
        out = subprocess.run([PY, os.path.join(SIM, "ctl"), "show"], check=True, env=self.env, capture_output=True,
                             text=True).stdout
        return json.loads(out)

    def schema(self):
        import pymongo
        c = pymongo.MongoClient(self.env["MONGODB_URI"], serverSelectionTimeoutMS=60000)
        try:
            return c[self.env["MONGODB_DB"]].meta.find_one({"_id": "schema"})["schema_version"]
        finally:
            c.close()

    def image(self, s):
        return s["state"]["deployments"]["mc/core-admin"]["containers"]["core-admin"]

    def test_upgrade_end_to_end(self):
        p, path, events = self.run_playbook()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(path, ["window", "secret", "env", "pause", "migrate", "set_image", "resume", "status", "read",
                                "logs", "scan", "pull", "compose", "compose_ps", "undo", "done"])
        s = self.show()
        self.assertEqual(self.schema(), 12)                       # the migration pod ran
        self.assertEqual(self.image(s), "registry.example/core-admin:v2.4.0")  # undone
        revs = [r["containers"]["core-admin"] for r in s["state"]["deployments"]["mc/core-admin"]["revisions"]]
        self.assertEqual(revs, ["registry.example/core-admin:v2.5.0", "registry.example/core-admin:v2.4.0"])
        self.assertFalse(s["state"]["deployments"]["mc/core-admin"]["paused"])
        self.assertEqual(s["state"]["compose"]["mc"]["services"]["core-admin"]["image"],
                         "registry.example/core-admin:v2.5.0")
        self.assertIn("registry.example/core-admin:v2.5.0", s["state"]["pulled"])
        mig = [x for x in s["state"]["pods"] if x["name"] == "migrate"][0]
        self.assertEqual(mig["command"], ["yarn", "migrate"])
        self.assertEqual(mig["env"]["SMTP_HOST"], "smtp.example.org")  # env_from the Secret
        status = [e for e in events if e["event"] == "action_finished" and e["state"] == "status"][0]
        self.assertIn("successfully rolled out", status["result"]["stdout"])

    def test_errors_in_logs_route_to_rollback(self):
        self.ctl("fault", "logs=unknown-field")
        p, path, events = self.run_playbook()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(path, ["window", "secret", "env", "pause", "migrate", "set_image", "resume", "status", "read",
                                "logs", "scan", "rollback", "rolled_back"])
        scan = [e for e in events if e["event"] == "action_finished" and e["state"] == "scan"][0]
        self.assertTrue(scan["result"]["matched"])
        self.assertEqual(scan["result"]["matches"][0]["pattern"], "MongoServerError")
        self.assertEqual(self.image(self.show()), "registry.example/core-admin:v2.4.0")

    def test_rollout_that_never_becomes_ready_rolls_back(self):
        self.ctl("fault", "rollout=never-ready")
        p, path, events = self.run_playbook()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(path[-3:], ["status", "rollback", "rolled_back"])
        fin = [e for e in events if e["event"] == "action_finished" and e["state"] == "status"][0]
        # the state's 30s timeout, less a second, reached kubectl
        with open(os.path.join(self.dir, "calls.jsonl")) as f:
            calls = [json.loads(line)["argv"] for line in f]
        # (what is left of it when kubectl starts: a loaded machine may have
        # spent a second or more getting there, so any 1..29s is right)
        given = [c[-1] for c in calls if c[-4:-1] == ["rollout", "status", "deployment/core-admin"]]
        self.assertEqual(len(given), 1, calls)
        self.assertRegex(given[0], r"^--timeout=([1-9]|1[0-9]|2[0-9])s$")
        # kubectl gives up after its 29s (it started within the second the
        # engine keeps in hand), or, on a machine so busy that starting it
        # took longer, the engine's 30s stop it: a failure either way, and
        # the path above is the same.
        if fin["status"] == "failed":
            self.assertIn("rollout status deployment/core-admin %s exited with code 1" % given[0], fin["error"])
            self.assertIn("timed out waiting for the condition", fin["error"])
        else:
            self.assertEqual(fin["status"], "timed_out", fin)
            self.assertIn("timed out after 30s", fin["error"])
        self.assertEqual(self.image(self.show()), "registry.example/core-admin:v2.4.0")

    def test_outside_the_window_changes_nothing(self):
        p, path, _ = self.run_playbook(now="2026-11-25T12:00:00Z")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(path, ["window", "abort"])
        s = self.show()
        self.assertEqual(s["state"]["pods"], [])
        self.assertEqual(len(s["state"]["deployments"]["mc/core-admin"]["revisions"]), 1)
        self.assertEqual(self.schema(), 11)

    def test_failed_migration_leaves_schema_and_rolls_back(self):
        self.ctl("fault", "migration=fail")
        p, path, events = self.run_playbook()
        self.assertEqual(p.returncode, 1)
        self.assertEqual(path[:6], ["window", "secret", "env", "pause", "migrate", "resume_for_rollback"])
        fin = [e for e in events if e["event"] == "action_finished" and e["state"] == "migrate"][0]
        self.assertEqual(fin["status"], "failed")
        self.assertIn("exited with code 1", fin["error"])
        self.assertEqual(self.schema(), 11)
        self.assertEqual(self.image(self.show()), "registry.example/core-admin:v2.4.0")

    def test_shell_metacharacters_reach_kubectl_as_one_element(self):
        marker = os.path.join(self.tmp.name, "pwned")
        tag = f"v2.5.0;touch {marker};$(touch {marker})`touch {marker}`"
        p, path, _ = self.run_playbook(tag=tag)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(marker))
        with open(os.path.join(self.dir, "calls.jsonl")) as f:
            calls = [json.loads(line) for line in f]
        runs = [c["argv"] for c in calls if "run" in c["argv"]]
        self.assertEqual(runs[-1][runs[-1].index("run") + 2], "--image=registry.example/core-admin:" + tag)


if __name__ == "__main__":
    unittest.main(verbosity=1)
