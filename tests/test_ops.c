/*
 * test_ops.c — the index IR's operators, guards, accumulating statements and temporaries
 * on every backend that can run here, against the interpreter.
 *
 * Each case is a program built by hand (the front ends that produce these forms come
 * later): every unary function, max/min with NaN, divz by zero, eq and axis values (a
 * confusion matrix), zero-padded convolutions, statements that go on from an earlier
 * statement's value, and a softmax through three temporaries.  On random data with odd
 * sizes (specials included: 0, ±100, NaN), with outputs poisoned first:
 *   - the interpreter gives the answer;
 *   - the CPU JIT (runtime/cpu.c) must agree;
 *   - the emitted C, with every size a parameter, compiled with cc -std=c99 -Wall -Wextra
 *     -Werror and run through dlopen (temporaries through the workspace ABI), must agree;
 *   - the CUDA kernels (lowered for the GPU, and for the CPU where the generator takes that
 *     schedule: merged loops) are run on the CPU by compiling them as C++ over a shim with
 *     one block of one thread (their grid-stride loops then cover every element), and must
 *     agree; the kernels-only text must compile through NVRTC and the .cu file with nvcc
 *     (each part skipped when the tool or library is absent).
 * Tolerances are relative plus absolute, sized for float32 math functions (the JIT's exp,
 * tanh and erf are polynomials within about 2 ulp or 1.5e-7 absolute).
 *
 * The numerics cases (issue #24) hold every backend, the interpreter included, to numpy's
 * answer instead: float products in numpy's order, where partial products would meet as
 * 0 * inf = NaN, and long float sums (pairwise: blocks in a cascade) at least as accurate
 * as numpy's pairwise sum; each runs split_reductions first, as the CPU pipeline does.
 */
#define _GNU_SOURCE
#include "cc.h"
#include "ir.h"
#include "loop.h"
#include "codegen.h"
#include "cpu.h"
#include "nvrtc.h"
#include "helpers.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ---- the cases (programs by hand: helpers.h's pb_* functions) ---------------------------- */

typedef struct ocase {
    const char *name;           /* also the kernel's name */
    void (*build)(pb *b, int arg);
    int arg;
    einc_dtype dt;
    double rtol, atol;
    bool numpy;                 /* every backend, the interpreter too, must give numpy's
                                   answer want (every element), within rtol and atol */
    double want;
    bool split;                 /* run split_reductions first, as the CPU pipeline does */
} ocase;

/* out[i] = op(x[i]) */
static void b_unary(pb *b, int op)
{
    int i = pb_axis(b, "i", 37);
    fill f = op == IR_LOG || op == IR_SQRT || op == IR_RSQRT ? F_POS : F_SPECIAL;
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, f, 1, i);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 1, i);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_op1(b, (ir_op)op, pb_rd(b, pb_at(b, x, i))));
}

/* the same in float64 */
static void b_unary64(pb *b, int op)
{
    int i = pb_axis(b, "i", 29);
    fill f = op == IR_LOG || op == IR_SQRT || op == IR_RSQRT ? F_POS : F_SPECIAL;
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F64, f, 1, i);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F64, F_ANY, 1, i);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_op1(b, (ir_op)op, pb_rd(b, pb_at(b, x, i))));
}

/* out[i] = -a[i] in int32: wraps at INT32_MIN */
static void b_neg_int(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 23);
    int a = pb_tensor(b, "a", IR_INPUT, EINC_I32, F_INT, 1, i);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_I32, F_ANY, 1, i);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_op1(b, IR_NEG, pb_rd(b, pb_at(b, a, i))));
}

/* out[i, j] = op(a[i, j], b[i, j]) for max, min, divz, eq */
static void b_binary(pb *b, int op)
{
    int i = pb_axis(b, "i", 5), j = pb_axis(b, "j", 11);
    int a = pb_tensor(b, "a", IR_INPUT, EINC_F32, op == IR_EQ ? F_ZEROS : F_NAN, 2, i, j);
    int c = pb_tensor(b, "b", IR_INPUT, EINC_F32, op == IR_DIVZ || op == IR_EQ ? F_ZEROS : F_NAN, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 2, i, j);
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_ASSIGN, pb_op2(b, (ir_op)op, pb_rd(b, pb_at(b, a, i, j)), pb_rd(b, pb_at(b, c, i, j))));
}

/* int64 out[i] = max(a[i], b[i]) - min(a[i], b[i]) + divz(a[i], b[i]) from int32 */
static void b_binary_int(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 41);
    int a = pb_tensor(b, "a", IR_INPUT, EINC_I32, F_INT, 1, i);
    int c = pb_tensor(b, "b", IR_INPUT, EINC_I32, F_ZEROS, 1, i);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_I64, F_ANY, 1, i);
    ir_expr *mx = pb_op2(b, IR_MAX, pb_rd(b, pb_at(b, a, i)), pb_rd(b, pb_at(b, c, i)));
    ir_expr *mn = pb_op2(b, IR_MIN, pb_rd(b, pb_at(b, a, i)), pb_rd(b, pb_at(b, c, i)));
    ir_expr *dz = pb_op2(b, IR_DIVZ, pb_rd(b, pb_at(b, a, i)), pb_rd(b, pb_at(b, c, i)));
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_op2(b, IR_ADD, pb_op2(b, IR_SUB, mx, mn), dz));
}

/* cm[t, p] += eq(target[n], t) * eq(pred[n], p): int64 counts from int32 labels */
static void b_confusion(pb *b, int arg)
{
    (void)arg;
    b->labels = 4;
    int n = pb_axis(b, "n", 53), t = pb_axis(b, "t", 4), p = pb_axis(b, "p", 4);
    int tg = pb_tensor(b, "target", IR_INPUT, EINC_I32, F_LABELS, 1, n);
    int pr = pb_tensor(b, "pred", IR_INPUT, EINC_I32, F_LABELS, 1, n);
    int cm = pb_tensor(b, "cm", IR_OUTPUT, EINC_I64, F_ANY, 2, t, p);
    ir_expr *et = pb_op2(b, IR_EQ, pb_rd(b, pb_at(b, tg, n)), pb_ax(b, t));
    ir_expr *ep = pb_op2(b, IR_EQ, pb_rd(b, pb_at(b, pr, n)), pb_ax(b, p));
    pb_stmt(b, pb_at(b, cm, t, p), IR_COMB_SUM, pb_op2(b, IR_MUL, et, ep));
}

/* out[i, j] = x[i, j] * (i + 1) - j, the axes as float64 values */
static void b_axis_f64(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 6), j = pb_axis(b, "j", 7);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F64, F_ANY, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F64, F_ANY, 2, i, j);
    ir_expr *v = pb_op2(b, IR_MUL, pb_rd(b, pb_at(b, x, i, j)), pb_op2(b, IR_ADD, pb_ax(b, i), pb_cst(b, 1)));
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_ASSIGN, pb_op2(b, IR_SUB, v, pb_ax(b, j)));
}

