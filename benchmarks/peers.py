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
count.  torch's CPU build brings MKL (torch.matmul: the GEMM rows) and oneDNN (F.conv2d: the
model rows and the ResNet-style convolution table, --no-convs to skip it).  einc and its
peers take turns run by run (einc, peer 1, peer 2, einc, ...), so a neighbour that loads a
shared machine for a while slows them alike; medians per column.  --peak GFLOPS (the FMA
peak einc-bench measures and prints) adds each GEMM and convolution's share of it.  Not
part of the test suite: speed is measured here, never asserted.
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
ap.add_argument("--peak", type=float, default=0, help="the machine's FMA peak in GFLOP/s, for shares of it")
ap.add_argument("--no-convs", action="store_true", help="skip the ResNet-style convolution table")
ap.add_argument("--only", default=None, help="run only the cases whose name contains this")
ap.add_argument("--cpu-time", action="store_true",
                help="time by the thread's CPU time (time.thread_time), not the wall clock; --threads 1 only")
args = ap.parse_args()
if args.cpu_time and args.threads != 1:
    sys.exit("peers.py: --cpu-time needs --threads 1")
# On a machine shared with busy neighbours a one-thread call is descheduled for much of its
# wall time; the calling thread's CPU time leaves that out (every call runs on this thread).
clock = time.thread_time if args.cpu_time else time.perf_counter
for v in ("EINC_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread variables)

try:
    import torch
    torch.set_num_threads(args.threads)
except ImportError:
    torch = None

F32 = 0
# numpy's dtypes as einc_dtype's values (include/einc.h); bfloat16 has no numpy dtype
DTYPES = {np.dtype(n): i for i, n in enumerate(
    ("float32", "float64", "int32", "int64", "bool", "int8", "int16", "uint8", "uint16", "uint32",
     "uint64", "float16", None, "complex64", "complex128")) if n}


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
        t = Tensor(DTYPES[a.dtype], a.ndim, shape, None, a.ctypes.data)
        t._keep = (a, shape)
        return t

    def einc(expr, *arrays, out_shape, model=False, out_dtype=np.float32):
        """einc's kernel for expr (or, with model=True, a model's source)."""
        k = C.c_void_p()
        err = Error()
        compile = lib.einc_compile_model if model else lib.einc_compile
        if compile(ctx, expr.encode(), None, C.byref(k), C.byref(err)):
            sys.exit(f"einc: {err.message.decode()}")
        out = np.empty(out_shape, out_dtype)
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

    def einc(expr, *arrays, out_shape, model=False, out_dtype=None):
        if model:
            m = package.Model(expr)
            return lambda: m(*arrays)
        if any(" " in op.strip() or "(" in op for op in expr.split("->")[0].split(",")):
            return lambda: package.einsum(*arrays, expr)        # einops' form
        return lambda: package.einsum(expr, *arrays)
    return einc


einc = einc_package() if args.module else einc_ctypes()


def medians(fns, reps=args.reps):
    """Median seconds of each of fns, called in turn rep by rep after one warm-up call each.
    OpenBLAS's and OpenMP's worker threads spin for a while after their last call; with as
    many threads as cores, whatever runs next would share the cores with them, so with more
    than one thread every call starts after a pause of 0.2 s, by when they sleep."""
    pause = 0.2 if args.threads > 1 else 0
    for f in fns:
        time.sleep(pause)
        f()
    t = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            time.sleep(pause)
            t0 = clock()
            f()
            t[i].append(clock() - t0)
    return [statistics.median(x) for x in t]


rng = np.random.default_rng(0)
rows = []   # (case, einc seconds, {peer: seconds}, flop or None)


def wanted(name):
    return args.only is None or args.only in name


def case(name, expr, arrays, numpy_fns, torch_fns=None, flop=None):
    if not wanted(name):
        return
    ref = numpy_fns[list(numpy_fns)[0]]()
    run = einc(expr, *arrays, out_shape=np.shape(ref), out_dtype=np.asarray(ref).dtype)
    got = run()
    exact = np.asarray(ref).dtype.kind in "iub"
    if not (np.array_equal(got, ref) if exact else
            np.allclose(got, ref, rtol=1e-2, atol=1e-2 * (1 + np.abs(ref).max()))):
        sys.exit(f"{name}: einc's result differs from numpy's")
    peers = dict(numpy_fns)
    if torch is not None and torch_fns:
        peers.update(torch_fns)
    ts = medians([run] + list(peers.values()))
    rows.append((name, ts[0], dict(zip(peers, ts[1:])), flop))


def arr(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


a, b = arr(1024, 1024), arr(1024, 1024)
case("ik,kj->ij 1024^3", "ik,kj->ij", [a, b],
     {"numpy opt=False": lambda: np.einsum("ik,kj->ij", a, b, optimize=False),
      "numpy opt=True": lambda: np.einsum("ik,kj->ij", a, b, optimize=True)},
     torch and {"torch.matmul (MKL)": lambda ta=torch.from_numpy(a), tb=torch.from_numpy(b): torch.matmul(ta, tb)},
     flop=2 * 1024**3)
a2, b2 = arr(2048, 2048), arr(2048, 2048)
case("ik,kj->ij 2048^3", "ik,kj->ij", [a2, b2],
     {"numpy opt=True": lambda: np.einsum("ik,kj->ij", a2, b2, optimize=True)},
     torch and {"torch.matmul (MKL)": lambda ta=torch.from_numpy(a2), tb=torch.from_numpy(b2): torch.matmul(ta, tb)},
     flop=2 * 2048**3)
x, y = arr(32, 256, 256), arr(32, 256, 256)
case("bij,bjk->bik 32x256^3", "bij,bjk->bik", [x, y],
     {"numpy opt=True": lambda: np.einsum("bij,bjk->bik", x, y, optimize=True),
      "numpy matmul": lambda: x @ y},
     torch and {"torch.matmul (MKL)": lambda tx=torch.from_numpy(x), ty=torch.from_numpy(y): torch.matmul(tx, ty),
                "torch.einsum": lambda tx=torch.from_numpy(x), ty=torch.from_numpy(y): torch.einsum("bij,bjk->bik", tx, ty)},
     flop=2 * 32 * 256**3)
q, kk = arr(8, 12, 512, 64), arr(8, 12, 512, 64)
case("bhid,bhjd->bhij (8,12,512,64)", "bhid,bhjd->bhij", [q, kk],
     {"numpy opt=True": lambda: np.einsum("bhid,bhjd->bhij", q, kk, optimize=True)},
     torch and {"torch.matmul(q, k^T) (MKL)": lambda tq=torch.from_numpy(q), tk=torch.from_numpy(kk):
                torch.matmul(tq, tk.transpose(-1, -2)),
                "torch.einsum": lambda tq=torch.from_numpy(q), tk=torch.from_numpy(kk): torch.einsum("bhid,bhjd->bhij", tq, tk)},
     flop=2 * 8 * 12 * 512 * 512 * 64)
t3, m1, m2 = arr(96, 96, 96), arr(96, 96), arr(96, 96)
case("ijk,jl,kl->il 96^4", "ijk,jl,kl->il", [t3, m1, m2],
     {"numpy opt=True": lambda: np.einsum("ijk,jl,kl->il", t3, m1, m2, optimize=True),
      "numpy opt=False": lambda: np.einsum("ijk,jl,kl->il", t3, m1, m2, optimize=False)},
     torch and {"torch.einsum": lambda a3=torch.from_numpy(t3), a1=torch.from_numpy(m1), a2=torch.from_numpy(m2):
                torch.einsum("ijk,jl,kl->il", a3, a1, a2)})
# "copy": np.copyto of the same bytes, the bandwidth a rearrange can reach (ratio: its share)
r, rc = arr(64, 64, 64, 64), np.empty((64, 64, 64, 64), np.float32)
case("abcd->dcba 64 MiB", "abcd->dcba", [r],
     {"numpy transpose+copy": lambda: np.ascontiguousarray(r.transpose(3, 2, 1, 0)),
      "numpy copy (same bytes)": lambda: np.copyto(rc, r)},
     torch and {"torch permute+contiguous": lambda tr=torch.from_numpy(r): tr.permute(3, 2, 1, 0).contiguous()})
im, imc = arr(32, 128, 64, 64), np.empty((32, 128, 64, 64), np.float32)
case("b c h w -> b h w c 64 MiB", "b c h w -> b h w c", [im],
     {"numpy transpose+copy": lambda: np.ascontiguousarray(im.transpose(0, 2, 3, 1)),
      "numpy copy (same bytes)": lambda: np.copyto(imc, im)},
     torch and {"torch permute+contiguous": lambda ti=torch.from_numpy(im): ti.permute(0, 2, 3, 1).contiguous()})
s = arr(4096, 4096)
case("ij-> 64 MiB", "ij->", [s], {"numpy sum": lambda: np.sum(s)},
     torch and {"torch": lambda ts=torch.from_numpy(s): ts.sum()})

# ---- numpy's other dtypes (issue #21's targets): 16-bit float GEMMs against einc's own
# float32 GEMM in the same run, int8 against numpy's einsum (which does not use BLAS for it),
# complex64 and complex128 against numpy's (BLAS cgemm, zgemm), rearranges of 1- and 2-byte
# types against a copy of the same bytes.  The peers' results are references: each einc run is checked first.
def ints(dt, *shape):
    return rng.integers(-100, 100, shape).astype(dt)


h16, g16 = [arr(512, 512).astype(np.float16) for _ in range(2)]
a32, b32 = arr(512, 512), arr(512, 512)
F16_CASE = "dtype f16 ik,kj->ij 512^3"
f32_run = einc("ik,kj->ij", a32, b32, out_shape=(512, 512), out_dtype=np.float32) if wanted(F16_CASE) else None
case(F16_CASE, "ik,kj->ij", [h16, g16],
     {"numpy f16 matmul": lambda: h16 @ g16, "einc f32 (same shape)": f32_run}, flop=2 * 512**3)
# the 8- and 16-bit integers' GEMMs (vpdpbusd and vpdpwssd) against numpy's einsum
for dt in (np.int8, np.uint8, np.int16):
    for n in (512, 1024):
        ia, ib = ints(dt, n, n), ints(dt, n, n)
        case(f"dtype {np.dtype(dt).name} ij,jk->ik {n}^3", "ij,jk->ik", [ia, ib],
             {f"numpy einsum {np.dtype(dt).name}": lambda ia=ia, ib=ib: np.einsum("ij,jk->ik", ia, ib)},
             flop=2 * n**3)
ca = (arr(512, 512) + 1j * arr(512, 512)).astype(np.complex64)
cb = (arr(512, 512) + 1j * arr(512, 512)).astype(np.complex64)
case("dtype c64 ik,kj->ij 512^3", "ik,kj->ij", [ca, cb],
     {"numpy c64 matmul (cgemm)": lambda: ca @ cb}, flop=8 * 512**3)
ca1, cb1 = [(arr(1024, 1024) + 1j * arr(1024, 1024)).astype(np.complex64) for _ in range(2)]
case("dtype c64 ik,kj->ij 1024^3", "ik,kj->ij", [ca1, cb1],
     {"numpy c64 matmul (cgemm)": lambda: ca1 @ cb1}, flop=8 * 1024**3)
za, zb = [(arr(1024, 1024) + 1j * arr(1024, 1024)).astype(np.complex128) for _ in range(2)]
case("dtype c128 ik,kj->ij 1024^3", "ik,kj->ij", [za, zb],
     {"numpy c128 matmul (zgemm)": lambda: za @ zb}, flop=8 * 1024**3)
for dt in (np.uint8, np.int16, np.float16):
    t2 = ints(dt, 2048, 2048)
    t2c = np.empty_like(t2)
    case(f"dtype {np.dtype(dt).name} ij->ji 2048^2", "ij->ji", [t2],
         {"numpy transpose+copy": lambda t2=t2: np.ascontiguousarray(t2.T),
          "numpy copy (same bytes)": lambda t2=t2, t2c=t2c: np.copyto(t2c, t2)})
# the rearranges of issue #26's table in 1- and 2-byte types: 16 Mi elements each
for dt in (np.uint8, np.int16, np.float16):
    name = np.dtype(dt).name
    if not wanted(f"dtype {name} abcd->dcba") and not wanted(f"dtype {name} b c h w"):
        continue
    t4 = ints(dt, 64, 64, 64, 64)
    t4c = np.empty_like(t4)
    case(f"dtype {name} abcd->dcba 64^4", "abcd->dcba", [t4],
         {"numpy transpose+copy": lambda t4=t4: np.ascontiguousarray(t4.transpose(3, 2, 1, 0)),
          "numpy copy (same bytes)": lambda t4=t4, t4c=t4c: np.copyto(t4c, t4)})
    t4 = t4.reshape(8, 128, 128, 128)
    t4c = t4c.reshape(8, 128, 128, 128)
    case(f"dtype {name} b c h w -> b h w c (8,128,128,128)", "b c h w -> b h w c", [t4],
         {"numpy transpose+copy": lambda t4=t4: np.ascontiguousarray(t4.transpose(0, 2, 3, 1)),
          "numpy copy (same bytes)": lambda t4=t4, t4c=t4c: np.copyto(t4c, t4)})

# ---- models: the layer language against PyTorch eager (needs torch) ----
def model_case(name, src, arrays, ref_fn, torch_fn, flop=None):
    if not wanted(name):
        return
    ref = ref_fn()
    run = einc(src, *arrays, out_shape=np.shape(ref), model=True)
    got = run()
    if not np.allclose(got, ref, rtol=1e-3, atol=1e-3 * (1 + np.abs(ref).max())):
        sys.exit(f"{name}: einc's result differs from torch's")
    te, tt = medians([run, torch_fn])
    rows.append((name, te, {"torch eager": tt}, flop))


# ResNet-18/50's convolution shapes (kernel, stride, channels in and out, input size), a
# batch of 4: each about a GFLOP, so a run takes seconds.
RESNET_CONVS = [
    (7, 2, 3, 64, 224),         # the stem
    (3, 1, 64, 64, 56), (1, 1, 64, 256, 56), (1, 1, 256, 64, 56),
    (3, 2, 64, 128, 56), (1, 2, 64, 128, 56),
    (3, 1, 128, 128, 28), (1, 1, 512, 128, 28),
    (3, 2, 128, 256, 28), (3, 1, 256, 256, 14), (1, 2, 256, 512, 14),
    (3, 1, 512, 512, 7),
]


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
                   "return conv2d(x, w, padding=1)\n", (xb, wb), lambda: conv().numpy(), conv,
                   flop=2 * 8 * 64 * 56 * 56 * 64 * 9)
        for kr, st, ci, co, hw in ([] if args.no_convs else RESNET_CONVS):
            xc, wc = arr(4, ci, hw, hw), arr(co, ci, kr, kr) * (1 / (ci * kr * kr)) ** 0.5
            tx, tw = torch.from_numpy(xc), torch.from_numpy(wc)
            cv = lambda tx=tx, tw=tw, st=st, pd=kr // 2: F.conv2d(tx, tw, stride=st, padding=pd)
            ho = (hw + 2 * (kr // 2) - kr) // st + 1
            model_case(f"conv {kr}x{kr}/{st} {ci}->{co} at {hw}^2, N=4",
                       f"input x: f32[N, {ci}, H, W]\nparam w: f32[{co}, {ci}, {kr}, {kr}]\n"
                       f"return conv2d(x, w, stride={st}, padding={kr // 2})\n", (xc, wc),
                       lambda cv=cv: cv().numpy(), cv, flop=2 * 4 * co * ho * ho * ci * kr * kr)
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
      + f", {args.threads} thread(s), medians of {args.reps}"
      + (" (thread CPU time)" if args.cpu_time else "") + "; ratio = peer time / einc time (>1: einc faster)\n")
print(f"| {'case':34} | {'einc ms':>9} | {'peer':28} | {'peer ms':>9} | {'ratio':>7} |"
      f" {'einc GFLOP/s':>12} | {'peer GFLOP/s':>12} |" + (" einc/pk | peer/pk |" if args.peak else ""))
print(f"|{'-'*36}|{'-'*11}|{'-'*30}|{'-'*11}|{'-'*9}|{'-'*14}|{'-'*14}|" + ("---------|---------|" if args.peak else ""))
for name, te, peers, flop in rows:
    for p, tp in peers.items():
        rate = f" {flop/te/1e9:12.1f} | {flop/tp/1e9:12.1f} |" if flop else f" {'':12} | {'':12} |"
        if args.peak:
            rate += f" {100*flop/te/1e9/args.peak:6.0f}% | {100*flop/tp/1e9/args.peak:6.0f}% |" if flop else "         |         |"
        print(f"| {name:34} | {te*1e3:9.2f} | {p:28} | {tp*1e3:9.2f} | {tp/te:7.2f} |" + rate)

if args.png:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib is not installed: no plot)")
        sys.exit(0)
    labels, ratios = [], []
    for name, te, peers, _ in rows:
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
