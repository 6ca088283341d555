"""Sub-playbooks (issue 15): a state runs another playbook as one step.
Success and failure of the child, the caller's on_failure, the call's
result ({terminal, outcome, states}), params checked against the child's
specs (at load and when the call is entered), a missing child, a cycle and
too deep a nesting refused with file:line:col, a dry run simulating inside
the child, kill -9 inside the child and resume there (nothing completed
runs again; --assume takes the path), secrets across the boundary, status,
plan, graph and scenario coverage through the child."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, kill_quietly, wait_for  # noqa: E402

CHILD = """\
lockstep: 1
name: child
params:
  dir: {type: string, required: true}
  n: {type: int, default: 2, min: 1}
  token: {type: string, default: "none"}
guards:
  enough: "params.n > 1"
start: dump
states:
  dump:
    phase: inner-phase
    action: shell
    with: {script: 'echo dump-${{ params.n }} >> ${{ params.dir }}/log; echo "tok=${{ params.token }}"'}
    dry_run: {result: {exit_code: 0, stdout: "", stderr: ""}}
    next: pause
  pause:
    action: shell
    with: {script: 'echo pause >> ${{ params.dir }}/log; if [ "$STOP" = pause ]; then echo $$ > ${{ params.dir }}/pid; touch ${{ params.dir }}/ready; sleep 60; fi'}
    dry_run: {result: {exit_code: 0, stdout: "", stderr: ""}}
    next: verify
  verify:
    action: shell
    with: {script: 'echo verify >> ${{ params.dir }}/log; test "$FAIL" != verify'}
    expect: "guards.enough and states.dump.result.exit_code == 0"
    dry_run: {result: {exit_code: 0, stdout: "", stderr: ""}}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
defaults: {on_failure: failed}
"""

PARENT = """\
lockstep: 1
name: parent
params:
  n: {type: int, default: 2}
  token: {type: string, default: "t-parent-secret-9", secret: true}
start: first
states:
  first:
    action: shell
    with: {script: 'echo first >> @DIR@/log'}
    on_failure: aborted
    next: backup
  backup:
    playbook: lib/child.yaml
    with: {dir: "@DIR@", n: "${{ params.n }}", token: "${{ params.token }}"}
    on_failure: aborted
    next: check
  check:
    next:
      - {if: "states.backup.result.terminal == 'done' and states.backup.result.outcome == 'success' and states.backup.result.states.verify.status == 'ok'", goto: after}
      - {goto: aborted}
  after:
    action: shell
    with: {script: 'echo after >> @DIR@/log'}
    on_failure: aborted
    next: ok
  ok: {terminal: success}
  aborted: {terminal: failure}
