"""The journal (SPEC 5): the hash chain as journal.h defines it, status
--verify on altered, removed and reordered lines, status listing and one
run's states, resume refusals (changed playbook, finished run, unknown run)."""
import hashlib
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, playbook  # noqa: E402

c = Case("journal", playbook("jr", "a", """\
  a:
    action: exec
    with: {argv: [echo, hi]}
    retry: {attempts: 2, delay: 10ms, until: "states.a.attempts == 2"}
    next: b
  b: {action: noop, next: done}
"""))
rc, out, err = c.run()
eq(rc, 0, "run")
rid = c.last_run()
jpath = os.path.join(c.state, "runs", rid, "journal.jsonl")
with open(jpath, "rb") as f:
    lines = f.read().split(b"\n")[:-1]

# the chain, recomputed independently from the definition in journal.h
prev = b""
for i, line in enumerate(lines):
    obj = json.loads(line)
    eq(list(obj)[-1], "hash", f"line {i + 1}: hash is the last member")
    suffix = b',"hash":"' + obj["hash"].encode() + b'"}'
    check(line.endswith(suffix), f"line {i + 1}: hash suffix")
    body = line[: -len(suffix)] + b"}"
    h = hashlib.sha256(prev + body).hexdigest()
    eq(h, obj["hash"], f"line {i + 1}: hash = sha256(prev hash + body)")
    prev = h.encode()

rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "verify intact: " + out)


def tampered(name, new_lines, want_line):
    shutil.copy(jpath, jpath + ".orig")
    with open(jpath, "wb") as f:
        f.write(b"\n".join(new_lines) + b"\n")
    rc, out, err = c.cmd("status", "--verify", rid)
    eq(rc, 1, f"{name}: verify exit")
    check(f"line {want_line}" in out, f"{name}: names line {want_line}: {out}")
    shutil.move(jpath + ".orig", jpath)


altered = list(lines)
altered[3] = altered[3].replace(b'"attempt":1', b'"attempt":7')
tampered("altered", altered, 4)
tampered("removed", lines[:2] + lines[3:], 3)
tampered("reordered", lines[:4] + [lines[5], lines[4]] + lines[6:], 5)
tampered("truncated last line", lines[:-1] + [lines[-1][:-5]], len(lines))
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "verify intact again")
rc, out, err = c.cmd("status", "--verify", "nosuchrun")
eq(rc, 2, "verify of an unknown run")
rc, out, err = c.cmd("status", "--verify", "../../etc")
eq(rc, 2, "a run id is not a path")

# status: list and one run, text and json
rc, out, err = c.cmd("status")
eq(rc, 0, "status")
check(rid in out and "jr" in out and "success at done" in out, "status list: " + out)
rc, out, err = c.cmd("status", "--output", "json")
rows = json.loads(out)
eq([(r["run_id"], r["playbook"], r["outcome"]) for r in rows], [(rid, "jr", "success")], "status json")
rc, out, err = c.cmd("status", rid, "--output", "json")
one = json.loads(out)
eq(one["states"]["a"]["attempts"], 2, "status one: attempts")
eq(one["states"]["a"]["status"], "ok", "status one: status")
eq(one["states"]["done"]["visits"], 1, "status one: visits")
rc, out, err = c.cmd("status", rid)
check("a" in out and "ok" in out, "status one text: " + out)

# resume refusals
rc, out, err = c.cmd("resume", rid)
eq(rc, 2, "a finished run is refused")
check("finished" in err, "refusal says finished: " + err)
rc, out, err = c.cmd("resume", "20990101T000000Z-000000")
eq(rc, 2, "an unknown run is refused")

# --env: recorded in run_started, in params.json, and names the lock; status shows it
c3 = Case("env", playbook("envy", "a", "  a: {action: noop, next: done}\n",
                          extra="params: {region: {type: string, default: eu}}\n"),
          files={"environments/staging.yaml": "params: {region: us}\n"})
rc, out, err = c3.run("--env", "staging")
eq(rc, 0, "--env run: " + err)
ev = c3.journal()
eq((ev[0]["env"], ev[0]["params"]), ("staging", {"region": "us"}), "run_started env and params")
with open(os.path.join(c3.state, "runs", c3.last_run(), "params.json")) as f:
    eq(json.load(f), {"params": {"region": "us"}}, "params.json")
check(os.path.exists(os.path.join(c3.state, "locks", "envy@staging.lock")), "lock file named NAME@ENV")
rc, out, err = c3.cmd("status")
check("staging" in out, "status shows the env: " + out)

c2 = Case("changed", playbook("ch", "a", """\
  a:
    action: exec
    with: {argv: [touch, '@DIR@/a']}
    confirm: "go?"
    next: done
"""))
rc, out, err = c2.run()
eq(rc, 3, "halts for approval")
rid2 = c2.last_run()
with open(c2.pb, "a") as f:
    f.write("# changed\n")
rc, out, err = c2.cmd("resume", rid2, "--approve", "a")
eq(rc, 2, "changed playbook refused")
check("changed" in err, "refusal says changed: " + err)
check(not c2.exists("a"), "changed playbook: the state ran")
with open(os.path.join(c2.state, "runs", rid2, "playbook.yaml")) as f:
    eq(f.read() + "# changed\n", c2.read("pb.yaml"), "playbook.yaml is the original copy")
finish()
