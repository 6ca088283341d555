"""The mongo action family against LOCKSTEP_TEST_MONGODB_URI (issue 4).

    test_mongo.py ACT_DRIVER

Run through tools/with-test-servers (tools/test does), which starts
tools/mongo-test-server, or point LOCKSTEP_TEST_MONGODB_URI at a real
mongod.  Without it this test FAILS: it never skips.  Databases are named
per run, so runs can share a server.  Documents are seeded and checked with
pymongo; dumps are decoded with python3-bson, an independent decoder.
"""
import datetime
import glob
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import bson
import pymongo
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

DRIVER = sys.argv[1]
URI = os.environ.get("LOCKSTEP_TEST_MONGODB_URI")
if not URI:
    print("FAIL: LOCKSTEP_TEST_MONGODB_URI is not set: run through tools/with-test-servers (tools/test)")
    sys.exit(1)

PASSWORD = "pw-Zq81-never-shown"
TAG = "lst%d" % os.getpid()
APP = TAG + "_app"
client = pymongo.MongoClient(URI, serverSelectionTimeoutMS=60000)
work = tempfile.mkdtemp(prefix="lockstep-mongo-test-")
failures = []


def run(action, inputs, *flags):
    args = [DRIVER] + list(flags) + [action, json.dumps(inputs)]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("driver exit %d: %s" % (p.returncode, p.stderr))
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["_raw"] = p.stdout + p.stderr
    out["_elapsed"] = time.monotonic() - t0
    return out


def m(**kw):
    d = {"uri": URI, "db": APP}
    d.update(kw)
    return d


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ok(r, what=""):
    if r["status"] != "ok":
        raise AssertionError("%s: expected ok, got %s: %s" % (what, r["status"], r.get("error")))
    return r["result"]


def case(name, fn):
    try:
        fn()
        print("ok   %s" % name)
    except Exception as e:  # report every case, then fail at the end
        failures.append(name)
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


def scratch_left(*results):
    """The scratch databases these verify_backup results name that still
    exist (other tests may verify on the same server at the same time, so
    only the named ones are looked for)."""
    names = [r["scratch_db"] for r in results]
    assert all(n.startswith("lockstep_verify_") for n in names), names
    return [n for n in names if n in client.list_database_names()]


def sum_hash(raw_docs):
    """Order-independent: sum of per-document SHA-256 modulo 2^256."""
    total = 0
    for raw in raw_docs:
        total = (total + int.from_bytes(hashlib.sha256(raw).digest(), "big")) % (1 << 256)
    return total


def raw_docs_of(db, coll):
    raw = client.get_database(db, codec_options=bson.codec_options.CodecOptions(
        document_class=bson.raw_bson.RawBSONDocument))
    return [d.raw for d in raw[coll].find()]


def seed():
    db = client[APP]
    for c in db.list_collection_names():
        db.drop_collection(c)
    db.meta.insert_one({"_id": "schema", "schema_version": 12})
    db.users.insert_many([{"i": i, "name": "user%04d" % i, "active": i % 3 == 0,
                           "tags": ["a", "b"][: i % 3], "profile": {"age": 20 + i % 50}}
                          for i in range(3000)])
    db.users.create_index("name", unique=True)
    db.users.create_index([("i", 1), ("active", -1)], name="i_active")
    db.typed.insert_one({"_id": ObjectId("65f0a1b2c3d4e5f601234567"),
                         "when": datetime.datetime(2024, 5, 1, 12, 30, 45, 123000),
                         "big": Int64(1 << 40), "small": Int64(5), "ratio": 0.25,
                         "price": Decimal128("12.50"), "blob": bson.Binary(b"\x00\x01\xfelockstep"),
                         "nested": {"list": [1, "two", None, True]}})


# ---- probes ----------------------------------------------------------------

def t_ping():
    r = ok(run("mongo.ping", m()))
    eq(r["ok"], True, "ok")
    assert isinstance(r["server_version"], str) and r["server_version"], r


