"""Backups in mongodump's four forms (issue 11), against the MongoDB test server.

    test_backup_formats.py ACT_DRIVER FIXTURES

FIXTURES is the mongo-tools test data (files the real mongodump and bsondump
wrote); the test reads it where it is and copies only what it damages into
a temporary directory.  Expectations come from an independent reader: the
archive parser below (written from the format's description) and
python3-bson, never from lockstep.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import urllib.parse

import bson
import bson.json_util
import pymongo

DRIVER, FIX = sys.argv[1], sys.argv[2]
URI = os.environ.get("LOCKSTEP_TEST_MONGODB_URI")
if not URI:
    print("FAIL: LOCKSTEP_TEST_MONGODB_URI is not set: run through tools/with-test-servers (tools/test)")
    sys.exit(1)
if not os.path.isdir(os.path.join(FIX, "mongorestore")):
    print("FAIL: no mongo-tools fixtures at %s" % FIX)
    sys.exit(1)
RESTORE = os.path.join(FIX, "mongorestore")
TAG = "lsb%d" % os.getpid()
client = pymongo.MongoClient(URI, serverSelectionTimeoutMS=5000)
work = tempfile.mkdtemp(prefix="lockstep-backup-test-")
failures = []
used_dbs = set()


def run(action, inputs, *flags):
    p = subprocess.run([DRIVER, *flags, action, json.dumps(inputs)], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("driver exit %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def db(name):
    n = "%s_%s" % (TAG, name)
    used_dbs.add(n)
    return n


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ok(r, what=""):
    if r["status"] != "ok":
        raise AssertionError("%s: expected ok, got %s: %s" % (what, r["status"], r.get("error")))
    return r["result"]


def failed(r, what=""):
    if r["status"] != "failed":
        raise AssertionError("%s: expected failed, got %s" % (what, r["status"]))
    return r["error"]


def case(name, fn):
    try:
        fn()
        print("ok   %s" % name)
    except Exception as e:  # report every case, then fail at the end
        failures.append(name)
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


# ---- an independent reader of the archive format -------------------------------

MAGIC, TERM = 0x8199E26D, 0xFFFFFFFF


def crc64(data, crc):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc


def parse_archive(raw):
    """{header, prelude: [docs], docs: {(db, coll): [raw bytes]}, crc_ok: {ns: bool}}."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert struct.unpack("<I", raw[:4])[0] == MAGIC, "magic"
    pos = 4

    def nxt():
        nonlocal pos
        n = struct.unpack("<I", raw[pos:pos + 4])[0]
        if n == TERM:
            pos += 4
            return None
        d = raw[pos:pos + n]
        assert len(d) == n, "truncated"
        pos += n
        return d

    header = bson.decode(nxt())
    prelude = []
    while True:
        d = nxt()
        if d is None:
            break
        prelude.append(bson.decode(d))
    docs, crcs, crc_ok = {}, {}, {}
    while pos < len(raw):
        h = bson.decode(nxt())
        ns = (h["db"], h["collection"])
        assert ns not in crc_ok, "a block after the end of %s" % (ns,)
        if h["EOF"]:
            assert nxt() is None, "terminator after EOF"
            want = crcs.get(ns, 0xFFFFFFFFFFFFFFFF) ^ 0xFFFFFFFFFFFFFFFF
            crc_ok[ns] = struct.pack("<q", h["CRC"]) == struct.pack("<Q", want)
            continue
        while True:
            d = nxt()
            if d is None:
                break
            docs.setdefault(ns, []).append(d)
            crcs[ns] = crc64(d, crcs.get(ns, 0xFFFFFFFFFFFFFFFF))
    return {"header": header, "prelude": prelude, "docs": docs, "crc_ok": crc_ok}


def t_reader_reads_mongodumps_archives():
    """The reader itself agrees with the real mongodump (CRCs included)."""
    a = parse_archive(open(os.path.join(RESTORE, "dump-w-oplog.archive"), "rb").read())
    eq(len(a["docs"][("test", "foo")]), 25, "test.foo documents")
    assert all(a["crc_ok"].values()) and len(a["crc_ok"]) == 3, a["crc_ok"]


# ---- lockstep's archives and directories -------------------------------------------

SRC = None


