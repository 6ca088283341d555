#!/usr/bin/python3
"""What a dry run of the Message Center upgrade proves, against the
simulator (docs/runs.md "Dry run"):

- the v2.5.1 rehearsal (its pods crash) labels every probe after the first
  simulated change `unchanged`, none `real`, and says so on its final line,
  while the preflight reads (image, window, env vars, fallback, schema) are
  real checks;
- a dry run of a tag that was never pushed fails in preflight naming it;
- a real run of it aborts before the backup and before any migration pod;
- the compose path likewise;
- a probe of a target no simulated change touched stays real, one of the
  target that was changed does not (kubectl namespaces).
Uses LOCKSTEP_TEST_MONGODB_URI when set (tools/with-test-servers)."""
import json
import os
import subprocess
import tempfile
import unittest

SRC = os.environ.get("LOCKSTEP_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCKSTEP = os.environ.get("LOCKSTEP_BIN") or os.path.join(SRC, "build", "lockstep")
SIM = os.path.join(SRC, "tools", "sim")
MC = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
PY = "/usr/bin/python3"

PREFLIGHT_REAL = {("check_inputs", "outcome"), ("check_window", "outcome"), ("k8s_read_secret", "expect"),
                  ("k8s_env_check", "outcome"), ("check_fallback", "expect"), ("read_schema", "expect")}
POST_CHANGE_PROBES = ["k8s/verify_schema", "k8s/rollout_status", "post/core_api", "post/db_schema", "post/backlog",
                      "post/logs_k8s"]


class RehearsalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim_rehearsal.")
        cls.dir = os.path.join(cls.tmp.name, "sim")
        argv = [PY, os.path.join(SIM, "start"), "--background", "--dir", cls.dir, "--db", f"simreh_{os.getpid()}"]
        if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
            argv += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
        cls.addClassCleanup(cls.tmp.cleanup)
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout
        # Registered at once, so servers never outlive a failing setUpClass.
        cls.addClassCleanup(subprocess.run, [PY, os.path.join(SIM, "stop"), "--dir", cls.dir], check=False)
        cls.env = dict(os.environ)
        for line in out.splitlines():
            k, v = line[len("export "):].split("=", 1)
            cls.env[k] = v.strip("'").replace('"$PATH"', os.environ["PATH"])
        cls.env["LOCKSTEP_STATE_DIR"] = os.path.join(cls.tmp.name, "state")
        cls.backups = os.path.join(cls.tmp.name, "backups")

    def setUp(self):
        self.ctl("init", "--mongodb-uri", self.env["MONGODB_URI"], "--db", self.env["MONGODB_DB"])
        calls = os.path.join(self.dir, "calls.jsonl")
        if os.path.exists(calls):
            os.remove(calls)

    def ctl(self, *args):
        return subprocess.run([PY, os.path.join(SIM, "ctl"), *args], check=True, env=self.env, capture_output=True,
                              text=True, timeout=60).stdout

    def world(self):
        return json.loads(self.ctl("show"))["state"]

    def calls(self):
        path = os.path.join(self.dir, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def upgrade(self, tag, schema, *extra):
        """Runs the shipped upgrade (cwd: the repository, as --env sim wants)."""
        args = [LOCKSTEP, "run", MC, "--env", "sim", "--set", "new_tag=" + tag, "--set", f"expected_schema={schema}",
                "--set", "backup_dir=" + self.backups, "--yes", *extra]
        return subprocess.run(args, cwd=SRC, env=self.env, capture_output=True, text=True, timeout=300)

    def json_run(self, tag, schema, *extra):
        p = self.upgrade(tag, schema, "--output", "json", *extra)
        events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        return p, events

    def assert_unchanged_world(self):
        w = self.world()
        self.assertEqual(w["pods"], [])
        dep = w["deployments"]["default/core-admin"]
        self.assertEqual(dep["containers"]["core-admin"], "registry.example/core-admin:v2.4.0")
        self.assertEqual(len(dep["revisions"]), 1)
        self.assertFalse(dep["paused"])

    def test_crashing_release_rehearses_only_on_unchanged_data(self):
        p, events = self.json_run("v2.5.1", 13, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        path = [e["state"] for e in events if e["event"] == "state_entered"]
        self.assertEqual(path[-1], "done")
        fin = [e for e in events if e["event"] == "run_finished"][0]
        decisions = fin["decisions"]
        first_sim = min(path.index(e["state"]) for e in events
                        if e["event"] == "action_finished" and e["status"] == "simulated")
        self.assertEqual(path[first_sim], "backup/dump")
        changed_from = path.index("k8s/pause")  # the first simulated change of the running system
        after = set(path[changed_from:])
        by_key = {(d["state"], d["kind"]): d for d in decisions}
        # Every probe after the first simulated change: unchanged, naming what it missed.
        for state in POST_CHANGE_PROBES:
            d = by_key.get((state, "outcome"))
            self.assertIsNotNone(d, f"no outcome decision for {state}: {decisions}")
            self.assertEqual(d["basis"], "unchanged", d)
            self.assertIn("k8s/migrate", d["unchanged_by"], d)
        for state in POST_CHANGE_PROBES[1:]:
            self.assertIn("k8s/set_image", by_key[(state, "outcome")]["unchanged_by"])
        self.assertEqual(by_key[("post/core_api", "expect")]["basis"], "unchanged")
        self.assertEqual(by_key[("post/backlog", "expect")]["basis"], "unchanged")
        self.assertEqual(by_key[("post/scan_logs", "branch")]["basis"], "unchanged")  # through log.scan's input
        real_after = [d for d in decisions if d["state"] in after and d["basis"] == "real"]
        self.assertEqual(real_after, [], "a post-change decision claims real data")
        # The preflight reads are real checks, before any change.
        for key in PREFLIGHT_REAL:
            self.assertEqual(by_key[key]["basis"], "real", by_key.get(key))
            self.assertTrue(by_key[key]["value"], key)
        self.assertNotIn("unchanged_by", by_key[("read_schema", "expect")])
        # The simulated backup (dump and verify) changes no data the probes read.
        self.assertNotIn("backup/dump", by_key[("k8s/verify_schema", "outcome")]["unchanged_by"])
        self.assertNotIn("backup/verify", by_key[("k8s/verify_schema", "outcome")]["unchanged_by"])
        self.assert_unchanged_world()
        inspect = [c["argv"] for c in self.calls() if c["argv"][:2] == ["manifest", "inspect"]]
        self.assertEqual(inspect, [["manifest", "inspect", "registry.example/core-admin:v2.5.1"]])

        # The operator's view: labels in the summary, the verdict qualified.
        p = self.upgrade("v2.5.1", 13, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        final = lines[-1]
        self.assertIn("ended in success at done", final)
        self.assertIn("decisions rested on the unchanged system", final)
        self.assertRegex(final, r"\(dry run: \d+ decisions rested on the unchanged system; \d+ on simulated results")
        dec = lines[lines.index("decisions (dry run):") + 1:-1]
        status = [l for l in dec if l.split()[:2] == ["k8s/rollout_status", "outcome"]]
        self.assertEqual(len(status), 1, dec)
        self.assertIn("on UNCHANGED data (the simulated ", status[0])
        self.assertIn("k8s/set_image", status[0])
        self.assertIn("would have changed what it read", status[0])
        for l in dec:
            if l.split()[0] in after:
                self.assertNotIn("on real data", l)

    def test_compose_rehearsal_labels_post_change_reads_too(self):
        p, events = self.json_run("v2.5.1", 13, "--dry-run", "--set", "platform=compose")
        self.assertEqual(p.returncode, 0, p.stderr)
        path = [e["state"] for e in events if e["event"] == "state_entered"]
        after = set(path[path.index("compose/migrate"):])
        decisions = events[-1]["decisions"]
        by_key = {(d["state"], d["kind"]): d for d in decisions}
        for state in ("compose/verify_schema", "post/core_api", "post/db_schema", "post/backlog", "post/logs_compose"):
            self.assertEqual(by_key[(state, "outcome")]["basis"], "unchanged", state)
        self.assertEqual(by_key[("post/logs_compose", "outcome")]["unchanged_by"], ["compose/up"])
        self.assertEqual([d for d in decisions if d["state"] in after and d["basis"] == "real"], [])
        self.assertEqual(by_key[("compose_env_check", "outcome")]["basis"], "real")
        self.assertEqual(self.world()["compose"], {})

    def test_unknown_tag_dry_run_fails_in_preflight_naming_it(self):
        p, events = self.json_run("v9.9.9", 15, "--dry-run")
        self.assertEqual(p.returncode, 1, p.stderr)
        path = [e["state"] for e in events if e["event"] == "state_entered"]
        self.assertEqual(path, ["release_notes", "check_inputs", "aborted"])
        fin = [e for e in events if e["event"] == "action_finished" and e["state"] == "check_inputs"][0]
        self.assertEqual(fin["status"], "failed")
        self.assertIn("no such manifest: registry.example/core-admin:v9.9.9", fin["error"])
        run_fin = [e for e in events if e["event"] == "run_finished"][0]
        self.assertEqual(run_fin["state"], "aborted")
        d = [d for d in run_fin["decisions"] if d["state"] == "check_inputs" and d["kind"] == "outcome"][0]
        self.assertEqual((d["basis"], d["value"]), ("real", False))
        p = self.upgrade("v9.9.9", 15, "--dry-run")
        self.assertEqual(p.returncode, 1)
        failed = [l for l in p.stdout.splitlines() if "check_inputs: failed" in l]
        self.assertEqual(len(failed), 1, p.stdout)
        self.assertIn("v9.9.9", failed[0])
        self.assertIn("ended in failure at aborted", p.stderr)
        self.assert_unchanged_world()

    def test_unknown_tag_real_run_aborts_before_any_migration_pod(self):
        p, events = self.json_run("v9.9.9", 15)
        self.assertEqual(p.returncode, 1, p.stderr)
        path = [e["state"] for e in events if e["event"] == "state_entered"]
        self.assertEqual(path, ["release_notes", "check_inputs", "aborted"])
        self.assertFalse(any(e.get("dry_run") for e in events))
        self.assert_unchanged_world()
        progs = [(c["prog"], c["argv"][0]) for c in self.calls()]
        self.assertEqual(progs, [("docker", "manifest")])  # nothing else was called
        self.assertFalse(os.path.exists(self.backups) and os.listdir(self.backups))
        import pymongo
        client = pymongo.MongoClient(self.env["MONGODB_URI"], serverSelectionTimeoutMS=5000)
        try:
            self.assertEqual(client[self.env["MONGODB_DB"]].meta.find_one({"_id": "schema"})["schema_version"], 11)
        finally:
            client.close()

    def test_only_probes_of_a_changed_target_are_unchanged(self):
        # set image in namespace default (simulated); a read of another
        # namespace is still a real check, a read of default is not.
        pb = os.path.join(self.tmp.name, "targets.yaml")
        with open(pb, "w") as f:
            f.write("""\
lockstep: 1
name: targets
start: set_image
defaults: {on_failure: failed}
states:
  set_image:
    action: kubectl.set_image
    with: {namespace: default, deployment: core-admin, image: registry.example/core-admin:v2.5.1}
    dry_run: {result: {exit_code: 0}}
    next: other_ns
  other_ns:
    action: kubectl.get
    with: {namespace: elsewhere, kind: deployment, name: core-admin}
    expect: "result.exists == false"
    next: same_ns
  same_ns:
    action: kubectl.get
    with: {namespace: default, kind: deployment, name: core-admin}
    expect: "result.exists"
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
""")
        p = subprocess.run([LOCKSTEP, "run", pb, "--dry-run", "--output", "json"], env=self.env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        dec = {(d["state"], d["kind"]): d for d in events[-1]["decisions"]}
        self.assertEqual(dec[("other_ns", "expect")]["basis"], "real")
        self.assertEqual(dec[("other_ns", "outcome")]["basis"], "real")
        self.assertEqual(dec[("same_ns", "expect")]["basis"], "unchanged")
        self.assertEqual(dec[("same_ns", "expect")]["unchanged_by"], ["set_image"])
        self.assertEqual(dec[("same_ns", "outcome")]["basis"], "unchanged")
        self.assert_unchanged_world()


if __name__ == "__main__":
    unittest.main(verbosity=1)