/* out[i] += x[i + k - 1]? * w[k]: a 1-D convolution with padding 1 (stride s: x[s*i + k - 1]) */
static void b_conv(pb *b, int stride)
{
    int nx = 17, no = stride == 1 ? 17 : (17 + 2 - 3) / stride + 1;
    int i = pb_axis(b, "i", no), k = pb_axis(b, "k", 3), n = pb_axis(b, "n", nx);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 1, n);
    int w = pb_tensor(b, "w", IR_INPUT, EINC_F32, F_ANY, 1, k);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 1, i);
    ir_access xa = { .tensor = x, .ndim = 1, .dim = ARENA_NEW(b->A, ir_dim), .guard = true };
    xa.dim[0] = pb_dim(b, i, stride, k, -1);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_SUM, pb_op2(b, IR_MUL, pb_rd(b, xa), pb_rd(b, pb_at(b, w, k))));
}

/* a 2-D one, NCHW-like with the channel reduced: out[h, w] += x[c, h + kh - 1, w + kw - 1]? * f[c, kh, kw] */
static void b_conv2d(pb *b, int arg)
{
    (void)arg;
    int h = pb_axis(b, "h", 9), w = pb_axis(b, "w", 7), c = pb_axis(b, "c", 3);
    int kh = pb_axis(b, "kh", 3), kw = pb_axis(b, "kw", 3);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 3, c, h, w);
    int f = pb_tensor(b, "f", IR_INPUT, EINC_F32, F_ANY, 3, c, kh, kw);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 2, h, w);
    ir_access xa = { .tensor = x, .ndim = 3, .dim = ARENA_ARRAY(b->A, ir_dim, 3), .guard = true };
    xa.dim[0] = pb_dim(b, c, 1, -1, 0);
    xa.dim[1] = pb_dim(b, h, 1, kh, -1);
    xa.dim[2] = pb_dim(b, w, 1, kw, -1);
    pb_stmt(b, pb_at(b, o, h, w), IR_COMB_SUM, pb_op2(b, IR_MUL, pb_rd(b, xa), pb_rd(b, pb_at(b, f, c, kh, kw))));
}

/*
 * with output channels, which the CPU schedule runs as the GEMM tile (packing the guarded
 * input, zeros and all): out[o, h, w] += x[c, h + kh - 1, w + kw - 1]? * f[o, c, kh, kw]
 */
static void b_conv2d_gemm(pb *b, int arg)
{
    (void)arg;
    int o = pb_axis(b, "o", 10), h = pb_axis(b, "h", 5), w = pb_axis(b, "w", 23), c = pb_axis(b, "c", 7);
    int kh = pb_axis(b, "kh", 3), kw = pb_axis(b, "kw", 3);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 3, c, h, w);
    int f = pb_tensor(b, "f", IR_INPUT, EINC_F32, F_ANY, 4, o, c, kh, kw);
    int y = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 3, o, h, w);
    ir_access xa = { .tensor = x, .ndim = 3, .dim = ARENA_ARRAY(b->A, ir_dim, 3), .guard = true };
    xa.dim[0] = pb_dim(b, c, 1, -1, 0);
    xa.dim[1] = pb_dim(b, h, 1, kh, -1);
    xa.dim[2] = pb_dim(b, w, 1, kw, -1);
    pb_stmt(b, pb_at(b, y, o, h, w), IR_COMB_SUM, pb_op2(b, IR_MUL, pb_rd(b, pb_at(b, f, o, c, kh, kw)), pb_rd(b, xa)));
}

/* out[i] = b[i]; out[i] += x[i, k] (accumulating) */
static void b_accumulate(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 13), k = pb_axis(b, "k", 9);
    int bi = pb_tensor(b, "b", IR_INPUT, EINC_F32, F_ANY, 1, i);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 2, i, k);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 1, i);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_rd(b, pb_at(b, bi, i)));
    pb_stmt(b, pb_at(b, o, i), IR_COMB_SUM, pb_rd(b, pb_at(b, x, i, k)))->accumulate = true;
}

/*
 * Padding that is the identity of its combiner (ir.h): out[i] ⊕= x[2i + k - 1]? over k < 3,
 * padded at both ends, in each combiner and integer types (whose extremes F_INT holds);
 * data of one sign, so that a padding of 0 would win; cases 5 and 6 are 2-D, out[h, w] max=
 * x[h + kh - 1, w + kw - 1]?, which the CPU runs in memory, vectorized along w (6 with
 * NaNs).
 */
static const struct {
    ir_comb comb;
    einc_dtype dt;
    fill f;
} pads[] = {
    { IR_COMB_MAX, EINC_F32, F_NEG }, { IR_COMB_MIN, EINC_F32, F_POS }, { IR_COMB_PROD, EINC_F64, F_ANY },
    { IR_COMB_MAX, EINC_I32, F_NEG }, { IR_COMB_MIN, EINC_I64, F_INT }, { IR_COMB_MAX, EINC_F32, F_NEG },
    { IR_COMB_MAX, EINC_F32, F_NAN }, { IR_COMB_MIN, EINC_I64, F_POS },
};

static void b_pad(pb *b, int arg)
{
    ir_comb comb = pads[arg].comb;
    einc_dtype dt = pads[arg].dt;
    if (arg == 5 || arg == 6) {
        int h = pb_axis(b, "h", 6), w = pb_axis(b, "w", 19), kh = pb_axis(b, "kh", 3), kw = pb_axis(b, "kw", 3);
        int x = pb_tensor(b, "x", IR_INPUT, dt, pads[arg].f, 2, h, w);
        int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 2, h, w);
        ir_access xa = { .tensor = x, .ndim = 2, .dim = ARENA_ARRAY(b->A, ir_dim, 2), .guard = true, .pad = comb };
        xa.dim[0] = pb_dim(b, h, 1, kh, -1);
        xa.dim[1] = pb_dim(b, w, 1, kw, -1);
        pb_stmt(b, pb_at(b, o, h, w), comb, pb_rd(b, xa));
        return;
    }
    int i = pb_axis(b, "i", 9), k = pb_axis(b, "k", 3), n = pb_axis(b, "n", 17);
    int x = pb_tensor(b, "x", IR_INPUT, dt, pads[arg].f, 1, n);
    int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 1, i);
    ir_access xa = { .tensor = x, .ndim = 1, .dim = ARENA_NEW(b->A, ir_dim), .guard = true, .pad = comb };
    xa.dim[0] = pb_dim(b, i, 2, k, -1);
    pb_stmt(b, pb_at(b, o, i), comb, pb_rd(b, xa));
}