"""


def case(name, parent=PARENT, child=CHILD, files=None):
    f = {"lib/child.yaml": child}
    f.update(files or {})
    return Case(name, parent, f)


def log(c):
    return c.read("log").split() if c.exists("log") else []


# ---- success ----
c = case("sub-ok")
rc, out, err = c.run()
eq(rc, 0, "parent and child succeed: " + err)
eq(log(c), ["first", "dump-2", "pause", "verify", "after"], "the child ran as one step of the parent")
ev = c.journal()
eq(c.path_of(ev), ["first", "backup", "backup/dump", "backup/pause", "backup/verify", "backup/done", "check",
                   "after", "ok"], "the journal records the child's states under the call's path")
fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "backup"]
eq(len(fin), 1, "the call's end is journaled once")
eq(fin[0]["result"]["terminal"], "done", "result.terminal")
eq(fin[0]["result"]["outcome"], "success", "result.outcome")
eq(fin[0]["result"]["states"]["verify"]["status"], "ok", "result.states holds the child's states")
check("t-parent-secret-9" not in open(os.path.join(c.state, "runs", c.last_run(), "journal.jsonl")).read(),
      "a secret passed to the child stays out of the journal")
check("t-parent-secret-9" not in out + err, "and out of the terminal")
rc, out, err = c.cmd("status", c.last_run())
eq(rc, 0, "status of the run")
check("backup/verify" in out and "backup " in out, "status shows the child's states by path: " + out)
eq([r for r in out.splitlines() if r.split()[:1] == ["backup"]][0].split()[1:3], ["ok", "1"],
   "the call ran its child once: ok, 1 attempt")
rc, out, err = c.cmd("status", "--verify", c.last_run())
eq(rc, 0, "the chain verifies: " + out + err)
rc, out, err = c.cmd("plan", c.pb)
eq(rc, 0, "plan: " + err)
check("runs playbook lib/child.yaml" in out and "backup/verify" in out, "plan shows the child: " + out)
check("echo dump-2 >> " + c.dir + "/log" in out, "with the child's params as the call binds them: " + out)
for fmt, marker in (("dot", 'subgraph "cluster_f1"'), ("mermaid", "subgraph frame1")):
    rc, out, err = c.cmd("graph", c.pb, "--format", fmt)
    eq(rc, 0, f"graph {fmt}: {err}")
    check(marker in out and "backup/dump" in out, f"graph {fmt} draws the child as a cluster: {out}")
    check("inner-phase" not in out, f"graph {fmt}: a phase used only inside the child makes no empty cluster: {out}")
c.cleanup()

# ---- a child param declared secret is masked, whatever the caller passed ----
c = case("sub-secret", PARENT.replace('token: "${{ params.token }}"', 'token: "plain-literal-77"'),
         CHILD.replace('token: {type: string, default: "none"}', 'token: {type: string, default: "none", secret: true}'))
rc, out, err = c.run()
eq(rc, 0, "run: " + err)
text = open(os.path.join(c.state, "runs", c.last_run(), "journal.jsonl")).read()
check("plain-literal-77" not in text and "plain-literal-77" not in out + err, "the child's secret param is masked")
check("tok=***" in text, "and shown as ***")
c.cleanup()

# ---- the child fails: the caller's on_failure ----
c = case("sub-fail")
rc, out, err = c.run(env={"FAIL": "verify"})
eq(rc, 1, "a child ending in failure fails the run through the caller's on_failure: " + err)
ev = c.journal()
eq(c.path_of(ev)[-3:], ["backup/verify", "backup/failed", "aborted"], "failure terminal, then on_failure")
tr = [e for e in ev if e["event"] == "transition" and e["from"] == "backup" and e["to"] == "aborted"]
eq(len(tr), 1, "the transition is the call's failure edge")
eq(tr[0]["reason"], "failure", "reason failure")
check("ended in failed" in tr[0]["error"], "the error names the child's terminal: " + tr[0]["error"])
check("after" not in log(c), "nothing after the failed call ran")
c.cleanup()

# ---- params checked at load: file:line:col, exit 2, nothing ran ----
bad_with = [
    ("unknown", 'with: {dir: "@DIR@", nn: 3}', "no param 'nn' (did you mean 'n'?)", "pb.yaml:15:"),
    ("missing", 'with: {n: 3}', "needs param 'dir'", "pb.yaml:13:3"),
    ("type", 'with: {dir: "@DIR@", n: "three"}', "param 'n' of lib/child.yaml is a int, not string", "pb.yaml:15:"),
    ("min", 'with: {dir: "@DIR@", n: 0}', "less than the minimum 1", "pb.yaml:15:"),
]
for name, w, msg, where in bad_with:
    pb = PARENT.replace('with: {dir: "@DIR@", n: "${{ params.n }}", token: "${{ params.token }}"}', w)
    c = case("sub-params-" + name, pb)
    rc, out, err = c.run()
    eq(rc, 2, f"{name}: a bad with is a load error: {err}")
    check(msg in err, f"{name}: the error says what: {err}")
    check(where in err, f"{name}: and names the caller's file:line:col: {err}")
    eq(log(c), [], f"{name}: nothing ran")
    c.cleanup()

# ---- a templated value is checked when the call is entered ----
c = case("sub-params-runtime")
rc, out, err = c.run("--set", "n=0")
eq(rc, 1, "a bad templated param fails the call: " + err)
ev = c.journal()
tr = [e for e in ev if e["event"] == "transition" and e["from"] == "backup"]
eq(tr[0]["to"], "aborted", "through on_failure")
check("less than the minimum 1" in tr[0]["error"], "with the child's check: " + tr[0]["error"])
eq(log(c), ["first"], "nothing of the child ran")
c.cleanup()

# ---- a `with` that cannot be rendered fails the call before the child runs ----
c = case("sub-with-error", PARENT.replace('n: "${{ params.n }}"', 'n: "${{ int(\'two\') }}"'))
rc, out, err = c.run()
eq(rc, 1, "a with that fails to render fails the call: " + err)
tr = [e for e in c.journal() if e["event"] == "transition" and e["from"] == "backup"]
eq(tr[0]["to"], "aborted", "through on_failure")
check("int" in tr[0]["error"], "the error names what failed: " + tr[0]["error"])
eq(log(c), ["first"], "nothing of the child ran")
c.cleanup()

# ---- errors in the child name the child's file ----
c = case("sub-child-error", child=CHILD.replace("next: pause", "next: pausee"))
rc, out, err = c.cmd("validate", c.pb)
eq(rc, 2, "a broken child is a load error: " + err)
check("lib/child.yaml:" in err and "no state named 'pausee'" in err, "the child's file:line:col: " + err)
check("state 'backup'" in err and "pb.yaml:14:15" in err, "and the calling state: " + err)
c.cleanup()

# ---- missing child ----
c = case("sub-missing", PARENT.replace("lib/child.yaml", "lib/nope.yaml"))
rc, out, err = c.run()
eq(rc, 2, "a missing child: " + err)
check("pb.yaml:14:15" in err and "cannot read the playbook" in err and "nope.yaml" in err, err)
eq(log(c), [], "nothing ran")
c.cleanup()

# ---- cycle ----
A = "lockstep: 1\nname: a\nstart: call\nstates:\n  call:\n    playbook: b.yaml\n    on_failure: bad\n    next: ok\n" \
    "  ok: {terminal: success}\n  bad: {terminal: failure}\n"
B = A.replace("name: a", "name: b").replace("b.yaml", "pb.yaml")
c = Case("sub-cycle", A, {"b.yaml": B})
rc, out, err = c.cmd("validate", c.pb)
eq(rc, 2, "a cycle is a load error: " + err)
check("cycle" in err and "b.yaml:6:15" in err, "named where it closes: " + err)
c.cleanup()

# ---- depth ----
files = {}
for i in range(1, 19):
    nxt = f"p{i + 1}.yaml" if i < 18 else None
    body = f"lockstep: 1\nname: p{i}\nstart: s\nstates:\n"
    if nxt:
        body += f"  s:\n    playbook: {nxt}\n    on_failure: bad\n    next: ok\n"
    else:
        body += "  s:\n    next: ok\n"
    body += "  ok: {terminal: success}\n  bad: {terminal: failure}\n"
    files[f"p{i}.yaml"] = body
c = Case("sub-depth", files["p1.yaml"], files)
rc, out, err = c.cmd("validate", c.pb)
eq(rc, 2, "more than 16 levels: " + err)
check("nested more than 16 deep" in err, err)
c.cleanup()

# ---- dry run inside the child ----
c = case("sub-dry")
rc, out, err = c.run("--dry-run")
eq(rc, 0, "a dry run goes through the child: " + err)
eq(log(c), [], "nothing was changed")
ev = c.journal()
sim = [e["state"] for e in ev if e["event"] == "action_finished" and e.get("status") == "simulated"]
eq(sim, ["first", "backup/dump", "backup/pause", "backup/verify", "after"], "simulated inside the child")
c.cleanup()

# ---- kill -9 inside the child, resume there ----
for idem in (True, False):
    child = CHILD.replace("    next: verify\n", "    idempotent: true\n    next: verify\n") if idem else CHILD
    c = case("sub-crash-" + ("idem" if idem else "once"), child=child)
    p = c.start(env={"STOP": "pause"})
    ok = wait_for(lambda: c.exists("ready"))
    check(ok, "the child's state started")
    p.send_signal(signal.SIGKILL)
    p.wait()
    if ok:
        kill_quietly(-int(c.read("pid")))
    rid = c.last_run()
    rc, out, err = c.cmd("status", "--output", "json")
    eq([(r["outcome"], r["state"]) for r in json.loads(out)], [("interrupted", "backup/pause")],
       "status names the child's state by path")
    if idem:
        rc, out, err = c.cmd("resume", rid)
        eq(rc, 0, "resume inside the child: " + err)
        eq(log(c), ["first", "dump-2", "pause", "pause", "verify", "after"],
           "completed states ran once; the idempotent one again")
    else:
        rc, out, err = c.cmd("resume", rid)
        eq(rc, 3, "an unknown outcome in the child halts: " + err)
        check("--assume backup/pause=ok" in out + err, "and names the path to assume: " + out + err)
        rc, out, err = c.cmd("resume", rid, "--assume", "backup/pause=ok")
        eq(rc, 0, "resume --assume PATH=ok: " + err)
        eq(log(c), ["first", "dump-2", "pause", "verify", "after"], "every state ran once")
    ev = c.journal(rid)
    eq(ev[-1]["event"], "run_finished", "finished")
    fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "backup"]
    eq(fin[-1]["result"]["states"]["dump"]["status"], "ok", "the call's result includes states from before the crash")
    rc, out, err = c.cmd("status", "--verify", rid)
    eq(rc, 0, "chain intact: " + out)
    c.cleanup()

# ---- a timeout templated over the child's params, set per call ----
WAITER = """\
lockstep: 1
name: waiter
params:
  wait: {type: string, required: true}
