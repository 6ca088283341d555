"""Resume trusts only a whole journal (issue 13): a journal cut anywhere
(mid-line or at a line boundary), edited, missing its tip record or with a
changed result blob is refused (exit 2) and nothing runs; a torn last line
that was never made durable is dropped; an empty journal says nothing ran.
A resumed run sees results whole.  --assume STATE=rerun and landed: probes
decide an interrupted attempt."""
import json
import os
import random
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, kill_quietly, wait_for  # noqa: E402

HALTING = """\
lockstep: 1
name: trust
start: s1
defaults: {on_failure: failed}
states:
  s1:
    action: shell
    with: {script: 'echo s1 >> @DIR@/log; head -c 200000 /dev/zero | tr "\\\\0" x'}
    next: s2
  s2:
    action: shell
    with: {script: 'echo s2 >> @DIR@/log'}
    next: gate
  gate:
    confirm: "go on?"
    next: s3
  s3:
    action: shell
    with: {script: 'echo s3 >> @DIR@/log'}
    expect: "len(states.s1.result.stdout) == 200000"
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""

c = Case("trust", HALTING)
rc, out, err = c.run()
eq(rc, 3, "the run halts at the approval: " + err)
rid = c.last_run()
run_dir = os.path.join(c.state, "runs", rid)
journal = os.path.join(run_dir, "journal.jsonl")
with open(journal, "rb") as f:
    whole = f.read()
ev = c.journal(rid)
fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "s1"][0]
eq(fin["result"]["stdout"], None, "a 200 kB result leaves the line")
eq(len(fin["blobs"]), 1, "one blob named in the line")


def tip_slot(seq, hash_):
    """One slot of journal.tip as docs/journal.md describes it."""
    text = "tip 1 %d %s" % (seq, hash_)
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return (text + " %016x" % h).ljust(95) + "\n"


def with_copy(name, mutate):
    """A copy of the halted run's state dir, changed by mutate(run_dir)."""
    d = c.path(name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(c.state, d)
    mutate(os.path.join(d, "runs", rid))
    return d


def refused(name, mutate, why_has=None):
    d = with_copy(name, mutate)
    before = c.read("log")
    rc, out, err = c.cmd("status", "--verify", rid, "--state-dir", d)
    eq(rc, 1, f"{name}: verify rejects it: {out}{err}")
    rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", d)
    eq(rc, 2, f"{name}: resume refuses it: {out}{err}")
    check("damaged" in err or "nothing" in err, f"{name}: says what it found: {err}")
    if why_has:
        check(why_has in err, f"{name}: names {why_has!r}: {err}")
    eq(c.read("log"), before, f"{name}: nothing ran")
    shutil.rmtree(d, ignore_errors=True)


def cut_at(k):
    def m(rd):
        with open(os.path.join(rd, "journal.jsonl"), "r+b") as f:
            f.truncate(k)
    return m


# Every cut at a line boundary, and mid-line cuts, are refused.
bounds = [i + 1 for i, b in enumerate(whole) if b == 0x0A][:-1]
for k in [0] + bounds:
    refused(f"cut-at-{k}", cut_at(k), "cut" if k else None)
rng = random.Random(13)
for k in sorted(rng.sample(range(1, len(whole) - 1), 25)):
    if k not in bounds:
        refused(f"cut-mid-{k}", cut_at(k))


def edit(rd):
    with open(os.path.join(rd, "journal.jsonl"), "r+b") as f:
        data = f.read().replace(b'"attempt":1', b'"attempt":2', 1)
        f.seek(0)
        f.write(data)


refused("edited", edit, "altered")
refused("no-tip", lambda rd: os.unlink(os.path.join(rd, "journal.tip")), "journal.tip")


def spoil_tip(slots):
    def m(rd):
        p = os.path.join(rd, "journal.tip")
        data = bytearray(open(p, "rb").read())
        for s in slots:
            data[s * 96 + 10] ^= 0x01
        open(p, "wb").write(bytes(data))
    return m


refused("tip-both-slots-torn", spoil_tip([0, 1]), "journal.tip")
# one torn slot (a write cut by a crash) leaves the other: still whole
d = with_copy("tip-one-slot-torn", spoil_tip([0]))
rc, out, err = c.cmd("status", "--verify", rid, "--state-dir", d)
eq(rc, 0, "one torn tip slot: the other still names a durable line: " + out + err)
shutil.rmtree(d, ignore_errors=True)


def blob_changed(rd):
    b = os.path.join(rd, "blobs", fin["blobs"][0]["sha256"])
    os.chmod(b, 0o600)
    with open(b, "r+b") as f:
        f.write(b"y")


refused("blob-changed", blob_changed, "altered")
refused("blob-missing", lambda rd: os.unlink(os.path.join(rd, "blobs", fin["blobs"][0]["sha256"])), "missing")


# An empty journal (killed before its first line): nothing ran.
def empty(rd):
    with open(os.path.join(rd, "journal.jsonl"), "w"):
        pass
    with open(os.path.join(rd, "journal.tip"), "w") as f:
        f.write(tip_slot(0, "-") * 2)


d = with_copy("empty", empty)
rc, out, err = c.cmd("resume", rid, "--state-dir", d)
eq(rc, 2, "empty journal: refused")
check("nothing ran" in err and "new run" in err, "empty journal: says nothing ran, start anew: " + err)
rc, out, err = c.cmd("status", "--verify", rid, "--state-dir", d)
check("empty" in out and "nothing ran" in out, "empty journal: verify says so: " + out)

# A torn last line past the durable tip is dropped, and the run goes on
# with the 200 kB result exactly as the first process saw it.
with open(journal, "ab") as f:
    f.write(b'{"seq":99,"ts":"2026-')
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "a torn undurable last line is intact: " + out)
check("torn" in out, "verify says the last line is torn: " + out)
rc, out, err = c.cmd("resume", rid, "--yes")
eq(rc, 0, "resume after a torn line: " + err)
eq(c.read("log").split(), ["s1", "s2", "s3"], "every state ran once; s3 saw the whole 200 kB result")
ev = c.journal(rid)
check(any(e["event"] == "run_resumed" and e["by"] for e in ev), "run_resumed records who resumed")
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "intact after resume: " + out)
c.cleanup()