/* out[i, j] = c[i, j]; out[i, j] += x[i, k] * y[k, j] (the GEMM tile, accumulating) */
static void b_accumulate_gemm(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 7), j = pb_axis(b, "j", 19), k = pb_axis(b, "k", 5);
    int c = pb_tensor(b, "c", IR_INPUT, EINC_F32, F_ANY, 2, i, j);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 2, i, k);
    int y = pb_tensor(b, "y", IR_INPUT, EINC_F32, F_ANY, 2, k, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 2, i, j);
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_ASSIGN, pb_rd(b, pb_at(b, c, i, j)));
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_SUM, pb_op2(b, IR_MUL, pb_rd(b, pb_at(b, x, i, k)), pb_rd(b, pb_at(b, y, k, j))))->accumulate = true;
}

/*
 * out[i, j] = c[i, j]; out[i, j] max= x[k, j] (accumulating; on the CPU in memory, as j is
 * the unit-stride axis); out[i, j] += d[i, j] (accumulating, elementwise)
 */
static void b_accumulate_max(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 3), j = pb_axis(b, "j", 17), k = pb_axis(b, "k", 6);
    int c = pb_tensor(b, "c", IR_INPUT, EINC_F32, F_ANY, 2, i, j);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 2, k, j);
    int d = pb_tensor(b, "d", IR_INPUT, EINC_F32, F_ANY, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 2, i, j);
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_ASSIGN, pb_rd(b, pb_at(b, c, i, j)));
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_MAX, pb_rd(b, pb_at(b, x, k, j)))->accumulate = true;
    pb_stmt(b, pb_at(b, o, i, j), IR_COMB_SUM, pb_rd(b, pb_at(b, d, i, j)))->accumulate = true;
}

/* a scalar: out = c[0] * 2; out += x[i, j] (the GPU's block form, accumulating) */
static void b_accumulate_scalar(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 31), j = pb_axis(b, "j", 19);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F64, F_ANY, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F64, F_ANY, 0);
    ir_access oa = { .tensor = o, .ndim = 0 };
    pb_stmt(b, oa, IR_COMB_ASSIGN, pb_cst(b, 2.5));
    pb_stmt(b, oa, arg ? IR_COMB_MAX : IR_COMB_SUM, pb_rd(b, pb_at(b, x, i, j)))->accumulate = true;
}

/*
 * softmax over c: m[r] max= x[r, c]; e = exp(x - m); s[r] += e[r, c]; out = e / s.  arg 1:
 * rows of 3000, whose sums are pairwise (the JIT's runs in chunks through the fused loop).
 */
static void b_softmax(pb *b, int arg)
{
    int r = pb_axis(b, "r", 7), c = pb_axis(b, "c", arg ? 3000 : 13);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 2, r, c);
    int m = pb_tensor(b, "m", IR_TEMP, EINC_F32, F_ANY, 1, r);
    int e = pb_tensor(b, "e", IR_TEMP, EINC_F32, F_ANY, 2, r, c);
    int s = pb_tensor(b, "s", IR_TEMP, EINC_F32, F_ANY, 1, r);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 2, r, c);
    pb_stmt(b, pb_at(b, m, r), IR_COMB_MAX, pb_rd(b, pb_at(b, x, r, c)));
    pb_stmt(b, pb_at(b, e, r, c), IR_COMB_ASSIGN,
         pb_op1(b, IR_EXP, pb_op2(b, IR_SUB, pb_rd(b, pb_at(b, x, r, c)), pb_rd(b, pb_at(b, m, r)))));
    pb_stmt(b, pb_at(b, s, r), IR_COMB_SUM, pb_rd(b, pb_at(b, e, r, c)));
    pb_stmt(b, pb_at(b, o, r, c), IR_COMB_ASSIGN, pb_op2(b, IR_DIV, pb_rd(b, pb_at(b, e, r, c)), pb_rd(b, pb_at(b, s, r))));
}

/*
 * log-sum-exp over c, which lower.c merges into one loop over r on the CPU:
 *   stable (arg 1): m[r] max= x[r, c]; s[r] += exp(x[r, c] - m[r]); out[r] = log(s[r]) + m[r]
 *   naive (arg 0):  e[r, c] = exp(x[r, c]); s[r] += e[r, c]; out[r] = log(s[r])
 * s is the reduction's own temporary (read back as the accumulator, never stored); m and e
 * are kept in the workspace.
 */
static void b_logsumexp(pb *b, int arg)      /* arg & 1: stable; arg & 2: rows of 3000 */
{
    bool stable = arg & 1;
    int r = pb_axis(b, "r", 9), c = pb_axis(b, "c", arg & 2 ? 3000 : 21);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_ANY, 2, r, c);
    int m = stable ? pb_tensor(b, "m", IR_TEMP, EINC_F32, F_ANY, 1, r) : pb_tensor(b, "e", IR_TEMP, EINC_F32, F_ANY, 2, r, c);
    int s = pb_tensor(b, "s", IR_TEMP, EINC_F32, F_ANY, 1, r);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 1, r);
    ir_expr *ls = pb_op1(b, IR_LOG, pb_rd(b, pb_at(b, s, r)));
    if (stable) {
        pb_stmt(b, pb_at(b, m, r), IR_COMB_MAX, pb_rd(b, pb_at(b, x, r, c)));
        pb_stmt(b, pb_at(b, s, r), IR_COMB_SUM, pb_op1(b, IR_EXP, pb_op2(b, IR_SUB, pb_rd(b, pb_at(b, x, r, c)), pb_rd(b, pb_at(b, m, r)))));
        pb_stmt(b, pb_at(b, o, r), IR_COMB_ASSIGN, pb_op2(b, IR_ADD, ls, pb_rd(b, pb_at(b, m, r))));
    } else {
        pb_stmt(b, pb_at(b, m, r, c), IR_COMB_ASSIGN, pb_op1(b, IR_EXP, pb_rd(b, pb_at(b, x, r, c))));
        pb_stmt(b, pb_at(b, s, r), IR_COMB_SUM, pb_rd(b, pb_at(b, m, r, c)));
        pb_stmt(b, pb_at(b, o, r), IR_COMB_ASSIGN, ls);
    }
}

/* an int32 temporary next to float ones: q[i] = x[i] * 3 (int); out[i] = sqrt(q[i]) ... in f64 */
static void b_temp_int(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 11), k = pb_axis(b, "k", 5);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_I32, F_LABELS, 2, i, k);
    int q = pb_tensor(b, "exp", IR_TEMP, EINC_I32, F_ANY, 1, i);   /* a name the code also calls */
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F64, F_ANY, 1, i);
    b->labels = 50;
    pb_stmt(b, pb_at(b, q, i), IR_COMB_SUM, pb_op2(b, IR_MUL, pb_rd(b, pb_at(b, x, i, k)), pb_cst(b, 3)));
    pb_stmt(b, pb_at(b, o, i), IR_COMB_ASSIGN, pb_op1(b, IR_SQRT, pb_rd(b, pb_at(b, q, i))));
}

