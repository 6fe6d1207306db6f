#!/usr/bin/env python3
"""Runs tests/python with pytest on the package a meson build made.

    python3 tests/python/run.py BUILD/python [PYTEST ARGS...]

BUILD/python/einc/ is the package (the extension and the Python files beside it): it goes
first on PYTHONPATH.  Exits 77 (meson's "skipped") when numpy or pytest is not importable by
this Python.  A build with AddressSanitizer has its runtime preloaded into the Python that
runs the tests (leak detection off: the interpreter's own allocations are not einc's).
Ends with the line "N passed, M failed" (pytest's errors count as failed), which .ci/run
adds up with the other suites.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import numpy  # noqa: F401 - only whether it is there
    import pytest  # noqa: F401
except ImportError as e:
    print(f"python: {e.name} is not importable by {sys.executable}; skipped")
    sys.exit(77)


def sanitizer_env(package):
    ext = [f for f in os.listdir(package) if f.startswith("_einc") and f.endswith(".so")]
    if not ext:
        return {}
    try:
        needed = subprocess.run(["ldd", os.path.join(package, ext[0])], capture_output=True,
                                text=True).stdout
    except OSError:
        return {}
    paths = re.findall(r"lib(?:asan|ubsan)\.so\S*\s+=>\s+(\S+)", needed)
    if not paths:
        return {}
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": " ".join(paths), "ASAN_OPTIONS": (opts + ":" if opts else "") + "detect_leaks=0"}


def main():
    build = os.path.abspath(sys.argv[1])
    package = os.path.join(build, "einc")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", EINC_TEST_PACKAGE=package)
    env["PYTHONPATH"] = build + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(sanitizer_env(package))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "--rootdir", HERE, HERE] + sys.argv[2:]
    p = subprocess.run(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    print(p.stdout, end="")
    counts = {}
    for line in p.stdout.splitlines()[-5:]:
        for n, what in re.findall(r"(\d+) (passed|failed|errors?|skipped)", line):
            counts[what.rstrip("s") if what.startswith("error") else what] = int(n)
    passed = counts.get("passed", 0)
    failed = counts.get("failed", 0) + counts.get("error", 0)
    if p.returncode != 0 and failed == 0:
        failed = 1          # pytest itself failed (a crash, a collection error, no tests)
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if p.returncode == 0 else 1)


main()
