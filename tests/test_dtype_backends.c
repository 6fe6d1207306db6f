/*
 * test_dtype_backends.c — the CPU JIT against the interpreter for the dtypes it computes
 * beyond the five classic ones (README, "Dtypes"): int8, int16, uint8, uint16, uint32 in
 * int64, uint64 (unsigned compares, division and conversions), float16 and bfloat16 in
 * float32, complex64 and complex128 as pairs (codegen/llvm_cplx.c).  bfloat16 has no .npy code, so this goes through
 * the C API; tests/test_dtypes.py covers the rest against numpy through the CLI.
 *
 * Integers, and complex data with small integer parts, must agree bit for bit (the data overflows the narrow types on purpose).  The
 * 16-bit floats round once on store, from float32 in the JIT and from double in the
 * interpreter, so they may differ by one unit in the last place, never more.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "einc.h"
#include "ir.h"
#include "cc.h"
#include "loop.h"
#include "codegen.h"
#include "helpers.h"
#include "jit.h"

static einc_ctx *ctx;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill_data(einc_dtype t, void *data, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next();
        double f = (double)(r % 4001) / 1000.0 - 2.0;   /* [-2, 2] */
        switch (t) {
        case EINC_F16: ((uint16_t *)data)[i] = f16_from_double(f); break;
        case EINC_BF16: ((uint16_t *)data)[i] = bf16_from_double(f); break;
        case EINC_C64:      /* small integer parts: every backend's answer is exact */
            ((float *)data)[2 * i] = (float)((int)(r % 7) - 3);
            ((float *)data)[2 * i + 1] = (float)((int)(r >> 8 & 7) - 4);
            break;
        case EINC_C128:
            ((double *)data)[2 * i] = (double)((int)(r % 7) - 3);
            ((double *)data)[2 * i + 1] = (double)((int)(r >> 8 & 7) - 4);
            break;
        default: memcpy((char *)data + i * (int64_t)dtype_size(t), &r, dtype_size(t)); break;
        }
    }
}

/* value i of a 16-bit float array as a double, and its unit in the last place */
static double half_at(einc_dtype t, const void *d, int64_t i, double *ulp)
{
    uint16_t h = ((const uint16_t *)d)[i];
    double v = t == EINC_F16 ? f16_to_double(h) : bf16_to_double(h);
    uint16_t up = (uint16_t)((h & 0x7fff) + 1);
    double w = t == EINC_F16 ? f16_to_double(up) : bf16_to_double(up);
    *ulp = fabs(w - fabs(v));
    return v;
}

typedef struct run_case {
    const char *expr;
    einc_reduce reduce;
    int nin;
    int ndim[2];
    int64_t shape[2][2];
} run_case;

static const run_case cases[] = {
    { "ik,kj->ij", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 13, 37 }, { 37, 19 } } },
    { "ij->ji", EINC_REDUCE_SUM, 1, { 2 }, { { 67, 45 } } },
    { "ii->i", EINC_REDUCE_SUM, 1, { 2 }, { { 33, 33 } } },
    { "ij->", EINC_REDUCE_SUM, 1, { 2 }, { { 300, 301 } } },  /* split in two steps */
    { "i j -> j", EINC_REDUCE_SUM, 1, { 2 }, { { 50, 70 } } },
    { "i j -> j", EINC_REDUCE_MAX, 1, { 2 }, { { 50, 70 } } },
    { "i j -> i", EINC_REDUCE_MIN, 1, { 2 }, { { 50, 70 } } },
    { "i j -> i", EINC_REDUCE_PROD, 1, { 2 }, { { 5, 7 } } },
    { "i j -> i", EINC_REDUCE_MEAN, 1, { 2 }, { { 9, 700 } } },
    { "ij,ij->i", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 40, 90 }, { 40, 90 } } },
};

