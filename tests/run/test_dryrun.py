"""Dry run vs real run (SPEC 4): probes run for real, mutating actions are
simulated from dry_run.result, approvals are auto-approved and journaled,
every event is marked, and the summary says which decisions rest on real
and which on simulated data, and which on a read of the system that a
simulated change would have changed (`on UNCHANGED data`: a tainted and an
untainted probe of two HTTP servers, an exec change that taints all, a scan
of a tainted read); a dry run says when a real run holds the lock."""
import http.server
import json
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, playbook, wait_for  # noqa: E402

PB = playbook("dry", "probe", """\
  probe:
    action: exec
    mutates: false
    with: {argv: [sh, -c, 'touch @DIR@/probed; echo 4']}
    expect: "trim(result.stdout) == '4'"
    next: migrate
  migrate:
    action: exec
    confirm: "Migrate the database?"
    with: {argv: [sh, -c, 'touch @DIR@/migrated; echo 12']}
    dry_run: {result: {exit_code: 0, stdout: "12"}}
    expect: guards.schema_ok
    next: route
  route:
    next:
      - {if: "trim(states.probe.result.stdout) == '4'", goto: roll}
      - {goto: failed}
  roll:
    action: shell
    with: {script: 'touch @DIR@/rolled'}
    next: done
""", extra="guards:\n  schema_ok: \"trim(states.migrate.result.stdout) == '12'\"\n")

c = Case("dryrun", PB)
rc, out, err = c.run("--dry-run")
eq(rc, 0, "dry run exit")
check(c.exists("probed"), "dry run: the probe did not run for real")
check(not c.exists("migrated") and not c.exists("rolled"), "dry run: a mutating action ran")
ev = c.journal()
check(all(e.get("dry_run") is True for e in ev), "dry run: every event marked dry_run")
fin = {e["state"]: e["status"] for e in c.events(ev, "action_finished")}
eq(fin, {"probe": "ok", "migrate": "simulated", "roll": "simulated"}, "dry run statuses")
ap = c.events(ev, "approval")
eq([(a["state"], a["via"]) for a in ap], [("migrate", "dry_run")], "dry run approval")
eq(c.path_of(ev), ["probe", "migrate", "route", "roll", "done"], "dry run path")
check("SIMULATED data (dry_run.result of migrate)" in out, "summary names simulated data: " + out)
check("real data" in out, "summary names real data: " + out)
dec = [l for l in out.splitlines() if "schema_ok" in l]
check(dec and "SIMULATED" in dec[0], "schema_ok decided on simulated data: " + repr(dec))
dec = [l for l in out.splitlines() if " branch " in l and "route" in l and "->" not in l]
check(dec and "real data" in dec[0], "route decided on real data: " + repr(dec))

# a condition that passes only because the run is a dry run is no check
c2 = Case("dryrun-flag", playbook("dryflag", "probe", """\
  probe:
    action: exec
    mutates: false
    with: {argv: [echo, '11']}
    expect: "trim(result.stdout) == '12' or run.dry_run"
    next: done
"""))
rc, out, err = c2.run("--dry-run")
eq(rc, 0, "dry run passes on the flag")
dec = [l for l in out.splitlines() if "run.dry_run" in l]
check(dec and "DRY-RUN FLAG (a real run would decide false here)" in dec[0],
      "a decision made by run.dry_run is labelled so: " + repr(dec))

# the same playbook for real: needs the approval (no TTY -> halt), then runs everything
os.remove(c.path("probed"))
rc, out, err = c.run()
eq(rc, 3, "real run without approval halts")
check(not c.exists("migrated"), "real run: migrated before approval")
rc, out, err = c.run("--yes")
eq(rc, 0, "real run exit")
check(c.exists("probed") and c.exists("migrated") and c.exists("rolled"), "real run did not run all")
ev = c.journal()
check(all("dry_run" not in e for e in ev if e["event"] != "run_started"), "real run: events marked dry_run")
eq(c.journal()[0]["dry_run"], False, "run_started.dry_run false")

