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
    p = subprocess.run(args, capture_output=True, text=True, env=venv, timeout=300)
    if p.returncode != 0:
        problems.append(f"validate --env {name} --strict: exit {p.returncode}\n{p.stdout}{p.stderr}")

scenarios = sorted(glob.glob(os.path.join(MC, "tests", "*.yaml")))
if len(scenarios) < 12:
    problems.append(f"only {len(scenarios)} scenarios")
p = subprocess.run([BIN, "test", "--coverage"] + scenarios, capture_output=True, text=True, timeout=300)
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

# The playbook's shape: the page's rules hold in the graph itself.
import yaml  # Debian's python3-yaml

doc = yaml.safe_load(open(os.path.join(MC, "upgrade.yaml"), encoding="utf-8"))
states = doc["states"]
default_fail = doc.get("defaults", {}).get("on_failure")


def edges(name, st, success=True):
    """(target, label) of every transition leaving a state."""
    out = []
    nxt = st.get("next")
    if isinstance(nxt, str) and success:
        out.append((nxt, "next"))
    elif isinstance(nxt, list) and success:
        out += [(b["goto"], b.get("if", "else")) for b in nxt]
    if st.get("terminal") is None and (st.get("action") or st.get("expect")):
        out.append((st.get("on_failure", default_fail), "failure"))
    if st.get("on_timeout"):
        out.append((st["on_timeout"], "timeout"))
    return out


def reachable(start, cut):
    """States reachable from start when the success edges of `cut` are removed."""
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [t for t, _ in edges(n, states[n], success=n not in cut)]
    return seen


# The critical rule: without verify_schema's success edges, nothing restarts.
r = reachable(doc["start"], {"verify_schema"})
for gate in ("k8s_set_image", "k8s_resume", "compose_up"):
    if gate in r:
        problems.append(f"{gate} is reachable without passing verify_schema")
if not {"k8s_set_image", "compose_up"} <= reachable(doc["start"], set()):
    problems.append("k8s_set_image/compose_up are not reachable at all")
# Restore whenever a migration started (a migration that fails before it
# bumps schema_version may still have changed documents), and check the
# undone rollout / restarted stack only after the restore route.
preds = {t: [(n, lab) for n, st in states.items() for t2, lab in edges(n, st) if t2 == t] for t in states}
if preds["rb_restore"] != [("rb_restore_route", "guards.migrations_ran")]:
    problems.append(f"rb_restore is entered otherwise than on migrations_ran: {preds['rb_restore']}")
for check in ("rb_k8s_status", "rb_compose_check"):
    if [n for n, _ in preds[check]] != ["rb_check_route"]:
        problems.append(f"{check} is entered otherwise than after the restore route: {preds[check]}")
if states["rb_restore"]["with"].get("exact") is not True:
    problems.append("rb_restore does not restore exactly (collections a migration created would stay)")
# Every state says which line of the page it implements; every mutating one
# can be rehearsed (a dry_run result).
MUTATING = {"mongo.dump", "mongo.restore", "kubectl.set_image", "kubectl.run", "docker.pull", "docker.run"}
for n, st in states.items():
    if not st.get("description"):
        problems.append(f"state {n} has no description (the seed line it implements)")
    a = st.get("action")
    mut = st.get("mutates", a in MUTATING or (a == "kubectl.rollout" and st["with"]["verb"] != "status")
                 or (a == "docker.compose"))
    if mut and "dry_run" not in st:
        problems.append(f"mutating state {n} has no dry_run result")

for msg in problems:
    print("FAIL " + msg)
sys.exit(1 if problems else 0)
