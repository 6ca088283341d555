#!/usr/bin/python3
"""lockstep benchmarks (issue 7): ratios against a floor measured in the same run.

    tests/bench/bench.py --build-dir build [--runs 5] [--markdown FILE]
    tests/bench/bench.py --build-dir build --tiny      # the smoke run ctest does

Each benchmark alternates the two sides (lockstep, floor, lockstep, floor, ...)
and reports the median of --runs measurements of each.  Nothing here asserts
anything about time: --tiny only proves every benchmark still runs.  Targets
are printed beside the ratios; docs/performance.md keeps the latest table.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def wall(cmd, **kw):
    """Runs cmd, returns its wall time in seconds (peak RSS: peak_rss_kib)."""
    return timed(cmd, **kw)[0]


def cpu(cmd, **kw):
    """Runs cmd, returns the CPU time (user + system) it and the children it
    waited for used: on a machine shared with other work this moves less
    than the wall time, which counts the waits for a core."""
    return timed(cmd, **kw)[1]


def timed(cmd, **kw):
    """(wall seconds, CPU seconds) of one run of cmd."""
    with tempfile.TemporaryFile() as errf:  # a pipe read after wait4 could fill and deadlock
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, **kw)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            errf.seek(0)
            err = errf.read().decode(errors="replace")
            raise SystemExit("bench: %s failed (%d): %s" % (" ".join(cmd), rc, err[-2000:]))
    return dt, ru.ru_utime + ru.ru_stime


def peak_rss_kib(cmd, **kw):
    """Peak RSS of cmd in KiB, as GNU time reports it.  Not os.wait4's
    ru_maxrss: Linux carries the forking process's high-water mark across
    exec, so a child of this Python process (holding the benchmark's data)
    would be charged for Python's memory."""
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        return int(out.read().split()[-1])


def alternate(a, b, runs):
    """Median seconds of a() and b(), measured alternately."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(a())
        tb.append(b())
    return statistics.median(ta), statistics.median(tb)


def gen_exec_playbook(path, n, prog="/bin/true"):
    with open(path, "w") as f:
        f.write("lockstep: 1\nname: bench-exec\nstart: s0\n")
        f.write("defaults: {on_failure: failed}\nstates:\n")
        for i in range(n):
            nxt = "s%d" % (i + 1) if i + 1 < n else "done"
            f.write("  s%d: {action: exec, with: {argv: [%s]}, next: %s}\n" % (i, prog, nxt))
        f.write("  done: {terminal: success}\n  failed: {terminal: failure}\n")


def gen_decision_playbook(path, n):
    with open(path, "w") as f:
        f.write("lockstep: 1\nname: bench-decide\nstart: d0\nparams:\n  n: {type: int, default: 12}\nstates:\n")
        for i in range(n):
            nxt = "d%d" % (i + 1) if i + 1 < n else "done"
            f.write("  d%d:\n    next:\n      - {if: \"params.n + 1 == 13\", goto: %s}\n"
                    "      - {goto: failed}\n" % (i, nxt))
        f.write("  done: {terminal: success}\n  failed: {terminal: failure}\n")


def gen_validate_playbook(path, n):
    """n states, each with a template and an `expect` regex of its own (B3,
    B4): every regex differs (the state's number is in it), so none is
    shared by the loader's cache of compiled patterns."""
    with open(path, "w") as f:
        f.write("lockstep: 1\nname: bench-validate\nstart: s0\n")
        f.write("params:\n  tag: {type: string, default: v1.2.3}\n")
        f.write("defaults: {on_failure: failed}\nstates:\n")
        for i in range(n):
            nxt = "s%d" % (i + 1) if i + 1 < n else "done"
            f.write("  s%d:\n    action: exec\n    mutates: false\n"
                    "    with: {argv: [echo, \"step %d of ${{ params.tag }}\"]}\n"
                    "    expect: \"result.stdout =~ /^step %d of v[0-9.]+$/\"\n"
                    "    next: %s\n" % (i, i, i, nxt))
        f.write("  done: {terminal: success}\n  failed: {terminal: failure}\n")


def gen_warnings_playbook(path, n, warn):
    """n params with a default; with `warn` each default is a bare 3 with no
    type (a warning each), else the string "3" (none): the same file but for
    the warnings (B12)."""
    with open(path, "w") as f:
        f.write("lockstep: 1\nname: bench-warnings\nstart: a\nparams:\n")
        for i in range(n):
            f.write("  p%d: {default: %s}\n" % (i, "3" if warn else '"3"'))
        f.write("states:\n  a: {action: noop, next: done}\n  done: {terminal: success}\n")


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.lockstep or os.path.join(args.build_dir, "lockstep"))
        self.floor = os.path.abspath(args.floor_dir or os.path.join(args.build_dir, "tests"))
        self.tmp = tempfile.mkdtemp(prefix="lockstep-bench-")
        self.rows = []
        self.env = dict(os.environ, LOCKSTEP_STATE_DIR=os.path.join(self.tmp, "state"))

    def tool(self, name):
        p = os.path.join(self.floor, name)
        if not os.path.exists(p):
            raise SystemExit("bench: floor program %s is not built" % p)
        return p

    def row(self, bid, measure, value, target, unit="x"):
        self.rows.append((bid, measure, value, target, unit))
        print("%-3s %-62s %12s   target %s" % (bid, measure, fmt(value, unit), target), flush=True)

    def lockstep(self, *argv):
        return wall([self.bin] + list(argv), env=self.env)

    def b1(self, n):
        pb = os.path.join(self.tmp, "b1.yaml")
        gen_exec_playbook(pb, n)
        self.lockstep("validate", pb)
        run = lambda: self.lockstep("run", pb, "--quiet")
        floor = lambda: wall([self.tool("floor_spawn"), str(n), "/bin/true"])
        a, b = alternate(run, floor, self.args.runs)
        self.row("B1", "run %d exec /bin/true states / %d bare spawn+wait" % (n, n), a / b, "report (its target is B1/B1f)")
        journal = os.path.join(self.tmp, "floor-journal")
        durable = lambda: wall([self.tool("floor_spawn"), str(n), "/bin/true", journal])
        a, b = alternate(durable, floor, self.args.runs)
        self.row("B1f", "%d x (fsynced 200-byte append + spawn+wait) / %d bare spawn+wait" % (n, n), a / b,
                 "report (B1's floor for a durable engine)")
        b1 = [r for r in self.rows if r[0] == "B1"][-1][2]
        self.row("B1/B1f", "B1 against the durable floor", b1 / (a / b), "<= 1.10")
        return pb

    def b2(self, n):
        pb = os.path.join(self.tmp, "b2.yaml")
        gen_decision_playbook(pb, n)
        run = lambda: self.lockstep("run", pb, "--quiet")
        out = os.path.join(self.tmp, "fsync.out")
        floor = lambda: wall([self.tool("floor_fsync"), str(2 * n), out])
        a, b = alternate(run, floor, self.args.runs)
        self.row("B2", "run %d decision states / %d fsynced 200-byte appends" % (n, 2 * n), a / b, "<= 1.5")

    def b3_b4(self, small, large):
        p_small = os.path.join(self.tmp, "b3.yaml")
        p_large = os.path.join(self.tmp, "b4.yaml")
        gen_validate_playbook(p_small, small)
        gen_validate_playbook(p_large, large)
        val = lambda p: (lambda: self.lockstep("validate", p))
        floor = lambda: wall([self.tool("floor_yaml"), p_small])
        a, b = alternate(val(p_small), floor, self.args.runs)
        self.row("B3", "validate %d states (a regex each) / libyaml event parse of the file" % small, a / b, "<= 3")
        a, b = alternate(lambda: cpu([self.bin, "validate", p_small], env=self.env),
                         lambda: cpu([self.tool("floor_yaml"), p_small]), self.args.runs)
        self.row("B3c", "the same in CPU time (user + system)", a / b, "report")
        big, little = alternate(val(p_large), val(p_small), self.args.runs)
        self.row("B4", "validate %d states / validate %d states" % (large, small), big / little, "<= 12")
        return p_small

    def b12(self, n):
        """Diagnostics: n warnings, each with its excerpt, on stderr as the
        operator sees them (unbuffered)."""
        p_warn = os.path.join(self.tmp, "b9w.yaml")
        p_none = os.path.join(self.tmp, "b9.yaml")
        gen_warnings_playbook(p_warn, n, True)
        gen_warnings_playbook(p_none, n, False)
        a, b = alternate(lambda: self.lockstep("validate", p_warn), lambda: self.lockstep("validate", p_none),
                         self.args.runs)
        self.row("B12", "validate with %d warnings / the same file without them" % n, a / b, "<= 1.5")

    def b5(self, n):
        out = subprocess.run([self.tool("bench_guard"), str(n)], check=True,
                             capture_output=True, text=True).stdout
        rate = float(out.split()[-1])
        self.row("B5", "guard evaluations per second", rate, ">= 5,000,000", unit="/s")

    def rss(self, *argv):
        return peak_rss_kib([self.bin] + list(argv), env=self.env)

    def b6(self, p_validate, p_exec):
        rss_v = self.rss("validate", p_validate)
        rss_r = self.rss("run", p_exec, "--quiet")
        self.row("B6a", "peak RSS: validate the B3 playbook", rss_v / 1024, "<= 64 MiB", unit="MiB")
        self.row("B6b", "peak RSS: run the B1 playbook", rss_r / 1024, "<= 16 MiB", unit="MiB")

    def mongo_benches(self, ndocs):
        uri = os.environ.get("LOCKSTEP_TEST_MONGODB_URI")
        if not uri:
            print("B6c/B7 skipped: LOCKSTEP_TEST_MONGODB_URI is not set (run through tools/with-test-servers)")
            return
        import pymongo
        db = "lockstep_bench"
        client = pymongo.MongoClient(uri)
        client.drop_database(db)
        docs = [{"_id": i, "name": "doc %d" % i, "n": i, "tags": ["a", "b"]} for i in range(ndocs)]
        t0 = time.perf_counter()
        for i in range(0, ndocs, 1000):
            client[db].items.insert_many(docs[i:i + 1000])
        insert_rate = ndocs / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        count = sum(1 for _ in client[db].items.find())
        read_rate = count / (time.perf_counter() - t0)
        out = os.path.join(self.tmp, "dump")

        def playbook(name, state):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write("lockstep: 1\nname: bench-%s\nstart: s\n"
                        "params:\n  uri: {type: string}\n  out: {type: string}\n"
                        "defaults: {on_failure: failed, with: {mongo: {uri: \"${{ params.uri }}\"}}}\n"
                        "states:\n  s: %s\n"
                        "  done: {terminal: success}\n  failed: {terminal: failure}\n" % (name[:-5], state))
            return path

        dump = playbook("dump.yaml", "{action: mongo.dump, with: {db: %s, out: \"${{ params.out }}\", "
                                     "gzip: false}, next: done}" % db)
        restore = playbook("restore.yaml", "{action: mongo.restore, with: {db: %s_copy, "
                                           "from: \"${{ params.out }}\"}, next: done}" % db)
        sets = ["--quiet", "--set", "uri=" + uri, "--set", "out=" + out]
        t_dump = self.lockstep("run", dump, *sets)
        t_restore = self.lockstep("run", restore, *sets)
        shutil.rmtree(out)
        rss_dump = self.rss("run", dump, *sets)
        client.drop_database(db)
        client.drop_database(db + "_copy")
        self.row("B6c", "peak RSS: mongo.dump of %d documents" % ndocs, rss_dump / 1024, "<= 32 MiB", unit="MiB")
        self.row("B7a", "mongo.dump time / pymongo reading the same documents", t_dump * read_rate / ndocs,
                 "report")
        self.row("B7b", "mongo.restore time / pymongo inserting them (batches of 1,000)",
                 t_restore * insert_rate / ndocs, "report")

    def b13(self, nbytes):
        """B13: a kubectl.logs state scanning nbytes of logs (the simulator's
        kubectl and its log size knob, the error lines at the end) against
        grep -cE of the same text from a file; and the run's peak RSS."""
        sim = os.path.join(SRC, "tools", "sim")
        simdir = os.path.join(self.tmp, "sim")
        os.makedirs(simdir)
        env = dict(self.env, LOCKSTEP_SIM_DIR=simdir)
        py = "/usr/bin/python3"
        subprocess.run([py, os.path.join(sim, "ctl"), "init"], env=env, check=True, capture_output=True)
        subprocess.run([py, os.path.join(sim, "ctl"), "fault", "logs=unknown-field"], env=env, check=True,
                       capture_output=True)
        conf = os.path.join(simdir, "sim.json")
        with open(conf) as f:
            c = json.load(f)
        c["log_filler_bytes"] = nbytes
        with open(conf, "w") as f:
            json.dump(c, f)
        kubectl = os.path.join(sim, "bin", "kubectl")
        text = os.path.join(self.tmp, "logs.txt")
        with open(text, "wb") as f:
            subprocess.run([kubectl, "logs", "-l", "app=core-admin", "--tail=-1"], env=env, check=True, stdout=f)
        pattern = "MongoServerError|TypeError.*unknown (field|key|property)"
        pb = os.path.join(self.tmp, "b9.yaml")
        with open(pb, "w") as f:
            f.write("lockstep: 1\nname: bench-logs\nstart: s\ndefaults: {on_failure: failed}\nstates:\n"
                    "  s:\n    action: kubectl.logs\n"
                    "    with: {kubectl: %s, selector: app=core-admin,\n"
                    "           scan: ['MongoServerError', 'TypeError.*unknown (field|key|property)']}\n"
                    "    expect: result.matched\n    next: done\n"
                    "  done: {terminal: success}\n  failed: {terminal: failure}\n" % json.dumps(kubectl))
        run = lambda: wall([self.bin, "run", pb, "--quiet"], env=env)
        grep = lambda: wall(["grep", "-cE", pattern, text])
        a, b = alternate(run, grep, self.args.runs)
        mb = "%.3g MB" % (nbytes / 1e6)
        self.row("B13", "kubectl.logs scanning %s of logs / grep -cE on the file" % mb, a / b, "<= 5")
        a, b = alternate(lambda: cpu([self.bin, "run", pb, "--quiet"], env=env),
                         lambda: cpu(["grep", "-cE", pattern, text]), self.args.runs)
        self.row("B13c", "the same in CPU time (lockstep and its kubectl / grep)", a / b, "report")
        # GNU time's figure is the largest of lockstep and what it waited for
        # (the simulator's kubectl, a Python program)
        rss = peak_rss_kib([self.bin, "run", pb, "--quiet"], env=env)
        self.row("B13b", "peak RSS: that run (lockstep or its kubectl, the larger)", rss / 1024, "<= 64 MiB",
                 unit="MiB")

    def b8(self, n, pb):
        ap = shutil.which("ansible-playbook")
        if not ap:
            print("B8  skipped: ansible-playbook is not installed")
            return
        play = os.path.join(self.tmp, "b8.yml")
        with open(play, "w") as f:
            f.write("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n")
            for i in range(n):
                f.write("    - command: /bin/true\n")
        ans = lambda: wall([ap, "-i", "localhost,", play])
        run = lambda: self.lockstep("run", pb, "--quiet")
        a, b = alternate(ans, run, max(1, min(self.args.runs, 3)))
        self.row("B8", "ansible-playbook %d command tasks / lockstep %d exec states" % (n, n), a / b, "report (>= 100)")

    def journal_rows(self, nloop, nnoop):
        """B9 resume of a long run / its verify, B10 noop states / decision
        states, B11 status listing with a long run / without it."""
        pb = os.path.join(self.tmp, "loop.yaml")
        with open(pb, "w") as f:
            # 4 events per turn; a confirm at the end halts the run (no TTY).
            f.write("lockstep: 1\nname: bench-loop\nstart: a\nparams:\n  n: {type: int, default: %d}\n"
                    "states:\n  a:\n    next:\n      - {if: \"states.a.visits < params.n\", goto: b}\n"
                    "      - {goto: gate}\n  b: {next: a}\n"
                    "  gate: {confirm: \"go on?\", next: done, on_failure: done}\n"
                    "  done: {terminal: success}\n" % nloop)
        lone = os.path.join(self.tmp, "lone-state")
        env = dict(self.env, LOCKSTEP_STATE_DIR=lone)
        subprocess.run([self.bin, "run", pb, "--quiet"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        rid = os.listdir(os.path.join(lone, "runs"))[0]
        pristine = os.path.join(self.tmp, "lone-pristine")
        shutil.copytree(lone, pristine)

        def resume():
            shutil.rmtree(lone)
            shutil.copytree(pristine, lone)
            return wall([self.bin, "resume", rid, "--yes", "--quiet"], env=env)

        verify = lambda: wall([self.bin, "status", "--verify", rid], env=env)
        a, b = alternate(resume, verify, self.args.runs)
        self.row("B9", "resume a %d-event run / status --verify of it" % (4 * nloop), a / b, "<= 3")

        noop = os.path.join(self.tmp, "noop.yaml")
        with open(noop, "w") as f:
            f.write("lockstep: 1\nname: bench-noop\nstart: s0\nstates:\n")
            for i in range(nnoop):
                f.write("  s%d: {action: noop, next: %s}\n" % (i, "s%d" % (i + 1) if i + 1 < nnoop else "done"))
            f.write("  done: {terminal: success}\n")
        dec = os.path.join(self.tmp, "b10-decide.yaml")
        gen_decision_playbook(dec, nnoop)
        a, b = alternate(lambda: self.lockstep("run", noop, "--quiet"), lambda: self.lockstep("run", dec, "--quiet"),
                         self.args.runs)
        self.row("B10", "run %d noop states / %d decision states" % (nnoop, nnoop), a / b, "<= 2")

        few = os.path.join(self.tmp, "few-state")
        env_few = dict(self.env, LOCKSTEP_STATE_DIR=few)
        for _ in range(5):
            subprocess.run([self.bin, "run", dec, "--quiet"], env=env_few, check=True, stdout=subprocess.DEVNULL)
        many = os.path.join(self.tmp, "many-state")
        shutil.copytree(few, many)
        shutil.copytree(os.path.join(pristine, "runs", rid), os.path.join(many, "runs", rid))
        env_many = dict(self.env, LOCKSTEP_STATE_DIR=many)
        a, b = alternate(lambda: wall([self.bin, "status"], env=env_many),
                         lambda: wall([self.bin, "status"], env=env_few), self.args.runs)
        self.row("B11", "status listing with a %d-event run / without it" % (4 * nloop), a / b, "<= 1.5")

    def markdown(self, path):
        with open(path, "w") as f:
            f.write("| id | measure | result | target |\n| --- | --- | --- | --- |\n")
            for bid, measure, value, target, unit in self.rows:
                f.write("| %s | %s | %s | %s |\n" % (bid, measure, fmt(value, unit), target))


def fmt(value, unit):
    if unit == "exp":
        return "%.3f" % value
    if unit == "/s":
        return "{:,.0f}/s".format(value)
    if unit == "MiB":
        return "%.1f MiB" % value
    return "%.2fx" % value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--lockstep")
    ap.add_argument("--floor-dir", help="where floor_spawn, floor_fsync, floor_yaml, bench_guard are")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, one run: proves the harness works")
    ap.add_argument("--markdown", help="write the result table here")
    ap.add_argument("--only", help="just these rows' groups, e.g. B3,B13 (default: all)")
    ap.add_argument("--growth", action="store_true",
                    help="also the growth exponents (growth.py: callgrind at two sizes; needs valgrind)")
    args = ap.parse_args()
    if args.tiny:
        args.runs = 1
    sizes = dict(exec=5, decide=20, small=50, large=200, evals=10000, docs=200, warnings=50, loop=50,
                 noop=20) if args.tiny else \
        dict(exec=100, decide=1000, small=10000, large=100000, evals=5000000, docs=50000, warnings=10000,
             loop=25000, noop=500)
    sizes["logs"] = 100000 if args.tiny else 50000000
    only = set(args.only.upper().split(",")) if args.only else None
    want = lambda *ids: only is None or bool(only & set(ids))
    b = Bench(args)
    try:
        p_exec = os.path.join(b.tmp, "b1.yaml")
        p_small = os.path.join(b.tmp, "b3.yaml")
        if want("B1", "B1F", "B6", "B6B", "B8"):
            p_exec = b.b1(sizes["exec"])
        if want("B2"):
            b.b2(sizes["decide"])
        if want("B3", "B4", "B6", "B6A"):
            p_small = b.b3_b4(sizes["small"], sizes["large"])
        if want("B5"):
            b.b5(sizes["evals"])
        if want("B12"):
            b.b12(sizes["warnings"])
        if want("B6", "B6A", "B6B"):
            b.b6(p_small, p_exec)
        if want("B9", "B10", "B11"):
            b.journal_rows(sizes["loop"], sizes["noop"])
        if want("B6C", "B7"):
            b.mongo_benches(sizes["docs"])
        if want("B13"):
            b.b13(sizes["logs"])
        if want("B8"):
            b.b8(sizes["exec"], p_exec)
        if args.growth:
            import growth
            g_args = argparse.Namespace(n=500 if args.tiny else 2500, factor=4)
            for cmd, _, _, e in growth.run(b.bin, g_args.n, g_args.factor):
                b.row("G", "growth exponent of %s (callgrind, N=%d and %dN)" % (cmd, g_args.n, g_args.factor), e,
                      "<= 1.15", unit="exp")
        if args.markdown:
            b.markdown(args.markdown)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    print("bench: %d measurements" % len(b.rows))


if __name__ == "__main__":
    main()
