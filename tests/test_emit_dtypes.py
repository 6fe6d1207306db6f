#!/usr/bin/env python3
"""Emitted C for integer and complex arrays (`einc --emit=c --dtype=i8|...|c128`, README "Dtypes").

    python3 tests/test_emit_dtypes.py [PATH/TO/einc]

For i8 i16 i32 i64 u8 u16 u32 u64 c64 c128: the C file compiles with `cc -std=c99 -Wall -Wextra
-Werror`, the header also with -pedantic; the kernel, loaded with ctypes, gives numpy's
answer and dtype, exactly (integers wrap in their own width; complex data has small
integer parts, so every product and sum is exact) for a contraction, a transpose, a
diagonal, a full sum, and einops sum, max, min, prod and mean.  uint64 data lies above 2^63
(unsigned compares); int8/uint8 products overflow (wrapping).  A complex mean divides by
Smith's method as the interpreter does (numpy multiplies by the reciprocal: within 4 ulp).
A complex128 model (+, -, *, /, a contraction) compiles and agrees with numpy.  The refusals: --dtype other than f32/f64 for a non-C emitter.
Exit 0, 1 on a failure, 77 without numpy or a C compiler.
"""

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile

from emitted_c import emit_and_load

try:
    import numpy as np
except Exception:  # noqa: BLE001
    print("test_emit_dtypes: numpy not importable; skipped")
    sys.exit(77)
if not shutil.which("cc"):
    print("test_emit_dtypes: no cc; skipped")
    sys.exit(77)

EINC = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/einc"
TMP = tempfile.mkdtemp(prefix="einc-emit-dtypes-")
RNG = np.random.default_rng(21)
FAILS = []
COUNT = [0]
TYPES = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64, "u8": np.uint8, "u16": np.uint16, "u32": np.uint32,
         "u64": np.uint64, "c64": np.complex64, "c128": np.complex128}


def check(cond, what):
    COUNT[0] += 1
    if not cond:
        FAILS.append(what)
        print("FAIL", what)


def data(shape, t):
    dt = np.dtype(TYPES[t])
    if dt.kind == "c":
        return (RNG.integers(-3, 4, shape) + 1j * RNG.integers(-3, 4, shape)).astype(dt)
    if dt == np.uint64:     # both sides of 2^63
        return (RNG.integers(0, 2**62, shape, dtype=np.uint64) * np.uint64(3)).astype(dt)
    info = np.iinfo(dt)
    return RNG.integers(max(info.min, -200), min(info.max, 200) + 1, shape).astype(dt)


def build(t, expr, reduce, name):
    built = emit_and_load(EINC, TMP, name, [f"--dtype={t}", f"--reduce={reduce}", expr], check)
    if not built:
        return None
    lib, header = built
    proto = re.search(r"void %s\((.*?)\);" % name, header, re.S).group(1)
    params = [p.strip().split()[-1].lstrip("*") for p in proto.split(",")]
    return getattr(lib, name), params


# (expression, --reduce, operand shapes by axis letters, numpy's function)
CASES = [
    ("ik,kj->ij", "sum", ["ik", "kj"], lambda a, b: np.einsum("ik,kj->ij", a, b)),
    ("ij->ji", "sum", ["ij"], lambda a: np.ascontiguousarray(a.T)),
    ("ii->i", "sum", ["ii"], lambda a: np.einsum("ii->i", a)),
    ("ij->", "sum", ["ij"], lambda a: np.einsum("ij->", a)),
    ("i j -> j", "sum", ["ij"], lambda a: np.sum(a, axis=0)),
    ("i j -> j", "max", ["ij"], lambda a: np.max(a, axis=0)),
    ("i j -> i", "min", ["ij"], lambda a: np.min(a, axis=1)),
    ("i j -> i", "prod", ["ij"], lambda a: np.prod(a, axis=1)),
    ("i j -> j", "mean", ["ij"], lambda a: np.mean(a, axis=0)),
]
SIZES = {"i": 7, "j": 5, "k": 6}

