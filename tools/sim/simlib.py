"""The Message Center simulator's shared state (see docs/simulator.md).

Everything lives in $LOCKSTEP_SIM_DIR:
  sim.json     configuration: images (schema version each declares, crash,
               migration behaviour), MongoDB URI and database, log lines,
               faults, audit fallback size
  state.json   the world: deployments (containers, paused, revisions),
               secrets, configmaps, one-off pods run, pulled images,
               compose projects
  calls.jsonl  every kubectl/docker invocation, one JSON line each
  .lock        flock()ed around every read-modify-write of the two files

The fake programs (bin/kubectl, bin/docker), the diagnostics server and
`ctl` all go through Sim below, so they see one consistent world.
"""
import base64
import copy
import fcntl
import hashlib
import json
import os
import re
import sys
import time

DEFAULT_CONFIG = {
    "mongodb": {"uri": None, "db": "messagecenter"},
    "images": {
        "core-admin:v2.4.0": {"schema": 11},
        "core-admin:v2.5.0": {"schema": 12},
        "core-admin:v2.5.1": {"schema": 13, "crash": True},
        "core-admin:v2.6.0": {"schema": 14, "migration": "fail"},
    },
    "migration_command": ["yarn", "migrate"],
    "logs": {
        "core-admin": [
            "2026-11-25T02:59:58Z info core-admin listening on :3000",
            "2026-11-25T03:00:01Z info moderation worker started",
            "2026-11-25T03:00:02Z info GET /api/health 200 2ms",
        ]
    },
    "unknown_field_lines": [
        "2026-11-25T03:00:05Z error MongoServerError: unknown field 'moderationState' in campaigns (code 2)",
        "2026-11-25T03:00:06Z error TypeError: Cannot read properties of undefined (reading 'moderationState')",
    ],
    # fault name -> value; see ctl
    "faults": {},
    "fallback_size": 0,
}


def sim_dir():
    d = os.environ.get("LOCKSTEP_SIM_DIR")
    if not d:
        sys.stderr.write("simulator: LOCKSTEP_SIM_DIR is not set (start it with tools/sim/start)\n")
        sys.exit(2)
    return d


