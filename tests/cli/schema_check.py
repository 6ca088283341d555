#!/usr/bin/python3
"""schemas/playbook.schema.json is `lockstep actions --format schema`
(regenerate: lockstep actions --format schema > schemas/playbook.schema.json):
it agrees with the registry, describes every key, gives each action's `with`
its own inputs, accepts every valid and shipped playbook and rejects typos;
the enums it lists are the values validate accepts; shipped playbooks and
environment files carry a yaml-language-server modeline."""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

import yaml

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


path = os.path.join(SRC, "schemas", "playbook.schema.json")
gen = subprocess.run([BIN, "actions", "--format", "schema"], capture_output=True, timeout=60)
check(gen.returncode == 0 and gen.stderr == b"", "actions --format schema: exit %d %r" % (gen.returncode, gen.stderr))
have = open(path, "rb").read()
if have != gen.stdout:
    a, b = have.decode().splitlines(), gen.stdout.decode().splitlines()
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    failures.append("schemas/playbook.schema.json is stale (first difference at line %d: file %r, generated %r); "
                    "regenerate: lockstep actions --format schema > schemas/playbook.schema.json"
                    % (first + 1, a[first] if first < len(a) else None, b[first] if first < len(b) else None))
schema = json.loads(gen.stdout)
values_schema = json.load(open(os.path.join(SRC, "schemas", "values.schema.json")))

acts = json.loads(subprocess.run([BIN, "actions", "--format", "json"], capture_output=True, check=True).stdout)
names = sorted(a["name"] for a in acts)
enum = sorted(schema["$defs"]["state"]["properties"]["action"]["enum"])
check(names == enum, "action enum differs from the registry: only in registry %s, only in schema %s"
      % (sorted(set(names) - set(enum)), sorted(set(enum) - set(names))))
fam = {}
for a in acts:
    for i in a["inputs"]:
        if i["family"]:
            fam.setdefault(i["family"], set()).add(i["name"])
sfam = {k: set(v["properties"]) for k, v in schema["$defs"]["defaults"]["properties"]["with"]["properties"].items()}
check(fam == sfam, "defaults.with families differ: registry %s, schema %s" % (fam, sfam))

# Each action's `with`: exactly its inputs (own and family), its required ones.
for a in acts:
    w = schema["$defs"].get("with." + a["name"])
    if w is None:
        failures.append("no $defs/with.%s" % a["name"])
        continue
    check(set(w["properties"]) == {i["name"] for i in a["inputs"]},
          "with.%s inputs %s, registry %s" % (a["name"], sorted(w["properties"]), sorted(i["name"] for i in a["inputs"])))
    check(sorted(w.get("required", [])) == sorted(i["name"] for i in a["inputs"] if i["required"]),
          "with.%s required %s" % (a["name"], w.get("required")))
    check(w.get("additionalProperties") is False, "with.%s accepts unknown keys" % a["name"])


# Descriptions on every key: every member of every `properties`.
def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.get("properties", {}).items():
            check(isinstance(v, dict) and v.get("description"), "%s.properties.%s has no description" % (where, k))
        for k, v in node.items():
            if k != "allOf":  # the per-action dispatch: conditions, not keys
                walk(v, where + "." + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, "%s[%d]" % (where, i))


walk(schema, "playbook")
walk(values_schema, "values")

try:
    import jsonschema
except ImportError:
    print("SKIP jsonschema is not installed (apt-get install python3-jsonschema)")
    for f in failures:
        print("FAIL " + f)
    sys.exit(77 if not failures else 1)

# values.schema.json refers to playbook.schema.json by its $id.
store = {schema["$id"]: schema, values_schema["$id"]: values_schema}
validator = jsonschema.Draft202012Validator(schema)
values_validator = jsonschema.Draft202012Validator(
    values_schema, resolver=jsonschema.RefResolver.from_schema(values_schema, store=store))

shipped = sorted(p for p in glob.glob(os.path.join(SRC, "playbooks", "*", "*.yaml"))
                 if "lockstep" in (yaml.safe_load(open(p)) or {}))
check(len(shipped) >= 2, "found only %d shipped playbooks" % len(shipped))
for p in glob.glob(os.path.join(SRC, "tests", "load", "valid", "*.yaml")) + shipped:
    doc = yaml.safe_load(open(p))
    errs = sorted(validator.iter_errors(doc), key=str)
    check(not errs, "%s does not match the schema: %s" % (p, errs and errs[0].message))
envs = sorted(glob.glob(os.path.join(SRC, "playbooks", "*", "environments", "*.yaml")))
for p in envs:
    errs = list(values_validator.iter_errors(yaml.safe_load(open(p))))
    check(not errs, "%s does not match values.schema.json: %s" % (p, errs and errs[0].message))