def t_find_schema():
    r = run("mongo.find_one", m(collection="meta", filter={"_id": "schema"}))
    eq(r["mutates"], False, "mutates")
    res = ok(r)
    eq(res["found"], True, "found")
    eq(res["doc"]["schema_version"], 12, "schema_version")


def t_find_missing_is_not_failing():
    res = ok(run("mongo.find_one", m(collection="meta", filter={"_id": "nope"})))
    eq(res, {"found": False, "doc": None}, "result")


def t_find_projection():
    res = ok(run("mongo.find_one", m(collection="users", filter={"i": 7}, projection={"name": 1, "_id": 0})))
    eq(res["doc"], {"name": "user0007"}, "doc")


def t_bson_mapping():
    res = ok(run("mongo.find_one", m(collection="typed", filter={"_id": {"$oid": "65f0a1b2c3d4e5f601234567"}})))
    d = res["doc"]
    eq(d["_id"], "65f0a1b2c3d4e5f601234567", "ObjectId as hex")
    eq(d["when"], "2024-05-01T12:30:45.123Z", "date as ISO-8601")
    eq(d["big"], 1 << 40, "int64")
    eq(d["small"], 5, "int64 small")
    eq(d["ratio"], 0.25, "double")
    eq(d["price"], "12.50", "Decimal128 as string")
    eq(d["blob"], "AAH+bG9ja3N0ZXA=", "binary as base64")
    eq(d["nested"], {"list": [1, "two", None, True]}, "nested")


def t_count():
    res = ok(run("mongo.count", m(collection="users", filter={"active": True})))
    eq(res["count"], 1000, "active")
    res = ok(run("mongo.count", m(collection="users")))
    eq(res["count"], 3000, "all (no filter)")
    res = ok(run("mongo.count", m(collection="users", filter={"i": {"$gte": 2990}})))
    eq(res["count"], 10, "operator filter")


def t_count_nonexistent_collection_is_zero():
    res = ok(run("mongo.count", m(collection="no_such_collection")))
    eq(res["count"], 0, "count")


def t_command():
    r = run("mongo.command", m(command={"ping": 1}, mutates=False))
    eq(r["mutates"], False, "mutates false")
    eq(ok(r)["reply"]["ok"], 1.0, "reply ok")
    r = run("mongo.command", m(command={"noSuchCommand": 1}))
    eq(r["mutates"], True, "mutates default")
    eq(r["status"], "failed", "status")
    assert "noSuchCommand" in r["error"], r["error"]
    eq(r["result"]["reply"]["ok"], 0.0, "reply kept on failure")


def t_unreachable_password_hidden():
    uri = "mongodb://admin:%s@127.0.0.1:1/?serverSelectionTimeoutMS=300" % PASSWORD
    for action, extra in (("mongo.ping", {}), ("mongo.count", {"collection": "x"}),
                          ("mongo.dump", {"out": os.path.join(work, "never")})):
        r = run(action, dict({"uri": uri, "db": "app"}, **extra))
        eq(r["status"], "failed", action)
        assert "mongodb://admin:***@127.0.0.1:1/" in r["error"], r["error"]
        assert PASSWORD not in r["_raw"], "password leaked by %s: %s" % (action, r["_raw"])
    assert not os.path.exists(os.path.join(work, "never", "app"))
    r = run("mongo.ping", {"uri": "mongo://admin:%s@127.0.0.1/?serverSelectionTimeoutMS=abc" % PASSWORD})
    eq(r["status"], "failed", "bad uri")
    assert r["error"].startswith("mongo.ping: bad uri mongo://admin:***@127.0.0.1/"), r["error"]
    assert PASSWORD not in r["_raw"], "password leaked by a bad uri: " + r["_raw"]


