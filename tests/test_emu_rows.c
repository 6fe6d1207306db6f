/*
 * test_emu_rows.c — the CUDA rows and reduce kernels (codegen/cuda_rows.c) on the emulator
 * (EINC_CUDA_EMU=1) against the interpreter, with each block's threads in forward and in
 * reverse order: every geometry class of a row (1, 31, 32, 33, 1023 elements: a warp per
 * row; 1025, 5000: a block per row), no rows at all, NaN and infinities under max and min,
 * softmax, log_softmax and layernorm models, sum, mean, max, min and prod reductions to
 * rows, to a scalar and to a few outputs (two stages), float and integer types.  Float
 * sums and the models are compared within 1e-5 of the largest of the result, 1 and the
 * input's magnitudes summed per output;
 * everything else (max, min, integers, a float prod, which stays in numpy's order) exactly.
 * Without a C++ compiler every test skips and says why.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "helpers.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool have_cxx;
static einc_ctx *ctx[2];         /* EINC_CUDA_EMU_ORDER forward, reverse */

typedef enum rfill { R_NORMAL, R_NEAR_ONE, R_SPECIAL, R_HUGE } rfill;

/* A row-major array of dtype t and the given shape, filled by kind f. */
static void *make(einc_dtype t, int ndim, const int64_t *shape, rfill f, uint64_t seed)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    int64_t row = ndim ? shape[ndim - 1] : 1;
    void *p = malloc((size_t)(n ? n : 1) * th_dtype_size(t));
    assert_non_null(p);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        double v = th_uniform(&s, -3, 3);
        if (f == R_NEAR_ONE)
            v = th_uniform(&s, 0.9, 1.1);
        if (!dtype_is_float(t))
            v = floor(th_uniform(&s, -50, 50));
        if (f == R_SPECIAL && dtype_is_float(t)) {
            int64_t r = i / row, c = i % row;
            if (r % 4 == 0 && c == row / 2)
                v = NAN;
            else if (r % 4 == 1 && c == row - 1)
                v = INFINITY;
            else if (r % 4 == 2)
                v = -INFINITY;
        }
        if (f == R_HUGE)        /* partial products overflow where the whole one does not */
            v = i % 4 < 2 ? 1e20 : 1e-20;
        th_put(t, p, i, v);
    }
    return p;
}

typedef struct rcase {
    const char *what;           /* an expression, or a model when it has a newline */
    einc_reduce reduce;
    einc_dtype dtype;
    rfill fill;
    int ninput;
    int ndim[3];
    int64_t shape[3][3];
} rcase;

/* Runs c on the interpreter and on both emulated GPUs; compares. */
static void run_case(const rcase *c)
{
    void *data[3];
    einc_tensor in[3];
    for (int i = 0; i < c->ninput; i++) {
        data[i] = make(i ? EINC_F32 : c->dtype, c->ndim[i], c->shape[i], c->fill, 0x9e3779b97f4a7c15ULL + (uint64_t)i);
        in[i] = (einc_tensor){ i ? EINC_F32 : c->dtype, c->ndim[i], c->shape[i], NULL, data[i] };
    }
    double want_sum = 0;    /* the magnitudes a float sum adds, for its tolerance */
    int64_t n0 = 1;
    for (int i = 0; i < c->ndim[0]; i++)
        n0 *= c->shape[0][i];
    for (int64_t e = 0; e < n0; e++)
        if (isfinite(th_get(c->dtype, data[0], e)))
            want_sum += fabs(th_get(c->dtype, data[0], e));
    void *res[3] = { 0 };
    einc_dtype ot = EINC_F32;
    int ond = 0;
    int64_t osh[EINC_MAX_RANK], on = 1;
    for (int g = 0; g < 3; g++) {
        einc_error err = { 0 };
        einc_kernel *k = NULL;
        einc_options o = { .reduce = c->reduce, .target = g ? EINC_TARGET_CUDA : EINC_TARGET_INTERP };
        einc_ctx *x = g ? ctx[g - 1] : ctx[0];
        einc_status st = strchr(c->what, '\n') ? einc_compile_model(x, c->what, &o, &k, &err)
                                               : einc_compile(x, c->what, &o, &k, &err);
        if (st)
            fail_msg("%s: compile: %s", c->what, err.message);
        if (einc_kernel_output(k, c->ninput, in, &ot, &ond, osh, &err))
            fail_msg("%s: output: %s", c->what, err.message);
        on = 1;
        for (int i = 0; i < ond; i++)
            on *= osh[i];
        res[g] = malloc((size_t)(on ? on : 1) * th_dtype_size(ot));
        assert_non_null(res[g]);
        memset(res[g], 0xA5, (size_t)(on ? on : 1) * th_dtype_size(ot));
        einc_tensor out = { ot, ond, osh, NULL, res[g] };
        if (einc_kernel_run(k, c->ninput, in, &out, &err))
            fail_msg("%s [%lld x %lld]: run (%s): %s", c->what, (long long)c->shape[0][0],
                     (long long)c->shape[0][c->ndim[0] - 1], g ? "cuda" : "interp", err.message);
        einc_kernel_free(k);
    }
    bool exact = !dtype_is_float(ot) || (c->reduce != EINC_REDUCE_SUM && c->reduce != EINC_REDUCE_MEAN &&
                                          !strchr(c->what, '\n'));
    for (int g = 1; g < 3; g++)
        for (int64_t e = 0; e < on; e++) {
            double a = th_get(ot, res[0], e), b = th_get(ot, res[g], e);
            bool same = a == b || (isnan(a) && isnan(b));
            if (!same && !exact && isfinite(a))
                same = fabs(a - b) <= 1e-5 * fmax(fmax(fabs(a), 1), want_sum / (double)on);
            if (!same)
                fail_msg("%s [%lld x %lld] (%s): element %lld: the interpreter %.9g, the emulated GPU %.9g",
                         c->what, (long long)c->shape[0][0], (long long)c->shape[0][c->ndim[0] - 1],
                         g == 1 ? "threads forward" : "threads reversed", (long long)e, a, b);
        }
    for (int i = 0; i < 3; i++)
        free(res[i]);
    for (int i = 0; i < c->ninput; i++)
        free(data[i]);
}

