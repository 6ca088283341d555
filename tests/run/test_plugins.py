"""The mongo and http plugins (docs/runs.md "Plugins"): found beside the
executable or in ../lib/lockstep/, loaded before anything runs, refused
when missing or from another build -- exit 2, no run directory.  A
playbook without such actions never needs them."""
import os
import shutil
import subprocess

from harness import BIN, Case, check, eq, finish

HTTP_PB = """lockstep: 1
name: plug
start: probe
states:
  probe:
    action: http.request
    with: {url: "http://127.0.0.1:9/none"}
    timeout: 2s
    next: done
    on_failure: failed
  done: {terminal: success}
  failed: {terminal: failure}
"""

EXEC_PB = """lockstep: 1
name: plug-exec
start: s
states:
  s: {action: exec, with: {argv: [/bin/true]}, next: done, on_failure: failed}
  done: {terminal: success}
  failed: {terminal: failure}
"""

PLUGIN_DIR = os.path.dirname(os.path.realpath(BIN))


def lockstep_at(case, exe, *args):
    p = subprocess.run([exe, *args], cwd=case.dir, env=case.env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def copy_exe(case, rel):
    dst = case.path(rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(os.path.realpath(BIN), dst)
    return dst


def main():
    c = Case("plugins", HTTP_PB, files={"exec.yaml": EXEC_PB})
    try:
        # No plugin beside this copy: validate needs none, run and dry run stop first.
        bare = copy_exe(c, "bare/lockstep")
        rc, _, err = lockstep_at(c, bare, "validate", c.pb)
        eq(rc, 0, "validate without plugins")
        for extra in ([], ["--dry-run"]):
            rc, _, err = lockstep_at(c, bare, "run", c.pb, "--yes", *extra)
            eq(rc, 2, f"run {extra} without the http plugin")
            check("lockstep-http.so" in err and "not in" in err, f"message names the plugin: {err!r}")
        eq(c.runs(), [], "no run directory when a plugin is missing")
        rc, _, err = lockstep_at(c, bare, "run", c.path("exec.yaml"), "--yes")
        eq(rc, 0, f"an exec-only run needs no plugin ({err!r})")

        # Another plugin under the http plugin's name is refused.
        shutil.copy2(os.path.join(PLUGIN_DIR, "lockstep-mongo.so"), c.path("bare/lockstep-http.so"))
        rc, _, err = lockstep_at(c, bare, "run", c.pb, "--yes")
        eq(rc, 2, "run with a wrong plugin")
        check("is not the http plugin" in err, f"message says the plugin is wrong: {err!r}")

        # A plugin of this build that lacks the code of one of its rows: the
        # engine binds every row when it loads a plugin, and refuses it.
        shutil.copy2(os.environ["LOCKSTEP_TEST_INCOMPLETE_PLUGIN"], c.path("bare/lockstep-http.so"))
        runs_before = c.runs()
        rc, _, err = lockstep_at(c, bare, "run", c.pb, "--yes")
        eq(rc, 2, "run with an incomplete plugin")
        check("has no code for http.request" in err, f"message names the missing action: {err!r}")
        eq(c.runs(), runs_before, "no run directory when a plugin is incomplete")

        # The installed layout: PREFIX/bin/lockstep, PREFIX/lib/lockstep/*.so.
        inst = copy_exe(c, "prefix/bin/lockstep")
        os.makedirs(c.path("prefix/lib/lockstep"))
        shutil.copy2(os.path.join(PLUGIN_DIR, "lockstep-http.so"), c.path("prefix/lib/lockstep/"))
        rc, out, err = lockstep_at(c, inst, "run", c.pb, "--yes")
        eq(rc, 1, f"the installed plugin runs the request (refused port: failure) {err!r}")
        check("http.request: GET http://127.0.0.1:9/none" in out + err, f"the request itself failed: {out + err!r}")
    finally:
        c.cleanup()
    finish()


if __name__ == "__main__":
    main()