static int run(einc_target target, const run_case *rc, const einc_tensor *in, einc_tensor *out,
               int64_t *shape, void **data, einc_error *err)
{
    einc_options o = { .reduce = rc->reduce, .target = target };
    einc_kernel *k = NULL;
    if (einc_compile(ctx, rc->expr, &o, &k, err) != EINC_OK)
        return -1;
    int st = einc_kernel_output(k, rc->nin, in, &out->dtype, &out->ndim, shape, err);
    out->shape = shape;
    if (st == EINC_OK) {
        int64_t n = 1;
        for (int d = 0; d < out->ndim; d++)
            n *= out->shape[d];
        *data = calloc((size_t)(n ? n : 1), dtype_size(out->dtype));
        out->data = *data;
        st = einc_kernel_run(k, rc->nin, in, out, err);
    }
    einc_kernel_free(k);
    return st == EINC_OK ? 0 : -1;
}

static void test_jit_vs_interp(void **state)
{
    (void)state;
    static const einc_dtype types[] = { EINC_I8,  EINC_I16,  EINC_U8,  EINC_U16, EINC_U32,
                                        EINC_U64, EINC_F16, EINC_BF16, EINC_C64, EINC_C128 };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        einc_dtype t = types[ti];
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const run_case *rc = &cases[ci];
            einc_tensor in[2];
            void *buf[2] = { 0 };
            for (int i = 0; i < rc->nin; i++) {
                int64_t n = rc->shape[i][0] * rc->shape[i][1];
                buf[i] = malloc((size_t)n * dtype_size(t));
                fill_data(t, buf[i], n);
                in[i] = (einc_tensor){ t, rc->ndim[i], rc->shape[i], NULL, buf[i] };
            }
            int64_t sj[8], si[8];
            einc_tensor oj = { 0 }, oi = { 0 };
            void *dj = NULL, *di = NULL;
            einc_error e;
            if (dtype_is_complex(t) && (rc->reduce == EINC_REDUCE_MAX || rc->reduce == EINC_REDUCE_MIN)) {
                /* no order on complex: refused before any backend runs */
                for (int target = 0; target < 2; target++) {
                    assert_int_equal(run(target ? EINC_TARGET_CPU : EINC_TARGET_INTERP, rc, in, &oi, si, &di, &e), -1);
                    assert_int_equal(e.status, EINC_ERR_DTYPE);
                    assert_non_null(strstr(e.message, "complex numbers have no order"));
                }
                free(buf[0]);
                free(buf[1]);
                continue;
            }
            if (run(EINC_TARGET_INTERP, rc, in, &oi, si, &di, &e) < 0)
                fail_msg("%s %s (interp): %s", einc_dtype_name(t), rc->expr, e.message);
            if (run(EINC_TARGET_CPU, rc, in, &oj, sj, &dj, &e) < 0) {
                fail_msg("%s %s (cpu): %s", einc_dtype_name(t), rc->expr, e.message);
            }
            int64_t n = dj ? 1 : 0;
            if (dj)
                assert_int_equal(oj.dtype, oi.dtype);
            for (int d = 0; dj && d < oi.ndim; d++)
                n *= oi.shape[d];
            for (int64_t i = 0; i < n; i++) {
                if (dtype_is_half(oi.dtype)) {
                    double u1, u2, a = half_at(oi.dtype, dj, i, &u1), b = half_at(oi.dtype, di, i, &u2);
                    if (!(a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= fmax(u1, u2)))
                        fail_msg("%s %s --reduce=%s: element %lld: JIT %.9g, interpreter %.9g",
                                 einc_dtype_name(t), rc->expr, einc_reduce_name(rc->reduce), (long long)i, a, b);
                } else if (oi.dtype == EINC_F64 && t == EINC_U64) {
                    /* a mean of 700 values near 2^64 is not exact in float64: the JIT sums
                       pairwise, the interpreter with compensation; a few ulp apart */
                    double a = ((double *)dj)[i], b = ((double *)di)[i];
                    if (!(fabs(a - b) <= 1e-14 * fabs(b)))
                        fail_msg("uint64 %s --reduce=%s: element %lld: JIT %.17g, interpreter %.17g",
                                 rc->expr, einc_reduce_name(rc->reduce), (long long)i, a, b);
                } else if (memcmp((char *)dj + i * (int64_t)dtype_size(oi.dtype),
                                  (char *)di + i * (int64_t)dtype_size(oi.dtype), dtype_size(oi.dtype))) {
                    fail_msg("%s %s --reduce=%s: element %lld differs (%s)", einc_dtype_name(t), rc->expr,
                             einc_reduce_name(rc->reduce), (long long)i, einc_dtype_name(oi.dtype));
                }
            }
            free(dj);
            free(di);
            free(buf[0]);
            free(buf[1]);
        }
    }
}

