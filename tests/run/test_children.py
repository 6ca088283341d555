"""Children never outlive the engine (issue 13).

1. kill -9 of lockstep while an exec runs `sh -c 'sleep 1000 & sleep 1000'`
   (the shell, its child and a backgrounded grandchild, one process group):
   every process of that group goes away.  Waited for with a generous bound
   (60 s), the observed time reported, never asserted.
2. resume reaps a group recorded in RUN_DIR/children that is still alive:
   the group is started here and recorded by hand, as if both the engine
   and its guardian had been killed.  It is reported and killed before
   resume decides anything; a group whose processes started BEFORE the
   recorded time belongs to someone else and is left alone.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, wait_for  # noqa: E402

BOUND = 60.0  # seconds: the slowest honest machine; observed times are printed

PB = """\
lockstep: 1
name: children
start: s
defaults: {on_failure: failed}
states:
  s:
    action: exec
    with: {argv: [sh, -c, 'echo $$ > @DIR@/pid; sleep 1000 & sleep 1000']}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""


def stat(pid):
    """(state, pgrp) of a process, None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def members(pgid):
    """Live (non-zombie) processes of a group: pids."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(int(name))
            if st and st[1] == pgid and st[0] not in ("Z", "X"):
                out.append(int(name))
    return out


def boot_ms():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def record_line(pgid, start_ms):
    """A RUN_DIR/children record, as engine/orphans.c writes it."""
    line = "%10d %10d %16d %s" % (pgid, os.getsid(0), start_ms, boot_id())
    return line.ljust(79) + "\n"


def children_file(c, rid):
    return os.path.join(c.state, "runs", rid, "children")


# ---- 1. kill -9: the whole group dies -------------------------------------
c = Case("children-kill", PB)
p = c.start()
ok = wait_for(lambda: c.exists("pid") and c.read("pid").strip().isdigit(), timeout=BOUND)
check(ok, "the program never started")
if ok:
    pgid = int(c.read("pid"))  # the shell leads its own group
    check(wait_for(lambda: len(members(pgid)) >= 3, timeout=BOUND),
          f"the shell, its sleep and the backgrounded sleep run in group {pgid}: {members(pgid)}")
    rid = c.last_run()
    with open(children_file(c, rid)) as f:
        recorded = [line.split()[0] for line in f if line.strip()]
    eq(recorded, [str(pgid)], "the running group is recorded in the run directory")
    t0 = time.monotonic()
    p.send_signal(signal.SIGKILL)
    p.wait()
    gone = wait_for(lambda: not members(pgid), timeout=BOUND, step=0.01)
    took = time.monotonic() - t0
    print(f"group {pgid} gone {took * 1000:.0f} ms after kill -9 of lockstep")
    check(gone, f"processes of group {pgid} outlived lockstep by {BOUND}s: {members(pgid)}")
    for pid in members(pgid):
        os.kill(pid, signal.SIGKILL)
    # and the interrupted run resumes without anything left to reap
    rc, out, err = c.cmd("resume", rid, "--assume", "s=failed")
    check("still running" not in err, f"nothing left for resume to reap: {err}")
c.cleanup()

# ---- 2. resume reaps a recorded group that is still alive ------------------
c = Case("children-resume", PB)
p = c.start()
ok = wait_for(lambda: c.exists("pid") and c.read("pid").strip().isdigit(), timeout=BOUND)
check(ok, "the program never started")
if ok:
    first = int(c.read("pid"))
    p.send_signal(signal.SIGKILL)
    p.wait()
    check(wait_for(lambda: not members(first), timeout=BOUND), "the first group went away")
    rid = c.last_run()

    # A group that started before the record claims: someone else's.
    foreign = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000"], process_group=0)
    check(wait_for(lambda: len(members(foreign.pid)) >= 2, timeout=BOUND), "the foreign group runs")
    # Ours, as the engine would have recorded it: the time before it started.
    t_start = boot_ms()
    ours = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000"], process_group=0)
    check(wait_for(lambda: len(members(ours.pid)) >= 2, timeout=BOUND), "our group runs")
    with open(children_file(c, rid), "w") as f:
        f.write(record_line(ours.pid, t_start))
        f.write(record_line(foreign.pid, boot_ms() + 5000))

    t0 = time.monotonic()
    rc, out, err = c.cmd("resume", rid, "--assume", "s=failed", timeout=BOUND + 30)
    print(f"resume took {(time.monotonic() - t0) * 1000:.0f} ms; it said:\n{err.strip()}")
    check(f"still running (process group {ours.pid}" in err, f"resume reports the live group: {err}")
    check(f"process group {ours.pid} is gone" in err, f"resume says it is gone: {err}")
    eq(members(ours.pid), [], "no process of the recorded group is left when resume goes on")
    check(f"process group {foreign.pid} recorded by the interrupted run now belongs to another program" in err,
          f"the foreign group is named and left alone: {err}")
    check(len(members(foreign.pid)) >= 2, "the foreign group still runs")
    eq(rc, 1, f"resume then goes on (s assumed failed: exit 1): {err}")
    with open(children_file(c, rid)) as f:
        eq(f.read().strip(), "", "the record is cleared")
    for pg in (foreign.pid, ours.pid):
        try:
            os.killpg(pg, signal.SIGKILL)
        except ProcessLookupError:
            pass
    foreign.wait()
    ours.wait()
c.cleanup()
finish()