def t_timeout_on_silent_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)  # accepts connections, never answers
    try:
        uri = "mongodb://127.0.0.1:%d/" % s.getsockname()[1]
        r = run("mongo.ping", {"uri": uri}, "--timeout", "700")
        eq(r["status"], "timed_out", "status: %s" % r.get("error"))
        # the server never answers: ending at all is the timeout working
        assert r["_elapsed"] < 300, "took %.1fs" % r["_elapsed"]
    finally:
        s.close()


# ---- dump ------------------------------------------------------------------

def dump(name, gz, **kw):
    out = os.path.join(work, name)
    r = run("mongo.dump", m(out=out, gzip=gz, **kw))
    return out, r


def t_dump_plain_decodes():
    out, r = dump("plain", False)
    res = ok(r, "dump")
    eq(r["mutates"], True, "mutates")
    eq(res["dir"], os.path.join(out, APP), "dir")
    eq(res["docs"], 3002, "docs")
    by = {c["name"]: c for c in res["collections"]}
    eq(sorted(by), ["meta", "typed", "users"], "collections")
    eq(by["users"]["count"], 3000, "users count")
    path = os.path.join(out, APP, "users.bson")
    data = open(path, "rb").read()
    eq(by["users"]["bytes"], len(data), "bytes")
    docs = bson.decode_all(data)
    live = list(client[APP].users.find())
    eq(sorted(docs, key=lambda d: d["i"]), sorted(live, key=lambda d: d["i"]), "decoded documents")
    meta = json.load(open(os.path.join(out, APP, "users.metadata.json")))
    eq(meta["collectionName"], "users", "collectionName")
    eq(meta["type"], "collection", "type")
    names = {ix["name"]: ix for ix in meta["indexes"]}
    eq(sorted(names), ["_id_", "i_active", "name_1"], "indexes")
    eq(names["name_1"]["key"], {"name": 1}, "name_1 key")
    eq(names["name_1"].get("unique"), True, "unique")
    eq(names["i_active"]["key"], {"i": 1, "active": -1}, "compound key")
    assert not glob.glob(os.path.join(out, ".*partial*")), "partial folder left"


def t_dump_gzip_decodes():
    out, r = dump("gz", True)
    ok(r, "dump")
    data = gzip.open(os.path.join(out, APP, "users.bson.gz")).read()
    eq(len(bson.decode_all(data)), 3000, "gzip documents")
    # as mongodump --gzip: the metadata is gzip too (mongorestore --gzip
    # reads only .metadata.json.gz)
    assert not os.path.exists(os.path.join(out, APP, "users.metadata.json"))
    meta = json.loads(gzip.open(os.path.join(out, APP, "users.metadata.json.gz")).read())
    eq(sorted(ix["name"] for ix in meta["indexes"]), ["_id_", "i_active", "name_1"], "gzip metadata indexes")


def t_dump_refuses_existing():
    out, r = dump("plain", False)
    eq(r["status"], "failed", "status")
    assert "already exists" in r["error"], r["error"]
    assert not glob.glob(os.path.join(out, ".*partial*")), "partial folder left"


def t_dump_nonexistent_collection():
    out, r = dump("nocoll", True, collections=["users", "no_such_collection"])
    eq(r["status"], "failed", "status")
    assert "'no_such_collection' does not exist" in r["error"], r["error"]
    assert not os.path.exists(os.path.join(out, APP)), "a dump folder was left"


def t_dump_stopped_half_way_leaves_nothing():
    """Cancelled while streaming users (checked every 256 documents): the
    partial folder goes, no OUT/DB appears."""
    out = os.path.join(work, "cancelled")
    r = run("mongo.dump", m(out=out, gzip=False), "--cancel")
    eq(r["status"], "cancelled", "status")
    assert "stopped after" in r["error"], r["error"]
    eq(os.listdir(out), [], "what is left in OUT")


