"""What test_emit_half.py and test_emit_dtypes.py share: a kernel emitted by einc as a C file
and a header, compiled as the README promises (the header with -pedantic, the C file with
-Wall -Wextra -Werror into a shared library), and loaded with ctypes."""

import ctypes
import os
import subprocess

WARN = ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror"]


def emit_and_load(einc, tmp, name, args, check):
    """einc --emit=c and --emit=header --name NAME ARGS as NAME.c and NAME.h in tmp, both
    compiled; (the loaded library, the header's text), or None once check(False, why) has
    said what failed."""
    c, h, so = (os.path.join(tmp, name + x) for x in (".c", ".h", ".so"))
    for kind, path in (("c", c), ("header", h)):
        r = subprocess.run([einc, f"--emit={kind}", "--name", name, *args, "-o", path],
                           capture_output=True, text=True)
        if r.returncode:
            check(False, f"einc --emit={kind} {' '.join(args)}: {r.stderr}")
            return None
    for cmd in (WARN + ["-pedantic", "-fsyntax-only", "-x", "c", h],
                WARN + ["-O2", "-fPIC", "-shared", "-o", so, c, "-lm"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}")
        if r.returncode:
            return None
    with open(h) as f:
        return ctypes.CDLL(so), f.read()