for t in TYPES:
    for n, (expr, reduce, shapes, fn) in enumerate(CASES):
        if t.startswith("c") and reduce in ("max", "min"):
            continue    # refused: complex numbers have no order (test_dtypes.py)
        if reduce == "prod":
            sizes = dict(SIZES, j=3)    # products stay exact in complex64's float32
        else:
            sizes = SIZES
        built = build(t, expr, reduce, f"k{n}_{t}")
        if not built:
            continue
        fn_c, params = built
        ops = [data(tuple(sizes[x] for x in s), t) for s in shapes]
        want = np.asarray(fn(*ops))
        out = np.zeros(want.shape, want.dtype)
        args = [o.ctypes.data_as(ctypes.c_void_p) for o in ops] + [out.ctypes.data_as(ctypes.c_void_p)]
        sz = {"i": sizes["i"], "j": sizes["j"], "k": sizes["k"]}
        args += [ctypes.c_int64(sz[p]) for p in params[len(args):]]
        fn_c(*args)
        if t.startswith("c") and reduce == "mean":
            # numpy divides by multiplying with 1/d (d = n here); einc's Smith, as the
            # interpreter's, divides by d: one rounding apart
            ok = np.allclose(out, want, rtol=4 * np.finfo(want.real.dtype).eps, atol=0)
        else:
            ok = np.array_equal(out, want)
        check(ok, f"{t} '{expr}' --reduce={reduce}: got {out!r}, numpy {want!r}")

# a complex128 model: + - * / (Smith's) and a contraction, within rounding of numpy's
model = os.path.join(TMP, "cm.einl")
with open(model, "w") as f:
    f.write("input x: c128[N, K]\ninput w: c128[K, M]\ninput y: c128[N, M]\n"
            "return einsum('n k, k m -> n m', x, w) * y - y / (y + 10) + (-y) * y\n")
cm = os.path.join(TMP, "cm")
r = subprocess.run([EINC, model, "N=3", "K=5", "M=4", "--name", "cm", "-o", cm + ".c"], capture_output=True, text=True)
check(r.returncode == 0, f"einc {model}: {r.stderr}")
r = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared", "-o", cm + ".so",
                    cm + ".c", "-lm"], capture_output=True, text=True)
check(r.returncode == 0, f"cc {cm}.c: {r.stderr}")
if r.returncode == 0:
    x, w, y = data((3, 5), "c128"), data((5, 4), "c128"), data((3, 4), "c128")
    out = np.zeros((3, 4), np.complex128)
    ctypes.CDLL(cm + ".so").cm(*[a.ctypes.data_as(ctypes.c_void_p) for a in (x, w, y, out)])
    want = (x @ w) * y - y / (y + 10) + (-y) * y
    check(np.allclose(out, want, rtol=1e-14, atol=1e-14), f"complex128 model: got {out!r}, numpy {want!r}")

# CUDA and PTX take every dtype but complex; LLVM IR, assembly and objects float32 and float64
WANT = {
    "cuda": "einc: error: this dtype is emitted as C or header only today (--emit=c or --emit=header; "
            "CUDA takes every dtype but complex, LLVM IR, assembly and objects float32 or float64)",
    "llvm": "einc: error: this dtype is emitted as C, header, CUDA or PTX only today (LLVM IR, assembly "
            "and objects take float32 or float64)",
}
for kind, want in WANT.items():
    r = subprocess.run([EINC, f"--emit={kind}", "--dtype=c64", "ij->ji"], capture_output=True, text=True)
    check(r.returncode == 1 and r.stderr.strip() == want, f"--emit={kind} --dtype=c64: {r.stderr.strip()!r}")

shutil.rmtree(TMP, ignore_errors=True)
print(f"test_emit_dtypes: {COUNT[0] - len(FAILS)} passed, {len(FAILS)} failed")
sys.exit(1 if FAILS else 0)
