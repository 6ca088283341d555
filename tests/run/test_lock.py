"""One run per (playbook, env) per state dir (SPEC 5): a second run exits 4
naming the holder's run id, pid and host; a dry run, another env and a
finished run do not block."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, playbook, wait_for  # noqa: E402

c = Case("lock", playbook("locked", "hold", """\
  hold:
    action: exec
    mutates: false
    with: {argv: [sh, -c, 'touch @DIR@/holding; sleep $1', sh, "${{ params.secs }}"]}
    next: done
""", extra="params: {secs: {type: string, default: '20'}}\n"))
p = c.start()
try:
    check(wait_for(lambda: c.exists("holding")), "first run did not start")
    rid = c.last_run()
    rc, out, err = c.run()
    eq(rc, 4, "second run exit")
    want = f"lockstep: another run holds the lock: run {rid} (pid {p.pid} on {socket.gethostname()})"
    check(want in err, f"lock message: want {want!r} in {err!r}")
    eq(len(c.runs()), 1, "the locked run left no run dir")
    rc, out, err = c.cmd("status")
    check(rid in out and "running" in out, "status shows the running run: " + out)
    rc, out, err = c.run("--dry-run", "--set", "secs=0")
    check(rc != 4, "a dry run is not blocked by the lock")
    # the holder halts on SIGTERM (exit 3) and releases the lock
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=300)
    eq(p.returncode, 3, "SIGTERM'd holder exit")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
rc, out, err = c.cmd("resume", rid, "--set", "secs=0")
eq(rc, 0, "resume after the holder halted (probe re-run as idempotent): " + err)
finish()
