#!/usr/bin/env python3
"""The Message Center playbook, composed of the parts in playbooks/lib: its
environments validate strictly, its scenarios all pass with every
transition covered (the parts' transitions included), and the page's rules
hold in the graph."""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
MC = os.path.join(SRC, "playbooks", "message-center")
MIN_COVERAGE = 1.0
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

# Without any value (structure only, as CI lints it): valid, the parts
# included, naming the required params it could not check.
bare = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "MONGODB_DB", "CORE_API")}
p = subprocess.run([BIN, "validate", "--strict", os.path.join(MC, "upgrade.yaml")], capture_output=True, text=True,
                   env=bare, timeout=300)
if p.returncode != 0 or "not checked without values: required params new_tag" not in p.stdout:
    problems.append(f"validate --strict without values: exit {p.returncode}\n{p.stdout}{p.stderr}")

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

# The playbook's shape: the page's rules hold in the graph itself.  The
# playbook composes the parts in playbooks/lib: the rules that live inside a
# part are checked in the part's own graph.
import yaml  # Debian's python3-yaml

LIB = os.path.join(SRC, "playbooks", "lib")


def load(path):
    return yaml.safe_load(open(path, encoding="utf-8"))


def edges(doc, name, success=True):
    """(target, label) of every transition leaving a state of doc."""
    st = doc["states"][name]
    out = []
    nxt = st.get("next")
    if isinstance(nxt, str) and success:
        out.append((nxt, "next"))
    elif isinstance(nxt, list) and success:
        out += [(b["goto"], b.get("if", "else")) for b in nxt]
    if st.get("terminal") is None and (st.get("action") or st.get("expect") or st.get("playbook")):
        out.append((st.get("on_failure", doc.get("defaults", {}).get("on_failure")), "failure"))
    if st.get("on_timeout"):
        out.append((st["on_timeout"], "timeout"))
    return out


def reachable(doc, cut):
    """States reachable from start when the success edges of `cut` are removed."""
    seen, todo = set(), [doc["start"]]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [t for t, _ in edges(doc, n, success=n not in cut)]
    return seen


def preds(doc, target):
    return [(n, lab) for n in doc["states"] for t, lab in edges(doc, n) if t == target]


doc = load(os.path.join(MC, "upgrade.yaml"))
states = doc["states"]
calls = {n: st["playbook"] for n, st in states.items() if "playbook" in st}
want = {"backup": "mongo-backup", "k8s": "k8s-migrate-roll", "compose": "compose-upgrade", "post": "post-checks",
        "rb_k8s": "k8s-undo", "rb_compose": "compose-rollback", "rb_restore": "mongo-restore"}
for call, part in want.items():
    if calls.get(call) != f"../lib/{part}.yaml":
        problems.append(f"state {call} does not run playbooks/lib/{part}.yaml (runs {calls.get(call)!r})")
parts = {call: load(os.path.normpath(os.path.join(MC, f))) for call, f in calls.items()
         if os.path.isfile(os.path.normpath(os.path.join(MC, f)))}

# The critical rule, inside each upgrade part: without verify_schema's
# success edges (and check_version's, on Kubernetes), nothing restarts.
for call, gates, checks in (("k8s", ("set_image", "resume", "rollout_status"), ("verify_schema", "check_version")),
                            ("compose", ("up",), ("verify_schema",))):
    part = parts.get(call)
    if not part:
        continue
    for chk in checks:
        r = reachable(part, {chk})
        for gate in gates:
            if gate in r:
                problems.append(f"{call}/{gate} is reachable without passing {call}/{chk}")
    if not set(gates) <= reachable(part, set()):
        problems.append(f"{call}: {gates} are not reachable at all")
# ... and the validation runs only after an upgrade part succeeded.
if sorted(preds(doc, "post")) != [("compose", "next"), ("k8s", "next")]:
    problems.append(f"post is entered otherwise than after k8s/compose succeeded: {preds(doc, 'post')}")
# Restore whenever a migration started (a migration that fails before it
# bumps schema_version may still have changed documents), and check the
# undone rollout / restarted stack only after the restore route.
if preds(doc, "rb_restore") != [("rb_restore_route", "guards.migrations_ran")]:
    problems.append(f"rb_restore is entered otherwise than on migrations_ran: {preds(doc, 'rb_restore')}")
for check in ("rb_k8s_status", "rb_compose_check"):
    if [n for n, _ in preds(doc, check)] != ["rb_check_route"]:
        problems.append(f"{check} is entered otherwise than after the restore route: {preds(doc, check)}")
if "rb_restore" in parts and parts["rb_restore"]["states"]["restore"]["with"].get("exact") is not True:
    problems.append("the restore is not exact (collections a migration created would stay)")
# The rollback reads what the upgrade part changed from its states.
for g in ("deployment_paused", "image_changed", "migrations_ran", "stack_restarted"):
    if "result.states." not in str(doc["guards"][g]):
        problems.append(f"guard {g} does not read the upgrade part's states")
# Every state says which line of the page it implements; every mutating one
# can be rehearsed (a dry_run result).
MUTATING = {"mongo.dump", "mongo.restore", "kubectl.set_image", "kubectl.run", "docker.pull", "docker.run"}
for where, d in [("", doc)] + [(c + "/", p) for c, p in parts.items()]:
    for n, st in d["states"].items():
        if not st.get("description"):
            problems.append(f"state {where}{n} has no description (the seed line it implements)")
        a = st.get("action")
        mut = st.get("mutates", a in MUTATING or (a == "kubectl.rollout" and st["with"]["verb"] != "status")
                     or (a == "docker.compose"))
        if mut and "dry_run" not in st:
            problems.append(f"mutating state {where}{n} has no dry_run result")

for msg in problems:
    print("FAIL " + msg)
sys.exit(1 if problems else 0)