# a mutating action without dry_run.result gets {} (status simulated, state ok)
c = Case("dry-empty", playbook("dry2", "a", """\
  a:
    action: exec
    with: {argv: [touch, '@DIR@/x']}
    next:
      - {if: "states.a.result == {}", goto: done}
      - {goto: failed}
""".replace("states.a.result == {}", "len(keys(states.a.result)) == 0")))
rc, out, err = c.run("--dry-run")
eq(rc, 0, "dry run {} exit")
check(not c.exists("x"), "dry run {}: ran")


# ---- reads of the unchanged system ----

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True, "log": "all quiet"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.server.posts += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


servers = []
for _ in range(2):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.posts = 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers.append(srv)
a_url = "http://127.0.0.1:%d" % servers[0].server_address[1]
b_url = "http://127.0.0.1:%d" % servers[1].server_address[1]

c = Case("dry-unchanged", playbook("dryunch", "read_a0", """\
  read_a0:
    action: http.request
    with: {base_url: "${{ params.a }}", path: /health}
    expect: "result.json.ok"
    next: change_a
  change_a:
    action: http.request
    with: {base_url: "${{ params.a }}", path: /deploy, method: POST}
    dry_run: {result: {status: 204}}
    next: read_a
  read_a:
    action: http.request
    with: {base_url: "${{ params.a }}", path: /health}
    expect: "result.json.ok"
    next: read_b
  read_b:
    action: http.request
    with: {url: "${{ params.b }}/health"}
    expect: "result.json.ok"
    next: scan_a
  scan_a:
    action: log.scan
    with: {text: "${{ states.read_a.result.json.log }}", patterns: [error]}
    next:
      - {if: "states.scan_a.result.matched == false", goto: change_any}
      - {goto: failed}
  change_any:
    action: exec
    with: {argv: [touch, '@DIR@/changed']}
    dry_run: {result: {exit_code: 0}}
    next: read_b2
  read_b2:
    action: http.request
    with: {url: "${{ params.b }}/health"}
    expect: "result.json.ok"
    next: done
""", extra="params: {a: {type: string}, b: {type: string}}\n"))
sets = ["--set", "a=" + a_url, "--set", "b=" + b_url]
rc, out, err = c.run("--dry-run", "--output", "json", *sets)
eq(rc, 0, "unchanged: dry run exit " + err)
eq(servers[0].posts, 0, "unchanged: the simulated POST reached the server")
ev = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
fin = ev[-1]
eq(fin["event"], "run_finished", "unchanged: last event")
dec = {(d["state"], d["kind"]): d for d in fin["decisions"]}
eq(dec[("read_a0", "expect")]["basis"], "real", "a read before any change is real")
eq(dec[("read_a0", "outcome")]["basis"], "real", "its outcome too")
# tainted: the same server after a simulated change to it
eq(dec[("read_a", "expect")]["basis"], "unchanged", "a read of the changed server")
eq(dec[("read_a", "expect")]["unchanged_by"], ["change_a"], "names the change it missed")
eq(dec[("read_a", "outcome")]["basis"], "unchanged", "its outcome")
# untainted: another server, which no simulated change touched
eq(dec[("read_b", "expect")]["basis"], "real", "a read of an untouched server stays real")
check("unchanged_by" not in dec[("read_b", "expect")], "untainted read names no change")
# a scan of a tainted read is tainted
eq(dec[("scan_a", "branch")]["basis"], "unchanged", "a scan of a tainted read")
eq(dec[("scan_a", "branch")]["unchanged_by"], ["change_a"], "the scan names the change")
check(("scan_a", "outcome") not in dec, "log.scan reads nothing outside: no outcome decision")
# an exec change has no known target: it taints every later read
eq(dec[("read_b2", "expect")]["basis"], "unchanged", "a read after an exec change")
eq(dec[("read_b2", "expect")]["unchanged_by"], ["change_any"], "names the exec change")
check(not c.exists("changed"), "unchanged: the exec change ran")

rc, out, err = c.run("--dry-run", *sets)
eq(rc, 0, "unchanged: text dry run exit")
lines = out.splitlines()
line = [l for l in lines if l.split()[:2] == ["read_a", "expect"]]
check(line and "on UNCHANGED data (the simulated change_a would have changed what it read)" in line[0],
      "summary labels the tainted read: " + repr(line))
