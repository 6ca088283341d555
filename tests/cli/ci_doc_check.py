#!/usr/bin/python3
"""docs/ci.md is tested: its CI job's steps (every `run:` after the install
step) run here, in order, in one bash -eo pipefail, and must succeed and
leave what they promise; its Kubernetes Job's command is a valid `lockstep
run` of the shipped playbook with the environment the manifest gives it."""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

BIN = os.path.realpath(os.environ.get("LOCKSTEP_BIN", "lockstep"))
SRC = os.path.realpath(os.environ["LOCKSTEP_SRC"])
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def block(text, marker):
    for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
        if m.group(1).startswith("# " + marker + ":"):
            return m.group(1)
    failures.append("docs/ci.md has no yaml block starting with '# %s:'" % marker)
    return None


doc = open(os.path.join(SRC, "docs", "ci.md"), encoding="utf-8").read()

# ---- the CI job ----
ci = block(doc, "ci-job")
if ci:
    wf = yaml.safe_load(ci)
    job = next(iter(wf["jobs"].values()))
    steps = job["steps"]
    start = next((i for i, s in enumerate(steps) if s.get("id") == "install"), None)
    check(start is not None, "the CI job has no step with id: install")
    runs = [s["run"] for s in steps[(start or 0) + 1:] if "run" in s]
    script = "\n".join(runs)
    for want in ("lockstep validate", "lockstep test --coverage", "--dry-run"):
        check(want in script, "the CI job does not run %r" % want)
    check(job.get("defaults", {}).get("run", {}).get("shell") == "bash", "the CI job's steps do not run in bash")
    with tempfile.TemporaryDirectory() as work:
        for d in ("playbooks", "tools"):  # what a checkout has; outputs land in `work`
            os.symlink(os.path.join(SRC, d), os.path.join(work, d))
        env = dict(os.environ, **{k: str(v) for k, v in job.get("env", {}).items()})
        env["PATH"] = os.path.dirname(BIN) + os.pathsep + env["PATH"]
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=work, env=env,
                           capture_output=True, timeout=900)
        check(p.returncode == 0, "the CI job's steps failed (exit %d):\n%s\n%s" % (
            p.returncode, p.stdout.decode()[-3000:], p.stderr.decode()[-3000:]))
        if p.returncode == 0:
            v = json.load(open(os.path.join(work, "validate.json")))
            check(v["valid"] is True and v["diagnostics"] == [], "validate.json: %r" % v)
            cov = open(os.path.join(work, "coverage.txt")).read()
            check(re.search(r"^\d+ passed, 0 failed$", cov, re.M), "coverage.txt: %r" % cov[-300:])
            lines = [json.loads(x) for x in open(os.path.join(work, "dry-run.jsonl"))]
            check(lines and lines[0]["event"] == "run_started" and lines[0]["dry_run"] is True and
                  lines[-1]["event"] == "run_finished" and lines[-1]["outcome"] == "success",
                  "dry-run.jsonl: %r ... %r" % (lines[:1], lines[-1:]))
            check(any(x.get("status") == "simulated" for x in lines), "the dry run simulated nothing")
            check(os.path.isdir(os.path.join(work, job["env"]["LOCKSTEP_STATE_DIR"], "runs")),
                  "the run was not kept in LOCKSTEP_STATE_DIR")

