#!/usr/bin/python3
"""Growth exponents (issue 14): how each command's cost grows with its input.

    tests/bench/growth.py --build-dir build [--n 2500] [--factor 4]

For validate, run, status (and the listing), status --verify and resume, counts the
instructions the command executes (valgrind --tool=callgrind: the count
does not move with the machine's load) on an input of size N and of size
factor*N, and prints the exponent log(I2/I1) / log(factor): 1 for a cost
linear in the input, 2 for a quadratic one.  Target: <= 1.15 for each.

Not a ctest test (callgrind takes a minute, and valgrind is not required
to build or test lockstep: `apt-get install valgrind`).  bench.py runs it
with --growth.

The inputs:
  validate   N states, each with a template and a regex of its own (B3's file)
  run        N decision states, one after the other (B2's playbook)
  status     the state table of a run of 2N events (N/2 loop turns, B9's playbook)
  list       the status listing with that run in it (reads its head and tail:
             an exponent near 0 is right)
  verify     status --verify of that run
  resume     resume of that run, halted at its last state's confirm
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the playbook generators)


def instructions(cmd, env, tmp):
    """Instructions executed by cmd (and not its children), per callgrind."""
    out = os.path.join(tmp, "callgrind.out")
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + cmd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        raise SystemExit("growth: no count from callgrind for %s:\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    os.unlink(out)
    return int(m.group(1)), p.returncode


def loop_playbook(path, turns):
    """B9's playbook: 4 events per turn, halted by a confirm at the end."""
    with open(path, "w") as f:
        f.write("lockstep: 1\nname: growth-loop\nstart: a\nparams:\n  n: {type: int, default: %d}\n"
                "states:\n  a:\n    next:\n      - {if: \"states.a.visits < params.n\", goto: b}\n"
                "      - {goto: gate}\n  b: {next: a}\n"
                "  gate: {confirm: \"go on?\", next: done, on_failure: done}\n"
                "  done: {terminal: success}\n" % turns)


def measure(lockstep, n, tmp):
    """{command: instructions} at size n."""
    d = os.path.join(tmp, "n%d" % n)
    os.makedirs(d)
    env = dict(os.environ, LOCKSTEP_STATE_DIR=os.path.join(d, "state"))
    got = {}
    pv = os.path.join(d, "validate.yaml")
    bench.gen_validate_playbook(pv, n)
    got["validate"], rc = instructions([lockstep, "validate", pv], env, d)
    pr = os.path.join(d, "run.yaml")
    bench.gen_decision_playbook(pr, n)
    got["run"], rc = instructions([lockstep, "run", pr, "--quiet"], env, d)
    pl = os.path.join(d, "loop.yaml")
    loop_playbook(pl, n // 2)
    lenv = dict(env, LOCKSTEP_STATE_DIR=os.path.join(d, "loop-state"))
    subprocess.run([lockstep, "run", pl, "--quiet"], env=lenv, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # halts at the confirm: exit 3
    rid = os.listdir(os.path.join(d, "loop-state", "runs"))[0]
    got["status"], rc = instructions([lockstep, "status", rid], lenv, d)
    got["list"], rc = instructions([lockstep, "status"], lenv, d)
    got["verify"], rc = instructions([lockstep, "status", "--verify", rid], lenv, d)
    if rc != 0:
        raise SystemExit("growth: status --verify of the loop run failed (%d)" % rc)
    got["resume"], rc = instructions([lockstep, "resume", rid, "--yes", "--quiet"], lenv, d)
    if rc != 0:
        raise SystemExit("growth: resume of the loop run failed (%d)" % rc)
    return got


def run(lockstep, n, factor, target=1.15, out=sys.stdout):
    """[(command, instructions at n, at factor*n, exponent)], printed as they come."""
    if not shutil.which("valgrind"):
        raise SystemExit("growth: valgrind is not installed (apt-get install valgrind)")
    tmp = tempfile.mkdtemp(prefix="lockstep-growth-")
    try:
        small = measure(lockstep, n, tmp)
        large = measure(lockstep, n * factor, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for cmd in small:
        e = math.log(large[cmd] / small[cmd]) / math.log(factor)
        rows.append((cmd, small[cmd], large[cmd], e))
        print("growth %-9s N=%-7d %13s   %dN %13s   exponent %.3f   target <= %.2f" % (
            cmd, n, "{:,}".format(small[cmd]), factor, "{:,}".format(large[cmd]), e, target), file=out, flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(bench.SRC, "build"))
    ap.add_argument("--lockstep")
    ap.add_argument("--n", type=int, default=2500, help="the smaller size (default 2500)")
    ap.add_argument("--factor", type=int, default=4, help="the larger size is factor * n (default 4)")
    ap.add_argument("--target", type=float, default=1.15)
    args = ap.parse_args()
    lockstep = os.path.abspath(args.lockstep or os.path.join(args.build_dir, "lockstep"))
    rows = run(lockstep, args.n, args.factor, args.target)
    worst = max(e for _, _, _, e in rows)
    print("growth: worst exponent %.3f (%s)" % (worst, "met" if worst <= args.target else "NOT met"))
    return 0 if worst <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
