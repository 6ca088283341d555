"""Shared helpers for the runner's integration tests (tests/run/).

Each test writes small playbooks into a fresh temp dir, drives
$LOCKSTEP_BIN there with its own state dir, and checks exit codes, output
and the journal.  Standard library only.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def eq(actual, expected, what):
    return check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def finish():
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("ok")


class Case:
    """A temp dir with a playbook, a state dir and helpers."""

    def __init__(self, name, playbook_text, files=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"lsrun-{name}-")
        self.state = os.path.join(self.dir, "state")
        self.pb = os.path.join(self.dir, "pb.yaml")
        self.write("pb.yaml", playbook_text.replace("@DIR@", self.dir))
        for k, v in (files or {}).items():
            self.write(k, v)

    def write(self, rel, text):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def exists(self, rel):
        return os.path.exists(self.path(rel))

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def env(self, extra=None):
        e = dict(os.environ)
        e.pop("LOCKSTEP_STATE_DIR", None)
        e["LOCKSTEP_STATE_DIR"] = self.state
        e.update(extra or {})
        return e

    def cmd(self, *args, env=None, timeout=300, stdin=subprocess.DEVNULL):
        p = subprocess.run([BIN, *args], cwd=self.dir, env=self.env(env), stdin=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def run(self, *args, env=None, timeout=300):
        return self.cmd("run", self.pb, *args, env=env, timeout=timeout)

    def start(self, *args, env=None):
        return subprocess.Popen([BIN, "run", self.pb, *args], cwd=self.dir, env=self.env(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def runs(self):
        d = os.path.join(self.state, "runs")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def last_run(self):
        """The most recently created run (ids within one second are not ordered)."""
        r = self.runs()
        d = os.path.join(self.state, "runs")
        def started(x):
            with open(os.path.join(d, x, "journal.jsonl")) as f:
                first = f.readline()
            return (json.loads(first)["ts"] if first.endswith("\n") else ""), x
        r.sort(key=started)
        return r[-1] if r else None

    def journal(self, run_id=None):
        run_id = run_id or self.last_run()
        with open(os.path.join(self.state, "runs", run_id, "journal.jsonl")) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def path_of(self, events):
        return [e["state"] for e in events if e["event"] == "state_entered"]

    def events(self, events, kind):
        return [e for e in events if e["event"] == kind]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(pred, timeout=120.0, step=0.02):
    """Polls pred until it holds; the bound is for a machine that is very
    busy, not a measure: a test never relies on it passing quickly."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


HEAD = """lockstep: 1
name: {name}
start: {start}
defaults: {{on_failure: failed}}
states:
"""


def playbook(name, start, states, extra=""):
    """states: YAML text of the states block body (already indented by 2)."""
    return (extra + HEAD.format(name=name, start=start) + states +
            "  done: {terminal: success}\n  failed: {terminal: failure}\n")
