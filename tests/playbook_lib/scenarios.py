#!/usr/bin/env python3
"""The reusable parts in playbooks/lib: each validates strictly on its own
(with its required params given, and without any value),
its scenarios (playbooks/lib/tests) all pass, and together they cover every
transition of every part (100%, per part).  Each part is a standalone
playbook: it states the line it implements on every state, gives every
mutating state a dry_run result, and names nothing of Message Center."""
import glob
import os
import re
import subprocess
import sys

import yaml  # Debian's python3-yaml

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
LIB = os.path.join(SRC, "playbooks", "lib")
problems = []

# The values a caller gives each part (every required param), as --set.
MONGO = ["uri=mongodb://validate.invalid/mc", "db=mc"]
SCHEMA = ["expected_schema=12"]
VALUES = {
    "mongo-backup": MONGO + ["archive=/backups/pre-upgrade-1.archive.gz"],
    "mongo-restore": MONGO + ["archive=/backups/pre-upgrade-1.archive.gz", "expected_schema=11"],
    "k8s-migrate-roll": MONGO + SCHEMA + ["deployment=core-admin", "container=core-admin",
                                          "image=registry.example/core-admin:v2.5.0",
                                          "migrate_args=[yarn, migrate]", "check_args=[node, -e, x]"],
    "k8s-undo": ["deployment=core-admin", "resume=true", "undo=true"],
    "compose-upgrade": MONGO + SCHEMA + ["image=registry.example/core-admin:v2.5.0", "migrate_command=[yarn, migrate]",
                                         "env_file=.env", "compose_env={IMAGE_TAG: v2.5.0}"],
    "compose-rollback": ["compose_env={IMAGE_TAG: v2.4.0}"],
    "post-checks": MONGO + SCHEMA + ["platform=kubernetes", "base_url=http://127.0.0.1:1", "health_path=/api/diagnostics",
                                     "health_field=coreApi", "backlog_path=/api/diagnostics/auditfallback",
                                     "backlog_field=fileSize", "log_patterns=[MongoServerError]",
                                     "image=registry.example/core-admin:v2.5.0", "migrate_args=[yarn, migrate]",
                                     "app_selector=app=core-admin"],
}

parts = sorted(glob.glob(os.path.join(LIB, "*.yaml")))
names = {os.path.basename(p)[:-5] for p in parts}
if names != set(VALUES):
    problems.append(f"playbooks/lib holds {sorted(names)}, this test knows {sorted(VALUES)}")

# Each part validates strictly, alone, with only its own params.
env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "MONGODB_DB")}
for p in parts:
    name = os.path.basename(p)[:-5]
    args = [BIN, "validate", "--strict", p]
    for s in VALUES.get(name, []):
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        problems.append(f"validate --strict {name}: exit {r.returncode}\n{r.stdout}{r.stderr}")

# ... and without any value (structure only, as CI lints it).
for p in parts:
    r = subprocess.run([BIN, "validate", "--strict", p], capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0 or "not checked without values" not in r.stdout:
        problems.append(f"validate --strict {os.path.basename(p)} without values: exit {r.returncode}\n{r.stdout}{r.stderr}")

# The scenarios: all pass, and every part is covered whole.
scenarios = sorted(glob.glob(os.path.join(LIB, "tests", "*.yaml")))
r = subprocess.run([BIN, "test", "--coverage"] + scenarios, capture_output=True, text=True, timeout=600)
lines = r.stdout.splitlines()
if r.returncode != 0:
    problems.append(f"lockstep test exit {r.returncode}:\n" + "\n".join(l for l in lines if not l.startswith("PASS")) + r.stderr)
if not lines or lines[-1] != f"{len(scenarios)} passed, 0 failed":
    problems.append(f"last line {lines[-1] if lines else '(none)'!r}")
covered = {}
current = None
for l in lines:
    m = re.fullmatch(r"coverage of (\S+) \((.*)\):", l)
    if m:
        current = m.group(1)
        continue
    m = re.fullmatch(r"transitions covered: (\d+)/(\d+)", l)
    if m and current:
        covered[current] = (int(m.group(1)), int(m.group(2)))
        current = None
    elif current and l.startswith("  NOT covered"):
        problems.append(f"{current}: {l.strip()}")
for name in sorted(names):
    k, n = covered.get(name, (0, 0))
    print(f"{name}: transitions covered {k}/{n}")
    if n == 0 or k != n:
        problems.append(f"{name}: coverage {k}/{n}, not every transition")

# The shape of each part.
MUTATING = {"mongo.dump", "mongo.restore", "kubectl.set_image", "kubectl.run", "docker.pull", "docker.run"}
for p in parts:
    name = os.path.basename(p)[:-5]
    text = open(p, encoding="utf-8").read()
    doc = yaml.safe_load(text)
    if doc.get("name") != name:
        problems.append(f"{name}: its name is {doc.get('name')!r}, not the file's")
    # params instead of Message Center specifics (an example in a param's
    # description may name it)
    for n, st in doc["states"].items():
        if re.search(r"core-admin|message.center|campaign|diagnostics|auditfallback", str(st), re.I):
            problems.append(f"{name}: state {n} names something of Message Center")
        if not st.get("description"):
            problems.append(f"{name}: state {n} has no description")
        a = st.get("action")
        mut = st.get("mutates", a in MUTATING or (a == "kubectl.rollout" and st["with"]["verb"] != "status")
                     or a == "docker.compose")
        if mut and "dry_run" not in st:
            problems.append(f"{name}: mutating state {n} has no dry_run result")
    terms = {n: st["terminal"] for n, st in doc["states"].items() if "terminal" in st}
    if "success" not in terms.values() or "failure" not in terms.values():
        problems.append(f"{name}: needs a success and a failure terminal, has {terms}")
    if re.search(r"\.\./message-center", text):
        problems.append(f"{name}: refers to the Message Center playbook")

# The critical rule inside each upgrade part: without the schema checks'
# success edges, nothing restarts.
def edges(doc, name, success=True):
    st = doc["states"][name]
    out = []
    nxt = st.get("next")
    if isinstance(nxt, str) and success:
        out.append(nxt)
    elif isinstance(nxt, list) and success:
        out += [b["goto"] for b in nxt]
    if st.get("terminal") is None and (st.get("action") or st.get("expect") or st.get("playbook")):
        out.append(st.get("on_failure", doc.get("defaults", {}).get("on_failure")))
    if st.get("on_timeout"):
        out.append(st["on_timeout"])
    return out


def reachable(doc, cut):
    seen, todo = set(), [doc["start"]]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += edges(doc, n, success=n not in cut)
    return seen


for part, gates, checks in (("k8s-migrate-roll", ("set_image", "resume", "rollout_status"), ("check_version", "verify_schema")),
                            ("compose-upgrade", ("up",), ("verify_schema",))):
    doc = yaml.safe_load(open(os.path.join(LIB, part + ".yaml"), encoding="utf-8"))
    if not set(gates) <= reachable(doc, set()):
        problems.append(f"{part}: {gates} not all reachable")
    for chk in checks:
        for gate in sorted(set(gates) & reachable(doc, {chk})):
            problems.append(f"{part}: {gate} is reachable without passing {chk}")

for msg in problems:
    print("FAIL " + msg)
sys.exit(1 if problems else 0)