def seed():
    global SRC
    SRC = db("src")
    c = client[SRC]
    c.users.insert_many([{"_id": i, "name": "user%d" % i, "pad": "x" * (i % 300)} for i in range(2000)])
    c.users.create_index("name", unique=True)
    c.meta.insert_one({"_id": "schema", "schema_version": 3})
    c.create_collection("empty")


def live(dbname):
    out = {}
    for name in client[dbname].list_collection_names():
        if name.startswith("system."):
            continue
        out[name] = (sorted(bson.encode(d) for d in client[dbname][name].find()),
                     sorted(ix["name"] for ix in client[dbname][name].list_indexes()))
    return out


def dump(name, fmt, gz):
    out = os.path.join(work, name)
    inputs = {"uri": URI, "db": SRC, "out": out, "gzip": gz}
    if fmt:
        inputs["format"] = fmt
    return out, ok(run("mongo.dump", inputs), "dump " + name)


def t_archive_plain_parses_with_crcs():
    out, res = dump("plain.archive", "archive", False)
    eq(res["path"], out, "path")
    eq(res["dir"], None, "dir")
    raw = open(out, "rb").read()
    assert raw[:4] == b"\x6d\xe2\x99\x81", raw[:4]
    a = parse_archive(raw)
    eq(a["header"]["version"], "0.1", "version")
    eq(sorted(a["header"]), ["concurrent_collections", "server_version", "tool_version", "version"], "header")
    eq(sorted((p["db"], p["collection"]) for p in a["prelude"]),
       [(SRC, "empty"), (SRC, "meta"), (SRC, "users")], "prelude")
    for p in a["prelude"]:
        meta = json.loads(p["metadata"])
        eq(meta["collectionName"], p["collection"], "metadata names its collection")
        eq(p["type"], "collection", "type")
    users = next(json.loads(p["metadata"]) for p in a["prelude"] if p["collection"] == "users")
    eq(sorted(ix["name"] for ix in users["indexes"]), ["_id_", "name_1"], "indexes in the metadata")
    eq(a["crc_ok"], {(SRC, "empty"): True, (SRC, "meta"): True, (SRC, "users"): True}, "CRC per collection")
    eq(sorted(a["docs"][(SRC, "users")]), live(SRC)["users"][0], "documents")
    assert (SRC, "empty") not in a["docs"]


def t_archive_gzip_is_one_stream():
    out, res = dump("gz.archive", "archive", True)
    raw = open(out, "rb").read()
    assert raw[:2] == b"\x1f\x8b", "gzip"
    plain = gzip.decompress(raw)  # one stream: decompresses whole
    a = parse_archive(plain)
    assert all(a["crc_ok"].values()) and len(a["crc_ok"]) == 3, a["crc_ok"]
    eq(res["docs"], 2001, "docs")


def t_directory_gzip_writes_gzip_metadata():
    out, res = dump("gzdir", None, True)
    eq(sorted(os.listdir(os.path.join(out, SRC))),
       ["empty.bson.gz", "empty.metadata.json.gz", "meta.bson.gz", "meta.metadata.json.gz",
        "users.bson.gz", "users.metadata.json.gz"], "files")
    meta = json.loads(gzip.open(os.path.join(out, SRC, "users.metadata.json.gz")).read())
    eq(sorted(ix["name"] for ix in meta["indexes"]), ["_id_", "name_1"], "metadata")


def t_every_form_round_trips():
    want = live(SRC)
    for name, fmt, gz in [("rt-dir", None, False), ("rt-gzdir", None, True),
                          ("rt.archive", "archive", False), ("rt.archive.gz", "archive", True)]:
        out, _ = dump(name, fmt, gz)
        # detected from content: the name says nothing
        renamed = os.path.join(work, "renamed-" + name.replace(".", "-"))
        os.rename(out, renamed)
        target = db("rt_" + name.replace(".", "_").replace("-", "_"))
        res = ok(run("mongo.restore", {"uri": URI, "db": target, "from": renamed}), "restore " + name)
        eq(res["format"], "archive" if fmt else "directory", "format " + name)
        eq(live(target), want, "restored " + name)
        v = ok(run("mongo.verify_backup", {"uri": URI, "db": SRC, "from": renamed}), "verify " + name)
        eq((v["ok"], v["collection"], v["dump_count"]), (True, "users", 2000), "verify " + name)


