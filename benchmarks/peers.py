#!/usr/bin/env python3
"""einc next to numpy (einsum with optimize=False and True, transpose+copy, sum) and PyTorch
(when installed), in one process and one run: einc is called through its C API with ctypes,
so no process start-up or file I/O is timed.  Prints a table of medians and ratios and,
when matplotlib is there, writes a PNG bar chart of the ratios.

    python3 benchmarks/peers.py [--lib build/runtime/libeinc.so] [--threads 1] [--png peers.png]
    PYTHONPATH=build/python python3 benchmarks/peers.py --module [--threads 1]

--module calls einc through its Python package (import einc: einc.einsum, einc.Model), as
a numpy user would, each call making its result array, instead of ctypes into a preallocated
one; the package comes from PYTHONPATH (a meson build's python/) or from pip install .

Threads: EINC_NUM_THREADS, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set from --threads
before anything loads, and torch.set_num_threads as well, so every peer runs with the same
count.  Not part of the test suite: speed is measured here, never asserted.
"""
import argparse
import ctypes as C
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--lib", default=os.path.join(os.path.dirname(__file__), "..", "build", "runtime", "libeinc.so"))
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--reps", type=int, default=7)
ap.add_argument("--png", default=None)
ap.add_argument("--module", action="store_true", help="call einc through the Python package")
args = ap.parse_args()
for v in ("EINC_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread variables)

try:
    import torch
    torch.set_num_threads(args.threads)
except ImportError:
    torch = None

F32 = 0


class Tensor(C.Structure):
    _fields_ = [("dtype", C.c_int), ("ndim", C.c_int), ("shape", C.POINTER(C.c_int64)),
                ("strides", C.POINTER(C.c_int64)), ("data", C.c_void_p)]


class Error(C.Structure):
    _fields_ = [("status", C.c_int), ("begin", C.c_int32), ("end", C.c_int32), ("message", C.c_char * 512)]


def einc_ctypes():
    """einc's C API through ctypes: a kernel runs into an output array made once."""
    lib = C.CDLL(os.path.abspath(args.lib))
    lib.einc_ctx_new.restype = C.c_void_p
    lib.einc_compile.argtypes = [C.c_void_p, C.c_char_p, C.c_void_p, C.POINTER(C.c_void_p), C.POINTER(Error)]
    lib.einc_compile_model.argtypes = lib.einc_compile.argtypes
    lib.einc_kernel_run.argtypes = [C.c_void_p, C.c_int, C.POINTER(Tensor), C.POINTER(Tensor), C.POINTER(Error)]
    ctx = lib.einc_ctx_new()

    def tensor(a):
        shape = (C.c_int64 * max(a.ndim, 1))(*a.shape)
        t = Tensor(F32, a.ndim, shape, None, a.ctypes.data)
        t._keep = (a, shape)
        return t

    def einc(expr, *arrays, out_shape, model=False):
        """einc's kernel for expr (or, with model=True, a model's source)."""
        k = C.c_void_p()
        err = Error()
        compile = lib.einc_compile_model if model else lib.einc_compile
        if compile(ctx, expr.encode(), None, C.byref(k), C.byref(err)):
            sys.exit(f"einc: {err.message.decode()}")
        out = np.empty(out_shape, np.float32)
        ins = (Tensor * len(arrays))(*[tensor(a) for a in arrays])
        o = tensor(out)

        def run():
            if lib.einc_kernel_run(k, len(arrays), ins, C.byref(o), C.byref(err)):
                sys.exit(f"einc: {err.message.decode()}")
            return out
        return run
    return einc


def einc_package():
    """einc through its Python package, as a numpy user calls it: each call makes its result."""
    import einc as package

    def einc(expr, *arrays, out_shape, model=False):
        if model:
            m = package.Model(expr)
            return lambda: m(*arrays)
        if any(" " in op.strip() or "(" in op for op in expr.split("->")[0].split(",")):
            return lambda: package.einsum(*arrays, expr)        # einops' form
        return lambda: package.einsum(expr, *arrays)
    return einc


einc = einc_package() if args.module else einc_ctypes()


def median(f, reps=args.reps):
    # OpenBLAS's and OpenMP's worker threads spin for up to a few hundred ms after their
    # last call; with as many threads as cores, whatever is timed next would share the
    # cores with them.  Every series starts once they have gone to sleep.
    time.sleep(0.3)
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


rng = np.random.default_rng(0)
rows = []   # (case, einc seconds, {peer: seconds})


def case(name, expr, arrays, numpy_fns, torch_fn=None):
    ref = numpy_fns[list(numpy_fns)[0]]()
    run = einc(expr, *arrays, out_shape=np.shape(ref))
    got = run()
    if not np.allclose(got, ref, rtol=1e-3, atol=1e-3 * (1 + np.abs(ref).max())):
        sys.exit(f"{name}: einc's result differs from numpy's")
    te = median(run)
    peers = {p: median(f, max(1, args.reps // 2)) for p, f in numpy_fns.items()}
    if torch is not None and torch_fn is not None:
        peers["torch"] = median(torch_fn)
    rows.append((name, te, peers))


def arr(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


a, b = arr(1024, 1024), arr(1024, 1024)
case("ik,kj->ij 1024^3", "ik,kj->ij", [a, b],
     {"numpy opt=False": lambda: np.einsum("ik,kj->ij", a, b, optimize=False),
      "numpy opt=True": lambda: np.einsum("ik,kj->ij", a, b, optimize=True)},
     torch and (lambda ta=torch.from_numpy(a), tb=torch.from_numpy(b): torch.einsum("ik,kj->ij", ta, tb)))
x, y = arr(32, 256, 256), arr(32, 256, 256)
case("bij,bjk->bik 32x256^3", "bij,bjk->bik", [x, y],
     {"numpy opt=True": lambda: np.einsum("bij,bjk->bik", x, y, optimize=True),
      "numpy matmul": lambda: x @ y},
     torch and (lambda tx=torch.from_numpy(x), ty=torch.from_numpy(y): torch.einsum("bij,bjk->bik", tx, ty)))
q, kk = arr(8, 12, 512, 64), arr(8, 12, 512, 64)
case("bhid,bhjd->bhij (8,12,512,64)", "bhid,bhjd->bhij", [q, kk],
     {"numpy opt=True": lambda: np.einsum("bhid,bhjd->bhij", q, kk, optimize=True)},
     torch and (lambda tq=torch.from_numpy(q), tk=torch.from_numpy(kk): torch.einsum("bhid,bhjd->bhij", tq, tk)))
t3, m1, m2 = arr(96, 96, 96), arr(96, 96), arr(96, 96)
case("ijk,jl,kl->il 96^4", "ijk,jl,kl->il", [t3, m1, m2],
     {"numpy opt=True": lambda: np.einsum("ijk,jl,kl->il", t3, m1, m2, optimize=True),
      "numpy opt=False": lambda: np.einsum("ijk,jl,kl->il", t3, m1, m2, optimize=False)},
     torch and (lambda a3=torch.from_numpy(t3), a1=torch.from_numpy(m1), a2=torch.from_numpy(m2):
                torch.einsum("ijk,jl,kl->il", a3, a1, a2)))
# "copy": np.copyto of the same bytes, the bandwidth a rearrange can reach (ratio: its share)
r, rc = arr(64, 64, 64, 64), np.empty((64, 64, 64, 64), np.float32)
case("abcd->dcba 64 MiB", "abcd->dcba", [r],
     {"numpy transpose+copy": lambda: np.ascontiguousarray(r.transpose(3, 2, 1, 0)),
      "numpy copy (same bytes)": lambda: np.copyto(rc, r)},
     torch and (lambda tr=torch.from_numpy(r): tr.permute(3, 2, 1, 0).contiguous()))
im, imc = arr(32, 128, 64, 64), np.empty((32, 128, 64, 64), np.float32)
case("b c h w -> b h w c 128 MiB", "b c h w -> b h w c", [im],
     {"numpy transpose+copy": lambda: np.ascontiguousarray(im.transpose(0, 2, 3, 1)),
      "numpy copy (same bytes)": lambda: np.copyto(imc, im)},
     torch and (lambda ti=torch.from_numpy(im): ti.permute(0, 2, 3, 1).contiguous()))
s = arr(4096, 4096)
case("ij-> 64 MiB", "ij->", [s], {"numpy sum": lambda: np.sum(s)},
     torch and (lambda ts=torch.from_numpy(s): ts.sum()))

# ---- models: the layer language against PyTorch eager (needs torch) ----
def model_case(name, src, arrays, ref_fn, torch_fn):
    ref = ref_fn()
    run = einc(src, *arrays, out_shape=np.shape(ref), model=True)
    got = run()
    if not np.allclose(got, ref, rtol=1e-3, atol=1e-3 * (1 + np.abs(ref).max())):
        sys.exit(f"{name}: einc's result differs from torch's")
    rows.append((name, median(run), {"torch eager": median(torch_fn)}))


if torch is not None:
    F = torch.nn.functional
    xb, wb = arr(8, 64, 56, 56), arr(64, 64, 3, 3) * 0.1
    mb, vb, gb, bb = arr(64), np.abs(arr(64)) + 0.5, arr(64), arr(64)
    T = [torch.from_numpy(a) for a in (xb, wb, mb, vb, gb, bb)]
    block = lambda: T[0] + F.relu(F.batch_norm(F.conv2d(T[0], T[1], padding=1), T[2], T[3], T[4], T[5], eps=1e-5))
    with torch.no_grad():
        model_case("resblock.einl (8,64,56,56)", open(os.path.join(os.path.dirname(__file__), "..", "examples",
                   "resblock.einl")).read(), (xb, wb, mb, vb, gb, bb), lambda: block().numpy(), block)
        conv = lambda: F.conv2d(T[0], T[1], padding=1)
        model_case("conv2d alone (8,64,56,56)", "input x: f32[N, 64, H, W]\nparam w: f32[64, 64, 3, 3]\n"
                   "return conv2d(x, w, padding=1)\n", (xb, wb), lambda: conv().numpy(), conv)
        xs, gs, bs = arr(4096, 1024), arr(1024), arr(1024)
        ts, tg, tb = torch.from_numpy(xs), torch.from_numpy(gs), torch.from_numpy(bs)
        sm = lambda: F.softmax(ts, dim=-1)
        model_case("softmax (4096,1024)", "input x: f32[R, C]\nreturn softmax(x, dim=-1)\n", (xs,),
                   lambda: sm().numpy(), sm)
        ln = lambda: F.layer_norm(ts, (1024,), tg, tb)
        model_case("layernorm (4096,1024)", "input x: f32[R, C]\nparam g: f32[C]\nparam b: f32[C]\n"
                   "return layernorm(x, g, b)\n", (xs, gs, bs), lambda: ln().numpy(), ln)

print(("einc (Python package)" if args.module else "einc (C API through ctypes)")
      + f" vs numpy {np.__version__}" + (f" and torch {torch.__version__}" if torch else " (no torch installed)")
      + f", {args.threads} thread(s), medians of {args.reps}; ratio = peer time / einc time (>1: einc faster)\n")
print(f"| {'case':34} | {'einc ms':>9} | {'peer':24} | {'peer ms':>9} | {'ratio':>7} |")
print(f"|{'-'*36}|{'-'*11}|{'-'*26}|{'-'*11}|{'-'*9}|")
for name, te, peers in rows:
    for p, tp in peers.items():
        print(f"| {name:34} | {te*1e3:9.2f} | {p:24} | {tp*1e3:9.2f} | {tp/te:7.2f} |")

if args.png:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib is not installed: no plot)")
        sys.exit(0)
    labels, ratios = [], []
    for name, te, peers in rows:
        for p, tp in peers.items():
            labels.append(f"{name}\nvs {p}")
            ratios.append(tp / te)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1))
    ax.barh(range(len(labels)), ratios, color=["#2a7" if r >= 1 else "#c53" for r in ratios])
    ax.axvline(1, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up of einc over the peer (log scale; >1 is faster)")
    ax.set_title(f"einc vs numpy/torch, {args.threads} thread(s), medians")
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"\nplot: {args.png}")