class Sim:
    """with Sim() as s: s.config, s.state (dicts); saved on exit when s.dirty."""

    def __init__(self, directory=None):
        self.dir = directory or sim_dir()
        self.dirty = False

    def __enter__(self):
        os.makedirs(self.dir, exist_ok=True)
        self.lockf = open(os.path.join(self.dir, ".lock"), "a+")
        fcntl.flock(self.lockf, fcntl.LOCK_EX)
        self.config = self._load("sim.json", DEFAULT_CONFIG)
        self.state = self._load("state.json", {})
        for k, v in (("deployments", {}), ("secrets", {}), ("configmaps", {}), ("pods", []),
                     ("pulled", []), ("compose", {}), ("migrations_ok", 0)):
            self.state.setdefault(k, copy.deepcopy(v))
        self.config.setdefault("faults", {})
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.dirty and exc_type is None:
                self._save("sim.json", self.config)
                self._save("state.json", self.state)
        finally:
            fcntl.flock(self.lockf, fcntl.LOCK_UN)
            self.lockf.close()
        return False

    def _load(self, name, default):
        path = os.path.join(self.dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return copy.deepcopy(default)

    def _save(self, name, data):
        path = os.path.join(self.dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)

    def changed(self):
        self.dirty = True

    # ---- images -------------------------------------------------------
    def image(self, ref):
        """The config of an image reference ('registry.example/core-admin:v2.5.0'
        matches the key 'core-admin:v2.5.0'); None when unknown."""
        images = self.config.get("images", {})
        if ref in images:
            return images[ref]
        short = ref.rsplit("/", 1)[-1]
        return images.get(short)

    def manifest(self, ref):
        """What the registry answers for `docker manifest inspect REF`: a
        schema 2 image manifest whose digests are derived from the image's
        name, so they are stable; None when the image is unknown."""
        if self.image(ref) is None:
            return None
        short = ref.rsplit("/", 1)[-1]

        def digest(what):
            return "sha256:" + hashlib.sha256(f"{short} {what}".encode()).hexdigest()

        return {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": digest("config")},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3370706,
                        "digest": digest("layer 0")},
                       {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 41234567,
                        "digest": digest("layer 1")}],
        }

    # ---- MongoDB ------------------------------------------------------
    def db(self):
        uri = self.config.get("mongodb", {}).get("uri")
        if not uri:
            return None
        import pymongo  # Debian's python3-pymongo
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000)
        return client[self.config["mongodb"].get("db", "messagecenter")]

    def schema_version(self):
        db = self.db()
        if db is None:
            return None
        doc = db.meta.find_one({"_id": "schema"})
        return doc.get("schema_version") if doc else None

    def set_schema_version(self, v):
        self.db().meta.update_one({"_id": "schema"}, {"$set": {"schema_version": v}}, upsert=True)

    # ---- one-off pods (kubectl run, docker run) ----------------------
    def run_pod(self, name, image, cmd, env, out, err):
        """Runs a one-off container; returns its exit code."""
        conf = self.image(image)
        self.state["pods"].append({"name": name, "image": image, "command": cmd, "env": env,
                                   "at": time.time()})
        self.changed()
        if conf is None:
            err.write(f'error: pod {name}: image "{image}" cannot be pulled (ErrImagePull)\n')
            self.state["pods"][-1]["exit_code"] = 1
            return 1
        code = self._pod_command(conf, image, cmd, env, out, err)
        self.state["pods"][-1]["exit_code"] = code
        return code

    def _pod_command(self, conf, image, cmd, env, out, err):
        mig = self.config.get("migration_command", ["yarn", "migrate"])
        joined = " ".join(cmd)
        if cmd == mig or cmd[-1:] == ["migrate"] or joined in ("make migrate", "npm run migrate"):
            return self.migrate(conf, image, out, err)
        if "schema_version" in joined:
            out.write(f"schema_version: {self.schema_version()}\n")
            return 0
        if cmd[:1] == ["echo"]:
            out.write(" ".join(cmd[1:]) + "\n")
            return 0
        if cmd[:1] == ["false"]:
            return 1
        if cmd[:1] == ["env"]:
            for k in sorted(env):
                out.write(f"{k}={env[k]}\n")
            return 0
        if cmd[:1] == ["exit"] and len(cmd) == 2 and cmd[1].isdigit():
            return int(cmd[1])
        out.write(f"{image}: ran {joined}\n")
        return 0

    def migrate(self, conf, image, out, err):
        mode = self.config["faults"].get("migration") or conf.get("migration", "ok")
        target = conf.get("schema")
        current = self.schema_version()
        if current is None:
            current = 0
        out.write(f"core-admin migrations ({image}): schema_version {current}, target {target}\n")
        if mode == "fail":
            err.write(f"Migration {current + 1} failed: MongoServerError: E11000 duplicate key error "
                      f"collection: campaigns index: slug_1 (nothing was changed)\n")
            return 1
        if mode == "dirty":
            # Changes documents, then fails BEFORE it bumps schema_version:
            # the schema still reads `current`, the data does not.
            db = self.db()
            renamed = db.campaigns.update_many({"status": {"$exists": True}},
                                               {"$rename": {"status": "moderationState"}}).modified_count
            db.campaign_moderation.insert_one({"_id": "migration-%d" % (current + 1), "state": "started"})
            gone = db.campaigns.find_one({}, sort=[("_id", 1)])
            if gone is not None:
                db.campaigns.delete_one({"_id": gone["_id"]})
            out.write(f"migration {current + 1}: renamed status -> moderationState in {renamed} campaigns, "
                      f"created campaign_moderation, removed 1 campaign\n")
            err.write(f"Migration {current + 1} failed: MongoServerError: document failed validation "
                      f"(schema_version is still {current})\n")
            return 1
        if mode == "half":
            step = current + 1 if target - current >= 2 else target
            self.set_schema_version(step)
            out.write(f"applied migration {step}\n")
            err.write(f"Migration {step + 1} failed: MongoServerError: document failed validation "
                      f"(schema_version is now {step})\n")
            return 1
        if current >= target:
            out.write(f"schema_version {current} is up to date\n")
        else:
            for v in range(current + 1, target + 1):
                out.write(f"applied migration {v}\n")
            self.set_schema_version(target)
        out.write(f"migrations complete: schema_version {target}\n")
        self.state["migrations_ok"] += 1
        logs = self.config["faults"].get("logs")
        if logs == "unknown-field":
            left = self.config["faults"].get("logs_clears_after", 2) - 1
            if left <= 0:
                self.config["faults"].pop("logs", None)
                self.config["faults"].pop("logs_clears_after", None)
            else:
                self.config["faults"]["logs_clears_after"] = left
        return 0

    # ---- deployments --------------------------------------------------
    def deployment(self, ns, name):
        return self.state["deployments"].get(f"{ns}/{name}")

    def new_deployment(self, ns, name, image, labels=None):
        dep = {"namespace": ns, "name": name, "labels": labels or {"app": name}, "paused": False,
               "containers": {name: image}, "revisions": [{"revision": 1, "containers": {name: image}}],
               "generation": 1, "restarted_at": None}
        self.state["deployments"][f"{ns}/{name}"] = dep
        self.changed()
        return dep

    def add_revision(self, dep, containers, restarted_at=None):
        top = max(r["revision"] for r in dep["revisions"]) if dep["revisions"] else 0
        dep["revisions"].append({"revision": top + 1, "containers": dict(containers)})
        dep["containers"] = dict(containers)
        dep["generation"] += 1
        if restarted_at:
            dep["restarted_at"] = restarted_at
        self.changed()

    def rollout_problem(self, dep):
        """None when the deployment's pods are ready; else why not."""
        if dep["paused"]:
            return "deployment is paused"
        if self.config["faults"].get("rollout") == "never-ready":
            return "1 old replicas are pending termination..."
        for image in dep["containers"].values():
            conf = self.image(image)
            if conf is None:
                return f"0 of 1 updated replicas are available (ErrImagePull: {image})..."
            if conf.get("crash"):
                return "0 of 1 updated replicas are available (CrashLoopBackOff)..."
            want = conf.get("schema")
            try:
                have = self.schema_version()
            except Exception:  # the database is down: pods cannot start either
                have = None
            if want is not None and have is not None and have < want:
                return (f"0 of 1 updated replicas are available (CrashLoopBackOff: schema_version {have} "
                        f"is older than {want}; run the migrations first)...")
        return None

    def app_log_lines(self, name):
        """What the application named `name` logs: configured lines, plus the
        unknown-field errors while that fault is on."""
        lines = list(self.config.get("logs", {}).get(name, []))
        if self.config["faults"].get("logs") == "unknown-field":
            lines += self.config.get("unknown_field_lines", DEFAULT_CONFIG["unknown_field_lines"])
        return lines

    def log_lines(self, dep):
        lines = self.app_log_lines(dep["name"])
        problem = self.rollout_problem(dep)
        if problem and "CrashLoopBackOff" in problem:
            lines.append(f"2026-11-25T03:00:09Z fatal core-admin exited: {problem}")
        return lines

    def record_call(self, prog, argv):
        with open(os.path.join(self.dir, "calls.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"prog": prog, "argv": argv, "at": time.time()}) + "\n")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def parse_duration(s):
    """'5m' / '30s' / '1h30m' / '250ms' / '0' -> seconds (float); None when bad."""
    if s is None:
        return None
    if re.fullmatch(r"\d+", s):
        return float(s)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s):
        if m.start() != pos:
            return None
        pos = m.end()
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    return total if pos == len(s) and pos > 0 else None


def run_main(main):
    """Runs a program's main and exits at once: pymongo's monitor threads
    otherwise hold the interpreter's exit for about half a second."""
    code = 0
    try:
        main()
    except SystemExit as e:
        if isinstance(e.code, str):
            sys.stderr.write(e.code + "\n")
            code = 1
        else:
            code = e.code or 0
    except BrokenPipeError:
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)