/*
 * numpy's answers where the order of a float reduction matters (issue #24).  A prod of
 * arange(1, 5833) / its mean, shaped (2, 2916): numpy's running product underflows to 0 in
 * the first row and stays 0 (downwards, it overflows to inf and stays inf); one partial
 * product per row, or per vector lane, meets 0 * inf = NaN.  tiny and huge alternating
 * give finite numpy products, and NaN to anything that multiplies lanes apart.
 */
static void b_prod_ramp(pb *b, int arg)   /* arg: 1 downwards, 2 float32 */
{
    einc_dtype dt = arg & 2 ? EINC_F32 : EINC_F64;
    int i = pb_axis(b, "a", 2), j = pb_axis(b, "b", 2916);
    int x = pb_tensor(b, "x", IR_INPUT, dt, arg & 1 ? F_RAMP_DOWN : F_RAMP, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 0);
    pb_stmt(b, (ir_access){ .tensor = o }, IR_COMB_PROD, pb_rd(b, pb_at(b, x, i, j)));
}

static void b_prod_ramp3(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "a", 3), j = pb_axis(b, "b", 4), k = pb_axis(b, "c", 486);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F64, F_RAMP, 3, i, j, k);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F64, F_ANY, 0);
    pb_stmt(b, (ir_access){ .tensor = o }, IR_COMB_PROD, pb_rd(b, pb_at(b, x, i, j, k)));
}

static void b_prod_alternate(pb *b, int arg)   /* arg: 0 float64, 1 float32, 2 float32 pairs */
{
    einc_dtype dt = arg ? EINC_F32 : EINC_F64;
    int i = pb_axis(b, "a", 4), j = pb_axis(b, "b", 64);
    int x = pb_tensor(b, "x", IR_INPUT, dt, arg == 2 ? F_PAIRS : F_ALTERNATE, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 0);
    pb_stmt(b, (ir_access){ .tensor = o }, IR_COMB_PROD, pb_rd(b, pb_at(b, x, i, j)));
}

/* Sums of 10^6 elements: 1 + 8196 eps in float64 (arg 0), 0.1 in float32 (arg 1). */
static void b_sum_long(pb *b, int arg)
{
    einc_dtype dt = arg ? EINC_F32 : EINC_F64;
    int i = pb_axis(b, "i", 1000000);
    int x = pb_tensor(b, "x", IR_INPUT, dt, arg ? F_TENTH : F_CHUNK, 1, i);
    int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 0);
    pb_stmt(b, (ir_access){ .tensor = o }, IR_COMB_SUM, pb_rd(b, pb_at(b, x, i)));
}

static void b_sum_long2(pb *b, int arg)     /* the same as 1000 x 1000 */
{
    einc_dtype dt = arg ? EINC_F32 : EINC_F64;
    int i = pb_axis(b, "i", 1000), j = pb_axis(b, "j", 1000);
    int x = pb_tensor(b, "x", IR_INPUT, dt, arg ? F_TENTH : F_CHUNK, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, dt, F_ANY, 0);
    pb_stmt(b, (ir_access){ .tensor = o }, IR_COMB_SUM, pb_rd(b, pb_at(b, x, i, j)));
}

/* Row sums of 300000 x 0.1 in float32: out[i] += x[i, j]. */
static void b_rowsum_long(pb *b, int arg)
{
    (void)arg;
    int i = pb_axis(b, "i", 3), j = pb_axis(b, "j", 300000);
    int x = pb_tensor(b, "x", IR_INPUT, EINC_F32, F_TENTH, 2, i, j);
    int o = pb_tensor(b, "out", IR_OUTPUT, EINC_F32, F_ANY, 1, i);
    pb_stmt(b, pb_at(b, o, i), IR_COMB_SUM, pb_rd(b, pb_at(b, x, i, j)));
}

/*
 * numpy's values, from /usr/bin/python3 with numpy 1.24 (np.seterr(all='ignore')):
 *   x = np.arange(1, 5833.); x /= x.mean(); np.prod(x.reshape(2, 2916)) -> 0.0, and
 *   np.prod(x[::-1].reshape(2, 2916)) -> inf; np.prod(x.reshape(3, 4, 486)) -> 0.0; the
 *   same with x.astype(np.float32) -> 0.0 and inf;
 *   np.prod(np.where(np.arange(256) % 2 == 0, 1e-200, 1e200)) -> 1.0, and with
 *   np.float32(1e-30), np.float32(1e30) -> 1.0; with % 4 < 2 in float32 -> 0.0 (1e-60
 *   underflows float32: a product in float64 would give 1).
 * For the sums the reference is exact, and the tolerance is numpy's own error:
 *   10^6 (1 + 8196 eps) = 1000000.0000018199 (fractions.Fraction); np.sum gives
 *   1000000.0000018191, 7.72e-10 below.  10^6 float32(0.1) = 100000.00149011612 exactly;
 *   np.sum gives 100000.086, 0.0845 above; np.sum of 300000 of them along axis 1 gives
 *   29999.99, 0.0105 below 30000.000447034836.  A sequential float32 sum gives 100958.34.
 * Split into rows (numpy sums the (1000, 1000) array as one run), the float64 sum rounds
 * once more per row, and equal elements round alike: there it may be 2 ulp (2.3e-10)
 * further off than numpy (the JIT was 9.3e-10 off, emitted C 8.2e-10).
 */
#define PROD(name, build, arg, dt, v) { name, build, arg, dt, 0, 0, true, v, true }
#define SUM(name, build, arg, dt, v, tol) { name, build, arg, dt, 0, tol, true, v, true }

