"""Progress when stderr is not a TTY (issue 16): a heartbeat line every
--heartbeat for the running state (name, action, attempt, elapsed of
timeout, the program's last output line, redacted), a retry delay that
counts down, and --heartbeat 0 for none.  Event-driven: the program waits
for the test to have seen a heartbeat, so no timing is assumed."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Case, check, eq, finish  # noqa: E402

SECRET = "beat-S3cret-9"
PB = """\
lockstep: 1
name: progress
start: work
params:
  token: {type: string, secret: true, env: TOKEN}
defaults: {on_failure: failed}
states:
  work:
    action: shell
    with: {script: 'echo "step one"; echo "token $TOKEN"; while [ ! -e @DIR@/go ]; do sleep 0.05; done; echo done'}
    timeout: 1h
    next: flaky
  flaky:
    action: shell
    with: {script: 'exit 1'}
    retry: {attempts: 2, delay: 1h}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""

c = Case("progress", PB)
p = subprocess.Popen([BIN, "run", c.pb, "--heartbeat", "1s"], cwd=c.dir, env=c.env({"TOKEN": SECRET}),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
lines = []
beat = countdown = None
deadline = time.time() + 600  # a bound for a broken build, not a timing assumption
while time.time() < deadline:
    raw = p.stderr.readline()
    if not raw:
        break
    line = raw.decode(errors="replace").rstrip("\n")
    lines.append(line)
    if beat is None and line.startswith("lockstep: ... work (shell, attempt 1/1)") and "last output" in line:
        beat = line
        open(c.path("go"), "w").close()
    if countdown is None and line.startswith("lockstep: ... flaky: attempt 2 in") and "left" in line:
        countdown = line
        p.send_signal(signal.SIGTERM)
p.wait(timeout=600)
check(beat is not None, "a heartbeat line for the running state: " + "\n".join(lines[-10:]))
if beat:
    check(" of 1h" in beat and "left)" in beat, "elapsed of the timeout and what is left: " + beat)
    check(SECRET not in beat and "***" in beat, "the last output line, redacted: " + beat)
check(countdown is not None, "the retry delay counts down: " + "\n".join(lines[-10:]))
check(all(SECRET not in l for l in lines), "no secret on stderr")
eq(p.returncode, 3, "SIGTERM in the delay halts the run")

# --heartbeat 0: none
c2 = Case("progress-off", PB.replace("retry: {attempts: 2, delay: 1h}", "retry: {attempts: 1}"))
open(c2.path("go"), "w").close()
rc, out, err = c2.run("--heartbeat", "0", env={"TOKEN": SECRET})
eq(rc, 1, "the run ends")
check("lockstep: ..." not in err, "--heartbeat 0 prints no heartbeat: " + err)
rc, out, err = c2.run("--heartbeat", "soon", env={"TOKEN": SECRET})
eq(rc, 2, "a bad --heartbeat is a usage error")
c.cleanup()
c2.cleanup()
finish()
