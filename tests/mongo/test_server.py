"""tools/mongo-test-server itself: the ready file appears whole and only
once the port accepts connections, errors come back as {ok: 0, errmsg,
code}, string _ids and duplicate keys behave as in MongoDB, a cursor spans
getMore batches, and SIGTERM ends it."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pymongo
from pymongo.errors import DuplicateKeyError, OperationFailure

SERVER = os.path.join(os.environ["LOCKSTEP_SRC"], "tools", "mongo-test-server")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


d = tempfile.mkdtemp(prefix="mongo-test-server-")
ready = os.path.join(d, "uri")
proc = subprocess.Popen(["/usr/bin/python3", SERVER, "--port", "0", "--ready-file", ready],
                        stderr=subprocess.PIPE, text=True)
try:
    deadline = time.monotonic() + 120
    while not os.path.exists(ready) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    uri = open(ready).read()
    check(uri.startswith("mongodb://127.0.0.1:") and uri.endswith("/"), "ready file %r" % uri)
    check(os.listdir(d) == ["uri"], "temporary ready file left: %s" % os.listdir(d))
    c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=60000)
    check(c.admin.command("ping")["ok"] == 1.0, "ping")
    check(isinstance(c.admin.command("buildInfo")["version"], str), "buildInfo version")
    check("uptime" in c.admin.command("serverStatus"), "serverStatus")
    db = c.srvtest
    db.meta.insert_one({"_id": "schema", "schema_version": 3})
    check(db.meta.find_one({"_id": "schema"})["schema_version"] == 3, "string _id")
    try:
        db.meta.insert_one({"_id": "schema"})
        check(False, "duplicate _id accepted")
    except DuplicateKeyError as e:
        check(e.code == 11000, "duplicate key code %s" % e.code)
    db.big.insert_many([{"i": i} for i in range(5000)])
    check(sum(1 for _ in db.big.find().batch_size(300)) == 5000, "cursor over getMore batches")
    check(db.big.count_documents({"i": {"$lt": 10}}) == 10, "count_documents")
    g = list(db.big.aggregate([{"$match": {"i": {"$lt": 4}}}, {"$group": {"_id": None, "n": {"$sum": 1}}}]))
    check(g and g[0]["n"] == 4, "aggregate %s" % g)
    try:
        db.command("noSuchCommand")
        check(False, "unknown command accepted")
    except OperationFailure as e:
        check(e.code == 59 and "no such command" in str(e), "error reply %s" % e.details)
    try:
        db.command("listIndexes", "nope")
        check(False, "listIndexes of a missing collection")
    except OperationFailure as e:
        check(e.code == 26, "NamespaceNotFound %s" % e.code)
    c.drop_database("srvtest")
    check("srvtest" not in c.list_database_names(), "dropDatabase")
    c.close()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = None
    check(rc == 0, "exit on SIGTERM: %s" % rc)
if failures:
    sys.exit(1)
print("ok")
