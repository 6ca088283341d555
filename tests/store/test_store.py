"""The run store (issue 17, docs/runs.md): runs, journals and the lease in
MongoDB, shared by machines.  Two state dirs stand for two machines; kill -9
and SIGSTOP/SIGCONT stand for lost and paused holders.  The store is
LOCKSTEP_TEST_MONGODB_URI (tools/with-test-servers: the MongoDB test server,
or a real replica set), one fresh database per case.  Nothing here waits on
a clock: every wait is for an event (a file, an exit, the lease falling
free), bounded only for a very busy machine."""
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "run"))
from harness import Case, check, eq, finish, wait_for  # noqa: E402

BASE = os.environ.get("LOCKSTEP_TEST_MONGODB_URI")
if not BASE:
    print("FAIL: LOCKSTEP_TEST_MONGODB_URI is not set: run through tools/with-test-servers (tools/test)")
    sys.exit(1)
SRC = os.environ.get("LOCKSTEP_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def with_db(uri, db):
    """uri with its database replaced by db (options kept)."""
    head, q, opts = uri.partition("?")
    scheme, _, rest = head.partition("://")
    hosts = rest.split("/", 1)[0]
    return "%s://%s/%s%s%s" % (scheme, hosts, db, q, opts)


def fresh_store():
    return with_db(BASE, "lsstore_" + uuid.uuid4().hex[:12])


def lines(c, name):
    return c.read(name).split() if c.exists(name) else []


class Proxy:
    """A TCP forwarder in front of the store: stop() cuts every connection
    and refuses new ones (the store is lost to lockstep, its data kept);
    start() serves again on the same port."""

    def __init__(self, target):
        self.target = target
        self.port = None
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                a, _ = s.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.target)
            except OSError:
                a.close()
                continue
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def _pipe(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        for z in (x, y):
            try:
                z.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.lsock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []


# s1 waits for the test's word (a file), so the run holds the lease there
# for as long as the test needs; s2 counts its runs; the gate halts a run
# without a TTY.
WAITING = """\
lockstep: 1
name: shared
start: s1
defaults: {on_failure: failed}
states:
  s1:
    action: shell
    with: {script: 'echo s1 >> @DIR@/log; touch @DIR@/in-s1; while [ ! -e @DIR@/go ]; do sleep 0.05; done'}
    next: s2
  s2:
    action: shell
    with: {script: 'echo s2 >> @DIR@/log'}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""

GATED = """\
lockstep: 1
name: gated
start: s1
defaults: {on_failure: failed}
states:
  s1:
    action: shell
    with: {script: 'echo s1 >> @DIR@/log; head -c 200000 /dev/zero | tr "\\\\0" x'}
    next: gate
  gate:
    confirm: "go on?"
    next: s3
  s3:
    action: shell
    with: {script: 'echo s3 >> @DIR@/log'}
    expect: "len(states.s1.result.stdout) == 200000"
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""


def started_id(c, state_dir):
    d = os.path.join(state_dir, "runs")
    ids = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return ids[-1] if ids else None


def resume_when_free(c, rid, state_dir, store, *extra):
    """Resumes on the other machine as soon as the lease is free: every
    attempt before that is refused with exit 4 and changes nothing."""
    res = {}

    def attempt():
        rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", state_dir, "--store", store, *extra)
        res["r"] = (rc, out, err)
        if rc == 4:
            check("holds the lock" in err, "a refused resume says who holds the lease: " + err)
        return rc != 4

    ok = wait_for(attempt, timeout=300, step=0.2)
    check(ok, "the lease fell free")
    return res.get("r", (None, "", ""))


# ---- halted on A, listed, verified and resumed on B ----
store = fresh_store()
c = Case("store-halt", GATED)
A, B = c.path("A"), c.path("B")
rc, out, err = c.run("--state-dir", A, "--store", store)
eq(rc, 3, "A halts at the approval: " + err)
rid = started_id(c, A)
rc, out, err = c.cmd("status", "--state-dir", B, "--store", store)
eq(rc, 0, "B lists the store's runs: " + err)
check(rid in out and "halted at gate" in out, "B sees A's run halted at the gate: " + out)
rc, out, err = c.cmd("status", rid, "--state-dir", B, "--store", store, "--output", "json")
eq(rc, 0, "B shows the run: " + err)
check('"outcome":"halted"' in out, "one run from the store: " + out)
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", B, "--store", store)
eq(rc, 0, "B verifies the store's chain: " + out + err)
check("hash chain intact" in out and "the same as the store's" in out, "store and B's copy agree: " + out)
rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", B, "--store", store)
eq(rc, 0, "B resumes the run to success: " + out + err)
eq(lines(c, "log"), ["s1", "s3"], "every action ran once (s1 on A, s3 on B)")
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", A, "--store", store)
eq(rc, 0, "A's older copy is behind the store, not different: " + out + err)
check("behind the store's" in out, "A's copy is said to be behind: " + out)
rc, out, err = c.cmd("status", rid, "--state-dir", A, "--store", store)
eq(rc, 0, "status on A brings its copy up to date: " + err)
check("success at done" in out, "A sees B's finish: " + out)
rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", A, "--store", store)
eq(rc, 2, "a finished run is not resumed again: " + err)
rc, out, err = c.cmd("report", rid, "--format", "md", "--state-dir", c.path("R"), "--store", store)
eq(rc, 0, "report from a third machine, through the store: " + err)
check(rid in out and "s3" in out, "the report tells the whole run: " + out[:300])
# A changed byte in the store's copy is caught, from any machine.
import pymongo  # noqa: E402
cl = pymongo.MongoClient(store, serverSelectionTimeoutMS=60000)
ev = cl.get_default_database()["events"]
doc = ev.find_one({"run_id": rid, "seq": 3})
ev.update_one({"_id": doc["_id"]}, {"$set": {"line": bytes(doc["line"]).replace(b'"s1"', b'"s9"', 1)}})
cl.close()
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", B, "--store", store)
eq(rc, 1, "verify finds the store's copy altered: " + out + err)
check("BROKEN at line 3" in out and "DIFFERS from the store's at line 3" in out, "and where: " + out)
rc, out, err = c.cmd("status", rid, "--state-dir", c.path("D"), "--store", store)
eq(rc, 2, "a damaged store copy is not taken into a state dir: " + out + err)
check("damaged" in err, "it says so: " + err)
c.cleanup()

# ---- a second machine is locked out while the lease is held ----
store = fresh_store()
c = Case("store-lock", WAITING)
A, B = c.path("A"), c.path("B")
pa = c.start("--state-dir", A, "--store", store)
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
rid = started_id(c, A)
rc, out, err = c.run("--state-dir", B, "--store", store)
eq(rc, 4, "a second run of the same playbook+env on B is locked out: " + err)
check(rid in err and str(pa.pid) in err, "the refusal names the holder's run id and pid: " + err)
check(socket.gethostname() in err, "and its host: " + err)
check(not os.path.isdir(os.path.join(B, "runs")) or os.listdir(os.path.join(B, "runs")) == [],
      "nothing recorded on B")
rc, out, err = c.cmd("status", "--state-dir", B, "--store", store)
check(rid in out and "running" in out, "B lists A's run as running: " + out)
rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", B, "--store", store)
eq(rc, 4, "B cannot resume a run whose lease is held: " + err)
rc, out, err = c.cmd("status", rid, "--state-dir", A, "--store", store)
eq(rc, 0, "status on A's own machine while it runs: " + err)
check("running" in out, "it says running: " + out)
c.write("go", "")
out, err = pa.communicate(timeout=600)
eq(pa.returncode, 0, "A finishes: " + err.decode())
eq(lines(c, "log"), ["s1", "s2"], "each action once")
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", A, "--store", store)
eq(rc, 0, "A's journal, read while it was written, is intact and the store's: " + out + err)
check("the same as the store's" in out, "A's copy and the store's agree: " + out)
c.cleanup()

# ---- a holder paused past its lease is fenced when it wakes ----
store = fresh_store()
c = Case("store-fence", WAITING)
A, B = c.path("A"), c.path("B")
pa = c.start("--state-dir", A, "--store", store, "--lease", "2s")
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
rid = started_id(c, A)
os.kill(pa.pid, signal.SIGSTOP)
c.write("go", "")  # s1's program ends while A sleeps
rc, out, err = resume_when_free(c, rid, B, store, "--assume", "s1=ok")
eq(rc, 0, "B takes the run over once A's lease expired, and finishes it: " + out + err)
eq(lines(c, "log"), ["s1", "s2"], "s2 ran once, under B")
os.kill(pa.pid, signal.SIGCONT)
out, err = pa.communicate(timeout=600)
err = err.decode()
eq(pa.returncode, 4, "A stops as a locked-out run does after waking")
check("lease lost to " in err and "run taken over; nothing more was done here" in err,
      "A says it was fenced: " + err)
check("continue with" not in err and "halted" not in err, "and says nothing else: " + err)
eq(lines(c, "log"), ["s1", "s2"], "A started nothing after waking")
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", B, "--store", store)
eq(rc, 0, "the store's chain is intact: " + out + err)
rc, out, err = c.cmd("status", rid, "--state-dir", c.path("C"), "--store", store)
check("success at done" in out, "the run completed once, under B: " + out + err)
c.cleanup()

# ---- SIGTERM halts the run and releases the lease: another machine goes on at once ----
store = fresh_store()
c = Case("store-term", WAITING)
A, B = c.path("A"), c.path("B")
pa = c.start("--state-dir", A, "--store", store)  # the default lease: 30s
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
rid = started_id(c, A)
os.kill(pa.pid, signal.SIGTERM)
out, err = pa.communicate(timeout=600)
eq(pa.returncode, 3, "SIGTERM halts the run: " + err.decode())
c.write("go", "")
rc, out, err = c.cmd("resume", rid, "--yes", "--assume", "s1=rerun", "--state-dir", B, "--store", store)
eq(rc, 0, "B resumes at once: the halted run released its lease: " + out + err)
eq(lines(c, "log"), ["s1", "s1", "s2"], "s1 again (rerun, as B was told), then s2")
c.cleanup()

# ---- a holder killed (-9) is resumed on another machine ----
store = fresh_store()
c = Case("store-kill", WAITING)
A, B = c.path("A"), c.path("B")
pa = c.start("--state-dir", A, "--store", store, "--lease", "2s")
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
rid = started_id(c, A)
os.kill(pa.pid, signal.SIGKILL)
pa.communicate(timeout=600)
c.write("go", "")
rc, out, err = c.cmd("status", "--state-dir", B, "--store", store)
check(rid in out, "B lists the killed run: " + out)
rc, out, err = resume_when_free(c, rid, B, store, "--assume", "s1=ok")
eq(rc, 0, "B resumes the killed run: " + out + err)
eq(lines(c, "log"), ["s1", "s2"], "each action once")
c.cleanup()

# ---- a dry run stays local, also when it is read or resumed with --store ----
DRY_WAITING = WAITING.replace("    action: shell\n    with: {script: 'echo s1", "    action: shell\n    mutates: false\n"
                              "    with: {script: 'echo s1", 1)
store = fresh_store()
c = Case("store-dry", DRY_WAITING)
A = c.path("A")
pa = c.start("--dry-run", "--state-dir", A, "--store", store)
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "the dry run reached s1 (read-only: it runs)")
rid = started_id(c, A)
os.kill(pa.pid, signal.SIGKILL)
pa.communicate(timeout=600)
c.write("go", "")
rc, out, err = c.cmd("status", "--state-dir", c.path("B"), "--store", store)
check(rid not in out, "the store does not list the dry run: " + out)
rc, out, err = c.cmd("status", rid, "--state-dir", A, "--store", store)
eq(rc, 0, "status of the local dry run with --store: " + err)
rc, out, err = c.cmd("report", rid, "--format", "md", "--state-dir", A, "--store", store)
eq(rc, 0, "report of the local dry run with --store: " + err)
rc, out, err = c.cmd("resume", rid, "--yes", "--state-dir", A, "--store", store, "--assume", "s1=ok")
eq(rc, 0, "the dry run resumes locally with --store set: " + out + err)
eq(lines(c, "log"), ["s1"], "s1 ran (read-only), s2 was simulated")
rc, out, err = c.cmd("status", "--state-dir", c.path("B"), "--store", store)
check(rid not in out, "and the store still has no trace of it: " + out)
c.cleanup()

