#!/usr/bin/python3
"""`lockstep plan --env staging --compare-env production` of the shipped
Message Center upgrade: only what differs, side by side (params, rendered
inputs, confirmations, timeouts), secrets masked; and the usage errors."""
import os
import subprocess
import sys
import tempfile

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
PLAYBOOK = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
SECRET = "s3cret-pw-4411"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def plan(*args):
    return subprocess.run([BIN, "plan", PLAYBOOK, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MONGODB_URI=f"mongodb://ops:{SECRET}@db.example/"))


def row(out, label):
    """(left, right) of the first row with this label."""
    for line in out.splitlines():
        if line.strip().startswith(label + ":"):
            left, right = line.split(label + ":", 1)[1].split(" | ", 1)
            return left.strip(), right.strip()
    return None


p = plan("--env", "staging", "--compare-env", "production", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12")
out = p.stdout
check(p.returncode == 0, f"exit 0 (got {p.returncode}: {p.stderr})")
check(out.startswith("compare: message-center-upgrade, env staging | env production\n"), "heading")
check("release 2.5.0; upgrades from >=2.4.0 <2.5.0; schema 11 -> 12" in out, "the release line")
check(row(out, "params.namespace") == ('"message-center-staging"', '"message-center"'), "namespace differs")
check(row(out, "params.enforce_window") == ("false", "true"), "the window is enforced in production only")
check(row(out, "params.window_tz") == ('"UTC"', '"Europe/Berlin"'), "window time zone")
check(row(out, "params.settle") == ('"2m"', '"3m"'), "settle")
# Only differences: params both environments share are not listed.
for same in ("params.registry", "params.mongodb_db", "params.new_tag", "params.platform", "params.mongodb_uri"):
    check(row(out, same) is None, f"{same} is the same in both and not listed")
# Rendered inputs, under their state.
lines = out.splitlines()
i = lines.index("  check_window")
check(lines[i + 1].split() == ["with.tz:", '"UTC"', "|", '"Europe/Berlin"'], "check_window's rendered tz")
i = lines.index("  k8s/set_image")
block = "\n".join(lines[i:i + 4])
check('with.context:' in block and '"staging"' in block and '"production"' in block, "set_image's context")
check("confirm:" in block and "yes (defaults.confirm_mutating)" in block, "production confirms set_image")
check("  k8s_running_version" in lines and "  compose_running_version" not in lines,
      "reads do not ask for confirmation (compose ps is declared a read)")
check("  done" not in lines and "  release_notes" not in lines, "states with no difference are not listed")
check(lines[-1].endswith("differences") and int(lines[-1].split()[0]) > 10, "the count of differences")
check(SECRET not in out and SECRET not in p.stderr, "the secret is never shown")

# A secret that differs is said to differ, not shown.
with tempfile.TemporaryDirectory() as d:
    book = os.path.join(d, "book")
    subprocess.run(["cp", "-r", os.path.dirname(PLAYBOOK), book], check=True)
    # the parts it runs (playbook: ../lib/...), beside the copy as in the repository
    subprocess.run(["cp", "-r", os.path.join(os.path.dirname(os.path.dirname(PLAYBOOK)), "lib"), d], check=True)
    prod = os.path.join(book, "environments", "production.yaml")
    with open(prod, encoding="utf-8") as f:
        text = f.read()
    with open(prod, "w", encoding="utf-8") as f:
        f.write(text.replace("params:\n", f"params:\n  mongodb_uri: mongodb://ops:{SECRET}-prod@db.example/\n", 1))
    p = subprocess.run([BIN, "plan", os.path.join(book, "upgrade.yaml"), "--env", "staging", "--compare-env",
                        "production", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MONGODB_URI=f"mongodb://ops:{SECRET}@db.example/"))
    check(p.returncode == 0, f"secret case exits 0 ({p.stderr})")
    check(row(p.stdout, "params.mongodb_uri") == ("*** (secret)", "*** (a different secret)"),
          f"a differing secret is masked: {row(p.stdout, 'params.mongodb_uri')}")
    check(SECRET not in p.stdout + p.stderr, "neither secret is shown")

# The same environment twice: nothing differs.
p = plan("--env", "staging", "--compare-env", "staging", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12")
check(p.returncode == 0 and p.stdout.splitlines()[-1] == "no differences", "staging vs staging: no differences")
# Usage: --compare-env needs --env; an unknown environment is exit 2 with the file named.
p = plan("--compare-env", "production", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12")
check(p.returncode == 2 and "--compare-env production compares with --env NAME" in p.stderr, "needs --env")
p = plan("--env", "staging", "--compare-env", "nowhere", "--set", "new_tag=v2.5.0", "--set", "expected_schema=12")
check(p.returncode == 2 and "environments/nowhere.yaml" in p.stderr, f"unknown env is exit 2: {p.stderr[:300]}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
