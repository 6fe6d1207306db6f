/*
 * cuda_launch.h — how each kernel of a program lowered for the GPU is launched: its form,
 * grid, block and dynamic shared memory, in one place for the launcher that codegen/cuda.c
 * emits and for runtime/cuda.c, which loads the kernels NVRTC compiled and launches them
 * itself (docs/ARCHITECTURE.md §9.3).
 *
 * A kernel's plan (cu_launch_plan) names its form and the rule of its grid: W, the product
 * of the sizes of the plan's work axes (1 when there are none), is the work; a kernel with
 * W == 0 is not launched, any other gets min(ceil(W / per_block), max_grid) blocks of
 * `block` threads and `shmem` bytes of dynamic shared memory.  Every kernel stays correct
 * for any grid of at least one block (they loop over their work with the grid's stride), so
 * the rule is about speed alone; that both sides follow it is what keeps them in step.
 * The rows and reduce forms size their grid and their two-dimensional block from W, the
 * row's length (the product of the sizes of the plan's len axes) and the device's
 * multiprocessor count instead: einc_cuda_geometry (cuda_rows.c), compiled here and
 * printed into the launcher.
 *
 * Each form is one generator's: a new kind of kernel adds its form here, its case to
 * cu_launch_plan's switch over the nest's schedule kind, and its kernel to cuda.c's choice.
 * Above CU_SHMEM_DEFAULT bytes of dynamic shared memory the launch must first raise the
 * kernel's limit (cuFuncSetAttribute, cudaFuncSetAttribute); both callers do.
 */
#ifndef EINC_CUDA_LAUNCH_H
#define EINC_CUDA_LAUNCH_H

#include "cspell.h"
#include "loop.h"
#include "strbuf.h"

typedef enum cu_form {
    CU_FORM_GRID,       /* cuda.c: a thread per element of the flattened loops; with no
                           loops to flatten, one block (a scalar output's reduction) */
    CU_FORM_COPY,       /* cuda_copy.c: a copy through shared-memory tiles, or vectors */
    CU_FORM_ROWS,       /* cuda_rows.c: a warp or a block per row of a fused row group */
    CU_FORM_REDUCE,     /* cuda_rows.c: one reduction; as ROWS, or two stages in one launch */
    CU_FORM_GEMM,       /* cuda_gemm.c: a contraction, a block per tile_m x tile_n output tile */
} cu_form;

enum { CU_SHMEM_DEFAULT = 48 << 10 };

typedef struct cu_launch {
    cu_form form;
    int nwork;
    const int *work;            /* the work axes: W is the product of their sizes */
    int64_t per_block;          /* units of work per block, at most */
    int64_t max_grid;
    unsigned block;             /* threads a block (one dimension) */
    unsigned shmem;             /* dynamic shared memory, bytes */
    int nlen;
    const int *len;             /* rows and reduce: the axes of a row (its length) */
    int ngm, ngn;               /* gemm: the M and N groups' axes (work: the batch axes); */
    const int *gm, *gn;         /* the grid is W * ceil(M / tile_m) * ceil(N / tile_n) blocks, */
    int tile_m, tile_n;         /* at most max_grid */
    bool tc;                    /* gemm: the TF32 tensor-core variant (cuda_gemm_tc.c) */
    bool half;                  /* gemm: the float16/bfloat16 one (cuda_gemm_h.c) */
} cu_launch;

/* The plan of kernel k (nest k) of lp; 0, or -1 with c->err set (out of memory). */
int cu_launch_plan(cc *c, const lp_prog *lp, int k, cu_launch *L);

/* W and the grid for bound sizes (p's); the grid is 0 when the kernel is not launched. */
int64_t cu_launch_work(const cu_launch *L, const ir_prog *p);
unsigned cu_launch_grid(const cu_launch *L, int64_t work);

/*
 * The whole launch for bound sizes on a device of sms multiprocessors (0: unknown): grid,
 * block (x, y) and dynamic shared memory; false when the kernel is not launched.
 */
bool cu_launch_dims(const cu_launch *L, const ir_prog *p, int sms, unsigned *grid, unsigned block[2],
                    unsigned *shmem);

/*
 * The launcher's text for kernel NAME_kK (cuda.c's launcher): the grid by the same rule,
 * through the helper cu_launch_helper prints once per file, then the launch with the
 * arguments args, then the launch's error returned when it failed (a cudaError_t einc_err is
 * declared by the caller).
 */
void cu_launch_helper(strbuf *b);
void cu_launch_emit(const cu_launch *L, const cspell *sp, const char *name, int k, const char *args);

/* The plan in words, for the emitted file's opening comment ("N = i*j, 256 threads..."). */
void cu_launch_describe(const cu_launch *L, const cspell *sp, strbuf *b);

/*
 * The forms' generators (cuda_copy.c): cu_copy_plan fills L and returns true when nest k
 * is a copy it takes; cu_copy_kernel then writes its kernel's body, after cuda.c opened
 * the kernel with its parameters.
 */
bool cu_copy_plan(const lp_prog *lp, int k, const int *flat, int nflat, cu_launch *L);
void cu_copy_kernel(cspell *sp, const lp_nest *nest, const int *flat, int nflat);
void cu_copy_routine(strbuf *b);     /* the device code copy kernels call: once, before them */

/*
 * cuda_gemm.c: cu_gemm_plan fills L and returns 1 when nest k is a contraction it takes
 * (0: not, -1: out of memory); cu_gemm_routine is the device code its kernels call, printed
 * once before them.
 */
int cu_gemm_plan(cc *c, const lp_prog *lp, int k, const int *flat, int nflat, cu_launch *L);
void cu_gemm_routine(strbuf *b);
void cu_gemm_tc_routine(strbuf *b);  /* cuda_gemm_tc.c: after both of the above */
void cu_gemm_h_routine(strbuf *b);   /* cuda_gemm_h.c: likewise */

/*
 * cuda_mma.c: einc's wrappers of mma.sync (tf32, f16, bf16), ldmatrix and cp.async as
 * inline PTX, printed once before the kernels that call them; the emulator has its own
 * (runtime/cuda_emu_mma.hh).
 */
void cu_mma_routine(strbuf *b);

/* cuda.c: an array element's type in the kernels ("float", "einc_i64", ...). */
const char *cu_elem_type(einc_dtype t);
const char *cu_copy_type(einc_dtype t);     /* what a copy moves: a 16-bit float's bits */

/* cuda_rows.c: the axes of a rows or reduce nest's row (their count; ax may be NULL). */
int cu_rows_len_axes(const lp_nest *nest, int *ax);

#endif
