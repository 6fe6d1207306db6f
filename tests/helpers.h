/*
 * helpers.h — what the C tests share (helpers.c, linked as the static library
 * test_helpers): a seeded random sequence, element access by dtype, AXIS=N words, files and
 * shared objects built from emitted C, and a builder of index-IR programs by hand.  Each
 * test keeps its own seed, so its data stays what it was when the helpers were its own.
 */
#ifndef EINC_TEST_HELPERS_H
#define EINC_TEST_HELPERS_H

#include "cc.h"
#include "ir.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random data --------------------------------------------------------------------------- */

/* The next value of the xorshift64 sequence in *state (never 0: seed it with anything else). */
uint64_t th_next(uint64_t *state);

/* Uniform in [lo, hi), from the next value's top 53 bits. */
double th_uniform(uint64_t *state, double lo, double hi);

/* ---- elements by dtype --------------------------------------------------------------------- */

/* Bytes per element: 4, 8 or 1 (bool); written here, not taken from the code under test. */
size_t th_dtype_size(einc_dtype t);

/* Element i of the array p of dtype t, as a double. */
double th_get(einc_dtype t, const void *p, int64_t i);

/* Stores v as element i: rounded to float32, truncated to an integer, or v != 0 for bool. */
void th_put(einc_dtype t, void *p, int64_t i, double v);

/* ---- sizes ----------------------------------------------------------------------------------- */

/*
 * "h=3 r=2" → out[0..n) (at most max), each name copied into names[i] (which out points
 * to); the count.  The text is the test's own, so it is not checked.
 */
int th_parse_sizes(const char *text, char names[][32], einc_size *out, int max);

/* ---- files, tools and shared objects ----------------------------------------------------- */

/* Writes n bytes to path, replacing it; any failure fails the test. */
void th_write_file(const char *path, const void *data, size_t n);

/* rm -rf dir (a test's temporary directory): 0, or -1 when rm fails. */
int th_rm_rf(const char *dir);

/* Whether the shell finds and runs cmd ("cc --version"), its output discarded. */
bool th_have(const char *cmd);

/* Whether this build has the CPU JIT (LLVM): an expression compiles for EINC_TARGET_CPU. */
bool th_have_jit(void);

/* Whether libnvrtc can be loaded (nvrtc.h): the NVRTC parts skip without it. */
bool th_have_nvrtc(void);

/*
 * sym in the shared object so, opened into *h on the first call (h: the caller's handle,
 * NULL until then).  It is opened RTLD_NODELETE: OpenMP threads of the emitted code may
 * outlive dlclose.  A failure fails the test.
 */
void *th_dlsym(void **h, const char *so, const char *sym);

/* ---- index-IR programs by hand -------------------------------------------------------------- */

enum { PB_MAXAX = 8, PB_MAXT = 8, PB_MAXS = 8 };

/* How an input is filled (the test that runs the program chooses the values). */
typedef enum fill {
    F_ANY,          /* uniform in [-2, 2] */
    F_SPECIAL,      /* 0, -0, ±1, ±100, NaN, ... then uniform in [-3, 3] */
    F_POS,          /* positive, 1e-3 to 100 */
    F_NAN,          /* uniform, every fifth NaN */
    F_ZEROS,        /* small values, a third of them 0 (integers: -3..3) */
    F_LABELS,       /* integers in [0, labels) */
    F_INT,          /* integers in [-50, 50], and the extremes of int32 */
    /* numpy's adversarial data, over the n elements in order: */
    F_RAMP,         /* arange(1, n + 1) / its mean */
    F_RAMP_DOWN,    /* the same, from n down to 1 */
    F_ALTERNATE,    /* tiny, huge, tiny, ... (1e-200 and 1e200; 1e-30 and 1e30 in float32) */
    F_PAIRS,        /* tiny, tiny, huge, huge, ... */
    F_CHUNK,        /* 1 + 8196 eps, numpy's test_einsum_chunking_precision */
    F_TENTH,        /* 0.1 */
    F_NEG           /* negative: floats in [-10, -0.01), integers in [-50, -1] */
} fill;

/* A program being built, in arena A: up to PB_MAXAX axes, PB_MAXT tensors, PB_MAXS statements. */
typedef struct pb {
    arena *A;
    ir_prog *p;
    bool bound;                 /* sizes given (the interpreter, the JIT) or left open */
    fill fill[PB_MAXT];
    int labels;                 /* F_LABELS' bound */
} pb;

void pb_init(pb *b, arena *A, bool bound);

/* A new axis of the given size (-1, open, unless the program is bound); its number. */
int pb_axis(pb *b, const char *name, int64_t size);

/*
 * A tensor whose dimension d is the size of the axis given as the d-th variadic int; add
 * inputs, temporaries and the output in that order.  Its number.
 */
int pb_tensor(pb *b, const char *name, ir_role role, einc_dtype dt, fill f, int ndim, ...);

/* One dimension's index: c1*a1 + a2 + off (a2 < 0: none). */
ir_dim pb_dim(pb *b, int a1, int64_t c1, int a2, int64_t off);

/* tensor t[ax0, ax1, ...]: each index one axis, one variadic int per dimension. */
ir_access pb_at(pb *b, int t, ...);

ir_expr *pb_rd(pb *b, ir_access a);                     /* a read of a */
ir_expr *pb_cst(pb *b, double v);                       /* the constant v */
ir_expr *pb_ax(pb *b, int a);                           /* axis a's index */
ir_expr *pb_op1(pb *b, ir_op op, ir_expr *a);
ir_expr *pb_op2(pb *b, ir_op op, ir_expr *a, ir_expr *c);

/* out comb rhs: the free axes are out's, in order; the others rhs uses are reduced. */
ir_stmt *pb_stmt(pb *b, ir_access out, ir_comb comb, ir_expr *rhs);

#endif