def t_exact_drops_what_the_backup_lacks():
    out = os.path.join(work, "rt.archive.gz")
    if not os.path.exists(out):
        out, _ = dump("exact.archive.gz", "archive", True)
    else:
        out = os.path.join(work, "renamed-rt-archive-gz")
    target = db("exact")
    client[target].leftover.insert_one({"migrated": True})
    client[target].users.insert_one({"_id": 99999, "name": "written later"})
    res = ok(run("mongo.restore", {"uri": URI, "db": target, "from": out}), "restore without exact")
    eq(res["dropped"], [], "nothing dropped")
    assert "leftover" in client[target].list_collection_names()
    res = ok(run("mongo.restore", {"uri": URI, "db": target, "from": out, "exact": True}), "exact")
    eq(res["dropped"], ["leftover"], "dropped")
    eq(live(target), live(SRC), "equals the backup")


def t_archive_stopped_half_way_leaves_nothing():
    """Cancelled while streaming users (checked every 256 documents): no
    archive, no temporary file; an existing archive is never replaced."""
    out = os.path.join(work, "cancelled", "pre.archive.gz")
    r = run("mongo.dump", {"uri": URI, "db": SRC, "out": out, "format": "archive"}, "--cancel")
    eq(r["status"], "cancelled", "status")
    assert "stopped after" in r["error"], r["error"]
    eq(os.listdir(os.path.dirname(out)), [], "what is left beside OUT")
    open(out, "wb").write(b"an operator's file")
    r = run("mongo.dump", {"uri": URI, "db": SRC, "out": out, "format": "archive"})
    assert r["status"] == "failed" and "already exists" in r["error"], r
    eq(open(out, "rb").read(), b"an operator's file", "an existing file is left alone")
    eq(os.listdir(os.path.dirname(out)), ["pre.archive.gz"], "nothing else")


# ---- damaged and hostile backups ---------------------------------------------------------

def damage_crc(raw):
    """Changes one value byte of the first document of a namespace segment,
    keeping the BSON valid: only the CRC can tell."""
    pos = 4
    def doc_at(p):
        return struct.unpack("<I", raw[p:p + 4])[0]
    n = doc_at(pos)
    pos += n
    while doc_at(pos) != TERM:
        pos += doc_at(pos)
    pos += 4
    while True:
        hlen = doc_at(pos)
        h = bson.decode(raw[pos:pos + hlen])
        pos += hlen
        if h["EOF"]:
            pos += 4
            continue
        d = pos
        i = d + 4
        while raw[i] != 0:
            t = raw[i]
            k = raw.index(b"\0", i + 1)
            v = k + 1
            if t in (0x01, 0x07, 0x10, 0x12):  # double, ObjectId, int32, int64: any bytes are valid
                out = bytearray(raw)
                out[v] ^= 0x01
                return bytes(out), h["db"], h["collection"]
            if t == 0x02:
                ln = struct.unpack("<I", raw[v:v + 4])[0]
                if ln > 1 and 0x41 <= raw[v + 4] <= 0x7a:
                    out = bytearray(raw)
                    out[v + 4] = 0x41 if raw[v + 4] != 0x41 else 0x42
                    return bytes(out), h["db"], h["collection"]
                i = v + 4 + ln
                continue
            raise AssertionError("no value to damage")


def t_crc_damage_fails_and_drops_nothing():
    for src in ("dump-w-oplog.archive", "test.bar.archive"):
        bad, dbn, coll = damage_crc(open(os.path.join(RESTORE, src), "rb").read())
        path = os.path.join(work, "crc-" + src)
        open(path, "wb").write(bad)
        eq(all(parse_archive(bad)["crc_ok"].values()), False, "the independent reader sees it")
        target = db("crc_" + src.split(".")[0].replace("-", "_"))
        client[target].foo.insert_one({"_id": "kept"})
        client[target].bar.insert_one({"_id": "kept"})
        err = failed(run("mongo.restore", {"uri": URI, "db": target, "from": path, "exact": True}), src)
        assert "fails its CRC check" in err and "%s.%s" % (dbn, coll) in err, err
        eq(sorted(client[target].list_collection_names()), ["bar", "foo"], "nothing dropped")
        eq(list(client[target].foo.find()), [{"_id": "kept"}], "target untouched")
        # gzip: the same damage inside one gzip stream
        gzpath = path + ".gz"
        open(gzpath, "wb").write(gzip.compress(bad))
        err = failed(run("mongo.restore", {"uri": URI, "db": target, "from": gzpath}), src + " gzip")
        assert "fails its CRC check" in err, err
        eq(list(client[target].foo.find()), [{"_id": "kept"}], "target untouched (gzip)")
        err = failed(run("mongo.verify_backup", {"uri": URI, "db": target, "from": path}), "verify " + src)
        assert "fails its CRC check" in err, err


