#!/usr/bin/env python3
"""numpy's and einops' own test suites, run against einc through its C API.

    python3 tests/conformance/run.py [--einc-lib build/runtime/libeinc.so] [--targets cpu,interp]
                                     [--suites numpy,einops] [--modes compare,suite]
                                     [--json FILE] [--verbose]

Runs numpy's numpy/_core/tests/test_einsum.py and einops' einops/tests/ (both ship in the
wheels) with pytest, with shim.py loaded as a plugin, twice:

  compare  every numpy.einsum and einops rearrange/reduce/repeat/einsum call the suites
           make is also run on einc (the JIT and the interpreter by default) and compared
           with the real result, which the suite gets back (see shim.py for how a call
           becomes what a C caller gives einc, and for the tolerances);
  suite    the suite gets einc's result (JIT) instead, and its own assertions judge it.

Prints a table per suite and target, each failing call once with its repro (the expression,
the operands' dtypes, shapes and strides in elements, einc's result or error, the
reference's), and ends with `N passed, M failed (...)`: calls in compare mode, tests in
suite mode.  Calls that involve a dtype einc does not have (longdouble, object...) are
counted as skipped, not failed.  Known differences are listed in EXPECTED
below with their reason: they count as expected failures, and one that passes is reported
as an unexpected pass.  Exit 0 when nothing failed, 1 otherwise, 77 (meson's "skipped")
when numpy, einops or pytest is not importable.

If einc crashes the process, the call it was running is recorded as a crash and the suite
runs again without running that call on einc, up to MAX_CRASHES times.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAX_CRASHES = 8

try:
    import numpy
    import einops
    import pytest  # noqa: F401 - only whether it is there
except Exception:  # noqa: BLE001 - any import problem means "skip"
    print("conformance: numpy, einops or pytest not importable by %s; skipped" % sys.executable)
    sys.exit(77)

# Known differences, each with its reason.  A call's record matches an entry when every
# field the entry gives matches: api, expr (a tuple: any of them), target, outcome ('wrong',
# 'refused', 'crash'), strides ('negative' or 'zero': some operand has such a stride); a
# suite-mode test's when kind is 'test' and its pytest node id ends with test.  Keep entries
# narrow: an entry that also matches calls that pass reports them as unexpected passes.
EXPECTED = [
    {"kind": "test", "test": "TestEinsum::test_einsum_views",
     "reason": "einc writes every result into an output array its caller provides; it never "
               "returns a view of an input (numpy does for transposes, diagonals and "
               "identities, and the test asserts b.base is a.base)"},
]

FAILED = ("wrong", "refused", "crash", "harness-error")


def suites(selected):
    """(name, pytest arguments, environment) of each suite found in this Python."""
    found = []
    if "numpy" in selected:
        base = os.path.dirname(numpy.__file__)
        for sub in ("_core", "core"):       # numpy 2 moved its core tests to _core
            path = os.path.join(base, sub, "tests", "test_einsum.py")
            if os.path.exists(path):
                # --noconftest: numpy's conftest.py needs hypothesis, which the tests of
                # einsum do not use
                found.append(("numpy", [path, "--noconftest"], {}))
                break
        else:
            print("conformance: numpy %s has no test_einsum.py; numpy suite not run"
                  % numpy.__version__)
    if "einops" in selected:
        path = os.path.join(os.path.dirname(einops.__file__), "tests")
        if os.path.isdir(path):
            found.append(("einops", [path], {"EINOPS_TEST_BACKENDS": "numpy"}))
        else:
            print("conformance: einops %s ships no tests; einops suite not run"
                  % einops.__version__)
    return found


def sanitizer_env(lib):
    """A library built with ASan must have its runtime loaded first: preload it (and
    UBSan's) into the Python that runs the suite.  Python's own allocations are not einc's
    business, so leak detection is off there."""
    try:
        needed = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    except OSError:
        return {}
    paths = re.findall(r"lib(?:asan|ubsan)\.so\S*\s+=>\s+(\S+)", needed)
    if not paths:
        return {}
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": " ".join(paths),
            "ASAN_OPTIONS": (opts + ":" if opts else "") + "detect_leaks=0"}


def run_suite(name, args, env_extra, lib, targets, work, mode):
    """Runs one suite under the shim, in "compare" or "suite" mode (see shim.py), until it
    finishes without crashing einc.  Returns (records, pytest's summary line, failures of
    pytest itself, seconds).  In compare mode every test must pass, since the shim returns
    the real results; in suite mode the tests' outcomes are records to judge."""
    records = os.path.join(work, "%s-%s.jsonl" % (name, mode))
    pend = os.path.join(work, name + ".pending")
    skip = os.path.join(work, name + ".skip")      # shared by both modes: crash once only
    if not os.path.exists(skip):
        open(skip, "w").close()
    env = dict(os.environ, EINC_CONF_LIB=lib, EINC_CONF_TARGETS=",".join(targets),
               EINC_CONF_RECORDS=records, EINC_CONF_PENDING=pend, EINC_CONF_SKIP=skip,
               EINC_CONF_SUITE=name, EINC_CONF_MODE=mode, PYTHONDONTWRITEBYTECODE="1",
               **env_extra)
    env.update(sanitizer_env(lib))
    env["PYTHONPATH"] = HERE + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "shim",
           "--rootdir", work, "-o", "addopts=", "--tb=short"] + args
    t0 = time.time()
    crashes = []
    for attempt in range(MAX_CRASHES + 1):
        open(records, "w").close()
        open(pend, "w").close()
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        with open(pend) as f:
            crashed = f.read().strip()
        if not crashed:
            break
        # einc took the process down in this call: note it and run the suite again
        crashes.append(crashed)
        with open(skip, "a") as f:
            f.write(crashed + "\n")
        last = attempt == MAX_CRASHES
        print("conformance: %s (%s mode): einc crashed the process (rc %d) in %s; %s" % (
            name, mode, p.returncode, crashed[:300],
            "too many crashes: the rest of the suite is not run" if last
            else "running the suite again without that call"))
        # a sanitizer's report, or Python's fault handler, is at the end of stderr
        print("\n".join("  | " + line for line in p.stderr.splitlines()[-40:]))
    out = p.stdout + p.stderr
    summary = ""
    for line in out.splitlines():
        if re.search(r"\d+ (passed|failed|error)", line) and " in " in line:
            summary = line.strip("= ").strip()
    failures = 0
    if mode == "compare":
        failures = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", summary))
    if p.returncode not in (0, 1) or not summary:
        failures = max(failures, 1)
    if failures:
        print("conformance: pytest for %s did not pass under the shim (%s mode, rc %d):"
              % (name, mode, p.returncode))
        print("\n".join("  | " + line for line in out.splitlines()[-60:]))
    recs = []
    with open(records) as f:
        for line in f:
            recs.append(json.loads(line))
    # compare mode records the crashes of earlier attempts itself, as calls
    for key in (crashes if mode == "suite" else crashes[-1:] if crashed else []):
        target, desc = json.loads(key)
        recs.append(dict(desc, suite=name, target=target, outcome="crash",
                         einc="einc crashed the process"))
    return recs, summary, failures, time.time() - t0