static const int64_t lens[] = { 1, 31, 32, 33, 1023, 1025, 5000 };
static const int64_t nrows[] = { 0, 9 };

#define SKIP_NO_CXX() do { (void)state; if (!have_cxx) skip(); } while (0)

/* softmax, log_softmax, layernorm: one fused rows kernel each */
static void test_models(void **state)
{
    SKIP_NO_CXX();
    static const char *const models[] = {
        "input x: f32[N, C]\nreturn softmax(x)\n",
        "input x: f32[N, C]\nreturn log_softmax(x)\n",
    };
    for (size_t m = 0; m < 2; m++)
        for (size_t r = 0; r < 2; r++)
            for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
                rcase c = { models[m], EINC_REDUCE_SUM, EINC_F32, R_NORMAL, 1, { 2 }, { { nrows[r], lens[l] } } };
                run_case(&c);
            }
    for (size_t r = 0; r < 2; r++)
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            int64_t n = lens[l];
            rcase c = { "input x: f32[N, C]\nparam w: f32[C]\nparam b: f32[C]\nreturn layernorm(x, w, b)\n",
                        EINC_REDUCE_SUM, EINC_F32, R_NORMAL, 3, { 2, 1, 1 },
                        { { nrows[r], n }, { n }, { n } } };
            run_case(&c);
        }
}

/* ij->i: a reduction per row, every combiner */
static void test_row_reductions(void **state)
{
    SKIP_NO_CXX();
    static const einc_reduce red[] = { EINC_REDUCE_SUM, EINC_REDUCE_MEAN, EINC_REDUCE_MAX, EINC_REDUCE_MIN };
    for (size_t k = 0; k < 4; k++)
        for (size_t r = 0; r < 2; r++)
            for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
                rcase c = { "ij->i", red[k], EINC_F32, k >= 2 ? R_SPECIAL : R_NORMAL, 1, { 2 },
                            { { nrows[r] + 4, lens[l] } } };
                run_case(&c);
            }
    /* a float prod, in numpy's order on one thread */
    rcase p = { "ij->i", EINC_REDUCE_PROD, EINC_F32, R_NEAR_ONE, 1, { 2 }, { { 5, 1025 } } };
    run_case(&p);
}

