#!/usr/bin/env python3
"""numpy's dtypes through the CLI: `einc run` on .npy files of every dtype numpy has gives
numpy's dtype and values (README, "Dtypes").

    python3 tests/test_dtypes.py [PATH/TO/einc]

- result types: 'i,i->i' for every ordered pair of the 14 dtypes against np.einsum (the
  dtype is numpy.result_type's, the values exact);
- per dtype: contractions, diagonals, transposes, sums and einops reductions against numpy;
  integers wrap in their own width (the data overflows int8 and uint8 on purpose);
- the JIT's dtypes (integers, float16/32/64, bool) under --target=auto and --target=interp
  alike; uint64 above 2^63 (unsigned compares, conversions to float) on both;
- the refusals: max/min of complex;
- complex broadcasting and real operands promoted to complex, on the JIT and the interpreter;
- layer-language models whose narrow intermediates overflow before a relu, a complex64 model
  (+, -, *, /, a contraction), and the emitters' refusal of a model's dtype they do not spell.

Prints one line per failure and `N passed, M failed`; exit 1 on a failure, 77 without numpy.
"""

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

try:
    import numpy as np
except Exception:  # noqa: BLE001 - any import problem means "skip"
    print("test_dtypes: numpy not importable; skipped")
    sys.exit(77)

EINC = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/einc"
TYPES = [np.dtype(t) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                               "uint32", "uint64", "float16", "float32", "float64",
                               "complex64", "complex128")]
RNG = np.random.default_rng(20261207)
TMP = tempfile.mkdtemp(prefix="einc-dtypes-")
COUNTER = iter(range(10**9))


