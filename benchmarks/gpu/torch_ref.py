"""PyTorch's times for gpucheck's target table (benchmarks/gpu/check.sh runs it first).

Writes "NAME MS" lines (the median of REPS runs between CUDA events, after warm-ups, data on
the device), "copy_gbps X" (a device-to-device copy, bytes read and written) and "# ..."
lines that describe PyTorch and the device.  NAME is gpucheck.c's case name; NAME_compile
is the same work through torch.compile.  A case that fails prints why on stderr and writes
no line, so gpucheck says it has no PyTorch time for it.

    python3 torch_ref.py OUT [--emu]

--emu: gpucheck's tiny sizes on the CPU (host clocks): the lines are there to test the
script, not to compare.
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

REPS = 20


def timer(fn, cuda):
    """Median ms of REPS runs of fn after 3 warm-ups."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(REPS):
        if cuda:
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def inputs(shapes, dev):
    # gpucheck's data: multiples of 1/4 in [0.25, 2.75]
    out = []
    for i, s in enumerate(shapes):
        n = 1
        for d in s:
            n *= d
        e = torch.arange(n, device=dev, dtype=torch.int64)
        out.append(((((e + i) * 7) % 11 + 1).float() * 0.25).reshape(s))
    return out


def main():
    out_path = sys.argv[1]
    emu = "--emu" in sys.argv[2:]
    cuda = torch.cuda.is_available() and not emu
    dev = "cuda" if cuda else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    lines = ["# torch %s on %s" % (torch.__version__,
                                    torch.cuda.get_device_name(0) if cuda else "the CPU")]
    full = not emu
    cases = {
        "permute_dcba": ([(64, 64, 64, 64) if full else (3, 4, 5, 6)],
                         lambda x: x.permute(3, 2, 1, 0).contiguous()),
        "permute_bhwc": ([(64, 64, 64, 64) if full else (2, 3, 5, 7)],
                         lambda x: x.permute(0, 2, 3, 1).contiguous()),
        "softmax": ([(8192, 8192) if full else (5, 40)], lambda x: torch.softmax(x, dim=-1)),
        "layernorm": ([(8192, 4096), (4096,), (4096,)] if full else [(5, 40), (40,), (40,)],
                      lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)),
        "rowsum": ([(8192, 8192) if full else (37, 29)], lambda x: x.sum(dim=1)),
        "sum": ([(8192, 8192) if full else (300, 77)], lambda x: x.sum()),
        "matmul": ([(4096, 4096)] * 2 if full else [(17, 13), (13, 11)], lambda a, b: a @ b),
        "attention_scores": ([(8, 16, 1024, 64)] * 2 if full else [(2, 3, 7, 16), (2, 3, 9, 16)],
                             lambda q, k: q @ k.transpose(-1, -2)),
        # the same two with TF32 allowed (the flag is set per case below)
        "matmul_tf32": ([(4096, 4096)] * 2 if full else [(17, 13), (13, 11)], lambda a, b: a @ b),
        "attention_scores_tf32": ([(8, 16, 1024, 64)] * 2 if full else [(2, 3, 7, 16), (2, 3, 9, 16)],
                                  lambda q, k: q @ k.transpose(-1, -2)),
        # float16 and bfloat16 (the dtype is set per case below: the name's suffix)
        "matmul_f16": ([(4096, 4096)] * 2 if full else [(17, 13), (13, 11)], lambda a, b: a @ b),
        "matmul_bf16": ([(4096, 4096)] * 2 if full else [(17, 13), (13, 11)], lambda a, b: a @ b),
        "attention_scores_bf16": ([(8, 16, 1024, 64)] * 2 if full else [(2, 3, 7, 16), (2, 3, 9, 16)],
                                  lambda q, k: q @ k.transpose(-1, -2)),
        "resblock": ([(8, 64, 56, 56) if full else (1, 64, 5, 5), (64, 64, 3, 3), (64,), (64,), (64,), (64,)],
                     lambda x, w, m, v, g, b: x + torch.relu(
                         F.batch_norm(F.conv2d(x, w, padding=1), m, v, g, b, False, 0.0, 1e-5))),
    }
    compiled = ("softmax", "resblock")
    n = (1 << 28) if full else (1 << 12)
    try:
        src = torch.ones(n, device=dev)
        dst = torch.empty_like(src)
        ms = timer(lambda: dst.copy_(src), cuda)
        lines.append("copy_gbps %.1f" % (2 * 4 * n / (ms * 1e-3) / 1e9))
        del src, dst
    except Exception as e:  # noqa: BLE001 - one failed case must not lose the others
        print("torch_ref: copy: %s" % e, file=sys.stderr)
    for name, (shapes, fn) in cases.items():
        torch.backends.cuda.matmul.allow_tf32 = name.endswith("_tf32")
        try:
            args = inputs(shapes, dev)
            half = {"_f16": torch.float16, "_bf16": torch.bfloat16}
            for suffix, dt in half.items():
                if name.endswith(suffix):
                    args = [a.to(dt) for a in args]
            with torch.no_grad():
                lines.append("%s %.5f" % (name, timer(lambda: fn(*args), cuda)))
                if name in compiled and cuda:
                    t0 = time.perf_counter()
                    cf = torch.compile(fn)
                    cf(*args)
                    lines.append("# %s: torch.compile took %.1f s" % (name, time.perf_counter() - t0))
                    lines.append("%s_compile %.5f" % (name, timer(lambda: cf(*args), cuda)))
            del args
        except Exception as e:  # noqa: BLE001
            print("torch_ref: %s: %s" % (name, e), file=sys.stderr)
        if cuda:
            torch.cuda.empty_cache()
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
