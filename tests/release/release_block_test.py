#!/usr/bin/python3
"""The `release:` block of the shipped upgrade as plan and graph show it
(DOT, Mermaid), and a playbook without one showing nothing."""
import os
import subprocess
import sys

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
PLAYBOOK = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
LINE = "release 2.5.0; upgrades from >=2.4.0 <2.5.0; schema 11 -> 12"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def lockstep(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)


p = lockstep("plan", PLAYBOOK, "--env", "staging", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12",
             "--set", "mongodb_uri=mongodb://x.invalid/")
check(p.returncode == 0 and p.stdout.splitlines()[2] == LINE, f"plan shows the release third: {p.stdout[:400]}")
p = lockstep("graph", PLAYBOOK)
check(p.returncode == 0 and f'label="message-center-upgrade\\n{LINE}";' in p.stdout and "labelloc=t;" in p.stdout,
      "graph (dot) titles the chart with the release")
p = lockstep("graph", PLAYBOOK, "--format", "mermaid")
check(p.returncode == 0 and p.stdout.startswith(f'---\ntitle: "message-center-upgrade - {LINE}"\n---\nflowchart TD\n'),
      "graph (mermaid) front matter")
example = os.path.join(SRC, "playbooks", "examples")
plain = [os.path.join(example, f) for f in sorted(os.listdir(example)) if f.endswith(".yaml")] if os.path.isdir(example) else []
for f in plain[:1]:
    p = lockstep("graph", f)
    check("labelloc" not in p.stdout, f"{f}: no release, no title")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