def data(shape, dt, small=False):
    """Values that overflow int8/uint8 products (wrapping is part of the test) unless small."""
    if dt == np.bool_:
        return RNG.integers(0, 2, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        hi = 3 if small else min(info.max, 200)
        lo = 0 if dt.kind == "u" else -hi
        return RNG.integers(lo, hi + 1, shape).astype(dt)
    x = RNG.uniform(-2, 2, shape)
    if dt.kind == "c":
        x = x + 1j * RNG.uniform(-2, 2, shape)
    if small:
        x = np.round(x)
    return x.astype(dt)


def einc(args, arrays):
    n = next(COUNTER)
    files = []
    for i, a in enumerate(arrays):
        f = os.path.join(TMP, f"{n}_{i}.npy")
        np.save(f, a)
        files.append(f)
    out = os.path.join(TMP, f"{n}_out.npy")
    r = subprocess.run([EINC, "run", *args, *files, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return np.load(out), ""


def tol(dt):
    return {"e": 4e-3, "f": 2e-6, "d": 1e-12, "F": 2e-6, "D": 1e-12}.get(dt.char, 0)


def same(got, want):
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, numpy {want.dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, numpy {want.shape}"
    t = tol(want.dtype)
    if t == 0:
        ok = np.array_equal(got, want)
    else:
        scale = max(1.0, float(np.max(np.abs(want.astype(np.complex128)))) if want.size else 1.0)
        ok = np.allclose(got.astype(np.complex128), want.astype(np.complex128), rtol=t, atol=t * scale)
    return "" if ok else f"values\n  einc  {got!r}\n  numpy {want!r}"


CASES = []   # (name, einc args, arrays, numpy's result or an error's text)


def case(name, args, arrays, want):
    CASES.append((name, args, arrays, want))


for a in TYPES:
    for b in TYPES:
        x, y = data((5,), a, small=True), data((5,), b, small=True)
        case(f"result_type {a} {b}", ["i,i->i"], [x, y], np.einsum("i,i->i", x, y))

RED = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}
JIT = TYPES    # the CPU JIT computes every dtype


def case_type(t, target):
    tg = [target] if target else []
    A, B, S, C3 = data((3, 4), t), data((4, 5), t), data((3, 3), t), data((2, 3, 4), t)
    for expr, ops in (("ij,jk->ik", [A, B]), ("ii->i", [S]), ("ij->ji", [A]), ("ij->", [A]),
                      ("ijk->kj", [C3]), ("ijk,ik->j", [C3, data((2, 4), t)]),
                      ("ii", [S]), ("i,j->ij", [A[0], B[0]])):
        case(f"{t} {expr} {target}", tg + [expr], ops, np.einsum(expr, *ops))
    P = data((3, 4), t, small=True)
    for op, fn in RED.items():
        if t.kind == "c" and op in ("max", "min"):
            case(f"{t} reduce {op}", tg + ["a b -> b", f"--reduce={op}"], [P],
                 f"einc: error: {op} of {t}: complex numbers have no order; reduce their real "
                 "part or magnitude instead")
        else:
            case(f"{t} reduce {op} {target}", tg + ["a b -> b", f"--reduce={op}"], [P], fn(P, axis=0))
    if t.kind == "c":   # broadcasting, and a real operand promoted to complex
        V, R = data((4,), t), data((3, 4), np.dtype("float32"))
        for target in ("--target=cpu", "--target=interp"):
            case(f"{t} ij,j->ij {target}", [target, "ij,j->ij"], [A, V], np.einsum("ij,j->ij", A, V))
            case(f"{t} ij,ij->j float32 {target}", [target, "ij,ij->j"], [A, R], np.einsum("ij,ij->j", A, R))


for t in TYPES:
    # --target=auto is the JIT for the JIT's dtypes: run the interpreter on them too
    for target in (["--target=interp"] if t in JIT else []) + [""]:
        case_type(t, target)


# uint64 above 2^63, where a signed compare, division or conversion to float goes wrong
U = np.array([[2**64 - 1, 3, 2**63 + 5], [2**63, 2**63 - 1, 7]], dtype=np.uint64)
for target in ("--target=cpu", "--target=interp"):
    for op in ("max", "min", "sum", "mean"):
        for pat in ("a b -> b", "a b -> a"):
            case(f"uint64 big reduce {op} {pat} {target}", [target, pat, f"--reduce={op}"], [U],
                 RED[op](U, axis=0 if pat.endswith("b") else 1))
    case(f"uint64 big ij->ji {target}", [target, "ij->ji"], [U], U.T)
    case(f"uint64 big ij,ij->i {target}", [target, "ij,ij->i"], [U, U], np.einsum("ij,ij->i", U, U))
    case(f"uint64 big float64 i,i->i {target}", [target, "i,i->i"], [U[0], np.ones(3)],
         np.einsum("i,i->i", U[0], np.ones(3)))


# The layer language: an intermediate that overflows its narrow type wraps before relu (a
# max) sees it, on the JIT as in the interpreter and numpy; a model declaring a dtype that a
# code generator does not spell is refused, never emitted wrong.
MODELS = []
for t, body, fn in (("int8", "relu(x * y)", lambda x, y: np.maximum(x * y, 0)),
                    ("int16", "relu(x * y)", lambda x, y: np.maximum(x * y, 0)),
                    ("uint8", "relu(x - y)", lambda x, y: np.maximum(x - y, 0)),
                    ("uint16", "relu(y - x)", lambda x, y: np.maximum(y - x, 0)),
                    ("uint32", "relu(x - y)", lambda x, y: np.maximum(x - y, 0)),
                    ("uint64", "relu(x - y)", lambda x, y: np.maximum(x - y, 0))):
    d = np.dtype(t)
    hi = np.iinfo(d).max
    x = RNG.integers(0 if d.kind == "u" else -hi, hi, 64, dtype=d)
    y = RNG.integers(0 if d.kind == "u" else -hi, hi, 64, dtype=d)
    for target in ("cpu", "interp"):
        MODELS.append((f"model {t} {body} {target}", [f"--target={target}"],
                       f"input x: {d.kind}{d.itemsize * 8}[N]\ninput y: {d.kind}{d.itemsize * 8}[N]\n"
                       f"return {body}\n", [x, y], fn(x, y)))
# complex in a model: +, -, *, / (Smith's, numpy's) and a contraction, on the JIT and the
# interpreter
CX_MODEL = ("input x: c64[N, K]\ninput w: c64[K, M]\ninput y: c64[N, M]\n"
            "return einsum('n k, k m -> n m', x, w) * y - y / (y + 10) + (-y) * y\n")
xc, wc, yc = data((3, 5), np.dtype("complex64")), data((5, 4), np.dtype("complex64")), data((3, 4), np.dtype("complex64"))
for target in ("cpu", "interp"):
    MODELS.append((f"model complex64 {target}", [f"--target={target}"], CX_MODEL, [xc, wc, yc],
                   (xc @ wc) * yc - yc / (yc + 10) + (-yc) * yc))
for kind, brief, name, gen in (("c", "f16", "float16", "C"), ("cuda", "c64", "complex64", "CUDA"),
                               ("c", "i8", "int8", "C")):
    MODELS.append((f"emit {kind} {brief}", [f"--emit={kind}", "N=4"], f"input x: {brief}[N]\nreturn x\n",
                   None, f"einc: MODEL: error: 'x' is {name}, which {gen} does not emit yet "
                   "(README, \"Dtypes\"): run it with einc run"))


def check_model(c):
    name, args, src, arrays, want = c
    n = next(COUNTER)
    path = os.path.join(TMP, f"{n}.einl")
    with open(path, "w") as f:
        f.write(src)
    if arrays is None:
        r = subprocess.run([EINC, path, *args], capture_output=True, text=True)
        err = r.stderr.strip().replace(path, "MODEL")
        return "" if r.returncode == 1 and err == want else f"{name}: want error {want!r}, got {err!r}"
    files = []
    for nm, a in zip("xwy" if len(arrays) == 3 else "xy", arrays):
        files.append(f"{nm}={os.path.join(TMP, f'{n}_{nm}.npy')}")
        np.save(files[-1][2:], a)
    out = os.path.join(TMP, f"{n}_out.npy")
    r = subprocess.run([EINC, "run", *args, path, *files, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{name}: einc failed: {r.stderr.strip()}"
    msg = same(np.load(out), np.asarray(want))
    return f"{name}: {msg}" if msg else ""


def check(c):
    if len(c) == 5:
        return check_model(c)
    name, args, arrays, want = c
    got, err = einc(args, arrays)
    if isinstance(want, str):
        return "" if got is None and err == want else f"{name}: want error {want!r}, got {err!r}"
    if got is None:
        return f"{name}: einc failed: {err}"
    msg = same(got, np.asarray(want))
    return f"{name}: {msg}" if msg else ""


def main():
    with ThreadPoolExecutor(max_workers=2) as ex:
        fails = [m for m in ex.map(check, CASES + MODELS) if m]
    for m in fails:
        print("FAIL", m)
    print(f"{len(CASES) + len(MODELS) - len(fails)} passed, {len(fails)} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