# ---- --assume STATE=rerun and landed: --------------------------------------

CRASH = """\
lockstep: 1
name: rerun
start: s1
defaults: {on_failure: failed}
states:
  s1:
    action: shell
    with: {script: 'echo s1 >> @DIR@/log; if [ "$MARK" = before ]; then touch @DIR@/landed; fi; if [ "$STOP" = s1 ]; then echo $$ > @DIR@/pid; touch @DIR@/ready; sleep 600; fi; touch @DIR@/landed'}
@LANDED@    next: s2
  s2:
    action: shell
    with: {script: 'echo s2 >> @DIR@/log'}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""

LANDED = """\
    landed:
      action: exec
      mutates: false
      with: {argv: [sh, -c, 'test -e @DIR@/landed && echo yes || echo no']}
      expect: "trim(result.stdout) == 'yes'"
"""

LANDED_BROKEN = """\
    landed:
      action: exec
      mutates: false
      with: {argv: [@DIR@/no-such-probe]}
      expect: "result.exit_code == 0"
"""


def crashed(name, landed, mark):
    c = Case(name, CRASH.replace("@LANDED@", landed))
    p = c.start(env={"STOP": "s1", "MARK": mark})
    ok = wait_for(lambda: c.exists("ready"), timeout=120)
    check(ok, f"{name}: s1 never started")
    p.send_signal(signal.SIGKILL)
    p.wait()
    if ok:
        kill_quietly(-int(c.read("pid")))
    return c, c.last_run()


c, rid = crashed("rerun", "", "")
rc, out, err = c.cmd("resume", rid)
eq(rc, 3, "no landed: probe: resume asks")
check(f"--assume s1=rerun" in out + err, "the halt offers rerun: " + out + err)
rc, out, err = c.cmd("resume", rid, "--assume", "s1=rerun")
eq(rc, 0, "--assume rerun: " + err)
eq(c.read("log").split(), ["s1", "s1", "s2"], "--assume rerun ran s1 again, once, then went on")
ev = c.journal(rid)
a = [e for e in ev if e["event"] == "assumed"]
eq([(x["state"], x["outcome"]) for x in a], [("s1", "rerun")], "the journal records the rerun")
check(bool(a and a[0].get("by")), "... and who said so")
eq([e["attempt"] for e in ev if e["event"] == "action_started" and e["state"] == "s1"], [1, 1],
   "the rerun is the interrupted attempt, not a retry")
c.cleanup()

c, rid = crashed("landed-yes", LANDED, "before")
rc, out, err = c.cmd("resume", rid)
eq(rc, 0, "landed: took effect: " + err)
eq(c.read("log").split(), ["s1", "s2"], "landed: s1 not run again")
ev = c.journal(rid)
eq([x["landed"] for x in ev if x["event"] == "landed"], [True], "landed event: true")
fin = [x for x in ev if x["event"] == "action_finished" and x["state"] == "s1"]
eq(fin[-1]["result"]["stdout"].strip(), "yes", "the probe's result is the state's result")
c.cleanup()

c, rid = crashed("landed-no", LANDED, "")
rc, out, err = c.cmd("resume", rid)
eq(rc, 0, "landed: did not take effect, ran again: " + err)
eq(c.read("log").split(), ["s1", "s1", "s2"], "landed false: s1 ran again")
ev = c.journal(rid)
eq([x["landed"] for x in ev if x["event"] == "landed"], [False], "landed event: false")
c.cleanup()

c, rid = crashed("landed-broken", LANDED_BROKEN, "")
rc, out, err = c.cmd("resume", rid)
eq(rc, 3, "landed: probe fails: ask for --assume: " + err)
check("--assume s1=" in out + err, "landed: probe failure asks: " + out + err)
ev = c.journal(rid)
eq([x["landed"] for x in ev if x["event"] == "landed"], [None], "landed event: unknown")
eq(c.read("log").split(), ["s1"], "landed unknown: nothing ran")
c.cleanup()

# A landed: probe must only read.
c = Case("landed-mutating", CRASH.replace("@LANDED@", """\
    landed:
      action: exec
      with: {argv: [touch, x]}
      expect: "true"
"""))
rc, out, err = c.cmd("validate", c.pb)
eq(rc, 2, "a mutating landed: probe is refused")
check("landed" in err and "only read" in err and "pb.yaml:" in err, "names the place and the rule: " + err)
c.cleanup()
finish()
