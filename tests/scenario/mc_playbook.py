#!/usr/bin/env python3
"""The Message Center playbook: its environments validate strictly, and its
scenarios all pass with transition coverage of at least 90%."""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
MC = os.path.join(SRC, "playbooks", "message-center")
MIN_COVERAGE = 0.90
problems = []

# Each environment validates with --strict, given what an operator passes on
# the command line or in the environment (secrets never live in the files).
env = dict(os.environ, MONGODB_URI="mongodb://validate.invalid/mc", MONGODB_DB="message_center")
for name in ("sim", "staging", "production"):
    args = [BIN, "validate", os.path.join(MC, "upgrade.yaml"), "--env", name, "--strict",
            "--set", "new_tag=v2.5.0", "--set", "expected_schema=12"]
    # The simulator's start script exports CORE_API; staging and production name theirs.
    venv = dict(env, CORE_API="http://127.0.0.1:1") if name == "sim" else env
    p = subprocess.run(args, capture_output=True, text=True, env=venv, timeout=60)
    if p.returncode != 0:
        problems.append(f"validate --env {name} --strict: exit {p.returncode}\n{p.stdout}{p.stderr}")

scenarios = sorted(glob.glob(os.path.join(MC, "tests", "*.yaml")))
if len(scenarios) < 12:
    problems.append(f"only {len(scenarios)} scenarios")
p = subprocess.run([BIN, "test", "--coverage"] + scenarios, capture_output=True, text=True, timeout=120)
lines = p.stdout.splitlines()
if p.returncode != 0:
    problems.append(f"lockstep test exit {p.returncode}:\n" + "\n".join(l for l in lines if not l.startswith("PASS")) + p.stderr)
if not lines or lines[-1] != f"{len(scenarios)} passed, 0 failed":
    problems.append(f"last line {lines[-1] if lines else '(none)'!r}")
m = [re.fullmatch(r"transitions covered: (\d+)/(\d+)", l) for l in lines]
m = [x for x in m if x]
if len(m) != 1:
    problems.append("expected one 'transitions covered: K/N' line")
else:
    k, n = int(m[0].group(1)), int(m[0].group(2))
    print(f"transitions covered: {k}/{n} ({100.0 * k / n:.1f}%)")
    if n == 0 or k / n < MIN_COVERAGE:
        problems.append(f"coverage {k}/{n} is below {MIN_COVERAGE:.0%}:\n" +
                        "\n".join(l for l in lines if "NOT covered" in l))

for msg in problems:
    print("FAIL " + msg)
sys.exit(1 if problems else 0)
