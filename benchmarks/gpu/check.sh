#!/usr/bin/env bash
# The GPU check, for the lent GPU machine (docs/ARCHITECTURE.md, the tests section): build einc without LLVM, re2c, lemon
# or cmocka (the generated grammar comes from a development build: carry build/grammar),
# run the CUDA target against the interpreter, time it, and time PyTorch's einsum/cuBLAS on
# the same shapes when PyTorch is there.  Ends with "N passed, M failed"; about a minute.
#
#     run: bash benchmarks/gpu/check.sh          (carry: ["build/grammar"])
set -uo pipefail
cd "$(dirname "$0")/../.."
gen=${EINC_GENERATED:-build/grammar}
if [ ! -f "$gen/index.c" ] || [ ! -f "$gen/lex.c" ]; then
    echo "no generated grammar in $gen: build once on a development machine and carry build/grammar"
    echo "0 passed, 1 failed"
    exit 1
fi
out=build-gpu
mkdir -p "$out"
# the CUDA emulator's header as a C array, as runtime/meson.build embeds it
{ echo 'extern const char cuda_emu_header[]; const char cuda_emu_header[] = {'
  od -An -v -td1 runtime/cuda_emu.hh | sed 's/\(-*[0-9][0-9]*\)/\1,/g'
  echo '0 };'; } > "$out/cuda_emu_hh.c"
src="compiler/*.c compiler/*/*.c codegen/check.c codegen/c.c codegen/cdoc.c codegen/cspell.c codegen/cuda.c
     runtime/cpu.c runtime/cuda.c runtime/einc.c runtime/fdio.c runtime/kcache.c runtime/pool.c
     runtime/nvrtc.c runtime/cuda_emu.c $out/cuda_emu_hh.c runtime/jit_none.c
     $gen/index.c $gen/lex.c $gen/einl_gram.c $gen/einl_lex.c"
flags="-O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Icompiler -Icompiler/front -Icompiler/ir -Icompiler/passes -Icodegen -Iruntime -Igrammar -I$gen"
# shellcheck disable=SC2086
gcc $flags $src cli/*.c -Icli -o "$out/einc" -lm -ldl -lpthread || { echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC2086
gcc $flags $src benchmarks/gpu/gpucheck.c -o "$out/gpucheck" -lm -ldl -lpthread || { echo "0 passed, 1 failed"; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
"$out/einc" --emit=ptx 'ik,kj->ij' | grep -m1 '.target' || true
if python3 -c 'import torch' 2>/dev/null; then
python3 - <<'PY'
import time, torch
torch.backends.cuda.matmul.allow_tf32 = False
def t(f, reps=5):
    f(); torch.cuda.synchronize(); best = 1e9
    for _ in range(reps):
        t0 = time.perf_counter(); f(); torch.cuda.synchronize(); best = min(best, time.perf_counter() - t0)
    return best
for n in (1024, 4096):
    a = torch.ones(n, n); 
    dev = lambda: torch.einsum('ik,kj->ij', a.cuda(), a.cuda()).cpu()
    ad = a.cuda()
    s = t(lambda: ad @ ad)
    e = t(dev)
    print(f"| torch 'ik,kj->ij' {n}^3 device-resident (cuBLAS) | {s*1e3:.2f} ms | {2*n**3/s/1e9:.1f} GFLOP/s |")
    print(f"| torch einsum {n}^3, copies included | {e*1e3:.2f} ms | {2*n**3/e/1e9:.1f} GFLOP/s |")
PY
fi
"$out/gpucheck"
