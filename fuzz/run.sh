#!/usr/bin/env bash
# Builds the fuzzers with clang (ASan+UBSan+libFuzzer) and runs each for SECONDS seconds
# (default 60) from seed corpora made of the test suite's inputs.  Exits non-zero on any
# finding.  Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if [ ! -d build-fuzz ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz fuzz/fuzz_expr fuzz/fuzz_npy fuzz/fuzz_einl >/dev/null
mkdir -p build-fuzz/corpus/expr build-fuzz/corpus/npy build-fuzz/corpus/einl
# seeds: every golden expression behind a 17-byte prefix of shapes, and the demo arrays
i=0
for f in tests/golden/*.expr; do
    { printf '\001\002\003\004\000\002\004\003\000\002\002\002\000\001\003\000\000'; sed -n 's/^expr: //p' "$f"; } \
        > "build-fuzz/corpus/expr/seed$i"
    i=$((i + 1))
done
cp examples/*.npy build-fuzz/corpus/npy/
for f in examples/*.einl; do { printf '\002'; cat "$f"; } > "build-fuzz/corpus/einl/$(basename "$f")"; done
# past findings stay seeds, with hand-made edge cases (einl-long-sum: past the fusion depth)
cp fuzz/regressions/einl-* build-fuzz/corpus/einl/ 2>/dev/null || true
cp fuzz/regressions/expr-* build-fuzz/corpus/expr/ 2>/dev/null || true
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1
status=0
build-fuzz/fuzz/fuzz_expr -dict=fuzz/expr.dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 build-fuzz/corpus/expr || status=1
build-fuzz/fuzz/fuzz_npy -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 build-fuzz/corpus/npy || status=1
build-fuzz/fuzz/fuzz_einl -dict=fuzz/einl.dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 build-fuzz/corpus/einl || status=1
exit $status
