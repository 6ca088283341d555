#!/usr/bin/env python3
"""Every example playbook validates strictly and its scenarios pass."""
import glob
import os
import subprocess
import sys

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
EX = os.path.join(SRC, "playbooks", "examples")
bad = 0
for pb in sorted(glob.glob(os.path.join(EX, "*.yaml"))):
    p = subprocess.run([BIN, "validate", "--strict", pb], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        bad += 1
        print(f"FAIL validate --strict {pb}: exit {p.returncode}\n{p.stdout}{p.stderr}")
scen = sorted(glob.glob(os.path.join(EX, "tests", "*.yaml")))
p = subprocess.run([BIN, "test"] + scen, capture_output=True, text=True, timeout=300)
print(p.stdout, end="")
if not scen or p.returncode != 0 or p.stdout.splitlines()[-1:] != [f"{len(scen)} passed, 0 failed"]:
    bad += 1
    print(f"FAIL lockstep test: exit {p.returncode}\n{p.stderr}")
sys.exit(1 if bad else 0)
