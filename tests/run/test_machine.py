"""The machine: success, failure, branch, retry-until, retries exhausted,
timeout (no orphan left), requires false, expect false, a 10 MB stdout, a
runtime error while choosing the next state, shell injection, output modes
and the journal's fields (SPEC 4, 5)."""
import json
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Case, check, eq, finish, pid_alive, playbook, wait_for  # noqa: E402

FIELDS = {
    "run_started": ["run_id", "playbook", "path", "sha256", "env", "params", "dry_run", "user", "host"],
    "state_entered": ["state", "visit"],
    "action_started": ["state", "attempt", "action", "inputs"],
    "action_finished": ["state", "attempt", "status", "result", "error", "duration_ms"],
    "approval": ["state", "by", "via"],
    "transition": ["from", "to", "reason"],
    "run_halted": ["state", "reason"],
    "run_finished": ["outcome", "state"],
}


def check_fields(events, what):
    for i, e in enumerate(events):
        eq(e["seq"], i + 1, f"{what}: seq of line {i + 1}")
        check(e["ts"].endswith("Z") and len(e["ts"]) == 24, f"{what}: ts format {e['ts']}")
        skip = ("seq", "ts", "event", "hash") + (() if e["event"] == "run_started" else ("dry_run",))
        keys = [k for k in e if k not in skip]
        want = FIELDS[e["event"]]
        if e["event"] == "run_finished" and "error" in e:
            want = want + ["error"]
        eq(keys, want, f"{what}: fields of {e['event']}")


