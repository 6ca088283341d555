#!/usr/bin/python3
"""schemas/playbook.schema.json agrees with the registry (action names and
family inputs), accepts every valid playbook and rejects typos."""
import glob
import json
import os
import subprocess
import sys

import yaml

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]
failures = []

schema = json.load(open(os.path.join(SRC, "schemas", "playbook.schema.json")))
acts = json.loads(subprocess.run([BIN, "actions", "--format", "json"], capture_output=True, check=True).stdout)
names = sorted(a["name"] for a in acts)
enum = sorted(schema["$defs"]["state"]["properties"]["action"]["enum"])
if names != enum:
    failures.append("action enum differs from the registry: only in registry %s, only in schema %s"
                    % (sorted(set(names) - set(enum)), sorted(set(enum) - set(names))))
fam = {}
for a in acts:
    for i in a["inputs"]:
        if i["family"]:
            fam.setdefault(i["family"], set()).add(i["name"])
sfam = {k: set(v["properties"]) for k, v in schema["$defs"]["defaults"]["properties"]["with"]["properties"].items()}
if fam != sfam:
    failures.append("defaults.with families differ: registry %s, schema %s" % (fam, sfam))

try:
    import jsonschema
except ImportError:
    print("SKIP jsonschema is not installed (apt-get install python3-jsonschema)")
    sys.exit(77 if not failures else 1)

validator = jsonschema.Draft202012Validator(schema)
valid = glob.glob(os.path.join(SRC, "tests", "load", "valid", "*.yaml")) + \
    glob.glob(os.path.join(SRC, "playbooks", "*", "*.yaml"))
for path in valid:
    doc = yaml.safe_load(open(path))
    errs = sorted(validator.iter_errors(doc), key=str)
    if errs:
        failures.append("%s does not match the schema: %s" % (path, errs[0].message))
for name in ("unknown_top_key", "unknown_state_key", "version_wrong", "unknown_action", "terminal_errors",
             "retry_errors", "branch_errors"):
    doc = yaml.safe_load(open(os.path.join(SRC, "tests", "load", "invalid", name + ".yaml")))
    if validator.is_valid(doc):
        failures.append("invalid/%s.yaml matches the schema" % name)
for f in failures:
    print("FAIL " + f)
print("schema: %d failed" % len(failures))
sys.exit(1 if failures else 0)
