#!/usr/bin/env python3
"""End to end: the Message Center upgrade playbook run FOR REAL against the
simulator (tools/sim: simulated kubectl, the diagnostics API) and a MongoDB
wire server ($LOCKSTEP_TEST_MONGODB_URI, else tools/sim/start starts one),
then the world is checked -- not lockstep's own report of it.

Cases (each in a fresh simulated world and database):
  dry_run          --dry-run walks to done and changes nothing: same
                   deployment, same data, no pod, no backup
  happy            success: image v2.5.0, rollout not paused, schema 12,
                   the pre-upgrade backup on disk (a gzip mongodump archive,
                   read by an independent parser, CRCs checked) holds the
                   data as it was (schema 11) and restores whole into a
                   scratch database
  migration_half   the migration moves the schema to 12 and then fails:
                   rolled back, image unchanged, database restored to exactly
                   its pre-upgrade content (schema 11)
  migration_fail   the migration fails before touching anything: rolled
                   back, restored all the same (a started migration may have
                   changed data), image unchanged, database as before
  migration_dirty  the migration renames a field, adds a collection and
                   deletes a document, then fails BEFORE bumping
                   schema_version: rolled back with the database equal to
                   the pre-upgrade one, no leftover collection
  log_errors       MongoServerError in the new pods' logs until a second
                   migration: the playbook migrates once more and succeeds
"""
import gzip
import json
import os
import shutil
import struct
import sys
import tempfile

import bson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simworld import SRC, World as SimWorld, check, failures  # noqa: E402

PLAYBOOK = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")


class World(SimWorld):
    """The world of one upgrade: a backups dir, and runs of the shipped upgrade."""

    def __init__(self, name, work):
        super().__init__(name, work, "mc_e2e")
        self.backups = os.path.join(self.dir, "backups")

    def run(self, *extra):
        p, events, path = self.lockstep_json(
            ["run", PLAYBOOK, "--env", "sim", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12",
             "--set", "backup_dir=" + self.backups, "--yes"] + list(extra))
        started = [e for e in events if e.get("event") == "run_started"]
        return p, path, started[0]["run_id"] if started else None


def crc64(data, crc):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc


def read_archive(path):
    """{collection: [documents]} of a gzip mongodump archive, read from the
    format's description (magic, prelude, namespace blocks, CRC-64 per
    collection); raises when anything does not hold."""
    raw = gzip.decompress(open(path, "rb").read())
    assert struct.unpack("<I", raw[:4])[0] == 0x8199E26D, "magic"
    pos = 4

    def nxt():
        nonlocal pos
        n = struct.unpack("<I", raw[pos:pos + 4])[0]
        if n == 0xFFFFFFFF:
            pos += 4
            return None
        pos += n
        return raw[pos - n:pos]

    bson.decode(nxt())
    names = []
    while (d := nxt()) is not None:
        names.append(bson.decode(d)["collection"])
    out, crcs, ended = {n: [] for n in names}, {}, set()
    while pos < len(raw):
        h = bson.decode(nxt())
        c = h["collection"]
        if h["EOF"]:
            assert nxt() is None
            want = crcs.get(c, 0xFFFFFFFFFFFFFFFF) ^ 0xFFFFFFFFFFFFFFFF
            assert struct.pack("<q", h["CRC"]) == struct.pack("<Q", want), "CRC of " + c
            ended.add(c)
            continue
        while (d := nxt()) is not None:
            out[c].append(bson.decode(d))
            crcs[c] = crc64(d, crcs.get(c, 0xFFFFFFFFFFFFFFFF))
    assert ended == set(names), "every collection ends"
    return out


def report(p, path):
    print(f"  exit {p.returncode}; path: {' '.join(path)}")
    if p.returncode not in (0, 1):
        print(p.stderr)


