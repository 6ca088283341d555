#!/usr/bin/python3
"""`cpack -G DEB` makes an installable package: built from this build
directory, its metadata and file list checked, installed with `dpkg -i`
into a scratch root whose package database is a copy of this system's (so
the dependencies are checked against what is really installed and nothing
outside the scratch root changes), and then run from the installed paths:
--version, a dry run of a shipped example, a dry run that loads both
plugins from lib/lockstep/, the man page, the completion and the schemas.

Usage: deb_check.py BUILD_DIR.  Skipped (exit 77, with the reason) when
cpack, dpkg or dpkg-deb is missing."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = os.path.realpath(sys.argv[1])
BIN = os.path.realpath(os.environ.get("LOCKSTEP_BIN", os.path.join(BUILD, "lockstep")))
SRC = os.path.realpath(os.environ["LOCKSTEP_SRC"])
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def sh(argv, **kw):
    kw.setdefault("timeout", 900)
    return subprocess.run(argv, capture_output=True, **kw)


missing = [t for t in ("cpack", "dpkg", "dpkg-deb") if not shutil.which(t)]
if missing:
    print("SKIP %s not installed (Debian: apt-get install dpkg cmake): the .deb cannot be built or installed here"
          % ", ".join(missing))
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out")
    p = sh(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out], cwd=BUILD)
    debs = glob.glob(os.path.join(out, "lockstep_*.deb"))
    if p.returncode != 0 or len(debs) != 1:
        print("FAIL cpack -G DEB: exit %d, %r\n%s%s" % (p.returncode, debs, p.stdout.decode()[-2000:],
                                                        p.stderr.decode()[-2000:]))
        sys.exit(1)
    deb = debs[0]
    info = sh(["dpkg-deb", "-f", deb]).stdout.decode()
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
    check(fields.get("Package") == "lockstep", "Package: %r" % fields.get("Package"))
    version = sh([BIN, "--version"]).stdout.decode().split()[1]
    check(fields.get("Version") == version, "Version %r, lockstep --version %r" % (fields.get("Version"), version))
    for lib in ("libyaml-0-2", "libpcre2-8-0", "libmongoc-1.0-0", "libbson-1.0-0", "libcurl", "zlib1g"):
        check(lib in fields.get("Depends", ""), "Depends lacks %s: %r" % (lib, fields.get("Depends")))
    listing = sh(["dpkg-deb", "-c", deb]).stdout.decode()
    files = {ln.split()[-1].lstrip(".") for ln in listing.splitlines()}
    for f in ("/usr/bin/lockstep", "/usr/lib/lockstep/lockstep-mongo.so", "/usr/lib/lockstep/lockstep-http.so",
              "/usr/share/man/man1/lockstep.1", "/usr/share/bash-completion/completions/lockstep",
              "/usr/share/lockstep/schemas/playbook.schema.json", "/usr/share/lockstep/schemas/values.schema.json",
              "/usr/share/lockstep/playbooks/examples/hello.yaml",
              "/usr/share/lockstep/playbooks/message-center/upgrade.yaml"):
        check(f in files, "the package lacks %s" % f)

    # dpkg -i into a scratch root: its database is a copy of this system's.
    root = os.path.join(tmp, "root")
    admin = os.path.join(root, "var", "lib", "dpkg")
    for d in ("info", "updates", "triggers"):
        os.makedirs(os.path.join(admin, d), exist_ok=True)
    shutil.copy("/var/lib/dpkg/status", os.path.join(admin, "status"))
    open(os.path.join(admin, "available"), "w").close()
    p = sh(["dpkg", "--root=" + root, "--force-not-root", "--force-script-chrootless", "--log=/dev/null",
            "-i", deb], env=dict(os.environ, PATH=os.environ["PATH"] + ":/usr/sbin:/sbin"))
    check(p.returncode == 0, "dpkg -i: exit %d %s%s" % (p.returncode, p.stdout.decode()[-1500:], p.stderr.decode()[-1500:]))
    status = sh(["dpkg-query", "--admindir=" + admin, "-W", "-f", "${Status} ${Version}", "lockstep"]).stdout.decode()
    check(status == "install ok installed " + version, "dpkg-query after dpkg -i: %r" % status)

    usr = os.path.join(root, "usr")
    lockstep = os.path.join(usr, "bin", "lockstep")
    if not os.path.exists(lockstep):
        for f in failures:
            print("FAIL " + f)
        sys.exit(1)
    work = os.path.join(tmp, "work")
    os.mkdir(work)
    p = sh([lockstep, "--version"], cwd=work)
    check(p.returncode == 0 and re.match(r"^lockstep %s \(commit [0-9a-z-]+\)\n$" % re.escape(version),
                                         p.stdout.decode()), "installed --version: %r" % p.stdout)
    check(p.stdout == sh([BIN, "--version"]).stdout, "installed --version differs from the build's")

    shipped = os.path.join(usr, "share", "lockstep", "playbooks")
    p = sh([lockstep, "run", os.path.join(shipped, "examples", "hello.yaml"), "--dry-run", "--state-dir",
            os.path.join(work, "state")], cwd=work)
    check(p.returncode == 0 and b"success" in p.stdout + p.stderr, "installed dry run of hello.yaml: %d %r %r"
          % (p.returncode, p.stdout[-500:], p.stderr[-500:]))
    p = sh([lockstep, "test", "--coverage"] + sorted(glob.glob(os.path.join(shipped, "message-center", "tests", "*.yaml"))),
           cwd=work)
    check(p.returncode == 0 and re.search(rb"^\d+ passed, 0 failed$", p.stdout, re.M),
          "installed scenarios: %d %r" % (p.returncode, p.stdout[-300:]))

    # A dry run whose playbook has mongo and http actions loads both plugins
    # (from usr/lib/lockstep/, relative to the installed binary) before it
    # starts; mutating actions are then simulated.
    pb = os.path.join(work, "plugins.yaml")
    with open(pb, "w") as f:
        f.write("lockstep: 1\nname: plugins\nstart: post\ndefaults: {on_failure: failed}\nstates:\n"
                "  post: {action: http.request, with: {url: 'http://127.0.0.1:9/x', method: POST}, next: drop}\n"
                "  drop: {action: mongo.command, with: {uri: 'mongodb://127.0.0.1:9/', db: x,"
                " command: {dropDatabase: 1}}, next: done}\n"
                "  done: {terminal: success}\n  failed: {terminal: failure}\n")
    p = sh([lockstep, "run", pb, "--dry-run", "--state-dir", os.path.join(work, "state"), "--output", "json"], cwd=work)
    events = [json.loads(x) for x in p.stdout.decode().splitlines() if x.startswith("{")]
    sim = [e["state"] for e in events if e.get("event") == "action_finished" and e.get("status") == "simulated"]
    check(p.returncode == 0 and sim == ["post", "drop"], "installed dry run with plugins: %d %r %r"
          % (p.returncode, sim, p.stderr[-800:]))
    for so in ("lockstep-mongo.so", "lockstep-http.so"):
        os.rename(os.path.join(usr, "lib", "lockstep", so), os.path.join(work, so))
        p = sh([lockstep, "run", pb, "--dry-run", "--state-dir", os.path.join(work, "state")], cwd=work)
        check(p.returncode == 2 and so.encode() in p.stderr, "without %s: %d %r" % (so, p.returncode, p.stderr[-400:]))
        os.rename(os.path.join(work, so), os.path.join(usr, "lib", "lockstep", so))

    # The man page renders without warnings and covers every command.
    man = os.path.join(usr, "share", "man", "man1", "lockstep.1")
    g = sh(["groff", "-man", "-Tutf8", "-ww", man]) if shutil.which("groff") else None
    if g is None:
        print("note: groff not installed: the man page is not rendered")
    else:
        text = re.sub(r".\x08", "", g.stdout.decode())
        check(g.returncode == 0 and not g.stderr, "groff lockstep.1: %d %r" % (g.returncode, g.stderr[:500]))
        for cmd in re.findall(r"^  ([a-z]+) ", sh([lockstep, "--help"]).stdout.decode(), re.M):
            check("lockstep %s" % cmd in text, "the man page lacks lockstep %s" % cmd)
            for opt in set(re.findall(r"--[a-z][a-z-]*", sh([lockstep, cmd, "--help"]).stdout.decode())):
                check(opt in text, "the man page lacks %s of %s" % (opt, cmd))

    # The installed completion completes commands with the installed binary.
    comp = os.path.join(usr, "share", "bash-completion", "completions", "lockstep")
    p = sh(["bash", "--norc", "--noprofile", "-c",
            "source \"$1\"; COMP_WORDS=(lockstep va); COMP_CWORD=1; COMP_LINE='lockstep va'; COMP_POINT=11; "
            "_lockstep lockstep va lockstep; printf '%s\\n' \"${COMPREPLY[@]}\"", "bash", comp],
           env=dict(os.environ, PATH=os.path.dirname(lockstep) + ":" + os.environ["PATH"]))
    check(p.stdout.decode().split() == ["validate"], "installed completion of 'lockstep va': %r %r" % (p.stdout, p.stderr))

    # The installed playbooks' modelines point at the installed schemas.
    for f in [os.path.join(shipped, "examples", "hello.yaml"), os.path.join(shipped, "message-center", "upgrade.yaml")]:
        first = open(f).readline().strip()
        target = os.path.normpath(os.path.join(os.path.dirname(f), first.split("$schema=", 1)[-1]))
        check(os.path.exists(target), "%s: modeline points at %s, not installed" % (f, target))

for f in failures:
    print("FAIL " + f)
print("deb: %d failed" % len(failures))
sys.exit(1 if failures else 0)
