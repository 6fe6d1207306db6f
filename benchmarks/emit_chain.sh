#!/bin/sh
# The emitted C for 'ab,bc,cd->ad' at 256 against two plain matrix products in C, one
# thread, both built with `cc -O3` (benchmarks/emit_chain.c).  Usage, from the repository:
#     benchmarks/emit_chain.sh [build/einc] [extra cc flags, e.g. -march=native]
set -eu
EINC=${1:-build/einc}
[ $# -gt 0 ] && shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$EINC" 'ab,bc,cd->ad' a=256 b=256 c=256 d=256 -o "$dir/chain.c"
cc -O3 "$@" -DKERNEL="\"$dir/chain.c\"" benchmarks/emit_chain.c -o "$dir/chain" -lm
"$dir/chain"