#define UN(op) { "un_" #op, b_unary, IR_##op, EINC_F32, 4e-6, 4e-7, false, 0, false }
#define UN64(op) { "un64_" #op, b_unary64, IR_##op, EINC_F64, 1e-12, 1e-14, false, 0, false }
static const ocase cases[] = {
    UN(NEG), UN(EXP), UN(LOG), UN(SQRT), UN(RSQRT), UN(TANH), UN(ERF), UN(SIGMOID),
    UN64(NEG), UN64(EXP), UN64(LOG), UN64(SQRT), UN64(RSQRT), UN64(TANH), UN64(ERF), UN64(SIGMOID),
    { "neg_i32", b_neg_int, 0, EINC_I32, 0, 0, false, 0, false },
    { "max_nan", b_binary, IR_MAX, EINC_F32, 0, 0, false, 0, false },
    { "min_nan", b_binary, IR_MIN, EINC_F32, 0, 0, false, 0, false },
    { "divz", b_binary, IR_DIVZ, EINC_F32, 2e-7, 0, false, 0, false },
    { "eq", b_binary, IR_EQ, EINC_F32, 0, 0, false, 0, false },
    { "binary_i64", b_binary_int, 0, EINC_I64, 0, 0, false, 0, false },
    { "confusion", b_confusion, 0, EINC_I64, 0, 0, false, 0, false },
    { "axis_f64", b_axis_f64, 0, EINC_F64, 1e-15, 0, false, 0, false },
    { "conv1d", b_conv, 1, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "conv1d_s2", b_conv, 2, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "conv2d", b_conv2d, 0, EINC_F32, 1e-5, 1e-5, false, 0, false },
    { "conv2d_gemm", b_conv2d_gemm, 0, EINC_F32, 1e-5, 1e-5, false, 0, false },
    { "pad_max", b_pad, 0, EINC_F32, 0, 0, false, 0, false },
    { "pad_min", b_pad, 1, EINC_F32, 0, 0, false, 0, false },
    { "pad_prod", b_pad, 2, EINC_F64, 1e-14, 0, false, 0, false },
    { "pad_max_i32", b_pad, 3, EINC_I32, 0, 0, false, 0, false },
    { "pad_min_i64", b_pad, 4, EINC_I64, 0, 0, false, 0, false },
    { "pad_max_2d", b_pad, 5, EINC_F32, 0, 0, false, 0, false },
    { "pad_max_2d_nan", b_pad, 6, EINC_F32, 0, 0, false, 0, false },
    { "pad_min_i64_pos", b_pad, 7, EINC_I64, 0, 0, false, 0, false },
    { "accumulate", b_accumulate, 0, EINC_F32, 1e-5, 1e-5, false, 0, false },
    { "accumulate_gemm", b_accumulate_gemm, 0, EINC_F32, 1e-5, 1e-5, false, 0, false },
    { "accumulate_max", b_accumulate_max, 0, EINC_F32, 1e-6, 1e-6, false, 0, false },
    { "accumulate_sum0", b_accumulate_scalar, 0, EINC_F64, 1e-12, 1e-12, false, 0, false },
    { "accumulate_max0", b_accumulate_scalar, 1, EINC_F64, 0, 0, false, 0, false },
    { "softmax", b_softmax, 0, EINC_F32, 1e-5, 1e-7, false, 0, false },
    { "logsumexp", b_logsumexp, 1, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "logsumexp_naive", b_logsumexp, 0, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "softmax_long", b_softmax, 1, EINC_F32, 1e-5, 1e-9, false, 0, false },
    { "logsumexp_long", b_logsumexp, 3, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "logsumexp_naive_long", b_logsumexp, 2, EINC_F32, 1e-5, 1e-6, false, 0, false },
    { "temp_int", b_temp_int, 0, EINC_F64, 1e-14, 0, false, 0, false },
    PROD("prod_ramp", b_prod_ramp, 0, EINC_F64, 0.0),
    PROD("prod_ramp_down", b_prod_ramp, 1, EINC_F64, INFINITY),
    PROD("prod_ramp_f32", b_prod_ramp, 2, EINC_F32, 0.0),
    PROD("prod_ramp_down_f32", b_prod_ramp, 3, EINC_F32, INFINITY),
    PROD("prod_ramp_3d", b_prod_ramp3, 0, EINC_F64, 0.0),
    PROD("prod_alternate", b_prod_alternate, 0, EINC_F64, 1.0),
    PROD("prod_alternate_f32", b_prod_alternate, 1, EINC_F32, 1.0),
    PROD("prod_pairs_f32", b_prod_alternate, 2, EINC_F32, 0.0),
    SUM("sum_chunking", b_sum_long, 0, EINC_F64, 1000000.0000018199, 7.72e-10),
    SUM("sum_chunking_2d", b_sum_long2, 0, EINC_F64, 1000000.0000018199, 1.0e-9),
    SUM("sum_tenth_f32", b_sum_long, 1, EINC_F32, 100000.00149011612, 0.0845),
    SUM("sum_tenth_f32_2d", b_sum_long2, 1, EINC_F32, 100000.00149011612, 0.0845),
    SUM("rowsum_tenth_f32", b_rowsum_long, 0, EINC_F32, 30000.000447034836, 0.0105),
};
enum { NCASE = sizeof cases / sizeof *cases };

/* ---- data -------------------------------------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void) { return th_next(&rng); }
static double frand(double lo, double hi) { return th_uniform(&rng, lo, hi); }

/* Element e of n in a tensor of dtype t filled as f. */
static double value(fill f, int64_t e, int64_t n, einc_dtype t, int labels)
{
    static const double special[] = { 0.0, -0.0, 1, -1, 100, -100, NAN, 0.5, -3, 20, -20, 1e-3, -1e-4, 9 };
    double tiny = t == EINC_F32 ? 1e-30 : 1e-200, mean = (double)(n + 1) / 2;
    switch (f) {
    case F_RAMP: return (double)(e + 1) / mean;
    case F_RAMP_DOWN: return (double)(n - e) / mean;
    case F_ALTERNATE: return e % 2 ? 1 / tiny : tiny;
    case F_PAIRS: return e % 4 < 2 ? tiny : 1 / tiny;
    case F_CHUNK: return 1 + 8196 * DBL_EPSILON;
    case F_TENTH: return 0.1;
    case F_SPECIAL:
        return e < (int64_t)(sizeof special / sizeof *special) ? special[e] : frand(-3, 3);
    case F_POS: return e == 0 ? 100 : e == 1 ? 1e-3 : e == 2 ? 1 : frand(0.01, 10);
    case F_NAN: return e % 5 == 2 ? NAN : frand(-2, 2);
    case F_ZEROS: return e % 3 == 0 ? 0 : (double)((int64_t)(next() % 7) - 3);
    case F_LABELS: return (double)(next() % (uint64_t)labels);
    case F_INT: return e == 0 ? INT32_MIN : e == 1 ? INT32_MAX : (double)((int64_t)(next() % 101) - 50);
    case F_NEG: return dtype_is_float(t) ? frand(-10, -0.01) : -1 - (double)(next() % 50);
    default: return frand(-2, 2);
    }
}

static int64_t elems(const ir_prog *p, int t) { return ir_tensor_elems(p, &p->tensor[t]); }

static void *alloc_poisoned(const ir_prog *p, int t)
{
    size_t n = (size_t)(elems(p, t) > 0 ? elems(p, t) : 1) * th_dtype_size(p->tensor[t].dtype);
    void *d = malloc(n);
    memset(d, 0xA5, n);
    return d;
}

