"""for_each: a state's action runs once per element of a list, in order,
with item and index bound; retries are per element; the first failing
element fails the state and the rest never run; the result is {items};
each attempt's journal events carry the element's position (`item`); a
run killed inside an element resumes there without running the finished
elements again; a dry run simulates each element; a value that is not a
list fails the state with a clear message."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, kill_quietly, playbook, wait_for  # noqa: E402

# Each element appends "ITEM INDEX" to log; the element named by $STOP
# parks (pid, ready) so that a test can kill the engine inside it; the one
# named by $FAIL exits 1.  `report` writes what the next state read of
# the for_each state's result.
STATES = """\
  each:
    action: shell
    for_each: params.dbs
    with:
      script: |
        echo "${{ item }} ${{ index }}" >> @DIR@/log
        if [ "$STOP" = "${{ item }}" ]; then echo $$ > @DIR@/pid; touch @DIR@/ready; sleep 60; fi
        if [ "$FAIL" = "${{ item }}" ]; then exit 1; fi
        echo "done ${{ item }}"
    expect: "trim(result.stdout) == 'done ' + item"
    dry_run: {result: {stdout: "done (simulated)"}}
    next: report
  report:
    action: shell
    mutates: false
    with:
      script: "echo '${{ len(states.each.result.items) }} ${{ trim(states.each.result.items[0].stdout) }}' > @DIR@/report"
    next: done