/* a bfloat16 sum that float32 holds exactly and bfloat16 does not: rounded once, to even */
static void test_bf16_rounds_once(void **state)
{
    (void)state;
    /* 256 + 1 + 0.5 + ... : bfloat16 keeps 8 significant bits; each partial rounding
       would lose the small terms, one rounding of the float32 sum keeps their total */
    uint16_t x[9], out = 0;
    double want = 256;
    x[0] = bf16_from_double(256);
    for (int i = 1; i < 9; i++) {
        x[i] = bf16_from_double(1);
        want += 1;
    }
    int64_t shape[1] = { 9 }, oshape[1];
    einc_tensor in = { EINC_BF16, 1, shape, NULL, x }, o = { EINC_BF16, 0, oshape, NULL, &out };
    einc_kernel *k = NULL;
    einc_error e;
    einc_options opt = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, "i->", &opt, &k, &e), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 1, &in, &o, &e), EINC_OK);
    einc_kernel_free(k);
    assert_true(bf16_to_double(out) == bf16_to_double(bf16_from_double(want)));
    assert_true(bf16_to_double(out) == 264);    /* 256 + 8; bfloat16 adding 1 to 256 stays 256 */
}

/* value v (a small integer) stored as dtype t at element i */
static void put(einc_dtype t, void *d, int64_t i, int v, int im)
{
    switch (t) {
    case EINC_BOOL: ((uint8_t *)d)[i] = (uint8_t)(v & 1); break;
    case EINC_I32: ((int32_t *)d)[i] = v; break;
    case EINC_U64: ((uint64_t *)d)[i] = (uint64_t)(v + 4); break;
    case EINC_F32: ((float *)d)[i] = (float)v; break;
    case EINC_F64: ((double *)d)[i] = v; break;
    case EINC_C64: ((float *)d)[2 * i] = (float)v; ((float *)d)[2 * i + 1] = (float)im; break;
    case EINC_C128: ((double *)d)[2 * i] = v; ((double *)d)[2 * i + 1] = im; break;
    default: fail_msg("put: dtype %s", einc_dtype_name(t));
    }
}

typedef struct cx_case {
    const char *expr;
    einc_reduce reduce;
    int nin;
    einc_dtype dt[3];
    int ndim[3];
    int64_t shape[3][3];
    einc_dtype want;            /* numpy's result type */
} cx_case;

/*
 * Complex on the JIT against the interpreter, bit for bit (small integer parts), in every
 * expression class: contraction, batched and broadcast ones, diagonal, trace, transpose,
 * outer product, numpy and einops sums, mean, prod, and real or integer operands promoted
 * to complex as numpy's result_type says.
 */