def case_happy(work):
    print("happy: a real upgrade to v2.5.0 on the simulated cluster")
    w = World("happy", work)
    try:
        before = w.snapshot()
        check(w.schema() == 11, "the simulated world starts at schema 11")
        p, path, run_id = w.run("--set", "rollout_timeout=7m")
        report(p, path)
        check(p.returncode == 0, f"exit 0 (got {p.returncode}: {p.stderr[-2000:]})")
        check(path[-1:] == ["done"], "ends in done")
        # rollout_timeout reaches the part's rollout_status, whose timeout is
        # kubectl's --timeout (what is left of it when kubectl starts).
        with open(os.path.join(w.dir, "sim", "calls.jsonl")) as f:
            calls = [json.loads(line) for line in f]
        st = [c["argv"] for c in calls if c["prog"] == "kubectl" and "rollout" in c["argv"] and "status" in c["argv"]]
        tmo = [a.split("=", 1)[1] for a in (st[0] if st else []) if a.startswith("--timeout=")]
        check(tmo and 300 < int(tmo[0].rstrip("s")) <= 420,
              f"kubectl rollout status gets the 7m rollout_timeout (got {tmo}, {st[:1]})")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == "registry.example/core-admin:v2.5.0",
              f"deployment image is v2.5.0 (got {dep['containers']})")
        check(dep["paused"] is False, "the rollout is resumed")
        check(w.schema() == 12, f"schema_version is 12 (got {w.schema()})")
        pods = w.show()["state"]["pods"]
        migrate = [x for x in pods if x["name"] == "migrate"]
        check(len(migrate) == 1 and migrate[0]["image"].endswith(":v2.5.0") and migrate[0].get("exit_code") == 0,
              "one migration pod ran the NEW image and exited 0")
        check(path.index("k8s/migrate") < path.index("k8s/verify_schema") < path.index("k8s/set_image"),
              "migrations and the schema check come before set image")
        # The backup: on disk, holding the data as it was, restorable whole.
        archive = os.path.join(w.backups, f"pre-upgrade-{run_id}.archive.gz")
        if check(os.path.isfile(archive), f"backup archive {archive} exists"):
            dump = read_archive(archive)
            check(sorted(dump) == sorted(before), f"backup holds every collection ({sorted(dump)})")
            for name, docs in dump.items():
                check(sorted(bson.encode(d) for d in docs) == before.get(name),
                      f"backup of {name} equals the pre-upgrade data")
            meta = [d for d in dump.get("meta", []) if d.get("_id") == "schema"]
            check(meta and meta[0].get("schema_version") == 11, "the backup holds schema 11")
            scratch = w.client[w.db_name + "_restore"]
            for name, docs in dump.items():
                if docs:
                    scratch[name].insert_many(docs)
            restored = {n: sorted(bson.encode(d) for d in scratch[n].find({})) for n in dump}
            check(restored == {n: before[n] for n in dump}, "the backup restores into a scratch database whole")
            w.client.drop_database(w.db_name + "_restore")
    finally:
        w.close()


def case_dry_run(work):
    print("dry_run: the rehearsal walks the whole machine and changes nothing")
    w = World("dry", work)
    try:
        before, dep_before = w.snapshot(), w.deployment()
        p, path, _ = w.run("--dry-run")
        report(p, path)
        check(p.returncode == 0, f"exit 0 (got {p.returncode}: {p.stderr[-2000:]})")
        check(path[-1:] == ["done"] and "k8s/set_image" in path, "walks to done through set image")
        check(w.deployment() == dep_before, "the deployment is untouched")
        check(w.snapshot() == before, "the database is untouched")
        check(w.show()["state"]["pods"] == [], "no pod ran")
        check(not os.path.exists(w.backups), "no backup was written")
    finally:
        w.close()


def case_migration_half(work):
    print("migration_half: the migration changes the schema, then fails")
    w = World("half", work)
    try:
        w.db.campaigns.insert_one({"_id": "e2e-marker", "title": "written before the upgrade"})
        before = w.snapshot()
        w.ctl("fault", "migration=half")
        p, path, _ = w.run()
        report(p, path)
        check(p.returncode == 1, f"exit 1 (got {p.returncode})")
        check(path[-1:] == ["rolled_back"], "ends in rolled_back")
        check("rb_restore/restored" in path, "the backup was restored")
        check("k8s/set_image" not in path, "the image was never changed")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == "registry.example/core-admin:v2.4.0",
              f"deployment image still v2.4.0 (got {dep['containers']})")
        check(dep["paused"] is False, "the deployment is not left paused")
        check(w.schema() == 11, f"schema_version back to 11 (got {w.schema()})")
        check(w.snapshot() == before, "the database holds exactly its pre-upgrade content")
    finally:
        w.close()