def t_dump_streams():
    """A dump never holds a collection in memory: dumping ~97 MB grows the
    driver's peak RSS by far less than that over the same driver dumping a
    tiny collection (the baseline -- libraries, and under ASan its shadow
    memory -- is measured, not guessed: ~20 MiB plain, ~40 MiB with ASan).
    The same for the archive form, and for restoring that archive (one
    16 MiB insert batch at most: bounded by 64 MiB)."""
    big, small = TAG + "_big", TAG + "_small"
    pad = "x" * 4000
    for k in range(24):
        client[big].docs.insert_many([{"k": k, "i": i, "pad": pad} for i in range(1000)])
    client[small].docs.insert_many([{"k": 0, "i": i, "pad": pad} for i in range(10)])
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4")

    def peak(db, action="mongo.dump", **inputs):
        # GNU time measures the driver from its own small child: os.wait4's
        # ru_maxrss would carry this Python process's high-water mark across
        # exec and hide the driver's own peak under it.
        out = os.path.join(work, db)
        rss = os.path.join(work, db + ".rss")
        args = {"uri": URI, "db": db, "out": out, "gzip": False} if action == "mongo.dump" else {"uri": URI, "db": db}
        args.update(inputs)
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, DRIVER, action, json.dumps(args)],
                           stdout=subprocess.PIPE, env=env, check=False)
        shutil.rmtree(out, ignore_errors=True)
        with open(rss) as f:
            kib = int(f.read().split()[-1])
        return ok(json.loads(p.stdout), action + " " + db), kib / 1024

    arch = os.path.join(work, "big.archive.gz")
    try:
        _, base_mib = peak(small)
        res, peak_mib = peak(big)
        eq(res["docs"], 24000, "docs")
        size = res["collections"][0]["bytes"]
        assert size > 96 * 1000 * 1000, res
        assert peak_mib - base_mib < 32, "peak RSS %.1f MiB (baseline %.1f MiB) for a %d-byte collection" % (
            peak_mib, base_mib, size)
        # The archive form streams as well, and so does restoring it.
        res, peak_mib = peak(big, out=arch, format="archive", gzip=True)
        eq(res["docs"], 24000, "archive docs")
        assert peak_mib - base_mib < 32, "archive dump: peak RSS %.1f MiB (baseline %.1f MiB)" % (
            peak_mib, base_mib)
        res, peak_mib = peak(big + "_r", "mongo.restore", **{"from": arch})
        eq(res["docs"], 24000, "archive restore docs")
        assert peak_mib - base_mib < 64, "archive restore: peak RSS %.1f MiB (baseline %.1f MiB)" % (
            peak_mib, base_mib)
    finally:
        client.drop_database(big)
        client.drop_database(big + "_r")
        client.drop_database(small)


def t_dump_some_collections():
    out, r = dump("some", True, collections=["meta"])
    res = ok(r)
    eq([c["name"] for c in res["collections"]], ["meta"], "collections")
    eq(sorted(os.listdir(os.path.join(out, APP))), ["meta.bson.gz", "meta.metadata.json.gz"], "files")


# ---- verify_backup and restore ------------------------------------------------

def t_verify_backup_plain_and_gzip():
    seen = []
    for name in ("plain", "gz"):
        r = run("mongo.verify_backup", m(**{"from": os.path.join(work, name)}))
        eq(r["mutates"], False, "mutates")
        res = ok(r, name)
        eq(res["collection"], "users", "default: the largest")
        eq(res["dump_count"], 3000, "dump_count")
        eq(res["restored_count"], 3000, "restored_count")
        eq(res["live_count"], 3000, "live_count")
        eq(res["hash_match"], True, "hash_match")
        eq(res["ok"], True, "ok")
        seen.append(res)
    eq(scratch_left(*seen), [], "scratch databases left")


