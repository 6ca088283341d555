"""notify: (issue 16): JSON POSTs to a loopback server on approval_needed,
halted, succeeded and failed; headers templated (a secret token arrives in
a header, never in a body); an endpoint that cannot be reached only warns;
a bad notify: block is a load error naming its place."""
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish  # noqa: E402

SECRET = "Hook-S3cret-77"
RECEIVED = []
LOCK = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with LOCK:
            RECEIVED.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "type": self.headers.get("Content-Type"), "raw": raw})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
PORT = server.server_address[1]

# a port with nothing listening on it
s = socket.socket()
s.bind(("127.0.0.1", 0))
DEAD = s.getsockname()[1]
s.close()

PB = f"""\
lockstep: 1
name: notify-demo
start: hello
params:
  token: {{type: string, secret: true, env: HOOK_TOKEN}}
  fail: {{type: bool, default: false}}
notify:
  - url: "http://127.0.0.1:{PORT}/hook/${{{{ run.playbook }}}}"
    on: [approval_needed, halted, succeeded, failed]
    headers: {{Authorization: "Bearer ${{{{ params.token }}}}"}}
  - url: "http://127.0.0.1:{DEAD}/nobody"
    on: [finished]
defaults: {{on_failure: failed}}
states:
  hello:
    action: exec
    mutates: false
    with: {{argv: [sh, -c, 'echo "using $HOOK_TOKEN"; if [ "$FAIL" = 1 ]; then echo "bad $HOOK_TOKEN" >&2; exit 3; fi']}}
    next: gate
  gate:
    confirm: "go on?"
    next: done
  done: {{terminal: success}}
  failed: {{terminal: failure}}
"""

c = Case("notify", PB)
env = {"HOOK_TOKEN": SECRET}
rc, out, err = c.run(env=env)
eq(rc, 3, "halts for the approval: " + err)
rid = c.last_run()
with LOCK:
    got = list(RECEIVED)
eq(len(got), 1, "one notification for the halt")
body = json.loads(got[0]["raw"])
eq(body["event"], "approval_needed", "event")
eq(body["run_id"], rid, "run id")
eq(body["playbook"], "notify-demo", "playbook")
eq(body["state"], "gate", "state")
eq(body["resume_command"], f"lockstep resume {rid} --approve gate", "resume command")
eq(got[0]["path"], "/hook/notify-demo", "the url is a template")
eq(got[0]["auth"], "Bearer " + SECRET, "headers are templates and may carry a secret")
check((got[0]["type"] or "").startswith("application/json"), "JSON body")

rc, out, err = c.cmd("resume", rid, "--yes", env=env)
eq(rc, 0, "resume to success: " + err)
check("notification 'succeeded'" in err and "not delivered" in err, "the dead endpoint only warns: " + err)
with LOCK:
    got = list(RECEIVED)
eq([json.loads(g["raw"])["event"] for g in got], ["approval_needed", "succeeded"], "succeeded after resume")
eq(json.loads(got[-1]["raw"])["outcome"], "success", "outcome")

c2 = Case("notify-fail", PB)
rc, out, err = c2.run("--set", "fail=true", env=dict(env, FAIL="1"))
eq(rc, 1, "the failing run fails (and the dead endpoint does not change that): " + err)
with LOCK:
    got = list(RECEIVED)
last = json.loads(got[-1]["raw"])
eq(last["event"], "failed", "failed event")
eq(last["state"], "failed", "failed at the failure terminal")
for g in got:
    raw = g["raw"].decode()
    for form in (SECRET, SECRET.replace("-", "%2D"), json.dumps(SECRET)[1:-1]):
        check(form not in raw, f"no secret in a body: {raw}")

# a dry run sends nothing
n = len(RECEIVED)
rc, out, err = c2.run("--dry-run", env=env)
eq(len(RECEIVED), n, "a dry run sends no notification")

bad = Case("notify-bad", PB.replace("on: [finished]", "on: [finishd]"))
rc, out, err = bad.cmd("validate", bad.pb, env=env)
eq(rc, 2, "an unknown notify event is a load error")
check("pb.yaml:" in err and "finishd" in err, "names the place: " + err)
server.shutdown()
for x in (c, c2, bad):
    x.cleanup()
finish()
