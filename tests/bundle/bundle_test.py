#!/usr/bin/python3
"""`lockstep bundle` and a bundle in place of a playbook, end to end.

A signed bundle of the shipped Message Center upgrade round-trips: validate,
test (with coverage), plan, and a dry run against the simulator all work from
the bundle alone, and the run's journal records the manifest's digest and the
signer.  Then every way a bundle can be bad is refused with exit 2 before
anything runs (no run directory, no simulator call): a tampered file, a file
the manifest does not list, a signature by another key, a manifest changed
after signing, a missing signature where trust is required (--trust, a
values file's trust:, the environment's trust:), and entries that escape the
bundle (../, an absolute path, a symlink)."""
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import unittest

SRC = os.environ.get("LOCKSTEP_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCKSTEP = os.environ.get("LOCKSTEP_BIN") or os.path.join(SRC, "build", "lockstep")
SIM = os.path.join(SRC, "tools", "sim")
MC = os.path.join(SRC, "playbooks", "message-center")
UP = "message-center/upgrade.yaml"  # the playbook in a bundle of it (rooted at playbooks/, beside lib/)
PY = "/usr/bin/python3"
SETS = ["--set", "new_tag=v2.5.0", "--set", "expected_schema=12"]


def lockstep(*args, env=None, cwd=SRC):
    return subprocess.run([LOCKSTEP, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def members(path):
    """{name: bytes} of a .tar.gz."""
    out = {}
    with tarfile.open(path, "r:gz") as t:
        for m in t.getmembers():
            out[m.name] = t.extractfile(m).read() if m.isfile() else None
    return out


def write(path, files, extra=()):
    """A .tar.gz of {name: bytes} (ustar), plus raw TarInfo entries."""
    with tarfile.open(path, "w:gz", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for ti, data in extra:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)


class BundleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="bundle_test.")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.d = cls.tmp.name
        for name in ("release", "other"):
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", cls.p(f"{name}.pem")], check=True,
                           capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", cls.p(f"{name}.pem"), "-pubout", "-out", cls.p(f"{name}.pub.pem")],
                           check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", cls.p("release.pub.pem"), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        cls.fingerprint = "ed25519:" + hashlib.sha256(der[-32:]).hexdigest()  # the raw key ends the DER
        cls.signed = cls.p("mc-signed.tar.gz")
        cls.unsigned = cls.p("mc.tar.gz")
        p = lockstep("bundle", os.path.join(MC, "upgrade.yaml"), "-o", cls.signed, "--sign", cls.p("release.pem"))
        assert p.returncode == 0, p.stderr
        cls.bundle_out = p.stdout
        p = lockstep("bundle", os.path.join(MC, "upgrade.yaml"), "-o", cls.unsigned)
        assert p.returncode == 0, p.stderr
        # The simulator, for the dry run and to prove refused runs call nothing.
        argv = [PY, os.path.join(SIM, "start"), "--background", "--dir", cls.p("sim"), "--db", f"bundle_{os.getpid()}"]
        if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
            argv += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout
        cls.addClassCleanup(subprocess.run, [PY, os.path.join(SIM, "stop"), "--dir", cls.p("sim")], check=False,
                            capture_output=True)
        cls.env = dict(os.environ)
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                cls.env[k] = shlex.split(v.replace('"$PATH"', os.environ["PATH"]))[0]

    @classmethod
    def p(cls, *parts):
        return os.path.join(cls.d, *parts)

    def calls(self):
        try:
            with open(self.p("sim", "calls.jsonl"), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def refused(self, bundle, want, *extra, cmd="run"):
        """`cmd` of the bundle exits 2 naming `want`, and nothing ran."""
        state = tempfile.mkdtemp(dir=self.d, prefix="state.")
        before = self.calls()
        if cmd == "run":
            args = ["run", bundle, "--env", "sim", *SETS, "--dry-run", "--yes", "--state-dir", state, *extra]
        elif cmd == "test":
            args = ["test", bundle, *extra]
        else:
            env = [] if "--env" in extra else ["--env", "staging"]
            args = [cmd, bundle, *env, *SETS, "--set", "mongodb_uri=mongodb://x.invalid/", *extra]
        p = lockstep(*args, env=self.env)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(want, p.stderr)
        self.assertIn(f"bundle {bundle}", p.stderr)
        self.assertEqual(os.listdir(state), [], "no run was started")
        self.assertEqual(self.calls(), before, "no simulator program was called")
        self.assertNotIn("PASS", p.stdout)
        return p

    # ---- the round trip ----

    def test_bundle_contents(self):
        files = members(self.signed)
        # The bundle's root is playbooks/: the playbook's directory and the
        # parts it runs (playbook: ../lib/...) beside it.
        self.assertIn("message-center/upgrade.yaml", files)
        for name in ("environments/staging.yaml", "environments/production.yaml", "environments/sim.yaml",
                     "tests/happy_kubernetes.yaml", "tests/running_version_too_old.yaml", "sim/env.example"):
            self.assertIn("message-center/" + name, files)
        for part in ("mongo-backup", "k8s-migrate-roll", "k8s-undo", "compose-upgrade", "compose-rollback",
                     "post-checks", "mongo-restore"):
            self.assertIn(f"lib/{part}.yaml", files)
        man = json.loads(files["lockstep-bundle.json"])
        self.assertEqual(man["name"], "message-center-upgrade")
        self.assertEqual(man["playbook"], "message-center/upgrade.yaml")
        self.assertEqual(man["release"], {"version": "2.5.0", "upgrades_from": ">=2.4.0 <2.5.0",
                                          "schema": {"from": 11, "to": 12}})
        self.assertEqual(man["signer"], self.fingerprint)
        listed = {f["path"]: f for f in man["files"]}
        self.assertEqual(set(listed), set(files) - {"lockstep-bundle.json", "lockstep-bundle.sig"})
        for name, f in listed.items():
            self.assertEqual(f["sha256"], hashlib.sha256(files[name]).hexdigest(), name)
            self.assertEqual(f["size"], len(files[name]), name)
        with open(os.path.join(MC, "upgrade.yaml"), "rb") as f:
            self.assertEqual(files["message-center/upgrade.yaml"], f.read())
        # Reproducible: the same inputs give the same bytes.
        again = self.p("again.tar.gz")
        self.assertEqual(lockstep("bundle", os.path.join(MC, "upgrade.yaml"), "-o", again).returncode, 0)
        with open(again, "rb") as a, open(self.unsigned, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_validate_test_plan_from_the_bundle(self):
        p = lockstep("validate", self.signed, "--trust", self.p("release.pub.pem"), "--env", "staging", *SETS,
                     "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"signed by {self.fingerprint}, verified", p.stdout)
        p = lockstep("test", "--coverage", "--trust", self.p("release.pub.pem"), self.signed)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
        tests = len(os.listdir(os.path.join(MC, "tests")))
        self.assertIn(f"{tests} passed, 0 failed", p.stdout)
        cov = [x for x in p.stdout.splitlines() if x.startswith("transitions covered:")][0].split()[-1].split("/")
        self.assertEqual(cov[0], cov[1], "full coverage from the bundle's own tests")
        p = lockstep("plan", self.unsigned, "--env", "production", *SETS, "--set", "mongodb_uri=mongodb://u:pw@db/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("release 2.5.0; upgrades from >=2.4.0 <2.5.0; schema 11 -> 12", p.stdout)
        self.assertIn("registry.example.com/message-center/core-admin:v2.5.0", p.stdout)
        self.assertNotIn("pw@", p.stdout)

    def test_dry_run_from_the_bundle(self):
        state = self.p("state-dry")
        p = lockstep("run", self.signed, "--trust", self.p("release.pub.pem"), "--env", "sim", *SETS, "--dry-run",
                     "--yes", "--state-dir", state, "--set", "backup_dir=" + self.p("backups"), env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
        runs = os.listdir(os.path.join(state, "runs"))
        self.assertEqual(len(runs), 1)
        with open(os.path.join(state, "runs", runs[0], "journal.jsonl"), encoding="utf-8") as f:
            started = json.loads(f.readline())
        self.assertEqual(started["event"], "run_started")
        manifest = members(self.signed)["lockstep-bundle.json"]
        self.assertEqual(started["bundle_manifest_sha256"], hashlib.sha256(manifest).hexdigest())
        self.assertEqual(started["bundle_signer"], self.fingerprint)
        self.assertTrue(started["bundle_verified"])
        self.assertEqual(started["bundle"], os.path.realpath(self.signed))
        self.assertEqual(started["release"]["version"], "2.5.0")
        st = lockstep("status", runs[0], "--state-dir", state)
        self.assertIn(f"bundle {os.path.realpath(self.signed)} (manifest sha256 {hashlib.sha256(manifest).hexdigest()}; "
                      f"signed by {self.fingerprint}, verified)", st.stdout)
        self.assertIn("release 2.5.0", st.stdout)
        self.assertEqual([x for x in os.listdir(tempfile.gettempdir()) if x.startswith("lockstep-bundle.")
                          and os.path.getmtime(os.path.join(tempfile.gettempdir(), x)) > os.path.getmtime(state)], [],
                         "the extracted files are gone")

    def test_resume_a_run_from_a_bundle(self):
        """Halted (approval needed, no TTY), then resumed: the bundle is
        opened again; a bundle changed in between is refused."""
        state = self.p("state-resume")
        copy = self.p("resume.tar.gz")
        shutil.copy(self.signed, copy)
        # A real run (a dry run approves by itself): it halts at release_notes.
        self.addCleanup(subprocess.run, [PY, os.path.join(SIM, "ctl"), "init", "--mongodb-uri", self.env["MONGODB_URI"],
                                         "--db", self.env["MONGODB_DB"]], env=self.env, capture_output=True)
        args = ["--env", "sim", *SETS, "--state-dir", state, "--set", "backup_dir=" + self.p("backups")]
        p = lockstep("run", copy, *args, env=self.env)
        self.assertEqual(p.returncode, 3, p.stdout[-2000:] + p.stderr)
        run_id = os.listdir(os.path.join(state, "runs"))[0]
        shutil.copy(self.unsigned, copy)  # another manifest (no signer) at the same path
        p = lockstep("resume", run_id, "--yes", "--state-dir", state, env=self.env)
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"the bundle {copy} changed since the run started", p.stderr)
        shutil.copy(self.signed, copy)
        p = lockstep("resume", run_id, "--yes", "--state-dir", state, env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr)

    # ---- refused before anything runs ----

    def test_tampered_file(self):
        files = members(self.signed)
        files[UP] = files[UP].replace(b"on_failure: aborted", b"on_failure: done", 1)
        bad = self.p("tampered.tar.gz")
        write(bad, files)
        self.refused(bad, f"file '{UP}' does not match the manifest")
        self.refused(bad, "does not match the manifest", cmd="validate")
        self.refused(bad, "does not match the manifest", cmd="test")
        self.refused(bad, "does not match the manifest", cmd="plan")

    def test_file_not_in_the_manifest(self):
        files = members(self.unsigned)
        files["environments/evil.yaml"] = b"params: {registry: evil.example}\n"
        bad = self.p("extra.tar.gz")
        write(bad, files)
        self.refused(bad, "file 'environments/evil.yaml' is in the bundle but not in the manifest")

    def test_file_missing(self):
        files = members(self.unsigned)
        del files["message-center/tests/happy_kubernetes.yaml"]
        bad = self.p("missing.tar.gz")
        write(bad, files)
        self.refused(bad, "file 'message-center/tests/happy_kubernetes.yaml' is in the manifest but not in the bundle", cmd="test")

    def test_wrong_signature(self):
        other = self.p("mc-other.tar.gz")
        self.assertEqual(lockstep("bundle", os.path.join(MC, "upgrade.yaml"), "-o", other, "--sign",
                                  self.p("other.pem")).returncode, 0)
        self.refused(other, f"but the trusted key (--trust {self.p('release.pub.pem')}) is {self.fingerprint}",
                     "--trust", self.p("release.pub.pem"))

    def test_manifest_changed_after_signing(self):
        files = members(self.signed)
        files[UP] = files[UP].replace(b"on_failure: aborted", b"on_failure: done", 1)
        man = json.loads(files["lockstep-bundle.json"])
        for f in man["files"]:
            if f["path"] == UP:
                f["sha256"] = hashlib.sha256(files[UP]).hexdigest()
                f["size"] = len(files[UP])
        files["lockstep-bundle.json"] = (json.dumps(man, separators=(",", ":")) + "\n").encode()
        bad = self.p("resigned.tar.gz")
        write(bad, files)
        self.refused(bad, "the signature does not verify with", "--trust", self.p("release.pub.pem"))
        # Without trust the digests match: it is only an unverified claim.
        p = lockstep("validate", bad, "--env", "staging", *SETS, "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("NOT verified", p.stdout)

    def test_missing_signature_with_trust_required(self):
        self.refused(self.unsigned, "the bundle is not signed, but trust is required (--trust", "--trust",
                     self.p("release.pub.pem"))
        values = self.p("ops-values.yaml")
        with open(values, "w") as f:
            f.write("trust: release.pub.pem\n")  # relative to this file
        self.refused(self.unsigned, f"not signed, but trust is required (trust: in {values})", "--values", values,
                     cmd="validate")
        p = lockstep("validate", self.signed, "--values", values, "--env", "staging", *SETS,
                     "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("verified (trust: in", p.stdout)

    def test_trust_in_the_environment(self):
        book = os.path.join(self.p("root"), "message-center")
        shutil.copytree(MC, book)
        shutil.copytree(os.path.join(SRC, "playbooks", "lib"), os.path.join(self.p("root"), "lib"))
        with open(os.path.join(book, "environments", "production.yaml"), "a") as f:
            f.write(f"trust: {self.p('release.pub.pem')}\n")
        unsigned, signed = self.p("env-unsigned.tar.gz"), self.p("env-signed.tar.gz")
        self.assertEqual(lockstep("bundle", os.path.join(book, "upgrade.yaml"), "-o", unsigned).returncode, 0)
        self.assertEqual(lockstep("bundle", os.path.join(book, "upgrade.yaml"), "-o", signed, "--sign",
                                  self.p("release.pem")).returncode, 0)
        p = lockstep("validate", unsigned, "--env", "production", *SETS, "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 2)
        self.assertIn("not signed, but trust is required (trust: in the bundle's message-center/environments/production.yaml)",
                      p.stderr)
        p = lockstep("validate", unsigned, "--env", "staging", *SETS, "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = lockstep("validate", signed, "--env", "production", *SETS, "--set", "mongodb_uri=mongodb://x.invalid/")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(book, "environments", "production.yaml"), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(book, "environments", "production.yaml"), "w") as f:
            f.write(text.replace(f"trust: {self.p('release.pub.pem')}", "trust: keys/release.pub.pem"))
        rel = self.p("env-relative.tar.gz")
        self.assertEqual(lockstep("bundle", os.path.join(book, "upgrade.yaml"), "-o", rel).returncode, 0)
        self.refused(rel, "trust: 'keys/release.pub.pem' must be an absolute path", "--env", "production",
                     cmd="validate")

    def test_paths_escaping_the_bundle(self):
        base = members(self.unsigned)
        outside = os.path.join(os.path.dirname(tempfile.gettempdir()), "lockstep-escaped")
        cases = [("../lockstep-escaped", "a '..' path component"),
                 ("tests/../../lockstep-escaped", "a '..' path component"),
                 ("/tmp/lockstep-escaped-abs", "an absolute path")]
        for i, (name, want) in enumerate(cases):
            bad = self.p(f"escape{i}.tar.gz")
            ti = tarfile.TarInfo(name)
            ti.size = 4
            write(bad, base, [(ti, b"evil")])
            self.refused(bad, want)
            self.assertFalse(os.path.exists(outside) or os.path.exists("/tmp/lockstep-escaped-abs"))
        link = tarfile.TarInfo("environments/staging.yaml.link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        bad = self.p("symlink.tar.gz")
        write(bad, base, [(link, None)])
        self.refused(bad, "entry 'environments/staging.yaml.link' is a symbolic link")
        hard = tarfile.TarInfo("hard")
        hard.type = tarfile.LNKTYPE
        hard.linkname = "upgrade.yaml"
        write(bad, base, [(hard, None)])
        self.refused(bad, "entry 'hard' is a hard link", cmd="test")

    def test_not_a_bundle(self):
        junk = self.p("junk.tar.gz")
        with open(junk, "wb") as f:
            f.write(b"\x1f\x8b" + os.urandom(300))
        self.refused(junk, "not a gzip stream", cmd="validate")
        plain = self.p("plain.tar.gz")
        write(plain, {"upgrade.yaml": b"lockstep: 1\n"})
        self.refused(plain, "no lockstep-bundle.json: not a lockstep bundle", cmd="validate")
        p = lockstep("validate", os.path.join(MC, "upgrade.yaml"), "--trust", self.p("release.pub.pem"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("is not a bundle", p.stderr)

    def test_without_the_signature_plugin(self):
        """A lockstep without lockstep-ed25519.so beside it: signing and
        trust say what is missing (exit 2); digests are still checked."""
        alone = self.p("alone")
        os.makedirs(alone, exist_ok=True)
        shutil.copy(LOCKSTEP, os.path.join(alone, "lockstep"))
        bin_ = os.path.join(alone, "lockstep")
        p = subprocess.run([bin_, "bundle", os.path.join(MC, "upgrade.yaml"), "-o", self.p("z.tar.gz"), "--sign",
                            self.p("release.pem")], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("signatures need lockstep-ed25519.so", p.stderr)
        p = subprocess.run([bin_, "validate", self.signed, "--trust", self.p("release.pub.pem")], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("signatures need lockstep-ed25519.so", p.stderr)
        p = subprocess.run([bin_, "validate", self.signed, "--env", "staging", *SETS, "--set",
                            "mongodb_uri=mongodb://x.invalid/"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bundle_command_errors(self):
        p = lockstep("bundle", os.path.join(MC, "upgrade.yaml"), "-o", self.p("x.tar.gz"), "--sign",
                     self.p("release.pub.pem"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a PEM private key", p.stderr)
        self.assertFalse(os.path.exists(self.p("x.tar.gz")))
        broken = self.p("broken.yaml")
        with open(broken, "w") as f:
            f.write("lockstep: 1\nname: b\nrelease: {upgrades_from: '>=2.4 <<2.5'}\nstart: a\nstates: {a: {terminal: success}}\n")
        p = lockstep("bundle", broken, "-o", self.p("y.tar.gz"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("broken.yaml:3:", p.stderr)
        self.assertFalse(os.path.exists(self.p("y.tar.gz")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