static void test_complex_classes(void **state)
{
    (void)state;
    static const cx_case cases[] = {
        { "ij,j->ij", EINC_REDUCE_SUM, 2, { EINC_C64, EINC_C64 }, { 2, 1 }, { { 4, 5 }, { 5 } }, EINC_C64 },
        { "...ij,...jk->...ik", EINC_REDUCE_SUM, 2, { EINC_C128, EINC_C128 }, { 3, 3 }, { { 2, 3, 4 }, { 2, 4, 5 } }, EINC_C128 },
        { "ik,kj->ij", EINC_REDUCE_SUM, 2, { EINC_C64, EINC_C64 }, { 2, 2 }, { { 33, 70 }, { 70, 65 } }, EINC_C64 },
        { "i,i->", EINC_REDUCE_SUM, 2, { EINC_C64, EINC_F32 }, { 1, 1 }, { { 77 }, { 77 } }, EINC_C64 },
        { "ij,jk->ik", EINC_REDUCE_SUM, 2, { EINC_I32, EINC_C64 }, { 2, 2 }, { { 5, 6 }, { 6, 7 } }, EINC_C128 },
        { "ij,jk->ik", EINC_REDUCE_SUM, 2, { EINC_C64, EINC_F64 }, { 2, 2 }, { { 5, 6 }, { 6, 7 } }, EINC_C128 },
        { "i,i->i", EINC_REDUCE_SUM, 2, { EINC_BOOL, EINC_C64 }, { 1, 1 }, { { 9 }, { 9 } }, EINC_C64 },
        { "i,i->i", EINC_REDUCE_SUM, 2, { EINC_U64, EINC_C128 }, { 1, 1 }, { { 9 }, { 9 } }, EINC_C128 },
        { "ii->i", EINC_REDUCE_SUM, 1, { EINC_C128 }, { 2 }, { { 6, 6 } }, EINC_C128 },
        { "ii", EINC_REDUCE_SUM, 1, { EINC_C64 }, { 2 }, { { 6, 6 } }, EINC_C64 },
        { "ijk->kji", EINC_REDUCE_SUM, 1, { EINC_C64 }, { 3 }, { { 3, 40, 50 } }, EINC_C64 },
        { "a b c -> c a b", EINC_REDUCE_SUM, 1, { EINC_C128 }, { 3 }, { { 3, 40, 50 } }, EINC_C128 },
        { "i,j->ij", EINC_REDUCE_SUM, 2, { EINC_C128, EINC_C64 }, { 1, 1 }, { { 7 }, { 8 } }, EINC_C128 },
        { "ij->", EINC_REDUCE_SUM, 1, { EINC_C64 }, { 2 }, { { 300, 301 } }, EINC_C64 },
        { "b i j -> b j", EINC_REDUCE_SUM, 1, { EINC_C64 }, { 3 }, { { 2, 30, 9 } }, EINC_C64 },
        { "b i j -> b j", EINC_REDUCE_MEAN, 1, { EINC_C64 }, { 3 }, { { 2, 40, 9 } }, EINC_C64 },
        { "b i j -> j", EINC_REDUCE_MEAN, 1, { EINC_C128 }, { 3 }, { { 2, 50, 9 } }, EINC_C128 },
        { "b i j -> b i", EINC_REDUCE_PROD, 1, { EINC_C128 }, { 3 }, { { 2, 3, 6 } }, EINC_C128 },
        { "i j -> j", EINC_REDUCE_PROD, 1, { EINC_C64 }, { 2 }, { { 5, 4 } }, EINC_C64 },
        { "b i j -> b", EINC_REDUCE_SUM, 1, { EINC_C128 }, { 3 }, { { 2, 30, 40 } }, EINC_C128 },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const cx_case *c = &cases[ci];
        einc_tensor in[3];
        void *buf[3] = { 0 };
        for (int i = 0; i < c->nin; i++) {
            int64_t n = 1;
            for (int d = 0; d < c->ndim[i]; d++)
                n *= c->shape[i][d];
            buf[i] = malloc((size_t)n * dtype_size(c->dt[i]));
            for (int64_t e = 0; e < n; e++) {
                uint64_t r = next();
                put(c->dt[i], buf[i], e, (int)(r % 5) - 2, (int)(r >> 8 & 3) - 2);
            }
            in[i] = (einc_tensor){ c->dt[i], c->ndim[i], c->shape[i], NULL, buf[i] };
        }
        run_case rc = { c->expr, c->reduce, c->nin, { 0 }, { { 0 } } };
        int64_t sj[8], si[8];
        einc_tensor oj = { 0 }, oi = { 0 };
        void *dj = NULL, *di = NULL;
        einc_error e;
        if (run(EINC_TARGET_INTERP, &rc, in, &oi, si, &di, &e) < 0)
            fail_msg("%s (interp): %s", c->expr, e.message);
        if (run(EINC_TARGET_CPU, &rc, in, &oj, sj, &dj, &e) < 0)
            fail_msg("%s (cpu): %s", c->expr, e.message);
        assert_int_equal(oi.dtype, c->want);
        assert_int_equal(oj.dtype, c->want);
        int64_t n = 1;
        for (int d = 0; d < oi.ndim; d++)
            n *= oi.shape[d];
        size_t es = dtype_size(c->want);
        for (int64_t i = 0; i < n; i++)
            if (memcmp((char *)dj + i * (int64_t)es, (char *)di + i * (int64_t)es, es))
                fail_msg("%s --reduce=%s: element %lld differs", c->expr, einc_reduce_name(c->reduce), (long long)i);
        free(dj);
        free(di);
        for (int i = 0; i < c->nin; i++)
            free(buf[i]);
    }
}

