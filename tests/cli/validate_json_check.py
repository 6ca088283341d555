#!/usr/bin/python3
"""`lockstep validate --output json`: for every case of tests/load the JSON
diagnostics are exactly the text ones (file, line, column, severity,
message), with the same exit code; suggestions are extracted; secrets stay
out; --strict turns warnings into errors."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []
LINE = re.compile(r"^(?:(.+?):(\d+):(\d+)|(.+?)|lockstep): (error|warning): (.*)$")


def check(cond, what):
    if not cond:
        failures.append(what)


def run(*args, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=60, env=env)


def text_diags(stderr):
    out = []
    for line in stderr.decode().splitlines():
        m = LINE.match(line)
        if not m or line.startswith(" "):
            continue
        f = m.group(1) or m.group(4)
        out.append((None if f == "lockstep" else f, int(m.group(2)) if m.group(2) else None,
                    int(m.group(3)) if m.group(3) else None, m.group(5), m.group(6)))
    return out


def json_validate(*args, env=None):
    p = run("validate", *args, "--output", "json", env=env)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        failures.append("validate %s --output json: not JSON: %r %r" % (args, p.stdout[:200], p.stderr[:200]))
        return p, None
    check(p.stderr == b"", "validate %s --output json wrote to stderr: %r" % (args, p.stderr[:200]))
    check(p.stdout.count(b"\n") == 1, "validate %s --output json: not one line" % (args,))
    return p, doc


cases = sorted(glob.glob(os.path.join(SRC, "tests", "load", "invalid", "*.yaml")) +
               glob.glob(os.path.join(SRC, "tests", "load", "valid", "*.yaml")))
check(len(cases) > 40, "only %d load cases" % len(cases))
for path in cases:
    for extra in ([], ["--strict"]):
        t = run("validate", path, *extra)
        p, doc = json_validate(path, *extra)
        if doc is None:
            continue
        check(p.returncode == t.returncode, "%s %s: exit %d, text %d" % (path, extra, p.returncode, t.returncode))
        check(doc["valid"] == (p.returncode == 0) and doc["path"] == path, "%s: valid/path %r" % (path, doc))
        # The terminal shows a control character as '?'; JSON escapes it.
        got = [(d["file"], d["line"], d["column"], d["severity"], re.sub(r"[\x00-\x1f\x7f]", "?", d["message"]))
               for d in doc["diagnostics"]]
        check(got == text_diags(t.stderr), "%s %s: json %r\n  text %r" % (path, extra, got, text_diags(t.stderr)))
        check(doc["errors"] == sum(1 for d in got if d[3] == "error") and
              doc["warnings"] == sum(1 for d in got if d[3] == "warning"), "%s: counts %r" % (path, doc))
        for d in doc["diagnostics"]:
            check(set(d) <= {"file", "line", "column", "severity", "message", "suggestion"}, "keys %r" % d)

# Suggestions: from "did you mean", and the nearest allowed key or input.
for name, want in [("unknown_state_key", ["next"]), ("unknown_action", ["manual.confirm"]),
                   ("unknown_input", ["argv"]), ("undeclared_target", ["rollback", "done"])]:
    _, doc = json_validate(os.path.join(SRC, "tests", "load", "invalid", name + ".yaml"))
    got = [d["suggestion"] for d in (doc or {"diagnostics": []})["diagnostics"] if "suggestion" in d]
    check(got == want, "%s: suggestions %r, want %r" % (name, got, want))

# Warnings under --strict are errors; without it the playbook is valid.
untyped = os.path.join(SRC, "tests", "load", "invalid", "param_untyped_default.yaml")
p, doc = json_validate(untyped)
check(p.returncode == 0 and doc and doc["valid"] and doc["warnings"] == 3, "untyped defaults: %r" % doc)
p, doc = json_validate(untyped, "--strict")
check(p.returncode == 2 and doc and not doc["valid"] and doc["errors"] == 3 and
      all(d["severity"] == "error" for d in doc["diagnostics"]), "untyped defaults --strict: %r" % doc)

# A secret's value never appears, and a placeless problem has null place.
with tempfile.TemporaryDirectory() as tmp:
    pb = os.path.join(tmp, "secret.yaml")
    with open(pb, "w") as f:
        f.write("lockstep: 1\nname: secret\nparams:\n  token: {secret: true, pattern: '^tok_[a-z]+$'}\n"
                "start: s\nstates:\n  s: {action: noop, next: ok}\n  ok: {terminal: success}\n")
    p, doc = json_validate(pb, "--set", "token=HUNTER2HUNTER2", "--set", "tokne=x")
    check(p.returncode == 2 and b"HUNTER2" not in p.stdout, "secret in validate json: %r" % p.stdout)
    msgs = (doc or {}).get("diagnostics", [])
    check(any(d["file"] is None and d["line"] is None and d.get("suggestion") == "token" for d in msgs),
          "placeless --set problem with suggestion missing: %r" % msgs)

for args, want in [(["--output", "yaml"], b"--output is text or json"), (["--output"], b"--output is text or json")]:
    p = run("validate", os.path.join(SRC, "playbooks", "examples", "hello.yaml"), *args)
    check(p.returncode == 2 and want in p.stderr, "validate %s: %d %r" % (args, p.returncode, p.stderr))

for f in failures:
    print("FAIL " + f)
print("validate --output json: %d failed" % len(failures))
sys.exit(1 if failures else 0)