# Modelines: the first line points at the schema, relative to the file.
for p, want in [(p, "playbook.schema.json") for p in shipped] + [(p, "values.schema.json") for p in envs]:
    first = open(p).readline().strip()
    prefix = "# yaml-language-server: $schema="
    if not first.startswith(prefix):
        failures.append("%s: first line is not a yaml-language-server modeline: %r" % (p, first))
        continue
    target = os.path.normpath(os.path.join(os.path.dirname(p), first[len(prefix):]))
    check(target == os.path.normpath(os.path.join(SRC, "schemas", want)), "%s: modeline points at %s" % (p, target))

for name in ("unknown_top_key", "unknown_state_key", "version_wrong", "unknown_action", "terminal_errors",
             "retry_errors", "branch_errors"):
    doc = yaml.safe_load(open(os.path.join(SRC, "tests", "load", "invalid", name + ".yaml")))
    check(not validator.is_valid(doc), "invalid/%s.yaml matches the schema" % name)

# Inside `with`: a misspelled input, a missing required one, a value of the
# wrong type and one outside an enum are rejected; templates are accepted.
upgrade = yaml.safe_load(open(os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")))
hello = yaml.safe_load(open(os.path.join(SRC, "playbooks", "examples", "hello.yaml")))
kstate = next(n for n, s in upgrade["states"].items() if s.get("action") == "kubectl.rollout" and "verb" in s.get("with", {}))
estate = next(n for n, s in hello["states"].items() if s.get("action") == "exec")


def variant(change):
    doc = copy.deepcopy(upgrade)
    doc["states"].update(copy.deepcopy(hello["states"]))  # exec's state among upgrade's
    change(doc["states"])
    return doc


cases = [
    ("unchanged", True, lambda s: None),
    ("misspelled input", False, lambda s: s[kstate]["with"].update({"deploymnet": "x"})),
    ("misspelled input in exec", False, lambda s: s[estate]["with"].update({"argvs": ["true"]})),
    ("missing required input", False, lambda s: s[estate]["with"].pop("argv")),
    ("missing with of an action with required inputs", False, lambda s: s[estate].pop("with")),
    ("verb outside the enum", False, lambda s: s[kstate]["with"].update({"verb": "restrat"})),
    ("argv not a list", False, lambda s: s[estate]["with"].update({"argv": 5})),
    ("verb as a template", True, lambda s: s[kstate]["with"].update({"verb": "${{ params.verb }}"})),
    ("argv as a template", True, lambda s: s[estate]["with"].update({"argv": "${{ params.argv }}"})),
    ("family input in a state", True, lambda s: s[kstate]["with"].update({"namespace": "x"})),
]
for what, ok, change in cases:
    check(validator.is_valid(variant(change)) == ok, "%s: schema %s it" % (what, "rejects" if ok else "accepts"))

# The enums are the engine's: validate accepts every listed value and
# rejects one outside the list.
SAMPLE = {"string": "x", "list": ["x"], "map": {}, "int": 1, "bool": True, "duration": "1s", "any": "x",
          "string|list": "x"}
with tempfile.TemporaryDirectory() as tmp:
    for a in acts:
        props = schema["$defs"]["with." + a["name"]]["properties"]
        for inp, s in props.items():
            values = next((alt["enum"] for alt in s.get("anyOf", []) if "enum" in alt), s.get("enum"))
            if not values:
                continue
            base = {i["name"]: SAMPLE[i["type"]] for i in a["inputs"] if i["required"]}
            if a["name"] == "http.request":
                base["url"] = "http://127.0.0.1:9/"
            for v, want in [(x, 0) for x in values] + [("not-" + str(values[0]).lower(), 2)]:
                pb = {"lockstep": 1, "name": "enum", "start": "s", "defaults": {"on_failure": "bad"},
                      "states": {"s": {"action": a["name"], "with": dict(base, **{inp: v}), "next": "ok"},
                                 "ok": {"terminal": "success"}, "bad": {"terminal": "failure"}}}
                f = os.path.join(tmp, "enum.yaml")
                with open(f, "w") as fh:
                    yaml.safe_dump(pb, fh)
                p = subprocess.run([BIN, "validate", f], capture_output=True, timeout=60)
                check(p.returncode == want, "%s %s=%r: validate exit %d (want %d) %r"
                      % (a["name"], inp, v, p.returncode, want, p.stderr[:300]))
                check(validator.is_valid(pb) == (want == 0), "%s %s=%r: schema disagrees with validate"
                      % (a["name"], inp, v))

for f in failures:
    print("FAIL " + f)
print("schema: %d failed" % len(failures))
sys.exit(1 if failures else 0)