def strides_kind(rec):
    kinds = set()
    for op in rec.get("ops", []):
        for s in op.get("strides", []):
            if s < 0:
                kinds.add("negative")
            elif s == 0:
                kinds.add("zero")
    return kinds


def expected_entry(rec):
    """The EXPECTED entry a record matches, or None (see EXPECTED)."""
    for e in EXPECTED:
        ok = True
        for k, v in e.items():
            if k == "reason":
                continue
            if k == "strides":
                ok = v in strides_kind(rec)
            elif k == "outcome":        # a passing call matches, to be reported as such
                ok = rec["outcome"] in (v, "pass", "test-passed")
            elif k == "test":
                ok = rec.get("test", "").endswith(v)
            elif isinstance(v, tuple):
                ok = rec.get(k) in v
            else:
                ok = rec.get(k) == v
            if not ok:
                break
        if ok:
            return e
    return None


def repro(rec):
    ops = ", ".join("%s%s%s" % (o["dtype"], tuple(o["shape"]),
                                " strides=%s" % o["strides"] if "strides" in o else "")
                    for o in rec.get("ops", []))
    extra = []
    if rec.get("reduce"):
        extra.append("reduce=%s" % rec["reduce"])
    if rec.get("sizes"):
        extra.append(" ".join("%s=%d" % kv for kv in rec["sizes"].items()))
    if rec.get("out"):
        o = rec["out"]
        extra.append("out=%s%s%s" % (o["dtype"], tuple(o["shape"]),
                                     " strides=%s" % o["strides"] if "strides" in o else ""))
    if rec.get("note"):
        extra.append(rec["note"])
    return "%s %r on %s%s" % (rec["api"], rec["expr"], ops or "no operands",
                              " [" + "; ".join(extra) + "]" if extra else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--einc-lib", default=None,
                    help="libeinc.so (default: build/runtime/libeinc.so)")
    ap.add_argument("--targets", default=None,
                    help="comma-separated einc targets (default: cpu,interp; interp alone "
                         "without the JIT); suite mode runs the first")
    ap.add_argument("--suites", default="numpy,einops")
    ap.add_argument("--modes", default="compare,suite",
                    help="compare: the harness compares each call; suite: the suites' own "
                         "assertions judge einc's results")
    ap.add_argument("--json", help="write every record to this file")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="list every expected failure, accepted call and skip")
    a = ap.parse_args()
    lib = os.path.abspath(a.einc_lib or os.path.join(ROOT, "build", "runtime", "libeinc.so"))
    if not os.path.exists(lib):
        print("conformance: %s not found" % lib)
        return 1
    if a.targets:
        targets = a.targets.split(",")
    else:
        # in a child, so that a sanitized library gets its preload (see sanitizer_env)
        code = "import einc_ctypes as E; print(E.Lib(%r).has_target('cpu'))" % lib
        probe = subprocess.run([sys.executable, "-c", code],
                               capture_output=True, text=True, cwd=HERE,
                               env=dict(os.environ, PYTHONPATH=HERE, **sanitizer_env(lib)))
        targets = ["cpu", "interp"] if probe.stdout.strip() == "True" else ["interp"]
    modes = a.modes.split(",")
    found = suites(a.suites.split(","))
    if not found:
        print("conformance: no suite found; skipped")
        return 77

    print("conformance: %s against numpy %s and einops %s (%s), targets %s" % (
        os.path.relpath(lib), numpy.__version__, einops.__version__, sys.executable,
        ", ".join(targets)))
    allrecs = []
    pytest_fail = 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="einc-conformance-") as work:
        for name, args, env in found:
            for mode in modes:
                recs, summary, failures, secs = run_suite(name, args, env, lib, targets, work, mode)
                pytest_fail += failures
                allrecs += recs
                rows.append((name, mode, summary, secs, recs))

    # compare mode's tests pass whatever einc does (the shim returns the real results): their
    # failures are counted through pytest_fail; suite mode's are judgments of einc
    allrecs = [r for r in allrecs if not (r.get("kind") == "test" and r["mode"] == "compare")]
    for r in allrecs:
        if r["outcome"] in FAILED + ("pass", "test-passed", "test-failed"):
            e = expected_entry(r)
            if e is not None:
                r["reason"] = e["reason"]
                r["outcome"] = "xpass" if r["outcome"] in ("pass", "test-passed") else "xfail"

    cols = ["pass", "wrong", "refused", "crash", "harness-error", "xfail", "xpass", "both-refused",
            "accepted", "ref-refused-kw", "skip-dtype", "skip-other"]
    heads = ["pass", "wrong", "refused", "crash", "harness", "xfail", "xpass", "bothref",
             "accepted", "refkw", "skipdt", "skipoth"]
    print()
    print("%-7s %-7s %6s " % ("suite", "target", "calls") + " ".join("%7s" % h for h in heads))
    for name, mode, summary, secs, recs in rows:
        if mode == "compare":
            per = collections.defaultdict(collections.Counter)
            for r in recs:
                if r.get("kind") != "test":
                    per[r.get("target", "-")][r["outcome"]] += 1
            for t in targets + ["-"]:
                if t in per:
                    c = per[t]
                    print("%-7s %-7s %6d " % (name, t, sum(c.values())) + " ".join(
                        "%7d" % c[k] for k in cols))
            print("        compare mode: pytest %s; %.0f s" % (summary or "gave no summary", secs))
        else:
            c = collections.Counter(r["outcome"] for r in recs if r.get("kind") == "test")
            print("        suite mode (its own assertions on einc's %s results): %d passed, %d "
                  "failed, %d expected failures, %d unexpected passes, %d skipped; %.0f s" % (
                      targets[0], c["test-passed"], c["test-failed"], c["xfail"], c["xpass"],
                      c["test-skipped"], secs))
    print("  target '-': calls not run on einc.  harness: a bug in this harness (failed).\n"
          "  bothref: einc and the reference both refused (passed).  accepted: the reference\n"
          "  refused, einc computed.  refkw: the reference refused for a keyword einc never sees\n"
          "  (casting=, order=, an explicit path).  skipdt: a dtype einc lacks.  skipoth: a call\n"
          "  the C API cannot express (a callable reduction, say).  accepted, refkw and skips\n"
          "  count as neither.")

    def grouped(outcomes):
        g = collections.OrderedDict()
        for r in allrecs:
            if r["outcome"] in outcomes:
                if r.get("kind") == "test":
                    k = (r["outcome"], r["test"])
                else:
                    k = (r["outcome"], r["api"], r.get("expr"), r.get("target"),
                         r.get("einc") if r["outcome"] == "refused" else r.get("why", "")[:40])
                g.setdefault(k, []).append(r)
        return g

    def show(title, outcomes, limit=None):
        g = grouped(outcomes)
        if not g:
            return
        print("\n%s (%d, %d distinct):" % (title, sum(map(len, g.values())), len(g)))
        for i, (k, rs) in enumerate(g.items()):
            if limit is not None and i >= limit:
                print("  ... %d more (--verbose, or --json)" % (len(g) - limit))
                break
            r = rs[0]
            if r.get("kind") == "test":
                print("  %s [suite mode, %s] %s" % (r["outcome"].upper(), targets[0], r["test"]))
            else:
                print("  %s [%s] %s  (%d call%s; %s)" % (
                    r["outcome"].upper(), r.get("target"), repro(r), len(rs),
                    "s" if len(rs) > 1 else "", r.get("test", "")))
            for field, label in (("why", ""), ("einc", "einc: "), ("ref", "ref:  "),
                                 ("reason", "expected: ")):
                if r.get(field):
                    print("      %s%s" % (label, r[field]))

    show("FAILURES", FAILED + ("test-failed",))
    show("UNEXPECTED PASSES (a fix landed: remove the entry from EXPECTED)", ("xpass",))
    show("Expected failures", ("xfail",), None if a.verbose else 20)
    show("Calls the reference refuses and einc computes", ("accepted",), None if a.verbose else 10)
    prec = [r for r in allrecs if r.get("precision")]
    if prec:
        seen = collections.OrderedDict()
        for r in prec:
            seen.setdefault((r["api"], r["expr"], r["target"]), r)
        print("\nLess accurate than numpy (informational: an error over 4 eps S and 4 times "
              "numpy's,\nagainst the long-double result; S: the sum of the terms' magnitudes; "
              "%d, %d distinct):" % (len(prec), len(seen)))
        for r in list(seen.values())[: None if a.verbose else 10]:
            print("  [%s] %s: %s  (%s)" % (r["target"], repro(r), r["precision"],
                                           r.get("test", "")))
    if a.verbose:
        other = collections.Counter(r.get("why") for r in allrecs if r["outcome"] == "skip-other")
        dt = collections.Counter(r.get("why") for r in allrecs if r["outcome"] == "skip-dtype")
        for title, c in (("Not expressible through the C API", other), ("Unsupported dtypes", dt)):
            if c:
                print("\n%s:" % title)
                for why, n in c.most_common():
                    print("  %5d  %s" % (n, why))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(allrecs, f, indent=1)

    count = collections.Counter(r["outcome"] for r in allrecs)
    passed = count["pass"] + count["both-refused"] + count["test-passed"]
    failed = sum(count[k] for k in FAILED) + count["test-failed"] + pytest_fail
    print("\n%d passed, %d failed (%d skipped: unsupported dtypes; %d not expressible through "
          "the C API; %d expected failures; %d unexpected passes)" % (
              passed, failed, count["skip-dtype"], count["skip-other"], count["xfail"],
              count["xpass"]))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