def t_bad_format_archive_fails_cleanly():
    target = db("badformat")
    client[target].ixtest.insert_one({"_id": "kept"})
    err = failed(run("mongo.restore", {"uri": URI, "db": target, "from": os.path.join(RESTORE, "bad-format.archive")}))
    assert "the metadata of ixtest is not valid extended JSON" in err, err
    eq(list(client[target].ixtest.find()), [{"_id": "kept"}], "target untouched")


def t_hostile_archives_fail_cleanly():
    raw = open(os.path.join(RESTORE, "dump-w-oplog.archive"), "rb").read()
    target = db("hostile")
    client[target].foo.insert_one({"_id": "kept"})
    cases = {
        "truncated": (raw[: len(raw) // 2], "truncated"),
        "no end": (raw[:-40], ""),
        "trailing bytes": (raw + b"\x00\x01\x02", ""),
        "huge length": (raw[:4] + b"\xff\xff\xff\x7f" + raw[8:], "impossible"),
        "no magic": (b"\x00\x00\x00\x00" + raw[4:], "no archive magic"),
        "empty": (b"", "no archive magic"),
        "garbage gzip": (b"\x1f\x8b\x08\x00" + os.urandom(64), ""),
        "gzip bomb-ish zeros": (gzip.compress(raw[:4] + b"\x00" * (8 << 20)), ""),
    }
    for name, (data, needle) in cases.items():
        path = os.path.join(work, "hostile-" + name.replace(" ", "-"))
        open(path, "wb").write(data)
        err = failed(run("mongo.restore", {"uri": URI, "db": target, "from": path}), name)
        assert needle in err, "%s: %s" % (name, err)
        print("     %s: %s" % (name, err))
        eq(list(client[target].foo.find()), [{"_id": "kept"}], "target untouched after " + name)


def t_corrupt_bson_fixtures_fail_cleanly():
    target = db("corrupt")
    for name in ("bad_cstring", "bad_type", "broken_array", "deep_nested", "invalid_field_name",
                 "partial_file", "random_bytes"):
        root = os.path.join(work, "corrupt-" + name)
        os.makedirs(os.path.join(root, "d"))
        shutil.copy(os.path.join(FIX, "bsondump", name + ".bson"), os.path.join(root, "d", "c.bson"))
        client[target].c.insert_one({"_id": "kept-" + name})
        err = failed(run("mongo.restore", {"uri": URI, "db": target, "from": root}), name)
        assert os.path.join(root, "d", "c.bson") in err, err
        assert client[target].c.find_one({"_id": "kept-" + name}) is not None, "dropped after " + name
    for name in ("sample", "all_types", "all_in_one_doc"):  # the positive ones restore
        root = os.path.join(work, "good-" + name)
        os.makedirs(os.path.join(root, "d"))
        shutil.copy(os.path.join(FIX, "bsondump", name + ".bson"), os.path.join(root, "d", "c.bson"))
        want = len(bson.decode_all(open(os.path.join(FIX, "bsondump", name + ".bson"), "rb").read()))
        res = ok(run("mongo.restore", {"uri": URI, "db": db("good"), "from": root}), name)
        eq(res["docs"], want, name)


# ---- mongodump's own backups restore ---------------------------------------------------------

def expect_directory(folder):
    """{collection: (count, index names)} from the files, read independently."""
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.startswith("system.") or not (f.endswith(".bson") or f.endswith(".bson.gz")):
            continue
        stem = f[: -len(".bson.gz")] if f.endswith(".gz") else f[: -len(".bson")]
        raw = open(os.path.join(folder, f), "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        meta = {}
        for m in (stem + ".metadata.json", stem + ".metadata.json.gz"):
            p = os.path.join(folder, m)
            if os.path.exists(p):
                t = open(p, "rb").read()
                t = gzip.decompress(t) if t[:2] == b"\x1f\x8b" else t
                meta = bson.json_util.loads(t.decode()) if t.strip() else {}
        name = meta.get("collectionName") or urllib.parse.unquote(stem)
        out[name] = (len(bson.decode_all(raw)), sorted(ix["name"] for ix in meta.get("indexes", [])) or None)
    for f in sorted(os.listdir(folder)):  # timeseries: buckets in system.buckets.NAME.bson
        text = open(os.path.join(folder, f)).read() if f.endswith(".metadata.json") else ""
        if text.strip():
            meta = bson.json_util.loads(text)
            if meta.get("type") == "timeseries":
                name = f[: -len(".metadata.json")]
                raw = open(os.path.join(folder, "system.buckets." + name + ".bson"), "rb").read()
                out[name] = (len(bson.decode_all(raw)), sorted(ix["name"] for ix in meta["indexes"]), True)
    return out


def check_restored(target, want, what):
    for name, exp in want.items():
        count, indexes = exp[0], exp[1]
        data = "system.buckets." + name if len(exp) > 2 else name
        eq(client[target][data].count_documents({}), count, "%s: %s count" % (what, name))
        if indexes:
            have = sorted(ix["name"] for ix in client[target][name].list_indexes())
            eq(have, sorted(set(indexes) | {"_id_"}), "%s: %s indexes" % (what, name))


DIRS = [  # (root, source_db or None, the database folder)
    ("foodump", None, "test"), ("coll_with_index", None, "test"), ("coll_with_ttl_index", None, "test"),
    ("coll_without_index", None, "test"), ("indextestdump", None, "indextest"),
    ("indexmetadata", None, "indextest"), ("longindextestdump", None, "longindextest"),
    ("longcollectionname", None, "db1"), ("specialcharacter", None, "db1"),
    ("prelude_test/prelude_gzip", None, "test"), ("prelude_test/prelude_top_level", None, "test"),
    ("prelude_test/prelude_db_target", None, "test"), ("testdirs", None, "db1"), ("oplogdump", "db1", "db1"),
    ("timeseries_tests/ts_dump", None, "timeseries_test"), ("collMod_ttl_index", None, "mongodump_test_db"),
]


def t_mongodump_directories_restore():
    for root, source_db, folder in DIRS:
        want = expect_directory(os.path.join(RESTORE, root, folder))
        assert want, root
        target = db("dir")
        client.drop_database(target)
        inputs = {"uri": URI, "db": target, "from": os.path.join(RESTORE, root)}
        if source_db:
            inputs["source_db"] = source_db
        res = ok(run("mongo.restore", inputs), root)
        eq({c["name"]: c["count"] for c in res["collections"]}, {k: v[0] for k, v in want.items()}, root)
        check_restored(target, want, root)


def t_mongodump_archives_restore():
    for name, dbn in (("test.bar.archive", "test"), ("dump-w-oplog.archive", "test"),
                      ("timeseries_tests/dump.archive", "timeseries_test")):
        a = parse_archive(open(os.path.join(RESTORE, name), "rb").read())
        want = {}
        for p in a["prelude"]:
            if p["db"] != dbn or p["collection"].startswith("system."):
                continue
            meta = bson.json_util.loads(p["metadata"])
            ts = p.get("type") == "timeseries"
            data = ("system.buckets." if ts else "") + p["collection"]
            exp = (len(a["docs"].get((dbn, data), [])), sorted(ix["name"] for ix in meta["indexes"]))
            want[p["collection"]] = exp + ((True,) if ts else ())
        assert want, name
        for gz in (False, True):
            target = db("arch")
            client.drop_database(target)
            src = os.path.join(RESTORE, name)
            if gz:  # as mongodump --archive --gzip writes it
                src = os.path.join(work, os.path.basename(name) + ".gz")
                open(src, "wb").write(gzip.compress(open(os.path.join(RESTORE, name), "rb").read()))
            res = ok(run("mongo.restore", {"uri": URI, "db": target, "from": src}), name)
            eq(res["format"], "archive", "format")
            eq({c["name"]: c["count"] for c in res["collections"]}, {k: v[0] for k, v in want.items()}, name)
            check_restored(target, want, name)
            v = ok(run("mongo.verify_backup", {"uri": URI, "db": target, "from": src}), "verify " + name)
            eq(v["ok"], True, "verify " + name)


seed()
try:
    for name, fn in [(k, v) for k, v in list(globals().items()) if k.startswith("t_")]:
        case(name[2:], fn)
finally:
    for n in used_dbs:
        client.drop_database(n)
    shutil.rmtree(work, ignore_errors=True)
if failures:
    print("%d failed: %s" % (len(failures), ", ".join(failures)))
    sys.exit(1)
print("all passed")
