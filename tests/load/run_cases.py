#!/usr/bin/python3
"""Runs `lockstep validate` on case files and compares the diagnostics exactly.

Each case is a YAML file in a case directory.  Comment lines at its end say
what must happen (the playbook text above them is what is validated):

    # args: --strict --set n=7      extra arguments (shell words)
    # env: NAME=VALUE               an environment variable for the run
    # exit: 2                       expected exit code (default: 2 when any
                                    error is expected, else 0)
    # expect: FILE:L:C: error: msg  one expected line of stderr, in order
    # absent: TEXT                  TEXT must appear nowhere in stdout or
                                    stderr (a secret value)
    # shown: TEXT                   one line of the source excerpts (the
                                    lines under the diagnostics) is TEXT

Every stderr line that does not start with a blank (the caret display) and is
not the closing "FILE: invalid (...)" summary must match an expect line
exactly, and the other way round.  A case without expect lines must validate
clean (exit 0, no output on stderr).

usage: run_cases.py DIR...   (run from anywhere; each case runs in its DIR)
"""
import os
import re
import shlex
import subprocess
import sys

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SUMMARY = re.compile(r"^\S+: invalid \(\d+ errors?(, and warnings)?\)$")


def parse_case(path):
    args, env, expect, absent, shown, exit_code = [], {}, [], [], [], None
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# args: "):
                args += shlex.split(line[len("# args: "):])
            elif line.startswith("# env: "):
                k, _, v = line[len("# env: "):].partition("=")
                env[k] = v
            elif line.startswith("# exit: "):
                exit_code = int(line[len("# exit: "):])
            elif line.startswith("# absent: "):
                absent.append(line[len("# absent: "):])
            elif line.startswith("# expect: "):
                expect.append(line[len("# expect: "):])
            elif line.startswith("# shown: "):
                shown.append(line[len("# shown: "):])
    if exit_code is None:
        exit_code = 2 if any(": error: " in e for e in expect) else 0
    return args, env, expect, absent, shown, exit_code


def run_case(d, name):
    args, env, expect, absent, shown, want_exit = parse_case(os.path.join(d, name))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LS_TEST_")}
    full_env.setdefault("MONGOC_DISABLE_SHM", "1")  # libmongoc's load-time "Falling back to malloc" warning
    full_env.update(env)
    p = subprocess.run([BIN, "validate", name] + args, cwd=d, env=full_env,
                       capture_output=True, timeout=300)
    err = p.stderr.decode("utf-8", "replace").splitlines()
    got = [l for l in err if l and not l.startswith(" ") and not SUMMARY.match(l)]
    problems = []
    if p.returncode != want_exit:
        problems.append("exit %d, expected %d" % (p.returncode, want_exit))
    if got != expect:
        problems.append("diagnostics differ:\n  expected:\n%s\n  got:\n%s" % (
            "\n".join("    " + e for e in expect) or "    (none)",
            "\n".join("    " + g for g in got) or "    (none)"))
    excerpt = [l for l in err if l.startswith(" ")]
    for s in shown:
        if s not in excerpt:
            problems.append("no excerpt line %r among:\n%s" % (s, "\n".join(excerpt) or "(none)"))
    for a in absent:
        if a.encode() in p.stdout or a.encode() in p.stderr:
            problems.append("%r appears in the output" % a)
    if p.returncode < 0 or "Sanitizer" in p.stderr.decode("utf-8", "replace"):
        problems.append("crashed:\n" + p.stderr.decode("utf-8", "replace"))
    return problems


def main():
    failed = total = 0
    for d in sys.argv[1:]:
        for name in sorted(os.listdir(d)):
            if not name.endswith(".yaml") or not os.path.isfile(os.path.join(d, name)):
                continue
            total += 1
            problems = run_case(d, name)
            if problems:
                failed += 1
                print("FAIL %s/%s: %s" % (d, name, "; ".join(problems)))
    print("%d cases, %d failed" % (total, failed))
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