/* numpy's complex multiply and Smith's division, not a conjugating dot: (1+2i)(3+4i) = -5+10i */
static void test_complex_values(void **state)
{
    (void)state;
    float a[4] = { 1, 2, 0, 1 }, b[4] = { 3, 4, 0, 1 }, out[2] = { 0 };
    int64_t shape[1] = { 2 }, os[1];
    einc_tensor in[2] = { { EINC_C64, 1, shape, NULL, a }, { EINC_C64, 1, shape, NULL, b } };
    einc_tensor o = { EINC_C64, 0, os, NULL, out };
    einc_kernel *k = NULL;
    einc_error e;
    einc_options opt = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, "i,i->", &opt, &k, &e), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 2, in, &o, &e), EINC_OK);
    einc_kernel_free(k);
    assert_true(out[0] == -5 - 1 && out[1] == 10);     /* (1+2i)(3+4i) + i·i */
}

/*
 * The code generators refuse by name what the front ends never give them on complex (an
 * order, a float function): a program built by hand, never compiled into wrong code.
 */
static void test_complex_codegen_refusals(void **state)
{
    (void)state;
    static const struct { bool unary; ir_op op; ir_comb comb; const char *llvm, *c; } cases[] = {
        { true, IR_EXP, IR_COMB_ASSIGN,
          "exp of complex64: the CPU JIT computes +, -, *, / and sums and products of complex numbers only",
          "exp of complex64: emitted C computes +, -, *, / and sums and products of complex numbers only" },
        { false, IR_MAX, IR_COMB_ASSIGN,
          "max of complex64: the CPU JIT computes +, -, *, / and sums and products of complex numbers only",
          "max of complex64: complex numbers have no order" },
        { false, IR_OP_COUNT, IR_COMB_MIN,
          "min of complex64: the CPU JIT computes +, -, *, / and sums and products of complex numbers only",
          "min of complex64: complex numbers have no order" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int emit_c = 0; emit_c < 2; emit_c++) {
            arena A = { 0 };
            einc_error err = { 0 };
            cc c = { .A = &A, .src = "", .err = &err };
            pb b;
            pb_init(&b, &A, true);
            int ax = pb_axis(&b, "i", 4);
            int x = pb_tensor(&b, "x", IR_INPUT, EINC_C64, F_INT, 1, ax);
            int out = cases[i].comb == IR_COMB_ASSIGN ? pb_tensor(&b, "out", IR_OUTPUT, EINC_C64, F_INT, 1, ax)
                                                      : pb_tensor(&b, "out", IR_OUTPUT, EINC_C64, F_INT, 0);
            ir_expr *rhs = pb_rd(&b, pb_at(&b, x, ax));
            if (cases[i].unary)
                rhs = pb_op1(&b, cases[i].op, rhs);
            else if (cases[i].op != IR_OP_COUNT)
                rhs = pb_op2(&b, cases[i].op, rhs, pb_cst(&b, 0));
            pb_stmt(&b, cases[i].comb == IR_COMB_ASSIGN ? pb_at(&b, out, ax) : pb_at(&b, out), cases[i].comb, rhs);
            lp_prog *lp = lower(&c, b.p, LP_CPU, NULL);
            assert_non_null(lp);
            size_t len = 0;
            cg_opts o = { "k", "", false };
            char *s = emit_c ? cg_c(&c, lp, &o) : jit_emit(&c, lp, "k", NULL, EINC_EMIT_LLVM, &len);
            assert_null(s);
            assert_int_equal(err.status, EINC_ERR_DTYPE);
            assert_string_equal(err.message, emit_c ? cases[i].c : cases[i].llvm);
            arena_free(&A);
        }
    }
}

int main(void)
{
    ctx = einc_ctx_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jit_vs_interp),
        cmocka_unit_test(test_bf16_rounds_once),
        cmocka_unit_test(test_complex_classes),
        cmocka_unit_test(test_complex_values),
        cmocka_unit_test(test_complex_codegen_refusals),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    einc_ctx_free(ctx);
    return r;
}