/*
 * got agrees with want: equal, both NaN, or within atol + rtol |want|.  want is the
 * interpreter's, or numpy's value (oc->numpy), which is compared in double: rounding it
 * to a float32 output could move it by half an ulp.
 */
static void compare(const ocase *oc, const char *who, const ir_prog *p, const void *got, const void *want)
{
    einc_dtype t = p->tensor[p->output].dtype;
    for (int64_t e = 0; e < elems(p, p->output); e++) {
        double g = th_get(t, got, e), w = oc->numpy ? oc->want : th_get(t, want, e);
        if (isnan(w) && isnan(g))
            continue;
        if (g == w || fabs(g - w) <= oc->atol + oc->rtol * fabs(w))
            continue;
        fail_msg("%s: %s gives %.17g at element %lld, %s %.17g", oc->name, who, g, (long long)e,
                 oc->numpy ? "numpy" : "the interpreter", w);
    }
}

/* ---- the backends ------------------------------------------------------------------------ */

static char dir[256];
static bool have_cc, have_cxx, have_nvcc;
static cpu_backend *cpu;

/* Everything for NVRTC and nvcc, compiled once at the end. */
static char *nvrtc_src, *cu_src;
static size_t nvrtc_len, cu_len;
static char entries[4096];

static void append(char **dst, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *dst = realloc(*dst, *len + n + 1);
    memcpy(*dst + *len, s, n + 1);
    *len += n;
}

static int sh(const char *cmd) { return system(cmd); }

/* The C spelling of a stored dtype, and the CUDA kernels' one. */
static const char *c_type(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return "int32_t";
    case EINC_I64: return "int64_t";
    default: return "uint8_t";
    }
}

static const char *cu_type(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return "einc_i32";
    case EINC_I64: return "einc_i64";
    default: return "einc_u8";
    }
}

/* A header (--emit=header) declares proto, a whole line. */
static void declares(const char *hdr, const char *proto)
{
    const char *at = strstr(hdr, proto);
    if (!at || (at != hdr && at[-1] != '\n'))
        fail_msg("the header does not declare\n%s\n%s", proto, hdr);
}

/*
 * The emitted C for the program with every size open: prototypes, then a run through a
 * trampoline call_NAME(arrays, sizes, workspace) and, with temporaries, ws_NAME(sizes).
 */
static void run_c(const ocase *oc, const ir_prog *pb_bound, void *const *in, const void *want)
{
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = oc->name, .err = &err };
    pb b;
    pb_init(&b, &A, false);
    oc->build(&b, oc->arg);
    if (oc->split)
        assert_true(split_reductions(&c, b.p) >= 0);
    const ir_prog *p = b.p;
    lp_prog *lp = lower(&c, p, LP_CPU, NULL);
    if (!lp)
        fail_msg("%s: %s", oc->name, err.message);
    cg_opts o = { oc->name, oc->name, false };
    char *src = cg_c(&c, lp, &o);
    if (!src)
        fail_msg("%s: %s", oc->name, err.message);
    o.header_only = true;
    char *hdr = cg_c(&c, lp, &o);
    assert_non_null(hdr);
    bool temps = false;
    for (int t = 0; t < p->ntensor; t++)
        temps |= cg_temp_stored(lp, t);

    /* the prototypes: arrays, the sizes in axis order, the workspace */
    char want_hdr[2048], sizes[512] = "";
    int at = 0;
    for (int a = 0; a < p->naxis; a++)
        at += snprintf(sizes + at, sizeof sizes - (size_t)at, "%sint64_t %s", a ? ", " : "", p->axis[a].name);
    at = snprintf(want_hdr, sizeof want_hdr, "void %s(", oc->name);
    for (int t = 0, k = 0; t < p->ntensor; t++)
        if (p->tensor[t].role != IR_TEMP)
            at += snprintf(want_hdr + at, sizeof want_hdr - (size_t)at, "%s%s%s *EINC_RESTRICT %s", k++ ? ", " : "",
                           p->tensor[t].role == IR_INPUT ? "const " : "", c_type(p->tensor[t].dtype),
                           p->tensor[t].name);
    snprintf(want_hdr + at, sizeof want_hdr - (size_t)at, ", %s%s);\n", sizes, temps ? ", void *workspace" : "");
    declares(hdr, want_hdr);
    if (temps) {
        snprintf(want_hdr, sizeof want_hdr, "size_t %s_workspace(%s);\n", oc->name, sizes);
        declares(hdr, want_hdr);
    }
    free(hdr);

    char path[512], so[512], cmd[2048];
    snprintf(path, sizeof path, "%s/%s.c", dir, oc->name);
    th_write_file(path, src, strlen(src));
    free(src);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -O2 -c -o %s/%s.o %s", dir, oc->name, path);
    if (sh(cmd) != 0)
        fail_msg("%s: emitted C does not compile cleanly: %s", oc->name, path);
    FILE *f = fopen(path, "a");
    fprintf(f, "\nvoid call_%s(void **b, const int64_t *s, void *ws)\n{\n    (void)s, (void)ws;\n    %s(",
            oc->name, oc->name);
    for (int t = 0, k = 0; t < p->ntensor; t++)
        if (p->tensor[t].role != IR_TEMP)
            fprintf(f, "%s(%s%s *)b[%d]", k++ ? ", " : "", p->tensor[t].role == IR_INPUT ? "const " : "",
                    c_type(p->tensor[t].dtype), t);
    for (int a = 0; a < p->naxis; a++)
        fprintf(f, ", s[%d]", a);
    fprintf(f, "%s);\n}\n", temps ? ", ws" : "");
    if (temps) {
        fprintf(f, "\nsize_t ws_%s(const int64_t *s)\n{\n    return %s_workspace(", oc->name, oc->name);
        for (int a = 0; a < p->naxis; a++)
            fprintf(f, "%ss[%d]", a ? ", " : "", a);
        fprintf(f, ");\n}\n");
    }
    fclose(f);
    snprintf(so, sizeof so, "%s/%s.so", dir, oc->name);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -fopenmp -fPIC -shared -o %s %s -lm", so, path);
    assert_int_equal(sh(cmd), 0);

    /* run it with the bound program's sizes and buffers */
    const ir_prog *q = pb_bound;
    int64_t sz[PB_MAXAX];
    for (int a = 0; a < q->naxis; a++)
        sz[a] = q->axis[a].size;
    void *bufs[PB_MAXT] = { 0 }, *ws = NULL, *h = NULL;
    for (int t = 0; t < q->ntensor; t++)
        bufs[t] = q->tensor[t].role == IR_INPUT ? in[t] : NULL;
    bufs[q->output] = alloc_poisoned(q, q->output);
    if (temps) {
        char sym[96];
        snprintf(sym, sizeof sym, "ws_%s", oc->name);
        size_t (*wsf)(const int64_t *);
        *(void **)&wsf = th_dlsym(&h, so, sym);
        size_t bytes = wsf(sz), need = 0;
        for (int t = 0; t < q->ntensor; t++)
            if (cg_temp_stored(lp, t))
                need += ((size_t)elems(q, t) * th_dtype_size(q->tensor[t].dtype) + 63) / 64 * 64;
        assert_int_equal(bytes, need);
        ws = aligned_alloc(64, bytes ? bytes : 64);
        memset(ws, 0xA5, bytes);
    }
    char sym[96];
    snprintf(sym, sizeof sym, "call_%s", oc->name);
    void (*call)(void **, const int64_t *, void *);
    *(void **)&call = th_dlsym(&h, so, sym);
    call(bufs, sz, ws);
    compare(oc, "the emitted C", q, bufs[q->output], want);
    dlclose(h);
    free(bufs[q->output]);
    free(ws);
    arena_free(&A);
}

