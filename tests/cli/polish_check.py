#!/usr/bin/python3
"""The command line's manners: every command's --help explains every option
its usage line names; a mistyped command gets a "did you mean"; --version
names the commit; `status` columns are as wide as what they hold."""
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
SRC = os.environ["LOCKSTEP_SRC"]
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(*args, cwd=None, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=60, cwd=cwd, env=env)


def commands():
    out = run("--help").stdout.decode()
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


cmds = commands()
check({"validate", "plan", "run", "resume", "status", "graph", "test", "actions"} <= set(cmds), "commands: %r" % cmds)
for cmd in cmds:
    p = run(cmd, "--help")
    text = p.stdout.decode()
    check(p.returncode == 0 and text.startswith("usage: lockstep " + cmd), "%s --help: %d %r" % (cmd, p.returncode, text[:80]))
    usage = text.split("\n\n", 1)[0]
    opts = sorted(set(re.findall(r"--[a-z][a-z-]*", usage)))
    check(opts or cmd in ("actions",), "%s --help: no options in the usage line" % cmd)
    for opt in opts:
        # "  --opt ...  explanation": indented, at the start of a line, with words after it.
        m = re.search(r"^ {2,}%s(?:[ =][^ \n]+)? +\S.{8,}" % re.escape(opt), text, re.M)
        check(m is not None, "%s --help does not explain %s" % (cmd, opt))
    check("exit" in text, "%s --help does not give the exit codes" % cmd)
run_help = run("run", "--help").stdout.decode()
for opt in ("--dry-run", "--yes", "--approve", "--state-dir", "--output", "--quiet", "--env", "--values", "--set",
            "--strict"):
    check(re.search(r"^ +%s\b" % opt, run_help, re.M), "run --help lacks %s" % opt)

# Did you mean, for commands.
for word, want in [("rnu", "run"), ("stauts", "status"), ("valdate", "validate"), ("res", "resume"),
                   ("actoins", "actions")]:
    p = run(word)
    check(p.returncode == 2 and ("did you mean '%s'" % want).encode() in p.stderr,
          "lockstep %s: %d %r" % (word, p.returncode, p.stderr))
for word in ("xyzzy", "r"):  # nothing close; "r" begins both run and resume
    p = run(word)
    check(p.returncode == 2 and b"unknown command" in p.stderr and b"did you mean" not in p.stderr,
          "lockstep %s: %d %r" % (word, p.returncode, p.stderr))

# --version names the commit: this checkout's, or "unknown" outside git.
p = run("--version")
m = re.match(r"^lockstep (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\)\n$", p.stdout.decode())
check(p.returncode == 0 and m, "--version: %r" % p.stdout)
head = subprocess.run(["git", "-C", SRC, "rev-parse", "--short=12", "HEAD"], capture_output=True, timeout=60)
if m and head.returncode == 0:
    check(m.group(2).split("-")[0] == head.stdout.decode().strip(), "--version commit %s, HEAD %s"
          % (m.group(2), head.stdout.decode().strip()))
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "c.h")
    subprocess.run(["cmake", "-DSRC=" + tmp, "-DOUT=" + out, "-P",
                    os.path.join(SRC, "tools", "cmake", "GitCommit.cmake")], check=True, capture_output=True,
                   timeout=60, env=dict(os.environ, GIT_CEILING_DIRECTORIES=tmp))
    check('#define LOCKSTEP_COMMIT "unknown"' in open(out).read(), "outside git: %r" % open(out).read())

# status: the columns fit run ids (26 characters), long names and envs.
with tempfile.TemporaryDirectory() as tmp:
    long_pb = os.path.join(tmp, "long.yaml")
    name = "a-playbook-with-a-rather-long-name-for-columns"
    with open(long_pb, "w") as f:
        f.write("lockstep: 1\nname: %s\nstart: s\nstates:\n  s: {action: noop, next: ok}\n"
                "  ok: {terminal: success}\n" % name)
    os.mkdir(os.path.join(tmp, "environments"))
    with open(os.path.join(tmp, "environments", "production-eu-west.yaml"), "w") as f:
        f.write("params: {}\n")
    sd = os.path.join(tmp, "state")
    for args in ([os.path.join(SRC, "playbooks", "examples", "hello.yaml")], [long_pb, "--env", "production-eu-west"]):
        p = run("run", *args, "--state-dir", sd, "--quiet")
        check(p.returncode == 0, "run %s: %d %r" % (args, p.returncode, p.stderr))
    lines = run("status", "--state-dir", sd).stdout.decode().splitlines()
    check(len(lines) == 3, "status: %r" % lines)
    if len(lines) == 3:
        starts = [m.start() for m in re.finditer(r"(?<=  )\S", "  " + lines[0])]
        for row in lines[1:]:
            cells = re.split(r"  +", row)
            check(len(cells) == 5 and re.match(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$", cells[0]), "status row %r" % row)
            rstarts = [m.start() for m in re.finditer(r"(?<=  )\S", "  " + row)]
            check(rstarts[:5] == starts[:5], "status columns do not line up:\n%s" % "\n".join(lines))
        check(any(name in row for row in lines), "status cut the playbook name: %r" % lines)

for f in failures:
    print("FAIL " + f)
print("cli polish: %d failed" % len(failures))
sys.exit(1 if failures else 0)
