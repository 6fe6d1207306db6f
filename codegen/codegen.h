/*
 * codegen.h — the code generators over the loop IR (compiler/ir/loop.h).
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
    const char *source;         /* the expression or model, for the leading comment */
    bool header_only;           /* --emit=header: a header with the prototypes */
} cg_opts;

/*
 * The sizes an emitted function takes, after its arrays: every open size (axis size < 0),
 * in axis order, which bind.c makes the order of first appearance (inputs left to right,
 * then the output, so repeat-only axes come last; '...' dimensions after the named ones),
 * or in the order names[0..n) gives when n > 0.  A name is an axis's, or "ellipsisK" for
 * the K-th dimension of '...'; each open size exactly once, or an error naming the unknown,
 * fixed, repeated or missing one.  Sets lp->param and lp->nparam.
 */
int cg_params(cc *c, lp_prog *lp, const char *const *names, int n);

/* The axis of size parameter i (lp->param, or axis order when unset), or -1 past the end. */
int cg_param_at(const lp_prog *lp, int i);

/*
 * Refuses programs a generator cannot express: a temporary kept in memory, unless temps
 * (every generator now can: the JIT's runtime allocates them, emitted source takes a
 * workspace).
 */
int cg_check(cc *c, const lp_prog *lp, bool temps);

/*
 * Does the code keep temporary t in memory?  One that a nest reads back only as its
 * accumulator (lp_nest.acc_tensor: a mean's sum) lives in a register and never is.
 */
bool cg_temp_stored(const lp_prog *lp, int t);

/*
 * C99 source (codegen/c.c):
 *     void NAME(const float *restrict in0, ..., float *restrict out, int64_t SIZE, ...);
 * the sizes in cg_param_at's order.  When temporaries are kept in memory (cg_temp_stored),
 * one more parameter follows the sizes, void *workspace, and the file also defines
 *     size_t NAME_workspace(int64_t SIZE, ...);     (the same sizes, or void)
 * which returns the bytes the workspace needs: the temporaries in tensor order, each at an
 * offset that is a multiple of 64 bytes.  header_only makes a header for C and C++ with both
 * prototypes: an include guard from NAME, <stdint.h>, extern "C", and restrict spelled
 * EINC_RESTRICT (__restrict in C++, which has no restrict).
 */
char *cg_c(cc *c, const lp_prog *lp, const cg_opts *o);
bool is_c_keyword(const char *s);          /* the names emitted C keeps for itself (c.c) */

/*
 * C99 source for float16 or bfloat16 arrays (codegen/cdtype.c), from a program lowered
 * for float32: cg_c's kernel as NAME_f32, and
 *     void NAME(const uint16_t *restrict in0, ..., uint16_t *restrict out, SIZES, void *workspace);
 *     size_t NAME_workspace(SIZES);
 * which widens every input into float32 copies in the workspace, runs NAME_f32 and rounds
 * its float32 result once into out (README, "Dtypes").  header_only: the two prototypes.
 */
char *cg_c_half(cc *c, const lp_prog *lp, const cg_opts *o, einc_dtype storage);

/*
 * CUDA C for a program lowered with LP_GPU (codegen/cuda.c): one extern "C" kernel NAME_kI
 * per nest, each launched by its plan (codegen/cuda_launch.h: no launch when its work is
 * 0), in nest order.
 *   cg_cuda:         a .cu file for nvcc: <cuda_runtime.h>, the kernels and an extern "C"
 *                    host function NAME taking the C emitter's arguments as device pointers,
 *                    sizes in cg_param_at's order (void *workspace, a device pointer, when
 *                    there is one), then a
 *                    cudaStream_t, that launches them and returns the first failed
 *                    launch's cudaError_t (else cudaSuccess), and the host function NAME_workspace
 *                    when there are temporaries (header_only: their prototypes);
 *   cg_cuda_kernels: the kernels alone, with no #include, for NVRTC.
 * A kernel's parameters are the arrays in tensor order, temporaries kept in memory
 * included (inputs, temporaries, output), then the sizes left open in axis order (whatever
 * order the launcher takes them in).
 */
char *cg_cuda(cc *c, const lp_prog *lp, const cg_opts *o);
char *cg_cuda_kernels(cc *c, const lp_prog *lp, const cg_opts *o);

/*
 * The loops a nest's kernel flattens over its grid: from the root down, while the node is
 * a loop (a loop with several children is the last; each thread runs them in order).
 * Returns their count and, when ax is not NULL, their axes, outermost first.  N, the
 * product of their sizes, sets the launch (1 when there are none).
 */
int cg_cuda_flat(const lp_node *root, int *ax);

/*
 * How a nest's CUDA kernel shares its work (codegen/cuda_rows.c): a thread per element of
 * the flattened loops (PLAIN); a warp or a block per row of a fused row group (ROWS); one
 * reduction alone, as ROWS or in two stages when its outputs are few (REDUCE).
 */
typedef enum cg_cuda_form { CG_CUDA_PLAIN, CG_CUDA_ROWS, CG_CUDA_REDUCE } cg_cuda_form;
cg_cuda_form cg_cuda_form_of(const lp_nest *nest);

/*
 * The rows and reduce forms' launch rule (codegen/cuda_rows.c; form 1 rows, 2 reduce): grid,
 * block (x, y) and dynamic shared memory from count (rows, or outputs), len (a row's
 * elements) and the device's multiprocessor count sms (0: unknown).  cuda_launch.c calls
 * it for runtime/cuda.c, and the emitted launcher prints the same text.
 */
void einc_cuda_geometry(int form, int64_t count, int64_t len, int sms, unsigned *grid, unsigned *bx,
                        unsigned *by, unsigned *shmem);

#endif
