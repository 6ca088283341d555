#!/usr/bin/python3
"""`lockstep validate PLAYBOOK` without --env, --values or --set checks the
playbook alone: the shipped upgrade validates (exit 0) and a note names the
required params it did not check, in text and in JSON; a structural error is
still an error (exit 2); with any values given the params are checked as
before (a missing required param is an error); templated timeout/retry
scalars are checked only when values are given."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([BIN, "validate"] + list(args), capture_output=True, timeout=60)


UPGRADE = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
REQUIRED = ["new_tag", "mongodb_uri", "registry"]  # some of them, by name

# The shipped upgrade, no values: valid, with the note on stdout.
p = run(UPGRADE)
out = p.stdout.decode()
note = [l for l in out.splitlines() if l.startswith("not checked without values: required params ")]
check(p.returncode == 0 and p.stderr == b"", "upgrade without values: %d %r" % (p.returncode, p.stderr[:300]))
check(len(note) == 1 and note[0].endswith(" (give --env/--values/--set to check them)"), "note: %r" % out)
names = note[0][len("not checked without values: required params "):].split(" (")[0].split(", ") if note else []
check(all(n in names for n in REQUIRED), "note names %r" % names)

# The same in JSON.
p = run(UPGRADE, "--output", "json")
doc = json.loads(p.stdout) if p.returncode == 0 else {}
check(doc.get("valid") is True and doc.get("values_checked") is False and doc.get("unchecked_params") == names,
      "upgrade json: %r" % p.stdout[:400])

# With values, the params are checked: one --set leaves other required params missing.
p = run(UPGRADE, "--set", "new_tag=1.2.3")
err = p.stderr.decode()
check(p.returncode == 2 and "param 'mongodb_uri' is required and has no value" in err,
      "upgrade --set: %d %r" % (p.returncode, err[:400]))
check(b"not checked without values" not in p.stdout, "note with values: %r" % p.stdout)
p = run(UPGRADE, "--set", "new_tag=1.2.3", "--output", "json")
doc = json.loads(p.stdout)
check(p.returncode == 2 and doc["values_checked"] is True and doc["unchecked_params"] == [] and
      any("mongodb_uri" in d["message"] for d in doc["diagnostics"]), "upgrade --set json: %r" % doc)

with tempfile.TemporaryDirectory() as tmp:
    # A structural error without values: still reported, exit 2, with its place.
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("lockstep: 1\nname: bad\nparams:\n  tag: {type: string, required: true}\n"
                "start: s\nstates:\n  s: {action: noop, next: nowhere}\n  ok: {terminal: success}\n")
    p = run(bad)
    err = p.stderr.decode()
    check(p.returncode == 2 and "bad.yaml:7:" in err and "nowhere" in err, "structural error: %d %r" % (p.returncode, err))
    check("tag" not in err, "structural error reports the param: %r" % err)
    p = run(bad, "--output", "json")
    doc = json.loads(p.stdout)
    check(p.returncode == 2 and not doc["valid"] and doc["errors"] >= 1 and doc["unchecked_params"] == [],
          "structural error json: %r" % doc)

    # No required params: no note.
    plain = os.path.join(tmp, "plain.yaml")
    with open(plain, "w") as f:
        f.write("lockstep: 1\nname: plain\nparams:\n  n: {type: int, default: 0}\n"
                "start: s\nstates:\n  s:\n    action: noop\n    timeout: \"${{ params.n }}s\"\n    next: ok\n"
                "  ok: {terminal: success}\n")
    p = run(plain)
    check(p.returncode == 0 and p.stdout.decode().splitlines() == [plain + ": ok (2 states, 1 params, 0 guards)"],
          "plain: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    # The templated timeout is checked once values are given: 0s is not a timeout.
    p = run(plain, "--set", "n=0")
    check(p.returncode == 2 and b"plain.yaml:9:14: error: timeout is '0s' here" in p.stderr,
          "templated with values: %d %r" % (p.returncode, p.stderr))
    p = run(plain, "--set", "n=5")
    check(p.returncode == 0, "templated n=5: %d %r" % (p.returncode, p.stderr))

    # A for_each over params is checked for a list only with values.
    each = os.path.join(tmp, "each.yaml")
    with open(each, "w") as f:
        f.write("lockstep: 1\nname: each\nparams:\n  dbs: {type: string, default: orders}\n"
                "start: s\nstates:\n  s: {action: noop, for_each: params.dbs, next: ok}\n"
                "  ok: {terminal: success}\n")
    p = run(each)
    check(p.returncode == 0, "for_each without values: %d %r" % (p.returncode, p.stderr))
    p = run(each, "--set", "dbs=users")
    check(p.returncode == 2 and b"each.yaml:7:31: error: for_each must give a list, not string: params.dbs" in p.stderr,
          "for_each with values: %d %r" % (p.returncode, p.stderr))

for f in failures:
    print("FAIL " + f)
print("validate without values: %d failed" % len(failures))
sys.exit(1 if failures else 0)
