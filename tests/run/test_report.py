"""lockstep report (issue 16): HTML (rendered in headless Chromium, the path
taken visible in a screenshot), Markdown, JUnit XML (parsed) and JSON, from
a run with an approval, a retry and a failure path; no secret in any form;
a damaged journal is said to be damaged."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, check, eq, finish  # noqa: E402

SECRET = "s3cr3t-Report-Token"
PB = """\
lockstep: 1
name: report-demo
start: hello
params:
  token: {type: string, secret: true, env: REPORT_TOKEN}
defaults: {on_failure: cleanup}
states:
  hello:
    action: exec
    with: {argv: [echo, "token ${{ params.token }}"]}
    mutates: false
    next: gate
  gate:
    confirm: "deploy?"
    next: flaky
  flaky:
    action: shell
    with: {script: 'n=$(cat @DIR@/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/n; [ $n -ge 2 ]'}
    retry: {attempts: 3}
    next: broken
  broken:
    action: exec
    with: {argv: [sh, -c, 'echo "it broke with ${TOKEN}" >&2; exit 7']}
    next: done
  cleanup:
    action: exec
    with: {argv: [true]}
    on_failure: failed
    next: failed
  done: {terminal: success}
  failed: {terminal: failure}
"""

c = Case("report", PB)
env = {"REPORT_TOKEN": SECRET, "TOKEN": SECRET}
rc, out, err = c.run("--yes", env=env)
eq(rc, 1, "the demo run ends in failure: " + err)
rid = c.last_run()


def report(fmt, *extra):
    rc, out, err = c.cmd("report", rid, "--format", fmt, *extra)
    eq(rc, 0, f"report {fmt}: {err}")
    check(SECRET not in out and SECRET not in err, f"report {fmt}: no secret")
    return out


doc = json.loads(report("json"))
eq(doc["outcome"], "failure", "json outcome")
eq(doc["final_state"], "failed", "json final state")
eq(doc["path"], ["hello", "gate", "flaky", "broken", "cleanup", "failed"], "json path")
eq(doc["chain"]["intact"], True, "json chain verdict")
eq(doc["states"]["flaky"]["attempts"], 2, "json attempts")
eq(doc["states"]["broken"]["status"], "failed", "json failed state")
check(doc["states"]["gate"]["approved_by"].endswith("via yes"), "json approval and who gave it")
check(all(isinstance(s["duration_ms"], int) for s in doc["states"].values()), "json per-state timings")

junit = report("junit")
root = ET.fromstring(junit)
suite = root.find("testsuite")
cases = suite.findall("testcase")
eq([t.get("name") for t in cases], ["hello", "gate", "flaky", "broken", "cleanup", "failed"],
   "junit: one testcase per visited state")
fails = [t for t in cases if t.find("failure") is not None]
eq([t.get("name") for t in fails], ["broken", "failed"], "junit: the failing state and the failure terminal fail")
check("exit" in fails[0].find("failure").get("message") or "7" in fails[0].find("failure").get("message"),
      "junit: the failure carries the error: " + fails[0].find("failure").get("message"))
eq(suite.get("failures"), "2", "junit: failure count")

md = report("md")
check("| state | status | attempts |" in md, "markdown: the states table")
check("hello → gate → flaky → broken → cleanup → failed" in md, "markdown: the path")
check("**failure**" in md, "markdown: the outcome")

page = c.path("report.html")
rc, out, err = c.cmd("report", rid, "-o", page)
eq(rc, 0, "report html -o: " + err)
html = open(page).read()
check(SECRET not in html, "html: no secret")
check("<script" not in html.lower(), "html: no script")
for bad in ("src=", "href=\"http", "url(http", "@import"):
    check(bad not in html, f"html: self-contained ({bad})")
check('id="chain" class="ok"' in html, "html: the chain verdict")
check('class="e next taken"' in html, "html: the path taken is drawn over the graph")


def png_pixels(path):
    """(width, height, rows of RGB tuples) of a PNG: 8-bit RGB or RGBA, non-interlaced."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, cc = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
        rows.append(line)
        prev = line
    return w, h, rows, bpp


chromium = shutil.which("chromium")
if chromium is None:
    check(os.environ.get("CI") != "true", "chromium is installed in CI (tools/bootstrap)")
    print("report: chromium is not installed here; the HTML was checked as text only")
else:
    profile = tempfile.mkdtemp(prefix="lsreport-chromium-")
    shot = c.path("report.png")
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--user-data-dir=" + profile, "--hide-scrollbars", "--window-size=1200,1400",
                        "--screenshot=" + shot, "file://" + page],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    shutil.rmtree(profile, ignore_errors=True)
    check(os.path.exists(shot), "chromium took a screenshot: " + p.stderr.decode(errors="replace")[-500:])
    if os.path.exists(shot):
        w, h, rows, bpp = png_pixels(shot)
        blue = green = 0
        for line in rows:
            for i in range(0, w * bpp, bpp):
                r, g, b = line[i], line[i + 1], line[i + 2]
                if abs(r - 0x15) < 24 and abs(g - 0x65) < 24 and abs(b - 0xC0) < 24:
                    blue += 1      # the path taken (stroke #1565c0)
                elif abs(r - 0xC8) < 10 and abs(g - 0xE6) < 10 and abs(b - 0xC9) < 10:
                    green += 1     # visited states (fill #c8e6c9)
        check(blue > 200, f"screenshot: the path taken is visible ({blue} path pixels)")
        check(green > 2000, f"screenshot: visited states are visible ({green} pixels)")
        print(f"report: screenshot {w}x{h}, {blue} path pixels, {green} visited-state pixels")

# A dry run's report shows each decision and what it rested on.
c3 = Case("report-dry", PB)
rc, out, err = c3.run("--dry-run", env=env)
eq(rc, 0, "the dry run ends in success: " + err)
rc, out, err = c3.cmd("report", c3.last_run(), "--format", "json")
ddoc = json.loads(out)
check(len(ddoc["decisions"]) > 0 and all("basis" in d for d in ddoc["decisions"]),
      "dry-run report: decisions with their basis: " + out[-400:])
rc, out, err = c3.cmd("report", c3.last_run())
check('id="decisions"' in out, "dry-run report: the HTML has the decisions table")
c3.cleanup()

# A damaged journal: every format says so.
jp = os.path.join(c.state, "runs", rid, "journal.jsonl")
data = open(jp, "rb").read().replace(b'"visit":1', b'"visit":9', 1)
open(jp, "wb").write(data)
doc = json.loads(report("json"))
eq(doc["chain"]["intact"], False, "a damaged journal is reported")
check("altered" in (doc["chain"]["why"] or ""), "... saying why: " + str(doc["chain"]["why"]))
check("BROKEN" in report("html"), "html says BROKEN")
rc, out, err = c.cmd("report", "nosuchrun")
eq(rc, 2, "report of an unknown run")
rc, out, err = c.cmd("report", rid, "--format", "pdf")
eq(rc, 2, "an unknown format")
c.cleanup()
finish()