/* C++ over the kernels: one block of one thread, whose grid-stride loops cover everything. */
static const char shim[] =
    "#include <math.h>\n#include <string.h>\n#include <stdint.h>\n"
    "#define __global__\n#define __device__\n#define __launch_bounds__(n)\n#define __shared__ static\n"
    "struct einc_dim3_ { unsigned x; };\n"
    "static const einc_dim3_ blockIdx = { 0 }, threadIdx = { 0 }, blockDim = { 1 }, gridDim = { 1 };\n"
    "static inline void __syncthreads(void) {}\n"
    "static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }\n"
    "static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }\n";

/*
 * The CUDA kernels for the program lowered for target, run on the CPU (have_cxx), and
 * collected for NVRTC and nvcc.  A CPU schedule the generator refuses is skipped.
 */
static void run_cuda(const ocase *oc, lp_target target, const ir_prog *q, void *const *in, const void *want)
{
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = oc->name, .err = &err };
    pb b;
    pb_init(&b, &A, false);
    oc->build(&b, oc->arg);
    if (oc->split)
        assert_true(split_reductions(&c, b.p) >= 0);
    const ir_prog *p = b.p;
    lp_prog *lp = lower(&c, p, target, NULL);
    if (!lp)
        fail_msg("%s: %s", oc->name, err.message);
    char name[96];
    snprintf(name, sizeof name, "%s%s", oc->name, target == LP_CPU ? "_cpu" : "");
    cg_opts o = { name, oc->name, false };
    char *k = cg_cuda_kernels(&c, lp, &o);
    if (!k && target == LP_CPU && err.status == EINC_ERR_UNSUPPORTED) {
        arena_free(&A);
        return;
    }
    if (!k)
        fail_msg("%s: %s", name, err.message);
    if (target == LP_GPU) {
        append(&nvrtc_src, &nvrtc_len, k);
        char *cu = cg_cuda(&c, lp, &o);
        if (!cu)
            fail_msg("%s: %s", name, err.message);
        append(&cu_src, &cu_len, cu);
        free(cu);
        for (int i = 0; i < lp->nnest; i++) {
            size_t l = strlen(entries);
            snprintf(entries + l, sizeof entries - l, "%s_k%d ", name, i);
        }
    }
    if (!have_cxx) {
        free(k);
        arena_free(&A);
        return;
    }
    char path[512], so[512], cmd[2048];
    snprintf(path, sizeof path, "%s/%s.cpp", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n%s\nextern \"C\" void call_%s(void **b, const int64_t *s)\n{\n    (void)s;\n", shim, k, name);
    free(k);
    for (int i = 0; i < lp->nnest; i++) {
        fprintf(f, "    %s_k%d(", name, i);
        int n = 0;
        for (int t = 0; t < p->ntensor; t++)
            if (p->tensor[t].role != IR_TEMP || cg_temp_stored(lp, t))
                fprintf(f, "%s(%s%s *)b[%d]", n++ ? ", " : "", p->tensor[t].role == IR_INPUT ? "const " : "",
                        cu_type(p->tensor[t].dtype), t);
        for (int a = 0; a < p->naxis; a++)
            fprintf(f, ", (einc_i64)s[%d]", a);
        fprintf(f, ");\n");
    }
    fprintf(f, "}\n");
    fclose(f);
    snprintf(so, sizeof so, "%s/%s.cpp.so", dir, name);
    snprintf(cmd, sizeof cmd, "c++ -O1 -w -fPIC -shared -o %s %s -lm", so, path);
    if (sh(cmd) != 0)
        fail_msg("%s: the CUDA kernels do not compile as C++ over the shim: %s", name, path);
    int64_t sz[PB_MAXAX];
    for (int a = 0; a < q->naxis; a++)
        sz[a] = q->axis[a].size;
    void *bufs[PB_MAXT] = { 0 };
    for (int t = 0; t < q->ntensor; t++)
        bufs[t] = q->tensor[t].role == IR_INPUT ? in[t] : alloc_poisoned(q, t);
    char sym[128];
    snprintf(sym, sizeof sym, "call_%s", name);
    void (*call)(void **, const int64_t *);
    void *h = NULL;
    *(void **)&call = th_dlsym(&h, so, sym);
    call(bufs, sz);
    dlclose(h);
    char who[160];
    snprintf(who, sizeof who, "the CUDA kernels (lowered for the %s, run on the CPU)", target == LP_CPU ? "CPU" : "GPU");
    compare(oc, who, q, bufs[q->output], want);
    for (int t = 0; t < q->ntensor; t++)
        if (q->tensor[t].role != IR_INPUT)
            free(bufs[t]);
    arena_free(&A);
}

