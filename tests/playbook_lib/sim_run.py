#!/usr/bin/env python3
"""Each reusable part in playbooks/lib run FOR REAL, alone, against the
simulator (tools/sim: simulated kubectl and docker, the diagnostics API)
and a MongoDB wire server, then the world checked -- not lockstep's report.

One fresh world per sequence; the parts are called the way a playbook
composing them would, by hand:
  kubernetes  mongo-backup, k8s-migrate-roll (to v2.5.0), post-checks with
              log errors until a second migration, k8s-undo (image changed),
              mongo-restore: the deployment back on v2.4.0, the database
              equal to the backup
  failure     k8s-migrate-roll whose migration fails (v2.6.0): ends in
              `failed`, the image untouched, the rollout left paused;
              k8s-undo with resume only: running again, image unchanged;
              an expected schema the migration does not reach never
              reaches set_image
  compose     compose-upgrade (to v2.5.0), post-checks on compose,
              compose-rollback (to v2.4.0), mongo-restore
  damaged     mongo-restore of a truncated archive fails before it drops
              anything: the database untouched
"""
import json
import os
import sys
import tempfile


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from simworld import SRC, World as SimWorld, check, failures  # noqa: E402

LIB = os.path.join(SRC, "playbooks", "lib")
SIMPB = os.path.join(SRC, "playbooks", "message-center", "sim")
NEW = "registry.example/core-admin:v2.5.0"
OLD = "registry.example/core-admin:v2.4.0"
CHECK = ["node", "-e", "require('dotenv/config'); const {getDb} = require('./src/lib/db/mongo'); "
         "getDb().then(db => db.collection('meta').findOne({_id:'schema'}))"
         ".then(d => { console.log('schema_version:', d?.schema_version); process.exit(0); })"]
PATTERNS = ["MongoServerError", "TypeError.*unknown (field|key|property)"]



class World(SimWorld):
    """A world the parts run in, one by one."""

    def __init__(self, name, work):
        super().__init__(name, work, "lib_sim")

    def state(self):
        return self.show()["state"]

    def service_image(self):
        return self.state()["compose"]["sim"]["services"]["core-admin"]["image"]

    def run(self, part, **params):
        """Run playbooks/lib/PART.yaml for real; (exit code, path)."""
        args = ["run", os.path.join(LIB, part + ".yaml"), "--yes"]
        for k, v in params.items():
            args += ["--set", f"{k}={json.dumps(v) if isinstance(v, (list, dict, bool)) else v}"]
        p, _, path = self.lockstep_json(args)
        print(f"  {part}: exit {p.returncode}; path: {' '.join(path)}")
        if p.returncode not in (0, 1):
            print(p.stderr[-2000:])
        return p.returncode, path


def k8s_roll(w, image):
    return w.run("k8s-migrate-roll", deployment="core-admin", container="core-admin", image=image,
                 migrate_args=["yarn", "migrate"], check_args=CHECK, expected_schema=12)


def post_checks(w, platform):
    return w.run("post-checks", platform=platform, base_url=w.env["CORE_API"], health_path="/api/diagnostics",
                 health_field="coreApi", backlog_path="/api/diagnostics/auditfallback", backlog_field="fileSize",
                 expected_schema=12, log_patterns=PATTERNS, image=NEW, migrate_args=["yarn", "migrate"],
                 app_selector="app=core-admin", settle="0s", env_file=os.path.join(SIMPB, "compose.env"),
                 compose_file=os.path.join(SIMPB, "compose.yaml"))


def case_kubernetes(work):
    print("kubernetes: backup, migrate-then-roll, post-checks with a second migration, undo, restore")
    w = World("k8s", work)
    try:
        before = w.snapshot()
        archive = os.path.join(w.dir, "backups", "pre-upgrade.archive.gz")
        rc, path = w.run("mongo-backup", archive=archive)
        check(rc == 0 and path[-1:] == ["verified"], "mongo-backup ends in verified")
        check(os.path.isfile(archive), "the archive is on disk")
        w.ctl("fault", "logs=unknown-field")
        rc, path = k8s_roll(w, NEW)
        check(rc == 0 and path[-1:] == ["rolled_out"], "k8s-migrate-roll ends in rolled_out")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == NEW and dep["paused"] is False, f"on {NEW}, not paused ({dep})")
        check(w.schema() == 12, f"schema 12 (got {w.schema()})")
        pods = w.state()["pods"]
        check([x["name"] for x in pods] == ["migrate", "check-version"] and all(x["image"] == NEW for x in pods),
              f"one migration pod, then the check pod, both of the new image ({[x['name'] for x in pods]})")
        rc, path = post_checks(w, "kubernetes")
        check(rc == 0 and path[-1:] == ["passed"], "post-checks ends in passed")
        check("remigrate_k8s" in path, "the log errors made it migrate once more")
        check(sum(x["name"] == "migrate" for x in w.state()["pods"]) == 2, "a second migration pod ran")
        rc, path = w.run("k8s-undo", deployment="core-admin", resume=False, undo=True)
        check(rc == 0 and path == ["resume_route", "undo_route", "undo", "undone"], "k8s-undo undoes only")
        check(w.deployment()["containers"]["core-admin"] == OLD, "the deployment is back on v2.4.0")
        rc, path = w.run("mongo-restore", archive=archive, expected_schema=11)
        check(rc == 0 and path[-1:] == ["restored"], "mongo-restore ends in restored")
        check(w.snapshot() == before, "the database equals its pre-upgrade content")
    finally:
        w.close()


