"""Crash tests (SPEC 5): kill -9 the engine inside each state in turn,
resume, and check that every completed state ran exactly once, that a
non-idempotent interrupted state halts for --assume (exit 3) and that an
idempotent one is simply run again."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, kill_quietly, wait_for  # noqa: E402

STATES = ["s1", "s2", "s3", "s4"]
IDEMPOTENT = {"s3"}


def state(name, nxt):
    idem = "    idempotent: true\n" if name in IDEMPOTENT else ""
    return f"""\
  {name}:
    action: shell
    with: {{script: 'echo {name} >> @DIR@/log; if [ "$STOP" = {name} ]; then echo $$ > @DIR@/pid; touch @DIR@/ready; sleep 30; fi'}}
{idem}    next: {nxt}
"""


PB = "lockstep: 1\nname: crash\nstart: s1\ndefaults: {on_failure: failed}\nstates:\n"
for i, s in enumerate(STATES):
    PB += state(s, STATES[i + 1] if i + 1 < len(STATES) else "done")
PB += "  done: {terminal: success}\n  failed: {terminal: failure}\n"

for victim in STATES:
    c = Case(f"crash-{victim}", PB)
    p = c.start(env={"STOP": victim})
    ok = wait_for(lambda: c.exists("ready"))
    check(ok, f"{victim}: the state never started")
    p.send_signal(signal.SIGKILL)
    p.wait()
    if ok:
        kill_quietly(-int(c.read("pid")))  # the orphaned program's group
    rid = c.last_run()
    rc, out, err = c.cmd("status", "--output", "json")
    eq([(r["run_id"], r["outcome"], r["state"]) for r in json.loads(out)], [(rid, "interrupted", victim)],
       f"{victim}: status of a crashed run")
    rc, out, err = c.cmd("resume", rid)
    if victim in IDEMPOTENT:
        eq(rc, 0, f"{victim}: idempotent state re-run on resume: {err}")
        log = c.read("log").split()
        eq(log.count(victim), 2, f"{victim}: idempotent state ran again")
    else:
        eq(rc, 3, f"{victim}: resume halts on unknown outcome")
        check(f"--assume {victim}=ok" in out + err, f"{victim}: halt names --assume: {out}{err}")
        ev = c.journal(rid)
        eq(ev[-1]["event"], "run_halted", f"{victim}: run_halted journaled")
        rc, out, err = c.cmd("resume", rid, "--assume", f"{victim}=ok")
        eq(rc, 0, f"{victim}: resume --assume ok: {err}")
        log = c.read("log").split()
        eq(log.count(victim), 1, f"{victim}: the interrupted state ran once")
    for s in STATES:
        if s != victim:
            eq(log.count(s), 1, f"{victim}: completed state {s} ran once")
    ev = c.journal(rid)
    eq(ev[-1]["event"], "run_finished", f"{victim}: finished")
    eq([e["seq"] for e in ev], list(range(1, len(ev) + 1)), f"{victim}: seq continues")
    rc, out, err = c.cmd("status", "--verify", rid)
    eq(rc, 0, f"{victim}: chain intact after crash and resume: {out}")
    rc, out, err = c.cmd("resume", rid)
    eq(rc, 2, f"{victim}: a finished run is refused")
    c.cleanup()

# --assume failed takes the failure transition
c = Case("crash-failed", PB)
p = c.start(env={"STOP": "s2"})
check(wait_for(lambda: c.exists("ready")), "assume-failed: never started")
p.send_signal(signal.SIGKILL)
p.wait()
kill_quietly(-int(c.read("pid")))
rid = c.last_run()
# a line torn by a crash inside write() was never acted on: resume drops it
with open(os.path.join(c.state, "runs", rid, "journal.jsonl"), "a") as f:
    f.write('{"seq":99,"ts":"2026-')
rc, out, err = c.cmd("resume", rid, "--assume", "s2=failed")
eq(rc, 1, "--assume failed: failure outcome")
ev = c.journal(rid)
eq([(t["from"], t["to"], t["reason"]) for t in c.events(ev, "transition")][-1], ("s2", "failed", "failure"),
   "--assume failed transition")
eq(c.read("log").split(), ["s1", "s2"], "--assume failed: nothing else ran")
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "chain intact after dropping a torn line: " + out)
rc, out, err = c.cmd("resume", rid, "--assume", "s2=maybe")
eq(rc, 2, "bad --assume value")
finish()