static void test_case(void **state)
{
    const ocase *oc = &cases[(intptr_t)*state];
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = oc->name, .err = &err };
    pb b;
    pb_init(&b, &A, true);
    oc->build(&b, oc->arg);
    if (oc->split)
        assert_true(split_reductions(&c, b.p) >= 0);
    const ir_prog *p = b.p;
    assert_int_equal(p->tensor[p->output].dtype, oc->dt);

    void *bufs[PB_MAXT] = { 0 };
    for (int t = 0; t < p->ntensor; t++) {
        if (p->tensor[t].role != IR_INPUT)
            continue;
        bufs[t] = alloc_poisoned(p, t);
        for (int64_t e = 0; e < elems(p, t); e++)
            th_put(p->tensor[t].dtype, bufs[t], e, value(b.fill[t], e, elems(p, t), p->tensor[t].dtype, b.labels));
    }
    /* the interpreter */
    void *want = alloc_poisoned(p, p->output);
    bufs[p->output] = want;
    if (interp_run(&c, p, bufs, NULL) < 0)
        fail_msg("%s: the interpreter: %s", oc->name, err.message);
    if (oc->numpy)
        compare(oc, "the interpreter", p, want, NULL);
    /* the JIT */
    void *got = alloc_poisoned(p, p->output);
    bufs[p->output] = got;
    char key[128];
    snprintf(key, sizeof key, "test_ops %s", oc->name);
    if (cpu_run(cpu, &c, key, p, bufs, NULL) == 0)
        compare(oc, "the JIT", p, got, want);
    else if (!strstr(err.message, "without LLVM"))
        fail_msg("%s: the JIT: %s", oc->name, err.message);
    free(got);
    bufs[p->output] = NULL;
    if (have_cc)
        run_c(oc, p, bufs, want);
    run_cuda(oc, LP_GPU, p, bufs, want);
    run_cuda(oc, LP_CPU, p, bufs, want);
    for (int t = 0; t < p->ntensor; t++)
        free(bufs[t]);
    free(want);
    arena_free(&A);
}

/* The exact workspace ABI, for a softmax with every size open and with every size given. */
static void test_workspace_abi(void **state)
{
    (void)state;
    for (int bound = 0; bound < 2; bound++) {
        arena A = { 0 };
        einc_error err = { 0 };
        cc c = { .A = &A, .src = "softmax", .err = &err };
        pb b;
        pb_init(&b, &A, bound);
        b_softmax(&b, 0);
        lp_prog *lp = lower(&c, b.p, LP_CPU, NULL);
        assert_non_null(lp);
        cg_opts o = { "sm", "softmax", true };
        char *hdr = cg_c(&c, lp, &o);
        assert_non_null(hdr);
        declares(hdr, bound ? "void sm(const float *EINC_RESTRICT x, float *EINC_RESTRICT out, void *workspace);\n"
                            : "void sm(const float *EINC_RESTRICT x, float *EINC_RESTRICT out, int64_t r, "
                              "int64_t c, void *workspace);\n");
        declares(hdr, bound ? "size_t sm_workspace(void);\n" : "size_t sm_workspace(int64_t r, int64_t c);\n");
        free(hdr);
        lp = lower(&c, b.p, LP_GPU, NULL);
        assert_non_null(lp);
        hdr = cg_cuda(&c, lp, &o);
        assert_non_null(hdr);
        declares(hdr, bound ? "extern \"C\" cudaError_t sm(const float *x, float *out, void *workspace, "
                              "cudaStream_t stream);\n"
                            : "extern \"C\" cudaError_t sm(const float *x, float *out, int64_t r, int64_t c, "
                              "void *workspace, cudaStream_t stream);\n");
        declares(hdr, bound ? "extern \"C\" size_t sm_workspace(void);\n"
                            : "extern \"C\" size_t sm_workspace(int64_t r, int64_t c);\n");
        free(hdr);
        /* NVRTC's kernels take the temporaries as arrays, in tensor order */
        o.header_only = false;
        char *k = cg_cuda_kernels(&c, lp, &o);
        assert_non_null(k);
        assert_non_null(strstr(k, bound ? "sm_k0(const float *__restrict__ x, float *__restrict__ m, "
                                          "float *__restrict__ e, float *__restrict__ s, float *__restrict__ out)"
                                        : "sm_k0(const float *__restrict__ x, float *__restrict__ m, "
                                          "float *__restrict__ e, float *__restrict__ s, float *__restrict__ out, "
                                          "einc_i64 r, einc_i64 c)"));
        free(k);
        arena_free(&A);
    }
}

/* Every case's kernels in one NVRTC program (after the cases ran): one .entry per nest. */
static void test_nvrtc(void **state)
{
    (void)state;
    if (!th_have_nvrtc() || !nvrtc_src)
        skip();
    char *ptx = NULL, err[4096];
    if (nvrtc_ptx(nvrtc_src, "test_ops.cu", "compute_90", &ptx, err, sizeof err) < 0)
        fail_msg("%s", err);
    char list[sizeof entries];
    snprintf(list, sizeof list, "%s", entries);
    char *save;
    for (char *e = strtok_r(list, " ", &save); e; e = strtok_r(NULL, " ", &save)) {
        char want[160];
        snprintf(want, sizeof want, ".entry %s(", e);
        if (!strstr(ptx, want))
            fail_msg("no '%s' in the PTX", want);
    }
    free(ptx);
}

/* Every case's .cu file, one nvcc run. */
static void test_nvcc(void **state)
{
    (void)state;
    if (!have_nvcc || !cu_src)
        skip();
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/all.cu", dir);
    th_write_file(path, cu_src, strlen(cu_src));
    snprintf(cmd, sizeof cmd, "nvcc -arch=sm_90 -Werror all-warnings -Xcompiler -Wall,-Wextra "
                              "-c -o %s/all.o %s", dir, path);
    if (sh(cmd) != 0)
        fail_msg("emitted CUDA does not compile cleanly with nvcc: %s", path);
}

int main(void)
{
    have_cc = th_have("cc --version");
    have_cxx = th_have("c++ --version");
    have_nvcc = th_have("nvcc --version");
    snprintf(dir, sizeof dir, "/tmp/einc-ops-XXXXXX");
    if (!mkdtemp(dir) || !(cpu = cpu_new(2)))
        return 1;
    struct CMUnitTest tests[NCASE + 3];
    char names[NCASE][96];
    for (int i = 0; i < NCASE; i++) {
        snprintf(names[i], sizeof names[i], "ops: %s", cases[i].name);
        tests[i] = (struct CMUnitTest){ names[i], test_case, NULL, NULL, (void *)(intptr_t)i };
    }
    tests[NCASE] = (struct CMUnitTest){ "workspace_abi", test_workspace_abi, NULL, NULL, NULL };
    tests[NCASE + 1] = (struct CMUnitTest){ "nvrtc", test_nvrtc, NULL, NULL, NULL };
    tests[NCASE + 2] = (struct CMUnitTest){ "nvcc", test_nvcc, NULL, NULL, NULL };
    if (getenv("EINC_TEST_FILTER"))    /* some cases while iterating: EINC_TEST_FILTER='ops: pad*' */
        cmocka_set_test_filter(getenv("EINC_TEST_FILTER"));
    int rc = _cmocka_run_group_tests("ops", tests, NCASE + 3, NULL, NULL);
    cpu_free(cpu);
    free(nvrtc_src);
    free(cu_src);
    if (getenv("EINC_TEST_KEEP"))       /* to read the generated files */
        fprintf(stderr, "test_ops: the files are in %s\n", dir);
    else if (th_rm_rf(dir) != 0)
        return 1;
    return rc;
}