start: sleepy
states:
  sleepy:
    action: shell
    with: {script: 'echo start >> @DIR@/log; sleep 120'}
    timeout: "${{ params.wait }}"
    on_failure: failed
    on_timeout: slow
    next: done
  done: {terminal: success}
  slow: {terminal: failure}
  failed: {terminal: failure}
"""
CALLER = """\
lockstep: 1
name: caller
params:
  wait: {type: string, default: 1s}
start: call
states:
  call:
    playbook: waiter.yaml
    with: {wait: "${{ params.wait }}"}
    on_failure: timed
    next: ok
  ok: {terminal: success}
  timed: {terminal: failure}
"""
c = Case("sub-timeout", CALLER, {"waiter.yaml": WAITER})
c.write("waiter.yaml", WAITER.replace("@DIR@", c.dir))
rc, out, err = c.run()
eq(rc, 1, "the child's templated timeout fired: " + err)
ev = c.journal()
eq(c.path_of(ev), ["call", "call/sleepy", "call/slow", "timed"], "through the child's on_timeout")
fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "call/sleepy"]
eq(fin[0]["status"], "timed_out", "the attempt timed out")
rc, out, err = c.cmd("plan", c.pb, "--set", "wait=3s")
check("timeout:   3s" in out, "plan shows the child's timeout for this call: " + out)
rc, out, err = c.run("--set", "wait=0s")
eq(rc, 1, "a templated timeout the child refuses fails the call: " + err)
tr = [e for e in c.journal() if e["event"] == "transition" and e["from"] == "call"]
check("timeout is '0s' here" in tr[0]["error"], "and says why: " + tr[0]["error"])
c.cleanup()

# ---- for_each inside a child, over the child's params ----
EACH = """\
lockstep: 1
name: each
params:
  names: {type: list, required: true}
