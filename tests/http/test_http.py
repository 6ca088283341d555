"""http.request against a loopback HTTP server started here (issue 4).

    test_http.py ACT_DRIVER

The server (standard library, port 0) serves diagnostics-like JSON, health,
error statuses, a slow endpoint, an auth-checking endpoint, redirects, a
large body and an echo.  Each case runs the action once through act_driver
and checks the result document, the status and the error text.
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

DRIVER = sys.argv[1]
SECRET = "s3cret-token-7f2a"
URI_PASSWORD = "pw-hunter2-9c1"
failures = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def route(self):
        p = self.path
        if p == "/api/diagnostics/auditfallback":
            return self.send(200, json.dumps({"fileSize": 0, "path": "/var/log/audit-fallback.log"}))
        if p == "/health":
            return self.send(200, "ok", "text/plain", {"X-Trace": "a", "x-trace": "b"})
        if p.startswith("/status/"):
            return self.send(int(p.split("/")[2]), "boom\nline two", "text/plain")
        if p == "/slow":
            # Answers after 10 minutes: only a timeout or a cancel ends
            # the request, so "it did not wait" needs no stopwatch.
            NEVER.wait(600)
            return self.send(200, "{}")
        if p.startswith("/auth"):
            if self.headers.get("Authorization") == "Bearer " + SECRET and "deny" not in p:
                return self.send(200, json.dumps({"user": "ops"}))
            return self.send(403, "denied for " + str(self.headers.get("Authorization")), "text/plain")
        if p.startswith("/redirect/"):
            n = int(p.split("/")[2])
            if n == 0:
                return self.send(200, json.dumps({"arrived": True}))
            return self.send(302, "", "text/plain", {"Location": "/redirect/%d" % (n - 1)})
        if p == "/large":
            return self.send(200, b"x" * (2 * 1024 * 1024 + 17), "application/octet-stream")
        if p == "/notjson":
            return self.send(200, "{not json", "text/plain")
        if p == "/echo":
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n).decode()
            return self.send(200, json.dumps({"method": self.command, "content_type": self.headers.get("Content-Type"),
                                              "raw": raw}))
        return self.send(404, json.dumps({"error": "no such path"}))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = route


NEVER = threading.Event()  # never set: /slow's answer never comes in time


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hung up on purpose (cap, timeout, cancel)


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
BASE = "http://127.0.0.1:%d" % server.server_address[1]


def run(inputs, *flags):
    args = [DRIVER] + list(flags) + ["http.request", json.dumps(inputs)]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - t0
    if p.returncode != 0:
        raise AssertionError("driver exit %d: %s" % (p.returncode, p.stderr))
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["_raw"] = p.stdout + p.stderr
    out["_elapsed"] = elapsed
    return out


def case(name, fn):
    try:
        fn()
        print("ok   %s" % name)
    except Exception as e:  # report every case, then fail at the end
        failures.append(name)
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def t_fallback():
    r = run({"base_url": BASE + "/", "path": "api/diagnostics/auditfallback"})
    eq(r["status"], "ok", "status")
    eq(r["mutates"], False, "mutates")
    eq(r["result"]["status"], 200, "http status")
    eq(r["result"]["json"]["fileSize"], 0, "fileSize")
    eq(r["result"]["truncated"], False, "truncated")
    assert isinstance(r["result"]["duration_ms"], int)


def t_base_without_slashes():
    r = run({"base_url": BASE, "path": "/api/diagnostics/auditfallback"})
    eq(r["result"]["json"]["fileSize"], 0, "fileSize")


def t_health():
    r = run({"url": BASE + "/health"})
    eq(r["status"], "ok", "status")
    eq(r["result"]["body"], "ok", "body")
    eq(r["result"]["json"], None, "json")
    eq(r["result"]["headers"]["content-type"], "text/plain", "content-type")
    eq(r["result"]["headers"]["x-trace"], "a, b", "repeated header")


def t_head():
    r = run({"url": BASE + "/health", "method": "HEAD"})
    eq(r["status"], "ok", "status")
    eq(r["result"]["body"], "", "body")
    eq(r["mutates"], False, "mutates")


def t_post_json():
    r = run({"url": BASE + "/echo", "method": "POST", "json": {"a": 1, "b": [True, None, "x"]}})
    eq(r["status"], "ok", "status")
    eq(r["mutates"], True, "mutates")
    j = r["result"]["json"]
    eq(j["method"], "POST", "method")
    eq(j["content_type"], "application/json", "content type")
    eq(json.loads(j["raw"]), {"a": 1, "b": [True, None, "x"]}, "body sent")


def t_put_body():
    r = run({"url": BASE + "/echo", "method": "put", "body": "plain text",
             "headers": {"Content-Type": "text/plain"}})
    eq(r["status"], "ok", "status")
    eq(r["result"]["json"]["method"], "PUT", "method")
    eq(r["result"]["json"]["raw"], "plain text", "raw")
    eq(r["result"]["json"]["content_type"], "text/plain", "content type")


def t_500():
    r = run({"url": BASE + "/status/500"})
    eq(r["status"], "failed", "status")
    eq(r["result"]["status"], 500, "http status")
    eq(r["error"], "http.request: GET %s/status/500: status 500 is not in ok_status (body: boom line two)" % BASE,
       "error")


def t_ok_status_ranges():
    r = run({"url": BASE + "/status/503", "ok_status": ["500-503"]})
    eq(r["status"], "ok", "503 in 500-503")
    r = run({"url": BASE + "/nowhere", "ok_status": [404, "200-299"]})
    eq(r["status"], "ok", "404 listed")
    r = run({"url": BASE + "/health", "ok_status": [204]})
    eq(r["status"], "failed", "200 not listed")


def t_refused():
    r = run({"url": "http://127.0.0.1:1/health"})
    eq(r["status"], "failed", "status")
    eq(r["result"]["status"], 0, "http status")
    assert r["error"].startswith("http.request: GET http://127.0.0.1:1/health: "), r["error"]
    assert "connect" in r["error"].lower(), r["error"]


def t_slow_timeout():
    r = run({"url": BASE + "/slow"}, "--timeout", "400")
    eq(r["status"], "timed_out", "status")
    assert r["_elapsed"] < 300, "took %.1fs: waited for the slow answer" % r["_elapsed"]
    assert "timed out" in r["error"], r["error"]


def t_cancel():
    r = run({"url": BASE + "/slow"}, "--cancel")
    eq(r["status"], "cancelled", "status")
    assert r["_elapsed"] < 300, "took %.1fs: waited for the slow answer" % r["_elapsed"]


def t_auth_secret():
    hdr = {"Authorization": "Bearer " + SECRET}
    r = run({"url": BASE + "/auth", "headers": hdr}, "--secret", SECRET)
    eq(r["status"], "ok", "status")
    eq(r["result"]["json"]["user"], "ops", "user")
    r = run({"url": BASE + "/auth/deny", "headers": hdr}, "--secret", SECRET)
    eq(r["status"], "failed", "status")
    assert "403" in r["error"], r["error"]
    assert "denied for Bearer ***" in r["error"], r["error"]
    assert SECRET not in r["_raw"], "secret leaked: " + r["_raw"]


def t_uri_password():
    url = "http://ops:%s@127.0.0.1:1/x" % URI_PASSWORD
    r = run({"url": url})
    eq(r["status"], "failed", "status")
    assert "http://ops:***@127.0.0.1:1/x" in r["error"], r["error"]
    assert URI_PASSWORD not in r["_raw"], "password leaked: " + r["_raw"]


def t_redirects():
    r = run({"url": BASE + "/redirect/3"})
    eq(r["status"], "ok", "status")
    eq(r["result"]["json"], {"arrived": True}, "json")
    r = run({"url": BASE + "/redirect/9"})
    eq(r["status"], "failed", "status")
    assert "redirect" in r["error"].lower(), r["error"]


def t_large():
    r = run({"url": BASE + "/large"})
    eq(r["status"], "ok", "status")
    eq(r["result"]["truncated"], True, "truncated")
    eq(len(r["result"]["body"]), 1024 * 1024, "body length")
    eq(r["result"]["json"], None, "json")


def t_not_json():
    r = run({"url": BASE + "/notjson"})
    eq(r["status"], "ok", "status")
    eq(r["result"]["json"], None, "json")
    eq(r["result"]["body"], "{not json", "body")


def t_bad_inputs():
    r = run({"url": BASE + "/health", "method": "FETCH"})
    eq(r["status"], "failed", "status")
    assert "unknown method 'FETCH'" in r["error"], r["error"]
    r = run({"path": "/health"})
    assert "no url" in r["error"], r["error"]
    r = run({"url": BASE + "/health", "headers": {"X-Bad": "a\r\nInjected: 1"}})
    eq(r["status"], "failed", "status")
    assert "line break" in r["error"], r["error"]


def tls_server():
    """An HTTPS server with a fresh self-signed certificate for 127.0.0.1."""
    import shutil
    import ssl
    import tempfile
    if shutil.which("openssl") is None:
        raise AssertionError("openssl is needed to make the test certificate")
    d = tempfile.mkdtemp(prefix="lockstep-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=300)
    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, cert


def t_tls():
    srv, cert = tls_server()
    try:
        url = "https://127.0.0.1:%d/health" % srv.server_address[1]
        r = run({"url": url})
        eq(r["status"], "failed", "self-signed is refused by default")
        assert r["error"].startswith("http.request: GET %s: " % url), r["error"]
        r = run({"url": url, "insecure": True})
        eq(r["status"], "ok", "insecure")
        r = run({"url": url, "ca_file": cert})
        eq(r["status"], "ok", "ca_file: %s" % r.get("error"))
        eq(r["result"]["body"], "ok", "body over TLS")
    finally:
        srv.shutdown()


def prepare(inputs):
    p = subprocess.run([DRIVER, "--prepare", "http.request", json.dumps(inputs)],
                       capture_output=True, text=True, timeout=300)
    return p.stdout


def t_prepare():
    eq(prepare({"url": "http://x/", "method": "post", "ok_status": [200, "300-399"]}), "prepare: 0\n", "valid")
    out = prepare({"url": "http://x/", "method": "FETCH"})
    assert "unknown method 'FETCH'" in out, out
    out = prepare({"url": "http://x/", "ok_status": ["20x"]})
    assert "ok_status[0] is not a status" in out, out
    out = prepare({"url": "http://x/", "ok_status": [700]})
    assert "ok_status[0]" in out, out
    out = prepare({"url": "http://x/", "path": "/y"})
    assert "not url and path" in out, out
    out = prepare({"path": "/y"})
    assert "no url" in out, out
    out = prepare({"url": "http://x/", "body": "a", "json": {}})
    assert "body or json, not both" in out, out


for name, fn in sorted((k, v) for k, v in globals().items() if k.startswith("t_")):
    case(name[2:], fn)
server.shutdown()
if failures:
    print("%d failed: %s" % (len(failures), ", ".join(failures)))
    sys.exit(1)
print("all passed")
