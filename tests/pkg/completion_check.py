#!/usr/bin/python3
"""Bash completion (tools/completion/lockstep.bash, installed as
share/bash-completion/completions/lockstep), driven the way bash drives it:
the function `complete -p lockstep` names is called with COMP_WORDS,
COMP_CWORD, COMP_LINE and COMP_POINT set, with and without Debian's
bash-completion library loaded."""
import os
import shlex
import subprocess
import sys
import tempfile

BIN = os.path.realpath(os.environ.get("LOCKSTEP_BIN", "lockstep"))
SRC = os.path.realpath(os.environ["LOCKSTEP_SRC"])
SCRIPT = os.environ.get("LOCKSTEP_COMPLETION", os.path.join(SRC, "tools", "completion", "lockstep.bash"))
LIB = "/usr/share/bash-completion/bash_completion"
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def complete(words, cwd, with_lib, env=None):
    """COMPREPLY for the command line `words` (the last one is being typed)."""
    line = " ".join(words)
    prelude = ("source %s >/dev/null 2>&1; " % shlex.quote(LIB)) if with_lib else ""
    script = (prelude + "source %s\n" % shlex.quote(SCRIPT) +
              "spec=$(complete -p lockstep) || exit 3\n"
              "fn=$(sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p' <<<\"$spec\")\n"
              "COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=%s; COMP_POINT=%d\n"
              % (" ".join(shlex.quote(w) for w in words), len(words) - 1, shlex.quote(line), len(line)) +
              "\"$fn\" lockstep %s %s\n" % (shlex.quote(words[-1]), shlex.quote(words[-2])) +
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    e = dict(os.environ, PATH=os.path.dirname(BIN) + os.pathsep + os.environ["PATH"], **(env or {}))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd, capture_output=True, timeout=60,
                       env=e)
    if p.returncode != 0:
        failures.append("completing %r: bash exit %d %r" % (line, p.returncode, p.stderr[-500:]))
    return sorted(x for x in p.stdout.decode().splitlines() if x)


with tempfile.TemporaryDirectory() as tmp:
    os.symlink(os.path.join(SRC, "playbooks"), os.path.join(tmp, "playbooks"))
    hello = "playbooks/examples/hello.yaml"
    upgrade = "playbooks/message-center/upgrade.yaml"
    sd = os.path.join(tmp, "runs-here")
    r = subprocess.run([BIN, "run", hello, "--state-dir", sd, "--quiet"], cwd=tmp, capture_output=True, timeout=60)
    check(r.returncode == 0, "run hello: %r" % r.stderr)
    ids = sorted(os.listdir(os.path.join(sd, "runs")))
    cmds = [ln.split()[0] for ln in subprocess.run([BIN, "--help"], capture_output=True).stdout.decode()
            .split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    modes = [False] + ([True] if os.path.exists(LIB) else [])
    if not os.path.exists(LIB):
        print("note: %s not installed: completion checked without bash-completion only" % LIB)
    for lib in modes:
        def want(words, expect, exact=True, env=None):
            got = complete(words, tmp, lib, env)
            ok = got == sorted(expect) if exact else set(expect) <= set(got)
            check(ok, "%s%r: got %r, want %s%r" % ("[bash-completion] " if lib else "", " ".join(words), got,
                                                   "" if exact else "at least ", sorted(expect)))

        want(["lockstep", ""], cmds + ["--help", "--version"])
        want(["lockstep", "st"], ["status"])
        want(["lockstep", "re"], [c for c in cmds if c.startswith("re")])
        want(["lockstep", "va"], ["validate"])
        want(["lockstep", "run", hello, "--d"], ["--dry-run"])
        want(["lockstep", "run", hello, "--"], ["--dry-run", "--yes", "--approve", "--state-dir", "--output",
                                                "--quiet", "--env", "--values", "--set", "--strict"], exact=False)
        want(["lockstep", "run", hello, "--approve", ""], ["greet", "done", "failed"])
        want(["lockstep", "run", hello, "--approve", "gr"], ["greet"])
        want(["lockstep", "run", upgrade, "--env", ""], ["production", "sim", "staging"])
        want(["lockstep", "run", hello, "--output", ""], ["text", "json"])
        want(["lockstep", "graph", hello, "--format", "m"], ["mermaid"])
        want(["lockstep", "status", "--state-dir", sd, ""], ids)
        want(["lockstep", "status", ""], ids, env={"LOCKSTEP_STATE_DIR": sd})
        want(["lockstep", "resume", ""], ids, env={"LOCKSTEP_STATE_DIR": sd})
        want(["lockstep", "resume", ids[0], "--state-dir", sd, "--assume", "gr"], ["greet="])
        want(["lockstep", "resume", ids[0], "--state-dir", sd, "--assume", "greet="], ["greet=ok", "greet=failed"])
        want(["lockstep", "resume", ids[0], "--state-dir", sd, "--approve", ""], ["greet", "done", "failed"])
        want(["lockstep", "actions", "kubectl.r"], ["kubectl.rollout", "kubectl.run"])
        want(["lockstep", "validate", "playbooks/examples/he"], ["playbooks/examples/hello.yaml"])

for f in failures:
    print("FAIL " + f)
print("completion: %d failed" % len(failures))
sys.exit(1 if failures else 0)
