"""`lockstep validate` of playbooks/invalid.yaml prints exactly
playbooks/invalid.expected (the http and mongo actions' load-time checks;
a URI password in the source line is shown as ***) and exits 2."""
import os
import subprocess
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
p = subprocess.run([os.environ["LOCKSTEP_BIN"], "validate", "invalid.yaml"], cwd=here,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
want = open(os.path.join(here, "invalid.expected")).read()
if p.returncode != 2 or p.stdout != want:
    print("exit %d (want 2); output:\n%s\n--- expected:\n%s" % (p.returncode, p.stdout, want))
    sys.exit(1)
print("ok")
