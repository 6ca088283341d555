"""Secrets never leave the engine, and argv values never reach a shell.

Runs a playbook whose secret param (and a password inside a URI) flows
through templates into argv, stdout, stderr and a failure message, with
every output mode and `plan`; then scans every byte the engine wrote --
stdout, stderr and the whole state directory -- for the secret.  A param
holding `; touch PWNED` must reach the program as one argv element and
create nothing.
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

LOCKSTEP = os.environ["LOCKSTEP_BIN"]
TOKEN = "s3cr3t-T0KEN-9f8e7d"
URI_PASSWORD = "pw-in-uri-4c3b2a"
# A secret with every character that JSON or URL encoders rewrite.
TOKEN2 = 'pa"ss/w\\rd \u00e9+1 9f8e'


def encoded_forms(t):
    """How a program may print t: JSON-escaped (with and without \\/, \\u for
    non-ASCII or not, upper- or lower-case hex) and URL-encoded (%20 or +)."""
    j = json.dumps(t)[1:-1]
    ju = json.dumps(t, ensure_ascii=False)[1:-1]
    q = urllib.parse.quote(t, safe="")
    forms = {t, j, ju, j.replace("/", "\\/"), j.replace("\\u00e9", "\\u00E9"), q,
             urllib.parse.quote_plus(t, safe=""), q.lower(), urllib.parse.quote(t, safe="/")}
    return sorted(forms)


# The program prints each form, on its own line.
PRINT_FORMS = ("import json, sys, urllib.parse as u; t = sys.argv[1]; j = json.dumps(t)[1:-1]; "
               "print(j); print(json.dumps(t, ensure_ascii=False)[1:-1]); print(j.replace('/', chr(92) + '/')); "
               "print(j.replace('u00e9', 'u00E9')); q = u.quote(t, safe=''); print(q); "
               "print(u.quote_plus(t, safe='')); print(q.lower()); print(u.quote(t, safe='/')); "
               "print(json.dumps({'token': t}))")

PLAYBOOK = """\
lockstep: 1
name: secret-leak
params:
  token: {type: string, secret: true, env: LS_LEAK_TOKEN}
  token2: {type: string, secret: true, env: LS_LEAK_TOKEN2}
  db_uri: {type: string, default: "mongodb://admin:%(pw)s@db:27017/app"}
  evil: {type: string, default: "; touch PWNED"}
start: use
states:
  use:
    action: exec
    with:
      argv: ["sh", "-c", "echo token=$1; echo err $1 >&2; echo uri=$2", "sh", "${{ params.token }}", "${{ params.db_uri }}"]
    next: injected
    on_failure: bad
  injected:
    action: exec
    with:
      argv: ["printf", "%%s|%%s", "${{ params.evil }}", "prefix-${{ params.token }}-suffix"]
    next: encoded
    on_failure: bad
  encoded:
    action: exec
    with:
      argv: ["/usr/bin/python3", "-c", %(prog)s, "${{ params.token2 }}"]
    next: fails
    on_failure: bad
  fails:
    action: exec
    with:
      argv: ["sh", "-c", "echo failing with $1 >&2; exit 3", "sh", "${{ params.token }}"]
    next: done
    on_failure: done
  done: {terminal: success}
  bad: {terminal: failure}
""" % {"pw": URI_PASSWORD, "prog": json.dumps(PRINT_FORMS)}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, cwd, env):
    return subprocess.run([LOCKSTEP] + args, cwd=cwd, env=env, capture_output=True, timeout=300)


def scan(label, data, uri_password_allowed=False):
    check(TOKEN.encode() not in data, "%s contains the secret param" % label)
    for form in encoded_forms(TOKEN2):
        check(form.encode() not in data, "%s contains the second secret as %r" % (label, form))
    if not uri_password_allowed:
        check(URI_PASSWORD.encode() not in data, "%s contains the URI's password" % label)


def main():
    with tempfile.TemporaryDirectory(prefix="ls-secret-leak-") as tmp:
        pb = os.path.join(tmp, "leak.yaml")
        with open(pb, "w") as f:
            f.write(PLAYBOOK)
        state_dir = os.path.join(tmp, "state")
        env = dict(os.environ, LS_LEAK_TOKEN=TOKEN, LS_LEAK_TOKEN2=TOKEN2)

        runs = [
            ["validate", pb],
            ["plan", pb],
            ["run", pb, "--state-dir", state_dir, "--output", "json"],
            ["run", pb, "--state-dir", state_dir],
            ["run", pb, "--state-dir", state_dir, "--dry-run"],
            ["status", "--state-dir", state_dir],
            ["status", "--state-dir", state_dir, "--output", "json"],
        ]
        json_out = None
        for args in runs:
            p = run(args, tmp, env)
            label = "lockstep " + " ".join(a if a != pb else "PB" for a in args)
            check(p.returncode == 0, "%s exited %d: %s" % (label, p.returncode, p.stderr.decode(errors="replace")))
            scan(label + " stdout", p.stdout)
            scan(label + " stderr", p.stderr)
            if args[0] == "run" and "json" in args:
                json_out = p.stdout

        # db_uri is not a `secret` param: the run's copies of the playbook
        # and of its params keep it as written (resume reads them back);
        # everything shown or journaled masks the URI's password.
        scanned = 0
        for root, _, files in os.walk(state_dir):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    scan(path, f.read(), uri_password_allowed=name.startswith(("playbook", "params")))
                scanned += 1
        check(scanned >= 3, "state dir holds only %d files" % scanned)

        check(not os.path.exists(os.path.join(tmp, "PWNED")), "'; touch PWNED' created PWNED")

        # The values did flow: the program saw the secret (we read it back
        # redacted) and the injected text arrived as one argv element.
        events = [json.loads(line) for line in (json_out or b"").decode().splitlines() if line.strip()]
        results = {e.get("state"): e for e in events if e.get("event") == "action_finished"}
        use = results.get("use", {}).get("result", {})
        check(use.get("stdout") == "token=***\nuri=mongodb://admin:***@db:27017/app\n",
              "use stdout: %r" % use.get("stdout"))
        check(use.get("stderr") == "err ***\n", "use stderr: %r" % use.get("stderr"))
        inj = results.get("injected", {}).get("result", {})
        check(inj.get("stdout") == "; touch PWNED|prefix-***-suffix", "injected stdout: %r" % inj.get("stdout"))
        enc = results.get("encoded", {}).get("result", {})
        check(enc.get("stdout") == "***\n" * 8 + '{"token": "***"}\n', "encoded stdout: %r" % enc.get("stdout"))
        fails = results.get("fails", {})
        check(fails.get("status") == "failed", "fails status: %r" % fails.get("status"))
        check("exited with code 3" in (fails.get("error") or "") and "***" in (fails.get("error") or ""),
              "fails error: %r" % fails.get("error"))
        started = [e for e in events if e.get("event") == "run_started"]
        check(bool(started) and started[0].get("params", {}).get("token") == "***",
              "run_started params: %r" % (started[0].get("params") if started else None))

    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("secret leak: nothing leaked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