"""
EXTRA = "params:\n  dbs: {type: list, default: [orders, users, billing]}\n"
PB = playbook("each", "each", STATES, EXTRA)


def log_of(c):
    return c.read("log").splitlines() if c.exists("log") else []


def items_of(ev, kind):
    return [(e["item"], e["attempt"]) for e in ev if e["event"] == kind and e["state"] == "each"]


# Three elements, in order: three side effects, {items} of three results.
c = Case("each-three", PB)
rc, out, err = c.run()
eq(rc, 0, "three: exit " + err)
eq(log_of(c), ["orders 0", "users 1", "billing 2"], "three: one run per element, in order")
eq(c.read("report"), "3 done orders\n", "three: states.each.result.items")
ev = c.journal()
eq(items_of(ev, "action_started"), [(0, 1), (1, 1), (2, 1)], "three: action_started items")
eq(items_of(ev, "action_finished"), [(0, 1), (1, 1), (2, 1)], "three: action_finished items")
started = [e for e in ev if e["event"] == "action_started" and e["state"] == "each"]
eq([k for k in started[0] if k not in ("seq", "ts", "event", "hash")], ["state", "attempt", "item", "action", "inputs"],
   "three: action_started fields")
check("users" in started[1]["inputs"]["script"], "three: item rendered into with: %r" % started[1]["inputs"])
plain = [e for e in ev if e["event"] == "action_started" and e["state"] == "report"]
check(plain and "item" not in plain[0], "three: no item field outside for_each")
eq(c.path_of(ev), ["each", "report", "done"], "three: path")
c.cleanup()

# plan shows the list, and what each element reads, unrendered.
c = Case("each-plan", PB)
rc, out, err = c.cmd("plan", c.pb)
eq(rc, 0, "plan: exit " + err)
check('      for each:  item of params.dbs = 3 elements ["orders","users","billing"]' in out.splitlines(),
      "plan: for each line: " + out)
check("${{ item }}" in out, "plan: item stays a template: " + out)
c.cleanup()

# The second element fails: the third never runs; the state fails, saying which.
c = Case("each-fail", PB)
rc, out, err = c.run(env={"FAIL": "users"})
eq(rc, 1, "fail: exit")
eq(log_of(c), ["orders 0", "users 1"], "fail: the third element did not run")
ev = c.journal()
eq(items_of(ev, "action_started"), [(0, 1), (1, 1)], "fail: attempts")
tr = [e for e in ev if e["event"] == "transition"]
eq([(t["from"], t["to"], t["reason"]) for t in tr], [("each", "failed", "failure")], "fail: transition")
check(tr and tr[0]["error"].startswith("item 1: "), "fail: the error names the element: %r" % tr)
c.cleanup()

# Retries are per element: the second element fails once, then passes; the
# third starts at attempt 1.
retry = STATES.replace("    next: report\n", "    retry: {attempts: 3}\n    next: report\n", 1).replace(
    'if [ "$FAIL" = "${{ item }}" ]; then exit 1; fi',
    'if [ "$FAIL" = "${{ item }}" ] && [ ! -e @DIR@/failed-once ]; then touch @DIR@/failed-once; exit 1; fi')
c = Case("each-retry", playbook("each", "each", retry, EXTRA))
rc, out, err = c.run(env={"FAIL": "users"})
eq(rc, 0, "retry: exit " + err)
eq(log_of(c), ["orders 0", "users 1", "users 1", "billing 2"], "retry: the failing element ran twice")
eq(items_of(c.journal(), "action_started"), [(0, 1), (1, 1), (1, 2), (2, 1)], "retry: attempts per element")
c.cleanup()

# kill -9 inside the second element, then resume: the first element does
# not run again; the second (idempotent) runs again; the third once; the
# next state reads all three results, the first from the journal.
idem = STATES.replace("    next: report\n", "    idempotent: true\n    next: report\n", 1)
c = Case("each-crash", playbook("each", "each", idem, EXTRA))
p = c.start(env={"STOP": "users"})
ok = wait_for(lambda: c.exists("ready"))
check(ok, "crash: the second element never started")
p.send_signal(signal.SIGKILL)
p.wait()
if ok:
    kill_quietly(-int(c.read("pid")))
rid = c.last_run()
rc, out, err = c.cmd("resume", rid)
eq(rc, 0, "crash: resume exit " + err)
eq(log_of(c), ["orders 0", "users 1", "users 1", "billing 2"], "crash: finished elements not run again")
eq(c.read("report"), "3 done orders\n", "crash: results of the elements before the crash came back")
ev = c.journal(rid)
eq(items_of(ev, "action_started"), [(0, 1), (1, 1), (1, 1), (2, 1)], "crash: attempts after resume")
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "crash: chain intact: " + out)
c.cleanup()

# The same crash with a non-idempotent action: resume halts on the unknown
# outcome; --assume each=ok takes the element as done and goes on to the
# third, running nothing again.
c = Case("each-assume", PB)
p = c.start(env={"STOP": "users"})
ok = wait_for(lambda: c.exists("ready"))
check(ok, "assume: the second element never started")
p.send_signal(signal.SIGKILL)
p.wait()
if ok:
    kill_quietly(-int(c.read("pid")))
rid = c.last_run()
rc, out, err = c.cmd("resume", rid)
eq(rc, 3, "assume: resume halts on the unknown outcome: " + err)
check("--assume each=ok" in out + err, "assume: the halt names --assume: " + out + err)
rc, out, err = c.cmd("resume", rid, "--assume", "each=ok")
eq(rc, 0, "assume: resume --assume exit " + err)
eq(log_of(c), ["orders 0", "users 1", "billing 2"], "assume: each element ran once")
eq(c.read("report"), "3 done orders\n", "assume: three results")
c.cleanup()

# Approval is asked once, before the first element: without it the run
# halts before anything ran; resumed with --approve, every element runs and
# one approval is journaled.
confirm = STATES.replace("    next: report\n", "    confirm: true\n    next: report\n", 1)
c = Case("each-approve", playbook("each", "each", confirm, EXTRA))
rc, out, err = c.run()
eq(rc, 3, "approve: halts for the approval: " + err)
eq(log_of(c), [], "approve: nothing ran before the approval")
rid = c.last_run()
rc, out, err = c.cmd("resume", rid, "--approve", "each")
eq(rc, 0, "approve: resume exit " + err)
eq(log_of(c), ["orders 0", "users 1", "billing 2"], "approve: every element ran once")
ev = c.journal(rid)
eq(len([e for e in ev if e["event"] == "approval"]), 1, "approve: one approval for the state")
c.cleanup()

# A dry run simulates each element: nothing runs, one simulated result each.
# (no expect: the simulated stdout is the same for every element)
c = Case("each-dry", PB.replace("    expect: \"trim(result.stdout) == 'done ' + item\"\n", ""))
rc, out, err = c.run("--dry-run")
eq(rc, 0, "dry: exit " + err)
eq(log_of(c), [], "dry: nothing ran")
ev = c.journal()
fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "each"]
eq([(e["item"], e["status"], e["result"]) for e in fin],
   [(i, "simulated", {"stdout": "done (simulated)"}) for i in range(3)], "dry: simulated per element")
c.cleanup()

# An empty list: the action never runs; the result is {items: []}.
c = Case("each-empty", PB)
rc, out, err = c.run("--set", "dbs=[]")
eq(rc, 1, "empty: the report reads items[0] of an empty list and fails: " + err)
eq(log_of(c), [], "empty: nothing ran")
ev = c.journal()
eq(items_of(ev, "action_started"), [], "empty: no attempt")
eq([(t["from"], t["to"]) for t in ev if t["event"] == "transition"][:1], [("each", "report")], "empty: state ok")
c.cleanup()

# Not a list at run time (validate checks what params alone give): a clear
# runtime error naming the place, and the failure path.
notlist = STATES.replace("for_each: params.dbs", "for_each: env.EACH_DBS")
c = Case("each-notlist", playbook("each", "each", notlist, EXTRA + "  one: {type: string, default: x}\n"))
rc, out, err = c.run(env={"EACH_DBS": "orders"})
eq(rc, 1, "not a list: exit")
eq(log_of(c), [], "not a list: nothing ran")
tr = [e for e in c.journal() if e["event"] == "transition"]
check(tr and tr[0]["to"] == "failed" and "pb.yaml:11:15: for_each must give a list, not string: env.EACH_DBS" in
      tr[0]["error"], "not a list: error %r" % tr)
c.cleanup()

finish()
