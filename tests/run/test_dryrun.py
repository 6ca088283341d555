"""Dry run vs real run (SPEC 4): probes run for real, mutating actions are
simulated from dry_run.result, approvals are auto-approved and journaled,
every event is marked, and the summary says which decisions rest on real
and which on simulated data."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish, playbook  # noqa: E402

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
finish()
