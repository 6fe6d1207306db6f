#!/usr/bin/env bash
# The GPU check (README.md, "The GPU check"; docs/ARCHITECTURE.md, "The CUDA runtime"):
# the GPU, driver and NVRTC versions; the target table (each target workload timed with
# cuEvents next to PyTorch in the same run, with its launches, registers, shared memory,
# ratio and PASS/MISS); the differential table against the interpreter.  Ends with
# "N passed, M failed".  Sized for at most 5 minutes on an H100/H200 (not yet run on one);
# `--emu` takes about 2 minutes on a loaded 2-core development machine.
#
# The GPU machine has no re2c, lemon, cmocka or LLVM headers, so einc is built here with
# gcc alone, without the JIT (runtime/jit_none.c), from the grammar a development build
# generated: build once on a development machine (meson setup build && ninja -C build),
# then carry build/grammar.  With the device tool:
#
#     run  command: bash benchmarks/gpu/check.sh    carry: ["build/grammar"]
#
# On a machine without a GPU, `bash benchmarks/gpu/check.sh --emu` runs the whole script
# under the CUDA emulator (EINC_CUDA_EMU=1) with tiny sizes, PyTorch on the CPU when it is
# installed: it tests the script, its build and gpucheck's code paths, not the speed.
# EINC_GENERATED=DIR names another generated grammar; GPUCHECK_ARGS adds gpucheck options
# (--only NAME).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
emu=
if [ "${1:-}" = "--emu" ]; then
    emu=--emu
    export EINC_CUDA_EMU=1
    cxx=${CXX:-c++}
    if ! command -v "${cxx%% *}" >/dev/null 2>&1; then
        echo "no C++ compiler ($cxx): the CUDA emulator cannot run; skipped"
        exit 77
    fi
elif [ $# -gt 0 ]; then
    echo "usage: bash benchmarks/gpu/check.sh [--emu]"
    exit 2
fi
gen=${EINC_GENERATED:-build/grammar}
if [ ! -f "$gen/index.c" ] || [ ! -f "$gen/lex.c" ] || [ ! -f "$gen/einl_gram.c" ]; then
    echo "no generated grammar in $gen: build once on a development machine and carry build/grammar"
    echo "0 passed, 1 failed"
    exit 1
fi
out=${GPUCHECK_BUILD:-build-gpu}
rm -rf "$out/obj"
mkdir -p "$out"
# NVRTC is dlopen'ed by name: the toolkit's and pip's copies, where the loader may not look
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cuda_nvrtc", "lib") for p in nvidia.__path__))' 2>/dev/null); do
    [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
# the disk cache of this run only: its first runs compile, as a fresh machine's would
export EINC_CACHE_DIR="$out/kcache"
rm -rf "$EINC_CACHE_DIR"
# the CUDA emulator's headers as one C array, as runtime/meson.build embeds them
{ echo 'extern const char cuda_emu_header[]; const char cuda_emu_header[] = {'
  cat runtime/cuda_emu.hh runtime/cuda_emu_mma.hh | od -An -v -td1 | sed 's/\(-*[0-9][0-9]*\)/\1,/g'
  echo '0 };'; } > "$out/cuda_emu_hh.c"
src="compiler/*.c compiler/*/*.c codegen/*.c
     runtime/cpu.c runtime/cuda.c runtime/einc.c runtime/fdio.c runtime/kcache.c runtime/memo.c runtime/pool.c
     runtime/nvrtc.c runtime/cuda_emu.c $out/cuda_emu_hh.c runtime/jit_none.c
     $gen/index.c $gen/lex.c $gen/einl_gram.c $gen/einl_lex.c"
# codegen/llvm*.c need LLVM's headers: the JIT is not built here
src=$(for f in $src; do case $f in codegen/llvm*) ;; *) echo "$f" ;; esac; done)
flags="-O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Icompiler -Icompiler/front -Icompiler/ir -Icompiler/passes -Icodegen -Iruntime -Igrammar -I$gen"
echo "== building einc and gpucheck with $(gcc --version | head -1)"
mkdir -p "$out/obj"
# one gcc per file, on every core; objects named by their paths
# shellcheck disable=SC2016,SC2086
if ! printf '%s\n' $src benchmarks/gpu/gpucheck.c |
        xargs -P "$(nproc 2>/dev/null || echo 4)" -I{} sh -c 'o=$(echo "$1" | tr / _); exec gcc '"$flags"' -c "$1" -o "$2/obj/${o%.c}.o"' sh {} "$out" ||
   ! gcc "$out"/obj/*.o -o "$out/gpucheck" -lm -ldl -lpthread; then
    echo "0 passed, 1 failed"
    exit 1
fi
echo "== the machine"
if [ -z "$emu" ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>/dev/null ||
        echo "nvidia-smi: not available"
fi
# NVRTC's version as einc loads it (gpucheck prints the driver's and the image's after its table)
python3 - <<'PY' 2>/dev/null || echo "NVRTC: (python3 could not ask)"
import ctypes
for so in ("libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"):
    try:
        lib = ctypes.CDLL(so)
    except OSError:
        continue
    a, b = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(a), ctypes.byref(b))
    print("NVRTC %d.%d (%s)" % (a.value, b.value, so))
    break
else:
    print("NVRTC: not found (einc's CUDA target needs it unless the disk cache has the kernels)")
PY
torch_file="$out/torch.txt"
rm -f "$torch_file"
if python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch"
    PYTHONUNBUFFERED=1 timeout 240 python3 benchmarks/gpu/torch_ref.py "$torch_file" $emu ||
        echo "torch_ref.py failed: the table has no PyTorch times"
else
    echo "== PyTorch: not installed, so no PyTorch times and no copy bandwidth"
fi
echo "== einc"
targs=()
[ -f "$torch_file" ] && targs=(--torch "$torch_file")
# shellcheck disable=SC2086
"$out/gpucheck" $emu "${targs[@]}" ${GPUCHECK_ARGS:-}