# ---- the Kubernetes Job ----
k8s = block(doc, "k8s-job")
if k8s:
    docs = [d for d in yaml.safe_load_all(k8s) if d]
    kinds = {d["kind"]: d for d in docs}
    check({"ServiceAccount", "Role", "RoleBinding", "Job", "PersistentVolumeClaim"} <= set(kinds), "kinds %r" % kinds)
    job = kinds.get("Job", {})
    check(job.get("apiVersion") == "batch/v1", "Job apiVersion %r" % job.get("apiVersion"))
    spec = job.get("spec", {})
    check(spec.get("backoffLimit") == 0, "the Job may re-run the upgrade (backoffLimit %r)" % spec.get("backoffLimit"))
    pod = spec.get("template", {}).get("spec", {})
    check(pod.get("restartPolicy") == "Never", "restartPolicy %r" % pod.get("restartPolicy"))
    check(pod.get("serviceAccountName") == kinds.get("ServiceAccount", {}).get("metadata", {}).get("name"),
          "the Job does not use the manifest's service account")
    c = pod["containers"][0]
    check(c["command"] == ["lockstep"] and c["args"][0] == "run", "command %r %r" % (c["command"], c["args"][:1]))
    args = [str(a) for a in c["args"][1:]]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    playbook = args[0]
    pdir = os.path.dirname(playbook)
    check(pdir in mounts and "configMap" in vols[mounts[pdir]], "the playbook %s is not mounted from a ConfigMap" % playbook)
    if pdir in mounts:
        items = {i["path"] for i in vols[mounts[pdir]]["configMap"].get("items", [])}
        env_name = args[args.index("--env") + 1] if "--env" in args else None
        check(os.path.basename(playbook) in items, "the ConfigMap does not hold %s" % playbook)
        check(env_name is None or "environments/%s.yaml" % env_name in items,
              "the ConfigMap does not hold environments/%s.yaml" % env_name)
    # the parts the playbook runs (playbook: ../lib/NAME.yaml) are mounted
    # where that path leads from the mounted playbook
    shipped = yaml.safe_load(open(os.path.join(SRC, "playbooks", "message-center", os.path.basename(playbook)),
                                  encoding="utf-8"))
    for st in shipped["states"].values():
        if "playbook" not in st:
            continue
        part = os.path.normpath(os.path.join(pdir, st["playbook"]))
        pmount = os.path.dirname(part)
        ok = pmount in mounts and "configMap" in vols[mounts[pmount]]
        check(ok, "the part %s is not mounted from a ConfigMap" % part)
        if ok:
            cm = vols[mounts[pmount]]["configMap"]
            items = {i["path"] for i in cm.get("items", [])}
            check(not cm.get("items") or os.path.basename(part) in items, "the ConfigMap does not hold %s" % part)
            made = re.search(r"create configmap %s[^\n]*\\\n\s*--from-file=(\S+)" % re.escape(cm["name"]), doc)
            check(made is not None and os.path.isfile(os.path.join(SRC, made.group(1), os.path.basename(part))),
                  "the ConfigMap %s is not made from a directory holding %s" % (cm["name"], os.path.basename(part)))
    sd = args[args.index("--state-dir") + 1] if "--state-dir" in args else None
    check(sd in mounts and "persistentVolumeClaim" in vols[mounts[sd]], "the journal (--state-dir) is not on a volume")
    run_help = subprocess.run([BIN, "run", "--help"], capture_output=True, timeout=60).stdout.decode()
    for a in args:
        if a.startswith("--"):
            check(re.search(r"^ +%s\b" % re.escape(a.split("=")[0]), run_help, re.M), "lockstep run has no %s" % a)
    # validate takes the Job's arguments but the run-only ones.
    vargs, i = [], 1
    local = os.path.join(SRC, "playbooks", "message-center", os.path.basename(playbook))
    while i < len(args):
        if args[i] in ("--yes", "--dry-run", "--quiet"):
            i += 1
        elif args[i] in ("--state-dir", "--approve", "--output"):
            i += 2
        else:
            vargs.append(args[i])
            i += 1
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "MONGODB_DB", "CORE_API")}
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", "placeholder://from-a-secret")
    p = subprocess.run([BIN, "validate", local] + vargs + ["--strict"], capture_output=True, timeout=60, env=env)
    check(p.returncode == 0, "the Job's command does not validate: lockstep validate %s %s --strict: %s"
          % (local, " ".join(vargs), p.stderr.decode()[-2000:]))

for f in failures:
    print("FAIL " + f)
print("docs/ci.md: %d failed" % len(failures))
sys.exit(1 if failures else 0)
