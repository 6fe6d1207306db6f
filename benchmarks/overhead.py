#!/usr/bin/env python3
"""The Python package's per-call overhead on a cached kernel: einc.einsum('ij,jk->ik', a, b)
on 2x2 float32 arrays, where the kernel's own work (8 multiply-adds) is a few nanoseconds,
so the time is the call's: the kernel cache, the arrays' buffers, the result's allocation
and einc_kernel_run's binding.  Medians over 10^5 calls (in batches of 1000, so the timer's
own cost drops out), the fastest batch and CPU time per call, next to numpy's einsum on the
same arrays.

    PYTHONPATH=build/python python3 benchmarks/overhead.py [--threads 1] [--calls 100000]

Not part of the test suite: speed is measured here, never asserted.
"""
import argparse
import os
import statistics
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--calls", type=int, default=100000)
args = ap.parse_args()
os.environ["EINC_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread variable)

import einc  # noqa: E402

BATCH = 1000


def per_call(f):
    """(median, fastest, CPU) seconds per call over args.calls calls, timed in batches; CPU
    is the process's CPU time (every thread's) per call, which a machine busy with other
    work inflates less than the wall clock."""
    f()
    t = []
    c0 = time.process_time()
    for _ in range(max(1, args.calls // BATCH)):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            f()
        t.append((time.perf_counter() - t0) / BATCH)
    cpu = (time.process_time() - c0) / (len(t) * BATCH)
    return statistics.median(t), min(t), cpu


a, b = np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)
out = np.empty((2, 2), np.float32)
k = einc.compile("ij,jk->ik")
x = np.ones((2, 3, 4), np.float32)
rows = [
    ("einc.einsum('ij,jk->ik', a, b)", lambda: einc.einsum("ij,jk->ik", a, b)),
    ("einc.einsum(..., out=out)", lambda: einc.einsum("ij,jk->ik", a, b, out=out)),
    ("einc.compile(...) kernel(a, b)", lambda: k(a, b)),
    ("einc.einsum(a, b, 'i j, j k -> i k')", lambda: einc.einsum(a, b, "i j, j k -> i k")),
    ("einc.rearrange(x, 'a b c -> c b a')", lambda: einc.rearrange(x, "a b c -> c b a")),
    ("np.einsum('ij,jk->ik', a, b)", lambda: np.einsum("ij,jk->ik", a, b)),
    ("np.einsum(..., optimize=True)", lambda: np.einsum("ij,jk->ik", a, b, optimize=True)),
]
print(f"einc {einc.__version__}, numpy {np.__version__}, {args.threads} thread(s); "
      f"per call on 2x2 float32, medians of {args.calls} calls (fastest batch)\n")
print(f"| {'call':38} | {'median us':>9} | {'fastest us':>10} | {'CPU us':>7} |")
print(f"|{'-' * 40}|{'-' * 11}|{'-' * 12}|{'-' * 9}|")
for name, f in rows:
    med, best, cpu = per_call(f)
    print(f"| {name:38} | {med * 1e6:9.2f} | {best * 1e6:10.2f} | {cpu * 1e6:7.2f} |")