/* ij-> and ijk->k: one output or a few, in two stages when the reduction is long */
static void test_reduce(void **state)
{
    SKIP_NO_CXX();
    static const einc_reduce red[] = { EINC_REDUCE_SUM, EINC_REDUCE_MEAN, EINC_REDUCE_MAX, EINC_REDUCE_MIN };
    for (size_t k = 0; k < 4; k++) {
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            rcase c = { "ij->", red[k], EINC_F32, k >= 2 ? R_SPECIAL : R_NORMAL, 1, { 2 }, { { 7, lens[l] } } };
            run_case(&c);
        }
        rcase few = { "ijk->k", red[k], EINC_F32, R_NORMAL, 1, { 3 }, { { 64, 200, 3 } } };
        run_case(&few);
        rcase none = { "ij->", red[k], EINC_F32, R_NORMAL, 1, { 2 }, { { 0, 33 } } };
        if (k < 2)      /* an empty max or min is an error (no identity), as in numpy */
            run_case(&none);
    }
    rcase f64 = { "ij->", EINC_REDUCE_SUM, EINC_F64, R_NORMAL, 1, { 2 }, { { 9, 5000 } } };
    run_case(&f64);
    /* a float prod whose partial products would overflow: numpy's order, on one thread */
    rcase huge = { "ij->", EINC_REDUCE_PROD, EINC_F32, R_HUGE, 1, { 2 }, { { 4, 4096 } } };
    run_case(&huge);
    rcase one = { "ij->", EINC_REDUCE_PROD, EINC_F32, R_NEAR_ONE, 1, { 2 }, { { 3, 1000 } } };
    run_case(&one);
}

/* integers: sums wrap, max and min, prod (integers fold in any order) */
static void test_ints(void **state)
{
    SKIP_NO_CXX();
    static const einc_dtype ty[] = { EINC_I32, EINC_I64 };
    static const einc_reduce red[] = { EINC_REDUCE_SUM, EINC_REDUCE_MAX, EINC_REDUCE_MIN, EINC_REDUCE_PROD };
    for (size_t t = 0; t < 2; t++)
        for (size_t k = 0; k < 4; k++) {
            rcase rows = { "ij->i", red[k], ty[t], R_NORMAL, 1, { 2 }, { { 5, 1025 } } };
            run_case(&rows);
            rcase warp = { "ij->i", red[k], ty[t], R_NORMAL, 1, { 2 }, { { 5, 33 } } };
            run_case(&warp);
            rcase all = { "ij->", red[k], ty[t], R_NORMAL, 1, { 2 }, { { 8, 5000 } } };
            run_case(&all);
        }
}

/* The emitted CUDA: a softmax and a layernorm are one kernel each, folding with shuffles. */
static void test_one_kernel(void **state)
{
    (void)state;
    static const char *const models[] = {
        "input x: f32[N, C]\nreturn softmax(x)\n",
        "input x: f32[N, C]\nparam w: f32[C]\nparam b: f32[C]\nreturn layernorm(x, w, b)\n",
    };
    int64_t sh[2] = { 8, 1000 }, sw[1] = { 1000 };
    for (int m = 0; m < 2; m++) {
        einc_error err = { 0 };
        einc_kernel *k = NULL;
        einc_size sz[2] = { { "N", 8 }, { "C", 1000 } };
        einc_options o = { .nsizes = 2, .sizes = sz };
        assert_int_equal(einc_compile_model(ctx[0], models[m], &o, &k, &err), EINC_OK);
        (void)sh;
        (void)sw;
        char *s = einc_kernel_emit(k, EINC_EMIT_CUDA, "f", EINC_F32, NULL, &err);
        if (!s)
            fail_msg("%s", err.message);
        int kernels = 0;
        for (const char *p = s; (p = strstr(p, "__global__")); p++)
            kernels++;
        assert_int_equal(kernels, 1);
        assert_non_null(strstr(s, "__shfl_xor_sync"));
        assert_non_null(strstr(s, "einc_cuda_geometry(1, "));
        free(s);
        einc_kernel_free(k);
    }
}

int main(void)
{
    setenv("EINC_CUDA_EMU", "1", 1);
    setenv("EINC_CACHE", "0", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu_rows: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
    for (int g = 0; g < 2; g++) {
        setenv("EINC_CUDA_EMU_ORDER", g ? "reverse" : "forward", 1);
        ctx[g] = einc_ctx_new();
        assert_non_null(ctx[g]);
        /* the emulator reads the order when CUDA first opens: open it now */
        einc_kernel *k = NULL;
        einc_error err = { 0 };
        einc_options o = { .target = EINC_TARGET_CUDA };
        if (have_cxx && einc_compile(ctx[g], "i->", &o, &k, &err) == EINC_OK) {
            float v = 1, r = 0;
            int64_t n = 1;
            einc_tensor in = { EINC_F32, 1, &n, NULL, &v }, out = { EINC_F32, 0, NULL, NULL, &r };
            einc_kernel_run(k, 1, &in, &out, &err);
            einc_kernel_free(k);
        }
    }
    unsetenv("EINC_CUDA_EMU_ORDER");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_kernel),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_row_reductions),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_ints),
    };
    int rc = cmocka_run_group_tests_name("emu rows", tests, NULL, NULL);
    einc_ctx_free(ctx[0]);
    einc_ctx_free(ctx[1]);
    return rc;
}
