"""`lockstep validate` on the playbooks in tests/proc/validate/: each
NAME.yaml must exit 2 and print exactly NAME.expected on stderr."""
import glob
import os
import subprocess
import sys

LOCKSTEP = os.environ["LOCKSTEP_BIN"]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate")


def main():
    failures = 0
    cases = sorted(glob.glob(os.path.join(HERE, "*.yaml")))
    for path in cases:
        name = os.path.basename(path)
        with open(path[: -len(".yaml")] + ".expected") as f:
            expected = f.read()
        p = subprocess.run([LOCKSTEP, "validate", name], cwd=HERE, capture_output=True, text=True, timeout=300)
        if p.returncode != 2 or p.stderr != expected:
            failures += 1
            print("FAIL %s: exit %d\n--- expected\n%s--- got\n%s" % (name, p.returncode, expected, p.stderr),
                  file=sys.stderr)
    if not cases:
        print("no cases found in", HERE, file=sys.stderr)
        return 1
    if failures:
        return 1
    print("validate core: %d case file(s) passed" % len(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