def case_migration_fail(work):
    print("migration_fail: the migration fails before touching anything")
    w = World("fail", work)
    try:
        before = w.snapshot()
        w.ctl("fault", "migration=fail")
        p, path, _ = w.run()
        report(p, path)
        check(p.returncode == 1, f"exit 1 (got {p.returncode})")
        check(path[-1:] == ["rolled_back"], "ends in rolled_back")
        check("rb_restore/restored" in path, "restored: a migration started, whatever the schema says")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == "registry.example/core-admin:v2.4.0", "image still v2.4.0")
        check(dep["paused"] is False, "the deployment is not left paused")
        check(w.schema() == 11, f"schema_version still 11 (got {w.schema()})")
        check(w.snapshot() == before, "the database holds exactly its pre-upgrade content")
    finally:
        w.close()


def case_migration_dirty(work):
    print("migration_dirty: the migration changes documents, then fails before bumping the schema")
    w = World("dirty", work)
    try:
        before = w.snapshot()
        check("campaign_moderation" not in before and before.get("campaigns"), "campaigns, no moderation yet")
        w.ctl("fault", "migration=dirty")
        p, path, _ = w.run()
        report(p, path)
        check(p.returncode == 1, f"exit 1 (got {p.returncode})")
        check(path[-1:] == ["rolled_back"], "ends in rolled_back")
        check("rb_restore/restored" in path, "the backup was restored although schema_version never moved")
        check(w.schema() == 11, f"schema_version 11 (got {w.schema()})")
        after = w.snapshot()
        check("campaign_moderation" not in after, "no leftover collection from the migration")
        check(after == before, "the database equals the pre-upgrade one (field names, documents, collections)")
        dep = w.deployment()
        check(dep["containers"]["core-admin"] == "registry.example/core-admin:v2.4.0", "image still v2.4.0")
        check(dep["paused"] is False, "the deployment is not left paused")
    finally:
        w.close()


def case_log_errors(work):
    print("log_errors: MongoServerError in the logs until the migration runs again")
    w = World("logs", work)
    try:
        w.ctl("fault", "logs=unknown-field")
        p, path, _ = w.run()
        report(p, path)
        check(p.returncode == 0, f"exit 0 (got {p.returncode})")
        check(path.count("post/remigrate_k8s") == 1, "the migration ran once more")
        check(path[-1:] == ["done"], "ends in done")
        migrate = [x for x in w.show()["state"]["pods"] if x["name"] == "migrate"]
        check(len(migrate) == 2, f"two migration pods ran (got {len(migrate)})")
        check(w.deployment()["containers"]["core-admin"].endswith(":v2.5.0"), "image is v2.5.0")
    finally:
        w.close()


def case_compose(work):
    print("compose: the Docker Compose platform, with log errors the second migration fixes")
    w = World("compose", work)
    try:
        w.ctl("fault", "logs=unknown-field")
        p, path, _ = w.run("--set", "platform=compose")
        report(p, path)
        check(p.returncode == 0, f"exit 0 (got {p.returncode}: {p.stderr[-2000:]})")
        check(path[-1:] == ["done"], "ends in done")
        check(path.index("compose/migrate") < path.index("compose/verify_schema") < path.index("compose/up"),
              "the migration and the schema check come before the stack restarts")
        check("post/logs_compose" in path and path.count("post/remigrate_compose") == 1,
              "the compose logs were read and the migration ran once more")
        services = w.show()["state"]["compose"]["sim"]["services"]
        check(services["core-admin"]["image"] == "registry.example/core-admin:v2.5.0",
              f"the compose service runs v2.5.0 (got {services})")
        check(w.schema() == 12, f"schema_version is 12 (got {w.schema()})")
        check(w.deployment()["containers"]["core-admin"].endswith(":v2.4.0"),
              "the Kubernetes deployment was left alone")
    finally:
        w.close()


def main():
    work = tempfile.mkdtemp(prefix="lockstep-e2e.")
    try:
        for case in (case_dry_run, case_happy, case_migration_half, case_migration_fail, case_migration_dirty,
                     case_log_errors, case_compose):
            case(work)
    finally:
        if not failures:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"(kept {work} for inspection)")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
