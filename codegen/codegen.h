/*
 * codegen.h — the code generators over the loop IR (compiler/loop.h).
 *
 * Each takes a lowered program and returns text (C, CUDA) or a module (LLVM, in the CPU
 * backend).  They share the schedule: what differs is only how a loop, an accumulator and
 * an access are spelled.
 */
#ifndef EINC_CODEGEN_H
#define EINC_CODEGEN_H

#include "loop.h"

typedef struct cg_opts {
    const char *name;           /* the kernel function's name */
    const char *source;         /* the expression, for the leading comment */
    bool header_only;           /* --emit=header: the prototype alone */
} cg_opts;

/*
 * Refuses programs a generator cannot express: a temporary the schedule did not fuse
 * (unless temps: the JIT's runtime allocates them).
 */
int cg_check(cc *c, const lp_prog *lp, bool temps);

char *cg_c(cc *c, const lp_prog *lp, const cg_opts *o);       /* C99 source */

/*
 * CUDA C for a program lowered with LP_GPU (codegen/cuda.c): one extern "C" kernel NAME_kI
 * per nest, each launched with 256 threads a block on min(ceil(N/256), 4096) blocks (N: the
 * nest's output elements, 1 for a scalar; no launch when N is 0), in nest order.
 *   cg_cuda:         a .cu file for nvcc: <cuda_runtime.h>, the kernels and an extern "C"
 *                    host function NAME taking the C emitter's arguments as device pointers,
 *                    then a cudaStream_t, that launches them (header_only: its prototype);
 *   cg_cuda_kernels: the kernels alone, with no #include, for NVRTC.
 */
char *cg_cuda(cc *c, const lp_prog *lp, const cg_opts *o);
char *cg_cuda_kernels(cc *c, const lp_prog *lp, const cg_opts *o);

#endif