line = [l for l in lines if l.split()[:2] == ["read_b", "expect"]]
check(line and line[0].endswith("on real data"), "summary labels the untainted read real: " + repr(line))
final = lines[-1]
check("ended in success at done" in final and
      "(dry run: 5 decisions rested on the unchanged system)" in final,
      "final line counts what rested on the unchanged system: " + final)

# A real run has no decisions list and no qualifier.
rc, out, err = c.run("--yes", *sets)
eq(rc, 0, "unchanged: real run exit " + err)
eq(servers[0].posts, 1, "real run POSTed")
check("unchanged" not in out.splitlines()[-1], "real run final line: " + out.splitlines()[-1])
check("decisions" not in c.journal()[-1], "real run_finished carries no decisions")
for srv in servers:
    srv.shutdown()
    srv.server_close()

# ---- a dry run while a real run holds the lock ----
c = Case("dry-locked", playbook("drylock", "hold", """\
  hold:
    action: exec
    mutates: false
    with: {argv: [sh, -c, 'touch @DIR@/holding; cat "$1" > /dev/null', sh, "${{ params.gate }}"]}
    next: change
  change:
    action: exec
    with: {argv: [touch, '@DIR@/changed']}
    next: done
""", extra="params: {gate: {type: string, default: '@DIR@/gate'}}\n"))
os.mkfifo(c.path("gate"))
holder = c.start("--yes")
try:
    check(wait_for(lambda: c.exists("holding"), timeout=60), "the real run did not start")
    rid = c.last_run()
    rc, out, err = c.run("--dry-run", "--set", "gate=/dev/null")
    eq(rc, 0, "a dry run under a held lock still runs: " + err)
    want = f"lockstep: run {rid} (pid {holder.pid} on {socket.gethostname()}) of drylock is in progress"
    first = err.splitlines()[0] if err else ""
    check(first.startswith(want), f"dry run says first who holds the lock: want {want!r}, got {err!r}")
    check("what it reads may be half way through that run's changes" in first, "and why it matters: " + first)
    check(out.startswith("lockstep: starting run"), "then starts as usual: " + out[:200])
    check(not c.exists("changed"), "the dry run changed something")
    with open(c.path("gate"), "w"):
        pass  # lets the real run go on
    holder.communicate(timeout=60)
    eq(holder.returncode, 0, "the real run finished")
finally:
    if holder.poll() is None:
        holder.kill()
        holder.wait()
rc, out, err = c.run("--dry-run", "--set", "gate=/dev/null")
eq(rc, 0, "dry run with no holder")
check("in progress" not in err, "no holder, no warning: " + err)

# ---- a resumed dry run does not forget what was simulated before the halt ----
c = Case("dry-resumed", playbook("dryres", "before", """\
  before:
    action: exec
    mutates: false
    with: {argv: [echo, ok]}
    next: change
  change:
    action: exec
    with: {argv: [touch, '@DIR@/changed']}
    next: hold
  hold:
    action: exec
    mutates: false
    with: {argv: [sh, -c, 'touch @DIR@/holding; cat "$1" > /dev/null', sh, "${{ params.gate }}"]}
    next: done
""", extra="params: {gate: {type: string, default: '@DIR@/gate'}}\n"))
os.mkfifo(c.path("gate"))
p = c.start("--dry-run")
try:
    check(wait_for(lambda: c.exists("holding"), timeout=60), "the dry run did not reach hold")
    rid = c.last_run()
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    eq(p.returncode, 3, "SIGTERM'd dry run halts")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
halted = c.journal(rid)[-1]
eq(halted["event"], "run_halted", "the dry run halted")
eq([d["basis"] for d in halted["decisions"]], ["real"], "run_halted carries the decisions so far")
rc, out, err = c.cmd("resume", rid, "--set", "gate=/dev/null", "--output", "json")
eq(rc, 0, "resumed dry run: " + err)
fin = [json.loads(l) for l in out.splitlines() if l.startswith("{")][-1]
dec = {(d["state"], d["kind"]): d for d in fin["decisions"]}
eq(dec[("hold", "outcome")]["basis"], "unchanged", "a read after a change simulated before the halt")
eq(dec[("hold", "outcome")]["unchanged_by"], ["change"], "names it")
check(not c.exists("changed"), "the resumed dry run changed something")
finish()
