"""Approvals (SPEC 5): confirm states and manual.confirm ask on a TTY (y
approves, anything else fails the state); without a TTY they need --yes or
--approve STATE, else the run halts (exit 3) and resumes with the
approval; who approved and how goes into the journal."""
import os
import pty
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Case, check, eq, finish, playbook  # noqa: E402

PB = playbook("appr", "notes", """\
  notes:
    action: manual.confirm
    with: {prompt: "Read the notes for ${{ params.tag }}", url: "https://example.invalid/notes"}
    next: change
  change:
    action: exec
    confirm: "Really change ${{ params.tag }}?"
    with: {argv: [touch, '@DIR@/changed']}
    next: done
""", extra="params: {tag: {type: string, default: v2}}\n")

# no TTY, no approval: halt at the first state, exit 3, nothing ran
c = Case("notty", PB)
rc, out, err = c.run()
eq(rc, 3, "no tty halts")
ev = c.journal()
rid = c.last_run()
eq(ev[-1]["event"], "run_halted", "halt event")
eq(ev[-1]["reason"], "approval needed for notes", "halt reason")
check(f"lockstep resume {rid} --approve notes" in err + out, "halt tells how to resume: " + err)
# resume approving only notes: halts again at change
rc, out, err = c.cmd("resume", rid, "--approve", "notes")
eq(rc, 3, "resume with one approval halts at the next")
ev = c.journal(rid)
eq(ev[-1]["reason"], "approval needed for change", "second halt reason")
check(not c.exists("changed"), "changed before approval")
rc, out, err = c.cmd("resume", rid, "--approve", "change")
eq(rc, 0, "resume with the second approval finishes")
check(c.exists("changed"), "change did not run")
ev = c.journal(rid)
eq([(a["state"], a["via"]) for a in c.events(ev, "approval")], [("notes", "approve"), ("change", "approve")],
   "approvals journaled")
fin = [e for e in c.events(ev, "action_finished") if e["state"] == "notes"][0]
check(fin["result"].get("approved_by", "").endswith("via approve"), "approved_by: %r" % fin["result"])
eq([e["seq"] for e in ev], list(range(1, len(ev) + 1)), "resumed journal continues seq")
rc, out, err = c.cmd("status", "--verify", rid)
eq(rc, 0, "resumed journal chain intact: " + out)

# --yes approves all
c = Case("yes", PB)
rc, out, err = c.run("--yes", env={"USER": "alice"})
eq(rc, 0, "--yes exit")
ev = c.journal()
eq([(a["by"], a["via"]) for a in c.events(ev, "approval")], [("alice", "yes"), ("alice", "yes")], "--yes journaled")

# --approve of an unknown state is a usage error
rc, out, err = c.run("--approve", "nosuch")
eq(rc, 2, "--approve unknown state")


def run_tty(case, answers, timeout=300):
    """Runs lockstep on a pseudo-terminal, answering each [y/N] prompt."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(case.dir)
        env = case.env({"USER": "bob"})
        os.execve(BIN, [BIN, "run", case.pb], env)
    buf = b""
    answers = list(answers)
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            while b"[y/N]" in buf and answers:
                os.write(fd, answers.pop(0).encode() + b"\n")
                buf = buf.replace(b"[y/N]", b"[answered]", 1)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), buf.decode("utf-8", "replace")


c = Case("tty-yes", PB)
rc, out = run_tty(c, ["y", "y"])
eq(rc, 0, "tty y exit: " + out)
check("Read the notes for v2" in out and "Really change v2?" in out, "tty prompts shown: " + out)
check(c.exists("changed"), "tty yes: change did not run")
check("action: exec" in out and '"touch"' in out, "the prompt shows the action and its rendered inputs: " + out)
ev = c.journal()
eq([(a["by"], a["via"]) for a in c.events(ev, "approval")], [("bob", "tty"), ("bob", "tty")], "tty journaled")

# the prompt shows what will act and where, with secrets masked
c = Case("tty-inputs", """lockstep: 1
name: ti
start: roll
params: {pw: {type: string, secret: true, default: "Pr0mpt-Secret-1"}}
defaults: {on_failure: failed}
states:
  roll:
    action: kubectl.set_image
    confirm: "Roll?"
    with: {deployment: web, container: web, image: "reg/web:v2", namespace: prod, context: east,
           kubectl: '@DIR@/fake-kubectl', kubeconfig: "/tmp/${{ params.pw }}"}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
""")
rc, out = run_tty(c, ["n"])
check("kubernetes: context east, namespace prod" in out, "the prompt names the context and namespace: " + out)
check("image: reg/web:v2" in out, "the prompt shows the rendered image: " + out)
check("Pr0mpt-Secret-1" not in out and "***" in out, "the prompt masks secrets: " + out)

c = Case("tty-no", PB)
rc, out = run_tty(c, ["y", "n"])
eq(rc, 1, "tty n exit: " + out)
check(not c.exists("changed"), "tty no: change ran")
ev = c.journal()
fail = [t for t in c.events(ev, "transition") if t["from"] == "change"]
eq(fail and fail[0]["reason"], "failure", "tty no: failure transition")
# defaults.confirm_mutating: every mutating state needs an approval, probes do not
c = Case("confirm-mutating", """lockstep: 1
name: cm
start: look
defaults: {on_failure: failed, confirm_mutating: true}
states:
  look: {action: exec, mutates: false, with: {argv: [touch, '@DIR@/looked']}, next: change}
  change: {action: exec, with: {argv: [touch, '@DIR@/changed']}, next: done}
  done: {terminal: success}
  failed: {terminal: failure}
""")
rc, out, err = c.run()
eq(rc, 3, "confirm_mutating halts")
check(c.exists("looked") and not c.exists("changed"), "confirm_mutating: probe ran, change did not")
eq(c.journal()[-1]["reason"], "approval needed for change", "confirm_mutating halt reason")

# on a TTY a long action shows a live elapsed counter (redrawn with \r);
# the action lasts long past the 2s redraw looked for, however busy the
# machine
c = Case("tty-live", playbook("live", "slow", """\
  slow:
    action: wait
    with: {duration: 12s}
    next: done
"""))
rc, out = run_tty(c, [])
eq(rc, 0, "live counter run")
check("\r  slow (wait, attempt 1/1): 2s" in out, "live counter shown: %r" % out)
finish()
