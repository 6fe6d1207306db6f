/*
 * test_dtype_backends.c — the CPU JIT against the interpreter for the dtypes it computes
 * beyond the five classic ones (README, "Dtypes"): int8, int16, uint8, uint16, uint32 in
 * int64, float16 and bfloat16 in float32.  bfloat16 has no .npy code, so this goes through
 * the C API; tests/test_dtypes.py covers the rest against numpy through the CLI.
 *
 * Integers must agree bit for bit (the data overflows the narrow types on purpose).  The
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

static einc_ctx *ctx;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(einc_dtype t, void *data, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next();
        double f = (double)(r % 4001) / 1000.0 - 2.0;   /* [-2, 2] */
        switch (t) {
        case EINC_F16: ((uint16_t *)data)[i] = f16_from_double(f); break;
        case EINC_BF16: ((uint16_t *)data)[i] = bf16_from_double(f); break;
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
    static const einc_dtype types[] = { EINC_I8, EINC_I16, EINC_U8, EINC_U16, EINC_U32, EINC_F16, EINC_BF16 };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        einc_dtype t = types[ti];
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const run_case *rc = &cases[ci];
            einc_tensor in[2];
            void *buf[2] = { 0 };
            for (int i = 0; i < rc->nin; i++) {
                int64_t n = rc->shape[i][0] * rc->shape[i][1];
                buf[i] = malloc((size_t)n * dtype_size(t));
                fill(t, buf[i], n);
                in[i] = (einc_tensor){ t, rc->ndim[i], rc->shape[i], NULL, buf[i] };
            }
            int64_t sj[8], si[8];
            einc_tensor oj = { 0 }, oi = { 0 };
            void *dj = NULL, *di = NULL;
            einc_error e;
            if (run(EINC_TARGET_INTERP, rc, in, &oi, si, &di, &e) < 0)
                fail_msg("%s %s (interp): %s", einc_dtype_name(t), rc->expr, e.message);
            if (oi.dtype == EINC_U64) {     /* an unsigned sum or prod: the interpreter's */
                assert_int_equal(run(EINC_TARGET_CPU, rc, in, &oj, sj, &dj, &e), -1);
                assert_int_equal(e.status, EINC_ERR_UNSUPPORTED);
                free(dj);
                dj = NULL;
            } else if (run(EINC_TARGET_CPU, rc, in, &oj, sj, &dj, &e) < 0) {
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

/* complex and uint64 are the interpreter's: the JIT refuses them by name */
static void test_refusals(void **state)
{
    (void)state;
    static const einc_dtype types[] = { EINC_C64, EINC_C128, EINC_U64 };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char buf[64] = { 0 };
        int64_t shape[1] = { 2 }, os[1] = { 2 };
        einc_tensor in = { types[i], 1, shape, NULL, buf };
        einc_tensor o = { types[i], 1, os, NULL, buf + 32 };
        einc_kernel *k = NULL;
        einc_error e;
        einc_options opt = { .target = EINC_TARGET_CPU };
        assert_int_equal(einc_compile(ctx, "i->i", &opt, &k, &e), EINC_OK);
        assert_int_equal(einc_kernel_run(k, 1, &in, &o, &e), EINC_ERR_UNSUPPORTED);
        assert_string_equal(e.message, "the CPU JIT does not compute this dtype yet (complex and "
                                       "uint64 run in the interpreter): use --target=interp or auto");
        einc_kernel_free(k);
    }
}

/* A max of negative narrow integers starts from int64's minimum, which must not be wrapped
   (to 0, which then won every row) */
static void test_max_of_negatives(void **state)
{
    (void)state;
    static const einc_dtype types[] = { EINC_I8, EINC_I16 };
    for (size_t i = 0; i < 2; i++) {
        static const int v[6] = { -5, -3, -7, -100, -128, -1 };
        char buf[12], out[4] = { 0 };
        for (int e = 0; e < 6; e++)
            if (types[i] == EINC_I8)
                ((int8_t *)buf)[e] = (int8_t)v[e];
            else
                ((int16_t *)buf)[e] = (int16_t)v[e];
        int64_t shape[2] = { 2, 3 }, os[1] = { 2 };
        einc_tensor in = { types[i], 2, shape, NULL, buf }, o = { types[i], 1, os, NULL, out };
        einc_kernel *k = NULL;
        einc_error e;
        einc_options opt = { .target = EINC_TARGET_CPU, .reduce = EINC_REDUCE_MAX };
        assert_int_equal(einc_compile(ctx, "i j -> i", &opt, &k, &e), EINC_OK);
        assert_int_equal(einc_kernel_run(k, 1, &in, &o, &e), EINC_OK);
        if (types[i] == EINC_I8) {
            assert_int_equal(((int8_t *)out)[0], -3);
            assert_int_equal(((int8_t *)out)[1], -1);
        } else {
            assert_int_equal(((int16_t *)out)[0], -3);
            assert_int_equal(((int16_t *)out)[1], -1);
        }
        einc_kernel_free(k);
    }
}

int main(void)
{
    ctx = einc_ctx_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jit_vs_interp),
        cmocka_unit_test(test_bf16_rounds_once),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_max_of_negatives),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    einc_ctx_free(ctx);
    return r;
}
