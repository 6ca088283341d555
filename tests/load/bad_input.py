#!/usr/bin/python3
"""Bad input (issue 2): each gets exit 2 and a clear message, never a crash
or a hang.  The inputs are generated into a temporary directory."""
import os
import random
import subprocess
import sys
import tempfile

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
# libmongoc initialises at load time and may warn about its shared-memory
# counters under load: not lockstep output, kept out of the comparisons.
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")


def run(args, cwd):
    return subprocess.run([BIN] + args, cwd=cwd, capture_output=True, timeout=120)


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, data):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
            return name

        rng = random.Random(20261125)
        deep_expr = ("lockstep: 1\nname: t\nstart: a\nstates:\n  a:\n    action: noop\n"
                     "    expect: \"" + "(" * 50000 + "1" + ")" * 50000 + "\"\n"
                     "    on_failure: z\n    next: z\n  z: {terminal: success}\n")
        cases = [
            (["validate", write("empty.yaml", b"")],
             "empty.yaml:1:1: error: the file is empty (expected a YAML mapping)"),
            (["validate", write("blank.yaml", b"# only a comment\n\n")],
             "blank.yaml:1:1: error: the file is empty (expected a YAML mapping)"),
            (["validate", "does-not-exist.yaml"],
             "does-not-exist.yaml: error: cannot open: No such file or directory"),
            (["validate", "."], ".: error: is a directory, not a regular file"),
            (["validate", write("list.yaml", b"- a\n- b\n")],
             "list.yaml:1:1: error: a playbook is a YAML mapping (lockstep: 1, name, states, ...), not a list"),
            (["validate", write("scalar.yaml", b"just text\n")],
             "scalar.yaml:1:1: error: a playbook is a YAML mapping (lockstep: 1, name, states, ...), not a string"),
            (["validate", write("random.bin", bytes(rng.getrandbits(8) for _ in range(1 << 20)))],
             "random.bin:"),
            (["validate", write("nuls.yaml", b"lockstep: 1\nname: \x00\x00\n")],
             "nuls.yaml:2:7: error: not a valid YAML text: control characters are not allowed"),
            (["validate", write("deep.yaml", b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n")],
             "deep.yaml:1:259: error: YAML nesting deeper than 256 levels"),
            (["validate", write("deepmap.yaml", b"".join(b" " * i + b"k:\n" for i in range(2000)))],
             "deepmap.yaml:257:"),
            (["validate", write("deep_expr.yaml", deep_expr.encode())],
             "deep_expr.yaml:7:270: error: expression nested deeper than 256 levels"),
            (["graph", "empty.yaml"], "empty.yaml:1:1: error: the file is empty"),
        ]
        for args, want in cases:
            p = run(args, tmp)
            err = p.stderr.decode("utf-8", "replace")
            first = err.splitlines()[0] if err else ""
            if p.returncode != 2:
                failures.append("%s: exit %d, expected 2\n%s" % (" ".join(args[:2]), p.returncode, err[:2000]))
            elif not first.startswith(want):
                failures.append("%s: first line %r, expected it to start with %r" % (args[1], first, want))
            elif "Sanitizer" in err or "runtime error" in err:
                failures.append("%s: sanitizer report\n%s" % (args[1], err[:4000]))
    for f in failures:
        print("FAIL " + f)
    print("bad input: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
