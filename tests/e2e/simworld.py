"""One simulated Message Center for the tests that run playbooks FOR REAL
(tests/e2e, tests/playbook_lib): its own simulator dir (tools/sim) and its
own database, the environment a run needs, and reads of the world that do
not go through lockstep.  `check` collects failures in `failures`."""
import json
import os
import shlex
import subprocess

import bson
import pymongo

SRC = os.environ["LOCKSTEP_SRC"]
BIN = os.environ["LOCKSTEP_BIN"]
PY = "/usr/bin/python3"
SIM = os.path.join(SRC, "tools", "sim")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL " + what)
    return cond


class World:
    """The simulator started in WORK/NAME/sim with database PREFIX_PID_NAME."""

    def __init__(self, name, work, prefix):
        self.dir = os.path.join(work, name)
        self.db_name = f"{prefix}_{os.getpid()}_{name}"
        args = [PY, os.path.join(SIM, "start"), "--background", "--dir", os.path.join(self.dir, "sim"),
                "--db", self.db_name]
        if os.environ.get("LOCKSTEP_TEST_MONGODB_URI"):
            args += ["--mongodb-uri", os.environ["LOCKSTEP_TEST_MONGODB_URI"]]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=300).stdout
        self.env = dict(os.environ)
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                self.env[k] = shlex.split(v.replace('"$PATH"', os.environ["PATH"]))[0]
        self.env["LOCKSTEP_STATE_DIR"] = os.path.join(self.dir, "state")
        self.client = pymongo.MongoClient(self.env["MONGODB_URI"], serverSelectionTimeoutMS=60000)
        self.db = self.client[self.db_name]

    def ctl(self, *args):
        return subprocess.run([PY, os.path.join(SIM, "ctl")] + list(args), env=self.env, check=True,
                              capture_output=True, text=True, timeout=300).stdout

    def show(self):
        return json.loads(self.ctl("show"))

    def deployment(self):
        return self.show()["state"]["deployments"]["default/core-admin"]

    def schema(self):
        doc = self.db.meta.find_one({"_id": "schema"})
        return doc.get("schema_version") if doc else None

    def snapshot(self):
        """Every collection's documents, order-independent."""
        return {n: sorted(bson.encode(d) for d in self.db[n].find({}))
                for n in sorted(self.db.list_collection_names())}

    def lockstep_json(self, args):
        """Runs lockstep ARGS --output json; (process, events, path)."""
        p = subprocess.run([BIN] + args + ["--output", "json"], cwd=SRC, env=self.env, capture_output=True,
                           text=True, timeout=600)
        events = []
        for line in p.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return p, events, [e["state"] for e in events if e.get("event") == "state_entered"]

    def close(self):
        try:
            self.client.drop_database(self.db_name)
        except pymongo.errors.PyMongoError:
            pass
        self.client.close()
        subprocess.run([PY, os.path.join(SIM, "stop"), "--dir", os.path.join(self.dir, "sim")],
                       capture_output=True, timeout=300)