def t_verify_backup_largest_by_bytes_in_gzip():
    """The default collection is the largest by BSON bytes, not by .gz size."""
    db = TAG + "_sizes"
    client[db].zeros.insert_many([{"i": i, "pad": "x" * 10000} for i in range(100)])  # ~1 MB, compresses to little
    client[db].noise.insert_many([{"i": i, "pad": os.urandom(500).hex()} for i in range(200)])  # ~200 KB
    out = os.path.join(work, "sizes")
    try:
        ok(run("mongo.dump", {"uri": URI, "db": db, "out": out}), "dump")
        gz = {c: os.path.getsize(os.path.join(out, db, c + ".bson.gz")) for c in ("zeros", "noise")}
        assert gz["noise"] > gz["zeros"], gz
        res = ok(run("mongo.verify_backup", {"uri": URI, "db": db, "from": out}))
        eq(res["collection"], "zeros", "largest by bytes")
    finally:
        client.drop_database(db)


def t_verify_backup_named_collection():
    res = ok(run("mongo.verify_backup", m(**{"from": os.path.join(work, "gz"), "collection": "typed"})))
    eq((res["collection"], res["dump_count"], res["hash_match"]), ("typed", 1, True), "typed")


def t_verify_backup_missing_collection():
    r = run("mongo.verify_backup", m(**{"from": os.path.join(work, "gz"), "collection": "nope"}))
    eq(r["status"], "failed", "status")
    assert "'nope' is not in the dump" in r["error"], r["error"]
    assert "scratch_db" not in r["result"], "a scratch database was made: %s" % r["result"]


def t_restore_gzip_same_count_and_hash():
    target = TAG + "_restored"
    r = run("mongo.restore", m(db=target, **{"from": os.path.join(work, "gz")}))
    res = ok(r)
    eq(r["mutates"], True, "mutates")
    eq(res["docs"], 3002, "docs")
    eq({c["name"]: c["count"] for c in res["collections"]}, {"meta": 1, "typed": 1, "users": 3000}, "counts")
    cnt = ok(run("mongo.count", m(db=target, collection="users")))["count"]
    eq(cnt, 3000, "count in the restored database")
    dumped = bson.decode_all(gzip.open(os.path.join(work, "gz", APP, "users.bson.gz")).read())
    dump_hash = sum_hash(bson.encode(d) for d in dumped)
    eq(sum_hash(raw_docs_of(target, "users")), dump_hash, "content hash")
    names = sorted(ix["name"] for ix in client[target].users.list_indexes())
    eq(names, ["_id_", "i_active", "name_1"], "indexes recreated")
    # drop (default true): restoring again replaces, never duplicates
    ok(run("mongo.restore", m(db=target, **{"from": os.path.join(work, "gz")})), "again")
    eq(client[target].users.count_documents({}), 3000, "after a second restore")
    # drop false onto existing documents: duplicate keys fail the action
    r = run("mongo.restore", m(db=target, drop=False, collections=["meta"], **{"from": os.path.join(work, "gz")}))
    eq(r["status"], "failed", "drop false onto existing")
    assert "inserting into %s.meta" % target in r["error"], r["error"]
    client.drop_database(target)


def t_restore_choose_source_db():
    two = os.path.join(work, "two")
    shutil.copytree(os.path.join(work, "plain"), two)
    shutil.copytree(os.path.join(two, APP), os.path.join(two, "other"))
    target = TAG + "_two"
    r = run("mongo.restore", m(db=target, **{"from": two}))
    eq(r["status"], "failed", "several databases")
    assert "several databases" in r["error"] and "set source_db" in r["error"], r["error"]
    res = ok(run("mongo.restore", m(db=target, source_db="other", collections=["meta"], **{"from": two})))
    eq(res["collections"], [{"name": "meta", "count": 1}], "only meta")
    eq(client[target].list_collection_names(), ["meta"], "collections restored")
    r = run("mongo.restore", m(db=target, source_db="other", collections=["nope"], **{"from": two}))
    eq(r["status"], "failed", "a collection not in the dump")
    assert "collection 'nope' is not in the dump %s" % os.path.join(two, "other") in r["error"], r["error"]
    r = run("mongo.restore", m(db=target, source_db="missing", **{"from": two}))
    assert "no database folder 'missing'" in r["error"], r["error"]
    client.drop_database(target)


