#!/usr/bin/python3
"""Input files must be regular files (issue 13): a FIFO, a socket, a device
or a directory given as playbook, values file, environment file, scenario,
a scenario's playbook or an env.check env_file is refused at once with a
message that says what it is, never read (a FIFO would block the open until
a writer came, /dev/zero would never end).

"At once" is checked without timing: each command runs with a bound that no
honest machine reaches (minutes); a hang shows as that bound passing, and
the exit code is asserted either way.  A FIFO with a writer that holds it
open and writes nothing is refused too (the open does not wait for data)."""
import os
import socket
import subprocess
import sys
import tempfile

BIN = os.environ.get("LOCKSTEP_BIN", "lockstep")
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
BOUND = 300  # seconds: a hang, not slowness, is what passes this

PLAYBOOK = """lockstep: 1
name: kinds
params:
  token: {type: string, secret: true, default: "s3cret-value"}
defaults: {on_failure: failed}
start: a
states:
  a: {action: noop, next: done}
  done: {terminal: success}
  failed: {terminal: failure}
"""

ENV_CHECK = """lockstep: 1
name: envcheck
defaults: {on_failure: failed}
start: check
states:
  check:
    action: env.check
    with: {env_file: env.fifo, required: [A]}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""

failures = []


def run(args, cwd):
    try:
        return subprocess.run([BIN] + args, cwd=cwd, capture_output=True, timeout=BOUND,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def expect(label, args, cwd, code, want):
    p = run(args, cwd)
    if p is None:
        failures.append("%s: still running after %d s (hung on the input?)" % (label, BOUND))
        return
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    if p.returncode != code:
        failures.append("%s: exit %d, expected %d\n%s" % (label, p.returncode, code, out[:2000]))
    elif want not in out:
        failures.append("%s: output lacks %r\n%s" % (label, want, out[:2000]))
    elif "Sanitizer" in out or "runtime error" in out:
        failures.append("%s: sanitizer report\n%s" % (label, out[:4000]))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, text):
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            return name

        write("pb.yaml", PLAYBOOK)
        write("envcheck.yaml", ENV_CHECK)
        os.mkfifo(os.path.join(tmp, "fifo.yaml"))
        os.mkfifo(os.path.join(tmp, "env.fifo"))
        os.makedirs(os.path.join(tmp, "environments"))
        os.mkfifo(os.path.join(tmp, "environments", "prod.yaml"))
        os.makedirs(os.path.join(tmp, "dir.yaml"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(os.path.join(tmp, "sock.yaml"))
        write("scen_fifo_pb.yaml", "playbook: fifo.yaml\nexpect: {outcome: success}\n")
        state = os.path.join(tmp, "state")

        fifo = "is a FIFO (named pipe), not a regular file"
        cases = [
            ("validate FIFO playbook", ["validate", "fifo.yaml"], 2, "fifo.yaml: error: " + fifo),
            ("graph FIFO playbook", ["graph", "fifo.yaml"], 2, "fifo.yaml: error: " + fifo),
            ("run FIFO playbook", ["run", "fifo.yaml", "--yes", "--state-dir", state], 2,
             "fifo.yaml: error: " + fifo),
            ("validate --values FIFO", ["validate", "pb.yaml", "--values", "fifo.yaml"], 2,
             "fifo.yaml: error: " + fifo),
            ("run --values FIFO", ["run", "pb.yaml", "--values", "fifo.yaml", "--yes", "--state-dir", state], 2,
             "fifo.yaml: error: " + fifo),
            ("validate --env with a FIFO environment file", ["validate", "pb.yaml", "--env", "prod"], 2,
             "environments/prod.yaml: error: " + fifo),
            ("test FIFO scenario", ["test", "fifo.yaml"], 2, "fifo.yaml: error: " + fifo),
            ("test scenario naming a FIFO playbook", ["test", "scen_fifo_pb.yaml"], 2, fifo),
            ("validate socket playbook", ["validate", "sock.yaml"], 2,
             "sock.yaml: error: is a socket, not a regular file"),
            ("validate --values socket", ["validate", "pb.yaml", "--values", "sock.yaml"], 2,
             "sock.yaml: error: is a socket, not a regular file"),
            ("validate character device", ["validate", "/dev/null"], 2,
             "/dev/null: error: is a character device, not a regular file"),
            ("validate --values /dev/zero", ["validate", "pb.yaml", "--values", "/dev/zero"], 2,
             "/dev/zero: error: is a character device, not a regular file"),
            ("test /dev/zero scenario", ["test", "/dev/zero"], 2,
             "/dev/zero: error: is a character device, not a regular file"),
            ("validate --values directory", ["validate", "pb.yaml", "--values", "dir.yaml"], 2,
             "dir.yaml: error: is a directory, not a regular file"),
        ]
        for label, args, code, want in cases:
            expect(label, args, tmp, code, want)

        # A writer holds the FIFO open and writes nothing: still refused at
        # once (nothing waits for data).
        wfd = os.open(os.path.join(tmp, "fifo.yaml"), os.O_RDWR)
        try:
            expect("validate FIFO with an idle writer", ["validate", "fifo.yaml"], tmp, 2,
                   "fifo.yaml: error: " + fifo)
        finally:
            os.close(wfd)

        # env.check reads its env_file at run time: the state fails with the
        # reason and the run takes on_failure (exit 1), instead of hanging.
        expect("env.check env_file FIFO", ["run", "envcheck.yaml", "--yes", "--state-dir", state], tmp, 1,
               "env.check: cannot read 'env.fifo': " + fifo)
        sock.close()
    for f in failures:
        print("FAIL " + f)
    print("input kinds: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