# ---- an unreachable store: exit 2, nothing runs ----
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
c = Case("store-down", WAITING)
rc, out, err = c.run("--state-dir", c.path("A"), "--store", "mongodb://127.0.0.1:%d/lsstore" % port)
eq(rc, 2, "an unreachable store stops the run before it starts: " + err)
check("cannot reach the store" in err and "nothing ran" in err, "it says so: " + err)
eq(lines(c, "log"), [], "nothing ran")
check(not os.path.isdir(c.path("A/runs")), "no run was recorded")
rc, out, err = c.cmd("status", "--state-dir", c.path("A"), env={"LOCKSTEP_STORE": "mongodb://127.0.0.1:%d/x" % port})
eq(rc, 2, "LOCKSTEP_STORE is the store too: " + err)
c.cleanup()

# ---- a store lost mid-run: the run halts at its next durable point ----
# A private test server, so that it can be stopped under the run.
c = Case("store-lost", WAITING)
srv = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tools", "mongo-test-server"), "--port", "0",
                        "--ready-file", c.path("uri")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
check(wait_for(lambda: c.exists("uri"), timeout=300), "the private store is up")
lost = with_db(c.read("uri").strip(), "lsstore")
pa = c.start("--state-dir", c.path("A"), "--store", lost)
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
srv.terminate()
srv.wait(timeout=300)
c.write("go", "")
out, err = pa.communicate(timeout=600)
err = err.decode()
eq(pa.returncode, 3, "the run halts, resumably: " + err)
check("is lost" in err, "it says the store was lost: " + err)
eq(lines(c, "log"), ["s1"], "nothing ran past the lost store")
c.cleanup()

