#!/usr/bin/python3
"""The validate/graph/actions commands: help, usage errors, graph output in
both formats (DOT rendered by Graphviz), and the action library's docs."""
import os
import subprocess
import sys

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
# libmongoc initialises at load time and may warn about its shared-memory
# counters under load: not lockstep output, kept out of the comparisons.
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
SRC = os.environ.get("LOCKSTEP_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def run(*args, stdin=None):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=300, input=stdin)


def check(cond, what):
    if not cond:
        failures.append(what)


def main():
    full = os.path.join(SRC, "tests", "load", "valid", "full.yaml")
    quoting = os.path.join(HERE, "quoting.yaml")
    mc = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")

    for cmd in ("validate", "graph", "actions"):
        p = run(cmd, "--help")
        check(p.returncode == 0 and p.stdout.startswith(b"usage: lockstep " + cmd.encode()),
              "%s --help: exit %d, %r" % (cmd, p.returncode, p.stdout[:80]))
    for args, want in [(["validate"], b"missing PLAYBOOK"), (["validate", full, "--bogus"], b"unknown option '--bogus'"),
                       (["validate", full, "--env"], b"--env needs a value"),
                       (["validate", full, full], b"unexpected argument"),
                       (["graph", full, "--format", "png"], b"--format is dot or mermaid"),
                       (["graph"], b"missing PLAYBOOK"),
                       (["actions", "no.such"], b"unknown action 'no.such'"),
                       (["actions", "--format", "yaml"], b"--format is text, markdown, json or schema")]:
        p = run(*args)
        check(p.returncode == 2 and want in p.stderr, "%s: exit %d, stderr %r" % (args, p.returncode, p.stderr[:200]))

    p = run("validate", full)
    check(p.returncode == 0 and p.stderr == b"" and b"ok (9 states" in p.stdout, "validate full.yaml: %r" % (p.stdout + p.stderr))

    for pb in (full, quoting, mc):
        p = run("graph", pb)
        check(p.returncode == 0, "graph %s: exit %d %r" % (pb, p.returncode, p.stderr[:300]))
        svg = subprocess.run(["dot", "-Tsvg"], input=p.stdout, capture_output=True, timeout=300)
        check(svg.returncode == 0 and b"<svg" in svg.stdout and not svg.stderr,
              "dot -Tsvg of %s: exit %d %r" % (pb, svg.returncode, svg.stderr[:300]))
    dot = run("graph", full).stdout.decode()
    for want in ['"done" [label="done\\n(success)", shape=doublecircle',
                 '"abort" [label="abort\\n(failure)", shape=doubleoctagon',
                 '"route" [label="route", shape=diamond',
                 'subgraph "cluster_0" {\n    label="preflight";',
                 '"route" -> "change" [label="both"];',
                 '"route" -> "compose" [label="params.platform == \'compose\'"];',
                 '"probe" -> "abort" [label="failure", style=dashed, color=red, fontcolor=red];',
                 '"probe" -> "abort" [label="timeout", style=dotted, color=orange, fontcolor=orange];',
                 '"__start" -> "intro";']:
        check(want in dot, "graph dot lacks %r" % want)
    q = run("graph", quoting).stdout.decode()
    check('label="say \\"hi\\" \\\\ <there> | now"' in q, "dot phase label not escaped:\n" + q)
    check('[label="params.s == \\"q\\\\\\\\\\" && params.s != \'#1\'"]' in q, "dot edge label not escaped:\n" + q)

    mm = run("graph", full, "--format", "mermaid")
    m = mm.stdout.decode()
    check(mm.returncode == 0, "graph --format mermaid: exit %d" % mm.returncode)
    for want in ["flowchart TD", 'subgraph phase0["preflight"]', 's6(["done<br/>(success)"]):::success',
                 's7[["rolled_back<br/>(failure)"]]:::failure', 's2{"route"}', 's2 -->|"both"| s3',
                 's1 -.->|"failure"| s8', "linkStyle", "start --> s0"]:
        check(want in m, "graph mermaid lacks %r:\n%s" % (want, m))
    qm = run("graph", quoting, "--format=mermaid").stdout.decode()
    check('subgraph phase0["say #quot;hi#quot; \\ #lt;there#gt; #124; now"]' in qm, "mermaid phase not escaped:\n" + qm)

    p = run("actions", "exec")
    check(p.returncode == 0 and b"argv" in p.stdout and b"fails when:" in p.stdout, "actions exec: %r" % p.stdout[:300])
    p = run("actions", "kubectl.get")
    check(b"kubectl family default" in p.stdout, "actions kubectl.get lacks the family inputs")

    for f in failures:
        print("FAIL " + f)
    print("cli: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
