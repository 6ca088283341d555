#!/usr/bin/env python3
"""Runs `lockstep test` on the case files in tests/scenario/cases/.

A case file is data:

    # what the case checks
    args: --coverage scen/happy.yaml scen/retry.yaml
    exit: 0
    --- stdout
    PASS happy
    ...
    --- stderr            (optional: when present, stderr must match exactly)
    ...

lockstep runs with tests/scenario/ as its working directory, so paths in
`args` and in the expected output are relative to it.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ["LOCKSTEP_BIN"]


def parse(path):
    case = {"args": None, "exit": None, "stdout": None, "stderr": None}
    section = None
    for line in open(path, encoding="utf-8").read().split("\n"):
        if line.startswith("--- "):
            section = line[4:].strip()
            case[section] = []
            continue
        if section:
            case[section].append(line)
        elif line.startswith("args:"):
            case["args"] = line[5:].split()
        elif line.startswith("exit:"):
            case["exit"] = int(line[5:])
    for s in ("stdout", "stderr"):
        if case[s] is not None:
            while case[s] and case[s][-1] == "":
                case[s].pop()
            case[s] = "\n".join(case[s]) + ("\n" if case[s] else "")
    if case["args"] is None or case["exit"] is None or case["stdout"] is None:
        raise SystemExit(f"{path}: a case needs args:, exit: and a --- stdout section")
    return case


def main():
    cases_dir = os.path.join(HERE, "cases")
    names = sorted(n for n in os.listdir(cases_dir) if n.endswith(".case"))
    only = sys.argv[1:]
    failures = 0
    for name in names:
        if only and name[:-5] not in only:
            continue
        case = parse(os.path.join(cases_dir, name))
        p = subprocess.run([BIN, "test"] + case["args"], cwd=HERE, capture_output=True, text=True,
                           timeout=300, env=dict(os.environ, NO_COLOR="1"))
        problems = []
        if p.returncode != case["exit"]:
            problems.append(f"exit {p.returncode}, expected {case['exit']}")
        if p.stdout != case["stdout"]:
            problems.append("stdout differs:\n--- expected\n" + case["stdout"] + "--- got\n" + p.stdout)
        if case["stderr"] is not None and p.stderr != case["stderr"]:
            problems.append("stderr differs:\n--- expected\n" + case["stderr"] + "--- got\n" + p.stderr)
        if problems:
            failures += 1
            print(f"FAIL {name}: " + "\n".join(problems) + (f"\n(stderr: {p.stderr})" if p.stderr else ""))
        else:
            print(f"ok   {name}")
    if failures:
        print(f"{failures} case(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