def t_restore_corrupt_bson():
    bad = os.path.join(work, "corrupt")
    shutil.copytree(os.path.join(work, "plain"), bad)
    path = os.path.join(bad, APP, "users.bson")
    data = bytearray(open(path, "rb").read())
    first = int.from_bytes(data[0:4], "little")
    second = int.from_bytes(data[first:first + 4], "little")
    offset = first + second  # the third document
    data[offset + 4] = 0x7A  # an element type that does not exist
    open(path, "wb").write(bytes(data))
    target = TAG + "_corrupt"
    r = run("mongo.restore", m(db=target, **{"from": bad}))
    eq(r["status"], "failed", "status")
    eq(r["error"], "mongo.restore: %s: corrupt BSON document at offset %d (length %d)"
       % (path, offset, int.from_bytes(data[offset:offset + 4], "little")), "error")
    eq(r["result"]["docs"], 0, "nothing claimed")
    eq(client[target].list_collection_names(), [], "nothing restored")
    # a truncated file
    open(path, "wb").write(bytes(data[: offset + 10]))
    r = run("mongo.restore", m(db=target, **{"from": bad}))
    eq(r["status"], "failed", "status")
    assert "truncated document at offset %d" % offset in r["error"], r["error"]
    # an impossible length
    open(path, "wb").write(b"\xff\xff\xff\x7f" + bytes(data[4:]))
    r = run("mongo.restore", m(db=target, **{"from": bad}))
    assert "corrupt BSON at offset 0: document length" in r["error"], r["error"]
    # a damaged gzip stream
    badgz = os.path.join(work, "corruptgz")
    shutil.copytree(os.path.join(work, "gz"), badgz)
    gzpath = os.path.join(badgz, APP, "users.bson.gz")
    gzdata = bytearray(open(gzpath, "rb").read())
    for i in range(200, 260):
        gzdata[i] ^= 0x55
    open(gzpath, "wb").write(bytes(gzdata))
    r = run("mongo.restore", m(db=target, **{"from": badgz}))
    eq(r["status"], "failed", "gzip status")
    assert gzpath in r["error"], r["error"]
    r = run("mongo.verify_backup", m(**{"from": badgz}))
    eq(r["status"], "failed", "verify of a damaged dump")
    # the backup is checked whole before a scratch database is made
    assert "scratch_db" not in r["result"], r["result"]
    client.drop_database(target)


def t_restore_mongodump_layout():
    """mongodump writes canonical extended JSON and, with --gzip, gzipped metadata."""
    src = os.path.join(work, "mongodump", "shop")
    os.makedirs(src)
    docs = [{"_id": i, "sku": "s%d" % i} for i in range(5)]
    with gzip.open(os.path.join(src, "items.bson.gz"), "wb") as f:
        for d in docs:
            f.write(bson.encode(d))
    meta = ('{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},'
            '{"v":{"$numberInt":"2"},"key":{"sku":{"$numberInt":"1"}},"name":"sku_1","unique":true}],'
            '"uuid":"4b1c0d9e8f7a4b3c9d2e1f0a9b8c7d6e","collectionName":"items","type":"collection"}')
    with gzip.open(os.path.join(src, "items.metadata.json.gz"), "wt") as f:
        f.write(meta)
    target = TAG + "_shop"
    res = ok(run("mongo.restore", m(db=target, **{"from": os.path.join(work, "mongodump")})))
    eq(res["collections"], [{"name": "items", "count": 5}], "collections")
    eq(sorted(ix["name"] for ix in client[target].items.list_indexes()), ["_id_", "sku_1"], "indexes")
    client.drop_database(target)


seed()
try:
    for name, fn in [(k, v) for k, v in list(globals().items()) if k.startswith("t_")]:
        case(name[2:], fn)
finally:
    client.drop_database(APP)
    shutil.rmtree(work, ignore_errors=True)
if failures:
    print("%d failed: %s" % (len(failures), ", ".join(failures)))
    sys.exit(1)
print("all passed")
