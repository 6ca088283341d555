#!/usr/bin/python3
"""The docs stand alone: README.md, docs/*.md, the schemas' descriptions and
every command's --help never name a file outside the repository (no
../shared/SPEC.md), every Markdown link points at a file of the repository
that exists (and at a heading that exists, for #anchors), and every
repository path the docs name in backticks exists."""
import glob
import os
import re
import subprocess
import sys

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.path.realpath(os.environ["LOCKSTEP_SRC"])
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []
TOP = set(os.listdir(SRC)) | {"bin", "lib", "share"}  # the repository, and an install's layout
OUTSIDE = [(re.compile(r"\bSPEC\b"), "names the contract file SPEC"),
           (re.compile(r"\bshared/"), "names a shared/ directory")]


def slug(heading):
    """GitHub's anchor for a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out = set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def check_text(name, text):
    for rx, why in OUTSIDE:
        for m in rx.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            failures.append("%s:%d: %s: %r" % (name, line, why, text.splitlines()[line - 1][:120]))
    for m in re.finditer(r"(?:\.\./)+([A-Za-z0-9_.-]+)", text):
        if m.group(1) not in TOP:
            line = text.count("\n", 0, m.start()) + 1
            failures.append("%s:%d: names %r, outside the repository" % (name, line, m.group(0)))


docs = [os.path.join(SRC, "README.md")] + sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
for doc in docs:
    rel = os.path.relpath(doc, SRC)
    text = open(doc, encoding="utf-8").read()
    check_text(rel, text)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in re.finditer(r"\]\(([^)\s]+)\)", prose):
        target = m.group(1)
        line = text.count("\n", 0, text.find(m.group(0))) + 1
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.realpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not (full == SRC or full.startswith(SRC + os.sep)):
            failures.append("%s:%d: link %s leaves the repository" % (rel, line, target))
        elif not os.path.exists(full):
            failures.append("%s:%d: link %s: no such file" % (rel, line, target))
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            failures.append("%s:%d: link %s: no heading with that anchor in %s" % (rel, line, target,
                                                                                  os.path.relpath(full, SRC)))
    # Repository paths in backticks: `docs/runs.md`, `tools/sim/start`.
    for m in re.finditer(r"`((?:docs|tools|schemas|playbooks|tests|engine|include)/[A-Za-z0-9_./-]*[A-Za-z0-9_])`",
                         text):
        p = m.group(1)
        if "*" in p or "NAME" in p:
            continue
        if not os.path.exists(os.path.join(SRC, p)):
            line = text.count("\n", 0, m.start()) + 1
            failures.append("%s:%d: names %s, which does not exist" % (rel, line, p))

for schema in sorted(glob.glob(os.path.join(SRC, "schemas", "*.json"))):
    check_text(os.path.relpath(schema, SRC), open(schema, encoding="utf-8").read())

top = subprocess.run([BIN, "--help"], capture_output=True, timeout=60).stdout.decode()
check_text("lockstep --help", top)
cmds = [ln.split()[0] for ln in top.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines() if ln.strip()]
for cmd in cmds:
    check_text("lockstep %s --help" % cmd,
               subprocess.run([BIN, cmd, "--help"], capture_output=True, timeout=60).stdout.decode())

for f in failures:
    print("FAIL " + f)
print("docs: %d files, %d failed" % (len(docs), len(failures)))
sys.exit(1 if failures else 0)