# ---- a store lost mid-run, back later: resumed on another machine ----
srv = Case("store-proxy-srv", WAITING)
srvp = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tools", "mongo-test-server"), "--port", "0",
                         "--ready-file", srv.path("uri")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
check(wait_for(lambda: srv.exists("uri"), timeout=300), "the private store is up")
hostport = srv.read("uri").strip().split("//", 1)[1].strip("/")
proxy = Proxy((hostport.split(":")[0], int(hostport.split(":")[1])))
proxy.start()
via = "mongodb://127.0.0.1:%d/lsstore" % proxy.port
c = Case("store-back", WAITING)
A, B = c.path("A"), c.path("B")
pa = c.start("--state-dir", A, "--store", via, "--lease", "2s")
check(wait_for(lambda: c.exists("in-s1"), timeout=300), "A reached s1")
rid = started_id(c, A)
proxy.stop()
c.write("go", "")
out, err = pa.communicate(timeout=600)
err = err.decode()
eq(pa.returncode, 3, "the run halts when the store is lost: " + err)
check("is lost" in err and "resume" in err, "and says how to go on: " + err)
eq(lines(c, "log"), ["s1"], "nothing ran past the lost store")
proxy.start()
rc, out, err = resume_when_free(c, rid, B, via, "--assume", "s1=ok")
eq(rc, 0, "once the store is back, B resumes the run: " + out + err)
eq(lines(c, "log"), ["s1", "s2"], "each action once")
rc, out, err = c.cmd("status", rid, "--verify", "--state-dir", A, "--store", via)
eq(rc, 0, "A's copy is behind the store's, not different: " + out + err)
rc, out, err = c.cmd("status", rid, "--state-dir", A, "--store", via)
check("success at done" in out, "A sees the run finished: " + out + err)
proxy.stop()
srvp.terminate()
srvp.wait(timeout=300)
c.cleanup()
srv.cleanup()

# ---- a playbook may not target the store's own database ----
TARGETS = """\
lockstep: 1
name: targets
start: ping
defaults: {on_failure: failed}
states:
  ping:
    action: mongo.ping
    with: {uri: "%s"}
    next: done
  done: {terminal: success}
  failed: {terminal: failure}
"""
db = "lsstore_" + uuid.uuid4().hex[:12]
c = Case("store-target", TARGETS % with_db(BASE, db))
rc, out, err = c.run("--state-dir", c.path("A"), "--store", with_db(BASE, db))
eq(rc, 2, "a playbook targeting the store's database is refused: " + err)
check("pb.yaml:8:" in err and "run store" in err, "with its place in the playbook: " + err)
check(not os.path.isdir(c.path("A/runs")), "nothing ran")
rc, out, err = c.run("--state-dir", c.path("A"), "--store", with_db(BASE, db + "_other"))
eq(rc, 0, "another database is fine: " + err)
c.cleanup()

finish()