# success: a plain chain; states.NAME.result feeds a later template
c = Case("success", playbook("ok", "a", """\
  a:
    action: exec
    with: {argv: [echo, hello]}
    next: b
  b:
    action: exec
    with: {argv: [sh, -c, 'printf "%s" "$1" > @DIR@/b.out', sh, "${{ states.a.result.stdout }}"]}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 0, "success exit")
ev = c.journal()
eq(c.path_of(ev), ["a", "b", "done"], "success path")
eq(ev[-1]["event"], "run_finished", "success last event")
eq(ev[-1]["outcome"], "success", "success outcome")
eq(c.read("b.out"), "hello\n", "result passed through a template")
check_fields(ev, "success")
eq(ev[0]["run_id"], c.last_run(), "run id in run_started")
check("lockstep: run" in out and "success" in out, "success text output: " + out)

# failure: exec exit 3 -> on_failure (defaults) -> failure terminal, exit 1
c = Case("failure", playbook("fail", "a", """\
  a:
    action: exec
    with: {argv: [sh, -c, 'exit 3']}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 1, "failure exit")
ev = c.journal()
eq(c.path_of(ev), ["a", "failed"], "failure path")
fin = c.events(ev, "action_finished")[0]
eq(fin["status"], "failed", "failure status")
eq(fin["result"]["exit_code"], 3, "failure exit_code in result")
eq(c.events(ev, "transition")[0]["reason"], "failure", "failure transition reason")
eq(ev[-1]["outcome"], "failure", "failure outcome")

# branch: first matching wins; decision state
c = Case("branch", playbook("br", "probe", """\
  probe:
    action: exec
    with: {argv: [echo, '{"n": 7}']}
    next:
      - {if: "json(result.stdout).n > 10", goto: big}
      - {if: "json(states.probe.result.stdout).n == 7", goto: route}
      - {goto: failed}
  big: {action: noop, next: done}
  route:
    next:
      - {if: "states.probe.status == 'ok' and states.probe.attempts == 1", goto: done}
      - {goto: failed}
"""))
rc, out, err = c.run()
eq(rc, 0, "branch exit")
ev = c.journal()
eq(c.path_of(ev), ["probe", "route", "done"], "branch path")
eq([t["reason"] for t in c.events(ev, "transition")], ["branch", "branch"], "branch reasons")

# retry until: polls while the action succeeds and until is false
c = Case("until", playbook("until", "poll", """\
  poll:
    action: shell
    with: {script: 'n=$(cat @DIR@/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/n; echo $n'}
    retry: {attempts: 5, delay: 50ms, backoff: 2, max_delay: 100ms, until: "trim(result.stdout) == '3'"}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 0, "until exit")
ev = c.journal()
eq(len(c.events(ev, "action_started")), 3, "until attempts")
eq(c.read("n").strip(), "3", "until counter")

# retries exhausted
c = Case("exhausted", playbook("exh", "a", """\
  a:
    action: shell
    with: {script: 'echo x >> @DIR@/count; exit 1'}
    retry: {attempts: 3, delay: 10ms}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 1, "exhausted exit")
ev = c.journal()
eq([e["attempt"] for e in c.events(ev, "action_finished")], [1, 2, 3], "exhausted attempts")
eq(len(c.read("count").split()), 3, "exhausted ran 3 times")
eq(c.path_of(ev), ["a", "failed"], "exhausted path")

# until never true: the state fails after the last attempt
c = Case("until-never", playbook("un", "a", """\
  a:
    action: noop
    retry: {attempts: 2, delay: 10ms, until: "false"}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 1, "until-never exit")

# timeout: the group is killed, nothing left behind; on_timeout taken
c = Case("timeout", playbook("to", "slow", """\
  slow:
    action: shell
    with: {script: 'sleep 30 & echo $! > @DIR@/child.pid; echo $$ > @DIR@/sh.pid; wait'}
    timeout: 500ms
    on_timeout: late
    next: done
  late: {action: noop, next: failed}
"""))
rc, out, err = c.run()
eq(rc, 1, "timeout exit")
ev = c.journal()
eq(c.events(ev, "action_finished")[0]["status"], "timed_out", "timeout status")
eq(c.events(ev, "transition")[0]["reason"], "timeout", "timeout reason")
eq(c.path_of(ev), ["slow", "late", "failed"], "timeout path")
for f in ("child.pid", "sh.pid"):
    pid = int(c.read(f))
    # killed with its group; gone once reaped (a moment for the orphan's new parent)
    check(wait_for(lambda: not pid_alive(pid)), f"timeout: process {pid} ({f}) left behind")

# requires false: the action never runs
c = Case("requires", playbook("rq", "a", """\
  a:
    action: exec
    with: {argv: [touch, '@DIR@/ran']}
    requires: "params.go == true"
    next: done
""", extra="params: {go: {type: bool, default: false}}\n"))
rc, out, err = c.run()
eq(rc, 1, "requires exit")
check(not c.exists("ran"), "requires false: the action ran")
ev = c.journal()
eq(len(c.events(ev, "action_started")), 0, "requires: no action_started")
rc, out, err = c.run("--set", "go=true")
eq(rc, 0, "requires true exit")
check(c.exists("ran"), "requires true: the action ran")

# expect false
c = Case("expect", playbook("ex", "a", """\
  a:
    action: exec
    with: {argv: [echo, '5']}
    expect: ["int(trim(result.stdout)) > 1", "guards.is_ten"]
    next: done
""", extra="guards:\n  is_ten: \"trim(states.a.result.stdout) == '10'\"\n"))
rc, out, err = c.run()
eq(rc, 1, "expect exit")
ev = c.journal()
eq(c.events(ev, "action_finished")[0]["status"], "ok", "expect: the action itself succeeded")
eq(c.path_of(ev), ["a", "failed"], "expect path")
check("is_ten" in out, "expect failure names the guard: " + out)

# 10 MB of stdout: no deadlock, capped in the result, stored whole outside
# the journal line (a content-addressed blob the line names by SHA-256)
c = Case("bigout", playbook("big", "a", """\
  a:
    action: exec
    with: {argv: [head, -c, '10485760', /dev/zero]}
    next: done
"""))
rc, out, err = c.run()
eq(rc, 0, "10MB exit")
ev = c.journal()
fin = c.events(ev, "action_finished")[0]
eq(fin["result"]["truncated"], True, "10MB truncated flag")
eq(fin["result"]["stdout"], None, "10MB: the line holds null where the blob goes")
refs = fin.get("blobs") or []
eq([r["at"] for r in refs], [["result", "stdout"]], "10MB: the line names its blob")
run_dir = os.path.join(c.state, "runs", c.last_run())
with open(os.path.join(run_dir, "blobs", refs[0]["sha256"]), "rb") as f:
    blob = f.read()
eq(len(blob), refs[0]["bytes"], "10MB: blob size")
eq(hashlib.sha256(blob).hexdigest(), refs[0]["sha256"], "10MB: blob digest")
eq(len(blob), 1 << 20, "10MB: the captured MiB is kept whole")
with open(os.path.join(run_dir, "journal.jsonl"), "rb") as f:
    check(max(len(l) for l in f) < 16384, "10MB: journal lines stay small")
eq(oct(os.stat(os.path.join(run_dir, "blobs", refs[0]["sha256"])).st_mode & 0o777), "0o600", "blob mode")

# a runtime error while choosing the next state ends the run at once
c = Case("noroute", playbook("nr", "a", """\
  a:
    next:
      - {if: "params.x == 1", goto: done}
""", extra="params: {x: {type: int, default: 2}}\n"))
rc, out, err = c.run()
eq(rc, 1, "no branch exit")
ev = c.journal()
eq(ev[-1]["event"], "run_finished", "no branch: run_finished")
eq(ev[-1]["state"], "a", "no branch: state")
check("error" in ev[-1] and "branch" in ev[-1]["error"], "no branch: error says why")

# a non-bool condition is a runtime error too
c = Case("nonbool", playbook("nb", "a", """\
  a:
    next:
      - {if: "params.x", goto: done}
      - {goto: done}
""", extra="params: {x: {type: int, default: 2}}\n"))
rc, out, err = c.run()
eq(rc, 1, "non-bool exit")
check("error" in c.journal()[-1], "non-bool: run_finished.error")

# shell injection: a param reaches the program as one argv element
c = Case("inject", playbook("inj", "a", """\
  a:
    action: exec
    with: {argv: [sh, -c, 'printf "%s|" "$@" > @DIR@/args', sh, "${{ params.tag }}"]}
    next: done
""", extra="params: {tag: {type: string}}\n"))
rc, out, err = c.run("--set", "tag=v1; touch PWNED $(touch PWNED2)")
eq(rc, 0, "injection exit")
eq(c.read("args"), "v1; touch PWNED $(touch PWNED2)|", "injection: one argv element")
check(not c.exists("PWNED") and not c.exists("PWNED2"), "injection: PWNED created")

# --output json: exactly the journal lines on stdout; --quiet: one line
c = Case("json", playbook("js", "a", "  a: {action: noop, next: done}\n"))
rc, out, err = c.run("--output", "json")
eq(rc, 0, "json exit")
lines = [json.loads(x) for x in out.splitlines()]
with open(os.path.join(c.state, "runs", c.last_run(), "journal.jsonl")) as f:
    eq(out, f.read(), "json output equals the journal")
eq([x["event"] for x in lines][-1], "run_finished", "json last event")
rc, out, err = c.run("--quiet")
eq(rc, 0, "quiet exit")
eq(len(out.strip().splitlines()), 1, "quiet prints one line: " + out)

# a closed output pipe does not kill the run half way
c = Case("epipe", playbook("pipe", "a", """\
  a: {action: wait, with: {duration: 3s}, next: b}  # long enough that the pipe is closed before b
  b: {action: exec, with: {argv: [touch, '@DIR@/b']}, next: done}
"""))
p = subprocess.Popen([BIN, "run", c.pb], cwd=c.dir, env=c.env(), stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
p.stdout.readline()
p.stdout.close()
eq(p.wait(timeout=300), 0, "run with its stdout closed")
check(c.exists("b"), "the run went on after its stdout closed")

# plan touches nothing
c = Case("plan", playbook("pl", "a", """\
  a:
    phase: prep
    action: exec
    with: {argv: [touch, '@DIR@/planned', "${{ params.tag }}", "${{ states.a.result.stdout }}"]}
    expect: guards.g
    next: done
""", extra="params: {tag: {type: string, default: v1}}\nguards:\n  g: \"states.a.status == 'ok'\"\n"))
rc, out, err = c.cmd("plan", c.pb)
eq(rc, 0, "plan exit")
check(not c.exists("planned") and not os.path.exists(c.state), "plan executed something")
check("v1" in out and "${{ states.a.result.stdout }}" in out, "plan renders params, keeps results: " + out)
check("expect:" in out and " g" in out and "guards.g" not in out, "plan shows guards by name: " + out)
check("mutates: yes" in out and "phase prep" in out, "plan shows mutates and phase: " + out)

# timeout and retry from params: an environment can give production its own
c = Case("templated", """lockstep: 1
name: templated
start: slow
params:
  t: {type: string, default: 10m}
  tries: {type: int, default: 1}
defaults: {on_failure: failed}
states:
  slow:
    action: exec
    with: {argv: [sleep, '600']}
    timeout: "${{ params.t }}"
    retry: {attempts: "${{ params.tries }}"}
    on_timeout: timed_out
    next: done
  done: {terminal: success}
  timed_out: {terminal: failure}
  failed: {terminal: failure}
""")
rc, out, err = c.run("--set", "t=1s", "--set", "tries=2", timeout=600)
eq(rc, 1, "templated timeout: the run fails")
ev = c.journal()
eq([e["status"] for e in c.events(ev, "action_finished")], ["timed_out", "timed_out"], "two attempts, each timed out")
eq(c.path_of(ev), ["slow", "timed_out"], "templated timeout: on_timeout taken")
rc, out, err = c.cmd("plan", c.pb, "--set", "t=45m")
check("45m" in out, "plan shows the timeout the params give: " + out)
rc, out, err = c.cmd("validate", c.pb, "--set", "tries=0")
eq(rc, 2, "a templated retry.attempts of 0 is refused at validate")
finish()
