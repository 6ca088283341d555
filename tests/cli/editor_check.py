#!/usr/bin/python3
"""An editor's view of the schema: yaml-language-server (the YAML language
server of VS Code, Neovim, ...) is driven over LSP on stdio with a playbook
that carries the shipped modeline.  It must flag a misspelled `with` input
and a value outside an enum, report nothing for the shipped upgrade
playbook, and complete the inputs of the state's action inside `with`.

Skipped (exit 77) when yaml-language-server is not installed
(npm install yaml-language-server; LOCKSTEP_YAML_LS may name the program)."""
import json
import os
import select
import shutil
import subprocess
import sys
import time

SRC = os.path.realpath(os.environ["LOCKSTEP_SRC"])
LS = os.environ.get("LOCKSTEP_YAML_LS") or shutil.which("yaml-language-server")
if not LS or not shutil.which("node"):
    print("SKIP yaml-language-server (npm) or node is not installed")
    sys.exit(77)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


class Lsp:
    def __init__(self):
        self.p = subprocess.Popen([LS, "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.buf = b""
        self.next_id = 0
        self.diags = {}

    def send(self, msg):
        body = json.dumps(dict(msg, jsonrpc="2.0")).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def read(self, deadline):
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if sep:
                n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return json.loads(rest[:n])
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk

    def handle(self, m):
        """Answers the server's requests; keeps diagnostics."""
        if m.get("method") == "textDocument/publishDiagnostics":
            self.diags[m["params"]["uri"]] = m["params"]["diagnostics"]
        elif "id" in m and "method" in m:
            result = None
            if m["method"] == "workspace/configuration":
                result = [SETTINGS["yaml"] if i.get("section") == "yaml" else None for i in m["params"]["items"]]
            self.send({"id": m["id"], "result": result})

    def request(self, method, params, timeout=120):
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            m = self.read(deadline)
            if m is None:
                raise TimeoutError(method)
            if m.get("id") == rid and "method" not in m:
                return m.get("result")
            self.handle(m)

    def notify(self, method, params):
        self.send({"method": method, "params": params})

    def diagnostics(self, uri, timeout=120):
        """The diagnostics published for `uri` after it was opened."""
        deadline = time.monotonic() + timeout
        while uri not in self.diags:
            m = self.read(deadline)
            if m is None:
                raise TimeoutError("diagnostics for " + uri)
            self.handle(m)
        return self.diags.pop(uri)


SETTINGS = {"yaml": {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False},
                     "schemas": {}, "format": {"enable": False}}}
upgrade_path = os.path.join(SRC, "playbooks", "message-center", "upgrade.yaml")
upgrade = open(upgrade_path).read()
lsp = Lsp()
try:
    lsp.request("initialize", {"processId": os.getpid(), "rootUri": "file://" + SRC, "capabilities": {
        "workspace": {"configuration": True},
        "textDocument": {"completion": {"completionItem": {"snippetSupport": False}}}}})
    lsp.notify("initialized", {})
    lsp.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})

    if True:
        # The documents are only opened in the editor, never written: their
        # URIs name files beside upgrade.yaml, so the modeline's relative
        # path resolves as it does for upgrade.yaml itself.
        def open_doc(name, text, version=1):
            uri = "file://" + os.path.join(SRC, "playbooks", "message-center", "editor-check-%d-%s" % (os.getpid(), name))
            lsp.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml",
                                                                 "version": version, "text": text}})
            return uri

        # The shipped playbook: no problem at all.
        d = lsp.diagnostics(open_doc("shipped.yaml", upgrade))
        check(d == [], "upgrade.yaml: %r" % [x["message"] for x in d][:5])

        # A misspelled input and a verb outside the enum.
        bad = upgrade.replace("action: kubectl.rollout\n    with: {verb: status,",
                              "action: kubectl.rollout\n    with: {verb: stauts, deploymnet: x,", 1)
        check(bad != upgrade, "no kubectl.rollout status state found in upgrade.yaml")
        d = lsp.diagnostics(open_doc("bad.yaml", bad))
        msgs = [(x["range"]["start"]["line"], x["message"]) for x in d]
        line = bad[:bad.index("deploymnet")].count("\n")
        check(any(ln == line and "deploymnet" in m for ln, m in msgs),
              "misspelled input not flagged at line %d: %r" % (line + 1, msgs))
        check(any(ln == line and ("status" in m or "enum" in m.lower() or "allowed" in m.lower()) for ln, m in msgs),
              "verb outside the enum not flagged at line %d: %r" % (line + 1, msgs))

        # Completion inside `with:` offers the action's inputs.
        text = ("# yaml-language-server: $schema=../../schemas/playbook.schema.json\n"
                "lockstep: 1\nname: complete\nstart: r\nstates:\n  r:\n    action: kubectl.rollout\n"
                "    with:\n      \n    next: done\n  done: {terminal: success}\n")
        uri = open_doc("complete.yaml", text)
        lsp.diagnostics(uri)
        res = lsp.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                      "position": {"line": 8, "character": 6}})
        items = res.get("items", res) if isinstance(res, dict) else (res or [])
        labels = {i["label"] for i in items}
        check({"verb", "deployment", "to_revision", "namespace", "context"} <= labels,
              "completion in with: of kubectl.rollout: %r" % sorted(labels))
        check("argv" not in labels, "completion offers another action's input: %r" % sorted(labels))
        docs = {i["label"]: i.get("documentation") for i in items}
        check(docs.get("verb"), "no description offered for verb: %r" % docs.get("verb"))
finally:
    try:
        lsp.request("shutdown", None, timeout=30)
        lsp.notify("exit", None)
    except (TimeoutError, BrokenPipeError, OSError):
        pass
    try:
        lsp.p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        lsp.p.kill()
        lsp.p.wait()

for f in failures:
    print("FAIL " + f)
print("editor (yaml-language-server): %d failed" % len(failures))
sys.exit(1 if failures else 0)
