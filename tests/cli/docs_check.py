#!/usr/bin/python3
"""docs/actions.md is `lockstep actions --format markdown`: fails when it is
stale (regenerate: lockstep actions --format markdown > docs/actions.md)."""
import os
import subprocess
import sys

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]

gen = subprocess.run([BIN, "actions", "--format", "markdown"], capture_output=True, check=True).stdout
path = os.path.join(SRC, "docs", "actions.md")
try:
    have = open(path, "rb").read()
except OSError as e:
    print("FAIL cannot read docs/actions.md: %s" % e)
    sys.exit(1)
if have != gen:
    a, b = have.decode().splitlines(), gen.decode().splitlines()
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    print("FAIL docs/actions.md is stale (first difference at line %d):\n  file:      %r\n  generated: %r\n"
          "regenerate: lockstep actions --format markdown > docs/actions.md"
          % (first + 1, a[first] if first < len(a) else None, b[first] if first < len(b) else None))
    sys.exit(1)
print("docs/actions.md is current")