start: touch
states:
  touch:
    action: shell
    for_each: "params.names"
    with: {script: 'echo ${{ index }}-${{ item }} >> @DIR@/log'}
    on_failure: failed
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""
c = Case("sub-each", "lockstep: 1\nname: top\nstart: call\nstates:\n  call:\n    playbook: each.yaml\n"
         "    with: {names: [a, b, c]}\n    on_failure: bad\n    next: ok\n  ok: {terminal: success}\n"
         "  bad: {terminal: failure}\n")
c.write("each.yaml", EACH.replace("@DIR@", c.dir))
rc, out, err = c.run()
eq(rc, 0, "for_each in a child: " + err)
eq(log(c), ["0-a", "1-b", "2-c"], "once per element, with the child's params")
fin = [e for e in c.journal() if e["event"] == "action_finished" and e["state"] == "call"]
eq(len(fin[0]["result"]["states"]["touch"]["result"]["items"]), 3, "the call's result holds the items")
c.cleanup()

# ---- a release bundle carries a child that lies outside the playbook's directory ----
c = Case("sub-bundle", "unused: true\n", {"lib/child.yaml": CHILD})
c.write("mc/up.yaml", PARENT.replace("lib/child.yaml", "../lib/child.yaml").replace("@DIR@", c.dir))
c.write("mc/environments/staging.yaml", "params: {n: 3}\n")
rc, out, err = c.cmd("bundle", c.path("mc/up.yaml"), "-o", c.path("b.tar.gz"))
eq(rc, 0, "bundle: " + err)
check("  mc/up.yaml\n" in out and "  lib/child.yaml\n" in out and "  mc/environments/staging.yaml\n" in out,
      "the bundle's root holds the playbook's directory and the child's: " + out)
rc, out, err = c.cmd("run", c.path("b.tar.gz"), "--env", "staging")
eq(rc, 0, "a run from the bundle runs the bundled child: " + err)
eq(log(c), ["first", "dump-3", "pause", "verify", "after"], "with the bundled environment's params")
c.cleanup()

# ---- scenario tests through the child, with coverage ----
SCEN = """\
playbook: pb.yaml
results:
  backup/verify: [{"status": "failed", "error": "boom"}]
expect:
  outcome: failure
  final: aborted
  path: [first, backup, backup/dump, backup/pause, backup/verify, backup/failed, aborted]
  never: [after]
"""
SCEN_OK = """\
playbook: pb.yaml
expect:
  outcome: success
  path: [first, backup, backup/dump, backup/pause, backup/verify, backup/done, check, after, ok]
"""
c = case("sub-scenario", files={"fail.yaml": SCEN, "ok.yaml": SCEN_OK})
rc, out, err = c.cmd("test", "--coverage", c.path("fail.yaml"), c.path("ok.yaml"))
eq(rc, 0, "scenarios step through the child: " + out + err)
check("covered     backup/verify -> backup/failed" in out, "a child's edge is covered: " + out)
check("covered     backup -> aborted" in out, "the call's failure edge is covered: " + out)
check("covered     backup -> check" in out, "the call's next edge is covered: " + out)
c.cleanup()

finish()
