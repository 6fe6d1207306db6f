#!/usr/bin/env python3
"""Emitted C for float16 and bfloat16 arrays (`einc --emit=c --dtype=f16|bf16`, README "Dtypes").

    python3 tests/test_emit_half.py [PATH/TO/einc]

For each of the two types: the C file and the header compile with -Wall -Wextra -Werror
(-pedantic for the header); the kernel, loaded with ctypes, computes
- 'ik,kj->ij' within half-precision tolerance of a float64 product of the same inputs;
- 'i->i' on every one of the 65536 bit patterns: a bit-exact copy (NaNs stay NaN), which
  checks the widening and that rounding a representable value leaves it alone;
- 'i,i->i' on random pairs, whose float32 product is exact: the result rounded once to
  nearest even, bit for bit as numpy rounds (subnormals, overflow to inf included).
Exit 0, 1 on a failure, 77 without numpy or a C compiler.
"""

import ctypes
import os
import shutil
import sys
import tempfile

from emitted_c import emit_and_load

try:
    import numpy as np
except Exception:  # noqa: BLE001
    print("test_emit_half: numpy not importable; skipped")
    sys.exit(77)
if not shutil.which("cc"):
    print("test_emit_half: no cc; skipped")
    sys.exit(77)

EINC = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/einc"
TMP = tempfile.mkdtemp(prefix="einc-half-")
RNG = np.random.default_rng(7)
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what)


def bf16_bits(x):
    """float32 -> bfloat16 bits, rounded to nearest even (NaN kept NaN)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, np.float32))
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), r)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def to_bits(x, t):
    with np.errstate(over="ignore"):   # past float16's range is inf, as wanted
        return np.asarray(x, np.float32).astype(np.float16).view(np.uint16) if t == "f16" else bf16_bits(x)


def to_float(bits, t):
    return bits.view(np.float16).astype(np.float32) if t == "f16" else bf16_value(bits)


def build(t, expr, name):
    built = emit_and_load(EINC, TMP, name, [f"--dtype={t}", expr], check)
    if not built:
        return None
    lib = built[0]
    return getattr(lib, name), getattr(lib, name + "_workspace")


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def run(fn_ws, arrays, out, sizes):
    fn, ws = fn_ws
    ws.restype = ctypes.c_size_t
    nbytes = ws(*[ctypes.c_int64(s) for s in sizes])
    w = np.zeros(nbytes // 8 + 8, np.float64)  # 8-byte aligned; the kernel needs no more
    fn(*[ptr(a) for a in arrays], ptr(out), *[ctypes.c_int64(s) for s in sizes], ptr(w))


for t in ("f16", "bf16"):
    # a matrix product within half-precision tolerance
    mm = build(t, "ik,kj->ij", f"mm_{t}")
    if mm:
        M, K, N = 37, 300, 29
        a = to_bits(RNG.uniform(-1, 1, (M, K)), t)
        b = to_bits(RNG.uniform(-1, 1, (K, N)), t)
        o = np.zeros((M, N), np.uint16)
        run(mm, [a, b], o, [M, K, N])   # sizes in order of first appearance: i, k, j
        ref = to_float(a, t).astype(np.float64) @ to_float(b, t).astype(np.float64)
        got = to_float(o, t).astype(np.float64)
        eps = 2.0**-11 if t == "f16" else 2.0**-8
        err = np.max(np.abs(got - ref) / (np.abs(ref) + 1e-3 * np.sqrt(K)))
        check(err <= 2 * eps, f"{t} ik,kj->ij: relative error {err:.3g} > {2 * eps:.3g}")
    # every bit pattern survives a copy
    cp = build(t, "i->i", f"cp_{t}")
    if cp:
        x = np.arange(65536, dtype=np.uint32).astype(np.uint16)
        o = np.zeros_like(x)
        run(cp, [x], o, [65536])
        xf, of = to_float(x, t), to_float(o, t)
        nan = np.isnan(xf)
        check(np.array_equal(np.isnan(of), nan) and np.array_equal(o[~nan], x[~nan]),
              f"{t} i->i is not a bit-exact copy at {np.flatnonzero((o != x) & ~nan)[:5]}")
    # one rounding of an exact float32 product
    ml = build(t, "i,i->i", f"ml_{t}")
    if ml:
        n = 200000
        scale = np.float32(2.0**-9 if t == "f16" else 2.0**-70)
        a = to_bits(RNG.standard_normal(n) * RNG.choice([1e-3, 1, 300], n), t)
        b = to_bits(RNG.standard_normal(n) * RNG.choice([scale, 1, 300], n), t)
        o = np.zeros(n, np.uint16)
        run(ml, [a, b], o, [n])
        want = to_bits(to_float(a, t) * to_float(b, t), t)
        bad = np.flatnonzero(o != want)
        check(bad.size == 0, f"{t} i,i->i rounds differently at {bad[:5]}: got {o[bad[:5]]}, want {want[bad[:5]]}")

shutil.rmtree(TMP, ignore_errors=True)
print("test_emit_half:", "ok" if not FAILS else f"{len(FAILS)} failed")
sys.exit(1 if FAILS else 0)