def case_failure(work):
    print("failure: the migration of v2.6.0 fails; the undo resumes only")
    w = World("fail", work)
    try:
        rc, path = k8s_roll(w, "registry.example/core-admin:v2.6.0")
        check(rc == 1 and path == ["pause", "migrate", "failed"], "k8s-migrate-roll ends in failed after migrate")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == OLD and dep["paused"] is True,
              f"image untouched, rollout left paused for the caller ({dep})")
        rc, path = w.run("k8s-undo", deployment="core-admin", resume=True, undo=False)
        check(rc == 0 and path == ["resume_route", "resume", "undo_route", "undone"], "k8s-undo resumes only")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == OLD and dep["paused"] is False, f"running again on v2.4.0 ({dep})")
        rc, path = w.run("k8s-migrate-roll", deployment="core-admin", container="core-admin", image=NEW,
                         migrate_args=["yarn", "migrate"], check_args=CHECK, expected_schema=13)
        check(rc == 1 and "set_image" not in path and path[-1:] == ["failed"],
              "a schema short of the expected one never reaches set image")
        check(w.deployment()["containers"]["core-admin"] == OLD, "the image is still v2.4.0")
    finally:
        w.close()


def case_compose(work):
    print("compose: compose-upgrade, post-checks, compose-rollback, restore")
    w = World("compose", work)
    try:
        before = w.snapshot()
        archive = os.path.join(w.dir, "backups", "pre-upgrade.archive.gz")
        rc, _ = w.run("mongo-backup", archive=archive)
        check(rc == 0, "mongo-backup succeeds")
        compose = dict(compose_file=os.path.join(SIMPB, "compose.yaml"))
        rc, path = w.run("compose-upgrade", image=NEW, migrate_command=["yarn", "migrate"],
                         env_file=os.path.join(SIMPB, "compose.env"), compose_env={"IMAGE_TAG": "v2.5.0"},
                         expected_schema=12, **compose)
        check(rc == 0 and path == ["pull", "migrate", "verify_schema", "up", "restarted"], "compose-upgrade in order")
        check(w.service_image() == NEW, f"the service runs v2.5.0 ({w.service_image()})")
        check(w.schema() == 12, "schema 12")
        check(w.deployment()["containers"]["core-admin"] == OLD, "the Kubernetes deployment is untouched")
        rc, path = post_checks(w, "compose")
        check(rc == 0 and path[-1:] == ["passed"] and "logs_compose" in path, "post-checks on compose pass")
        rc, path = w.run("compose-rollback", compose_env={"IMAGE_TAG": "v2.4.0"}, **compose)
        check(rc == 0 and w.service_image() == OLD, f"compose-rollback: the service on v2.4.0 ({w.service_image()})")
        rc, path = w.run("mongo-restore", archive=archive, expected_schema=11)
        check(rc == 0 and w.snapshot() == before, "mongo-restore: the database as before")
    finally:
        w.close()


def case_damaged(work):
    print("damaged: a truncated archive is refused before anything is dropped")
    w = World("damaged", work)
    try:
        archive = os.path.join(w.dir, "backups", "pre-upgrade.archive.gz")
        rc, _ = w.run("mongo-backup", archive=archive)
        check(rc == 0, "mongo-backup succeeds")
        data = open(archive, "rb").read()
        bad = archive + ".truncated"
        open(bad, "wb").write(data[:len(data) // 2])
        w.ctl("schema", "12")
        before = w.snapshot()
        rc, path = w.run("mongo-restore", archive=bad, expected_schema=11)
        check(rc == 1 and path == ["restore", "failed"], "mongo-restore fails at restore")
        check(w.snapshot() == before, "the database is untouched")
    finally:
        w.close()


def main():
    with tempfile.TemporaryDirectory(prefix="lockstep-lib-sim-") as work:
        for case in (case_kubernetes, case_failure, case_compose, case_damaged):
            try:
                case(work)
            except Exception as e:  # a case that cannot run is a failure, not a crash of the others
                check(False, f"{case.__name__}: {type(e).__name__}: {e}")
    for f in failures:
        print("FAIL " + f)
    sys.exit(1 if failures else 0)


main()
