"""Secrets (SPEC 2 params, 5): a secret param passed through templates,
echoed by a program and carried into an error message never reaches
stdout, stderr or any byte under the state dir; resume reads it again from
its env variable or --set, never from disk."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, playbook  # noqa: E402

SECRET = "S3cr3t-Pa55-7gQx"
PB = playbook("sec", "gate", """\
  gate:
    action: manual.confirm
    with: {prompt: "About to use ${{ params.token }}"}
    next: echo
  echo:
    action: exec
    mutates: false
    with:
      argv: [sh, -c, 'echo "token=$1"; echo "env=$TOK"', sh, "${{ params.token }}"]
      env: {TOK: "prefix-${{ params.token }}"}
    expect: "contains(result.stdout, params.token)"
    next: boom
  boom:
    action: exec
    with: {argv: [sh, -c, 'echo "bad $1" >&2; exit 9', sh, "${{ params.token }}"]}
    on_failure: check
    dry_run: {result: {exit_code: 9}}
    next: done
  check:
    next:
      - {if: "contains(states.boom.error, params.token) or true", goto: done}
""", extra=f"params:\n  token: {{type: string, secret: true, env: TOKEN, required: true}}\n  who: {{type: string, default: ops}}\n")

c = Case("secret", PB)
env = {"TOKEN": SECRET}
outputs = []
for args in ([], ["--output", "json"], ["--dry-run"]):
    rc, out, err = c.run("--yes", *args, env=env)
    eq(rc, 0, f"run {args}: {err}")
    outputs += [out, err]
    if not args:
        ev = c.journal()
rc, out, err = c.cmd("plan", c.pb, env=env)
eq(rc, 0, "plan")
check("***" in out, "plan shows *** for the secret: " + out)
outputs += [out, err]
for args in (["status"], ["status", "--output", "json"], ["status", c.last_run()],
             ["status", c.last_run(), "--output", "json"]):
    rc, out, err = c.cmd(*args, env=env)
    outputs += [out, err]

# a halted run resumed: the secret comes back from the env, or --set
c2 = Case("secret-resume", PB)
rc, out, err = c2.run(env=env)
eq(rc, 3, "halts for approval")
rid = c2.last_run()
rc, out, err = c2.cmd("resume", rid, "--approve", "gate")
eq(rc, 2, "resume without the secret is refused")
check("token" in err, "refusal names the secret param: " + err)
outputs += [out, err]
rc, out, err = c2.cmd("resume", rid, "--approve", "gate", "--set", f"token={SECRET}")
eq(rc, 0, "resume with --set: " + err)
outputs += [out, err]
with open(os.path.join(c2.state, "runs", rid, "params.json")) as f:
    params = f.read()
check("token" not in params and "ops" in params, "params.json excludes secret params: " + params)

for i, o in enumerate(outputs):
    check(SECRET not in o, f"secret in output #{i}: {o[:400]}")
for case in (c, c2):
    for root, dirs, files in os.walk(case.state):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            check(SECRET.encode() not in data, f"secret written to {os.path.join(root, f)}")
            if f in ("journal.jsonl", "params.json", "playbook.yaml"):
                eq(oct(os.stat(os.path.join(root, f)).st_mode & 0o777), "0o600", f"mode of {f}")
        for d in dirs:
            eq(oct(os.stat(os.path.join(root, d)).st_mode & 0o777), "0o700", f"mode of dir {d}")
fin = [e for e in ev if e["event"] == "action_finished" and e["state"] == "echo"]
check(fin and "token=***" in fin[0]["result"]["stdout"], "journal shows *** in results: %r" % fin)

# An empty secret shows as *** like any other: "" would tell what it is.
c3 = Case("secret-empty", """lockstep: 1
name: se
start: a
params:
  token: {type: string, secret: true, default: ""}
states:
  a: {action: noop, next: done}
  done: {terminal: success}
""")
rc, out, err = c3.cmd("plan", c3.pb)
eq(rc, 0, "plan with an empty secret")
check("token: \"***\"" in out or "token: ***" in out, "plan shows an empty secret as ***: " + out)
rc, out, err = c3.run()
eq(rc, 0, "run with an empty secret")
started = c3.journal()[0]
eq(started["params"]["token"], "***", "run_started shows an empty secret as ***")
c3.cleanup()
finish()
