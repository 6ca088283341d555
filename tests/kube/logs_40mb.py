#!/usr/bin/env python3
"""End to end (issue 14): the shipped upgrade playbook, run for real against
the simulator, catches an error line that sits 40 MB into the pods' logs --
far past the 1 MiB a result keeps.

The simulator's log size knob (sim.json "log_filler_bytes") puts 40 MB of
ordinary lines before the unknown-field errors (fault logs=unknown-field,
cleared by the second migration).  The first log guard must fail: the
playbook migrates once more, reads the logs again (40 MB, now clean) and
ends in done.  The journal shows what the scan saw: the capture cut at
1 MiB (truncated), the errors matched all the same.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
PY = "/usr/bin/python3"
SIM = os.path.join(SRC, "tools", "sim")
PLAYBOOK = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
FILLER = 40_000_000

sys.path.insert(0, SIM)
failures = []


def with_blobs(run_dir, ev):
    """A journal event with its long strings put back from blobs/ (the
    journal keeps strings over 4 KiB there, named by SHA-256)."""
    for ref in ev.pop("blobs", []):
        with open(os.path.join(run_dir, "blobs", ref["sha256"]), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        node = ev
        for key in ref["at"][:-1]:
            node = node[key]
        node[ref["at"][-1]] = text
    return ev


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL " + what)
    return cond


def main():
    work = tempfile.mkdtemp(prefix="lockstep-logs40.")
    simdir = os.path.join(work, "sim")
    db = f"mc_logs40_{os.getpid()}"
    args = [PY, os.path.join(SIM, "start"), "--background", "--dir", simdir, "--db", db]
    if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
        args += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            env[k] = shlex.split(v.replace('"$PATH"', os.environ["PATH"]))[0]
    env["LOCKSTEP_STATE_DIR"] = os.path.join(work, "state")
    try:
        os.environ["LOCKSTEP_SIM_DIR"] = env["LOCKSTEP_SIM_DIR"]
        import simlib
        with simlib.Sim() as s:
            s.config["log_filler_bytes"] = FILLER
            s.changed()
        subprocess.run([PY, os.path.join(SIM, "ctl"), "fault", "logs=unknown-field"], env=env, check=True,
                       capture_output=True, timeout=60)
        p = subprocess.run([BIN, "run", PLAYBOOK, "--env", "sim", "--set", "new_tag=v2.5.0",
                            "--set", "expected_schema=12", "--set", "backup_dir=" + os.path.join(work, "backups"),
                            "--yes", "--output", "json"], cwd=SRC, env=env, capture_output=True, text=True,
                           timeout=900)
        events = []
        for line in p.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        path = [e["state"] for e in events if e.get("event") == "state_entered"]
        print(f"exit {p.returncode}; path: {' '.join(path)}")
        check(p.returncode == 0, f"exit 0 (got {p.returncode}: {p.stderr[-2000:]})")
        check("post/remigrate_k8s" in path, "the first log guard failed on the error 40 MB in: one more migration")
        check(path[-1:] == ["done"], "the second read is clean: done")
        runs = os.listdir(os.path.join(env["LOCKSTEP_STATE_DIR"], "runs"))
        run_dir = os.path.join(env["LOCKSTEP_STATE_DIR"], "runs", runs[0])
        with open(os.path.join(run_dir, "journal.jsonl")) as f:
            journal = [with_blobs(run_dir, json.loads(line)) for line in f]
        logs = [e for e in journal if e.get("event") == "action_finished" and e.get("state") == "post/logs_k8s"]
        if check(len(logs) == 1, "one post/logs_k8s result in the journal"):
            r = logs[0].get("result", {})
            print(f"post/logs_k8s: truncated={r.get('truncated')} matched={r.get('matched')} "
                  f"count={r.get('count')} duration_ms={r.get('duration_ms')}")
            check(r.get("truncated") is True, "the capture hit its 1 MiB cap")
            check("MongoServerError" not in r.get("text", ""), "the kept text holds none of the errors")
            # of the two fault lines only the MongoServerError one matches the
            # playbook's patterns (the TypeError names no unknown field)
            m = r.get("matches") or [{}]
            check(r.get("matched") is True and r.get("count") == 1 and "MongoServerError: unknown field" in
                  m[0].get("line", ""), f"the scan saw the error line 40 MB in: {r.get('count')} {m}")
        relogs = [e for e in journal if e.get("event") == "action_finished" and e.get("state") == "post/relogs_k8s"]
        if check(len(relogs) == 1, "one post/relogs_k8s result"):
            check(relogs[0].get("result", {}).get("matched") is False, "the logs after the second migration are clean")
    finally:
        subprocess.run([PY, os.path.join(SIM, "stop"), "--dir", simdir], capture_output=True, timeout=60)
        try:
            import pymongo
            if env.get("MONGODB_URI"):
                pymongo.MongoClient(env["MONGODB_URI"], serverSelectionTimeoutMS=5000).drop_database(db)
        except Exception:  # cleanup only
            pass
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
