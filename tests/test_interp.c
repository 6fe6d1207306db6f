/*
 * test_interp.c — differential tests: the interpreter and then the CPU JIT (through the
 * public API) against direct loops written here, on random data with odd sizes, 0 and 1
 * included.
 *
 * Outputs are poisoned before each run, so a kernel that skips an element cannot pass by
 * luck; floating-point results are compared within a tolerance scaled by the reduction
 * length, integers exactly.
 */
#include "einc.h"
#include "helpers.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static einc_target target = EINC_TARGET_INTERP;     /* the backend under test */

static uint64_t next(void) { return th_next(&rng); }

static double frand(void) { return th_uniform(&rng, -1, 1); }
static int irand(int lo, int hi) { return lo + (int)(next() % (uint64_t)(hi - lo + 1)); }

typedef struct arr {
    einc_dtype dtype;
    int ndim;
    int64_t shape[8];
    int64_t n;
    void *data;
} arr;

static arr mk(einc_dtype t, int ndim, ...)
{
    arr a = { .dtype = t, .ndim = ndim, .n = 1 };
    va_list ap;
    va_start(ap, ndim);
    for (int d = 0; d < ndim; d++) {
        a.shape[d] = va_arg(ap, int);
        a.n *= a.shape[d];
    }
    va_end(ap);
    a.data = calloc((size_t)(a.n ? a.n : 1), th_dtype_size(t));
    for (int64_t i = 0; i < a.n; i++)
        switch (t) {
        case EINC_F32: ((float *)a.data)[i] = (float)frand(); break;
        case EINC_F64: ((double *)a.data)[i] = frand(); break;
        case EINC_I32: ((int32_t *)a.data)[i] = irand(-50, 50); break;
        case EINC_I64: ((int64_t *)a.data)[i] = irand(-50, 50); break;
        case EINC_BOOL: ((uint8_t *)a.data)[i] = (uint8_t)irand(0, 1); break;
        default: break;
        }
    return a;
}

static double get(const arr *a, int64_t i) { return th_get(a->dtype, a->data, i); }

static einc_tensor view(const arr *a) { return (einc_tensor){ a->dtype, a->ndim, a->shape, NULL, a->data }; }

/*
 * Runs expr on the inputs; checks the output's dtype and shape against want_dtype and
 * want_shape (ndim entries), returns the result.
 */
static arr run_as(einc_dialect dialect, const char *expr, const char *sizes, einc_reduce red,
                  int n, const arr *in, einc_dtype want_dtype, int want_ndim,
                  const int64_t *want_shape)
{
    einc_size sz[8];
    char names[8][16];
    int nsz = 0;
    if (sizes) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", sizes);
        for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            snprintf(names[nsz], sizeof names[nsz], "%.*s", (int)(eq - tok), tok);
            sz[nsz] = (einc_size){ names[nsz], atoll(eq + 1) };
            nsz++;
        }
    }
    einc_options o = { .reduce = red, .target = target, .nsizes = nsz, .sizes = sz,
                       .dialect = dialect };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, expr, &o, &k, &err))
        fail_msg("%s: %s", expr, err.message);
    einc_tensor t[8];
    for (int i = 0; i < n; i++)
        t[i] = view(&in[i]);
    arr out = { 0 };
    if (einc_kernel_output(k, n, t, &out.dtype, &out.ndim, out.shape, &err))
        fail_msg("%s: %s", expr, err.message);
    assert_int_equal(out.dtype, want_dtype);
    assert_int_equal(out.ndim, want_ndim);
    out.n = 1;
    for (int d = 0; d < out.ndim; d++) {
        assert_int_equal(out.shape[d], want_shape[d]);
        out.n *= out.shape[d];
    }
    out.data = malloc((size_t)(out.n ? out.n : 1) * th_dtype_size(out.dtype));
    memset(out.data, 0xA5, (size_t)(out.n ? out.n : 1) * th_dtype_size(out.dtype));   /* poison */
    einc_tensor ot = view(&out);
    if (einc_kernel_run(k, n, t, &ot, &err))
        fail_msg("%s: %s", expr, err.message);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return out;
}

static arr run(const char *expr, const char *sizes, einc_reduce red, int n, const arr *in,
               einc_dtype want_dtype, int want_ndim, const int64_t *want_shape)
{
    return run_as(EINC_DIALECT_AUTO, expr, sizes, red, n, in, want_dtype, want_ndim, want_shape);
}

/*
 * expr must fail, when compiled or else when bound to the inputs, with exactly this
 * message.
 */
static void expect_error(einc_dialect dialect, const char *expr, const char *sizes,
                         einc_reduce red, int n, const arr *in, const char *want)
{
    einc_size sz[1];
    char name[16] = "";
    int nsz = 0;
    if (sizes) {
        const char *eq = strchr(sizes, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - sizes), sizes);
        sz[nsz++] = (einc_size){ name, atoll(eq + 1) };
    }
    einc_options o = { .reduce = red, .target = target, .nsizes = nsz, .sizes = sz,
                       .dialect = dialect };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile(ctx, expr, &o, &k, &err) == EINC_OK) {
        einc_tensor t[8];
        for (int i = 0; i < n; i++)
            t[i] = view(&in[i]);
        einc_dtype dt;
        int nd;
        int64_t shape[EINC_MAX_RANK];
        if (einc_kernel_output(k, n, t, &dt, &nd, shape, &err) == EINC_OK)
            fail_msg("%s: accepted; want the error \"%s\"", expr, want);
    }
    assert_string_equal(err.message, want);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

static void check(const arr *got, const double *want, double tol)
{
    for (int64_t i = 0; i < got->n; i++) {
        double g = get(got, i), w = want[i];
        if (isnan(w) && isnan(g))
            continue;
        if (!(fabs(g - w) <= tol * (1 + fabs(w))))
            fail_msg("element %lld: got %.9g, want %.9g", (long long)i, g, w);
    }
}

static void drop(arr *a, int n)
{
    for (int i = 0; i < n; i++)
        free(a[i].data);
}

/* ---- contractions ------------------------------------------------------------------- */

static void test_matmul_random_sizes(void **s)
{
    (void)s;
    for (int rep = 0; rep < 40; rep++) {
        int I = irand(0, 9), K = irand(0, 9), J = irand(0, 9);
        einc_dtype t = rep % 2 ? EINC_F64 : EINC_F32;
        arr in[2] = { mk(t, 2, I, K), mk(t, 2, K, J) };
        int64_t shp[2] = { I, J };
        arr out = run("ik,kj->ij", NULL, EINC_REDUCE_SUM, 2, in, t, 2, shp);
        double *w = calloc((size_t)(I * J + 1), sizeof *w);
        for (int i = 0; i < I; i++)
            for (int j = 0; j < J; j++)
                for (int k = 0; k < K; k++)
                    w[i * J + j] += get(&in[0], i * K + k) * get(&in[1], k * J + j);
        check(&out, w, t == EINC_F32 ? 1e-6 * (K + 1) : 1e-12);
        free(w);
        free(out.data);
        drop(in, 2);
    }
}

static void test_batched_and_implicit(void **s)
{
    (void)s;
    int B = 3, I = 4, J = 5, K = 2;
    arr in[2] = { mk(EINC_F64, 3, B, I, J), mk(EINC_F64, 3, B, J, K) };
    int64_t shp[3] = { B, I, K };
    /* implicit mode: labels used once, sorted: b is used twice so it is summed! */
    arr out = run("bij,bjk->bik", NULL, EINC_REDUCE_SUM, 2, in, EINC_F64, 3, shp);
    double w[3 * 4 * 2] = { 0 };
    for (int b = 0; b < B; b++)
        for (int i = 0; i < I; i++)
            for (int k = 0; k < K; k++)
                for (int j = 0; j < J; j++)
                    w[(b * I + i) * K + k] += get(&in[0], (b * I + i) * J + j) * get(&in[1], (b * J + j) * K + k);
    check(&out, w, 1e-12);
    free(out.data);
    int64_t shp2[2] = { I, K };
    out = run("bij,bjk", NULL, EINC_REDUCE_SUM, 2, in, EINC_F64, 2, shp2);
    double w2[4 * 2] = { 0 };
    for (int b = 0; b < B; b++)
        for (int i = 0; i < I; i++)
            for (int k = 0; k < K; k++)
                w2[i * K + k] += w[(b * I + i) * K + k];
    check(&out, w2, 1e-12);
    free(out.data);
    drop(in, 2);
}

static void test_trace_diagonal(void **s)
{
    (void)s;
    arr m = mk(EINC_I64, 2, 5, 5);
    arr out = run("ii", NULL, EINC_REDUCE_SUM, 1, &m, EINC_I64, 0, NULL);
    double tr = 0;
    for (int i = 0; i < 5; i++)
        tr += get(&m, i * 6);
    check(&out, &tr, 0);
    free(out.data);
    int64_t five = 5;
    out = run("ii->i", NULL, EINC_REDUCE_SUM, 1, &m, EINC_I64, 1, &five);
    double d[5];
    for (int i = 0; i < 5; i++)
        d[i] = get(&m, i * 6);
    check(&out, d, 0);
    free(out.data);
    free(m.data);

    arr t = mk(EINC_I32, 3, 3, 3, 4);
    int64_t shp[2] = { 3, 4 };
    out = run("iij->ij", NULL, EINC_REDUCE_SUM, 1, &t, EINC_I32, 2, shp);
    double w[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            w[i * 4 + j] = get(&t, (i * 3 + i) * 4 + j);
    check(&out, w, 0);
    free(out.data);
    free(t.data);
}

static void test_ellipsis_broadcast(void **s)
{
    (void)s;
    /* (2,1,3,4) and (5,4,2): the ellipses (2,1) and (5,) broadcast to (2,5) */
    arr in[2] = { mk(EINC_F32, 4, 2, 1, 3, 4), mk(EINC_F64, 3, 5, 4, 2) };
    int64_t shp[4] = { 2, 5, 3, 2 };
    arr out = run("...ij,...jk->...ik", NULL, EINC_REDUCE_SUM, 2, in, EINC_F64, 4, shp);
    double w[2 * 5 * 3 * 2] = { 0 };
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 5; b++)
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 2; k++)
                    for (int j = 0; j < 4; j++)
                        w[((a * 5 + b) * 3 + i) * 2 + k] +=
                            get(&in[0], (a * 3 + i) * 4 + j) * get(&in[1], (b * 4 + j) * 2 + k);
    check(&out, w, 1e-6);
    free(out.data);
    /* implicit output puts the ellipsis first */
    out = run("...ij,...jk", NULL, EINC_REDUCE_SUM, 2, in, EINC_F64, 4, shp);
    check(&out, w, 1e-6);
    free(out.data);
    drop(in, 2);
}

static void test_label_broadcast_and_0d(void **s)
{
    (void)s;
    arr in[2] = { mk(EINC_F32, 2, 3, 4), mk(EINC_F32, 1, 1) };
    int64_t shp[2] = { 3, 4 };
    arr out = run("ij,j->ij", NULL, EINC_REDUCE_SUM, 2, in, EINC_F32, 2, shp);
    double w[12];
    for (int i = 0; i < 12; i++)
        w[i] = get(&in[0], i) * get(&in[1], 0);
    check(&out, w, 1e-6);
    free(out.data);
    arr sc = mk(EINC_F32, 0);
    arr in2[2] = { sc, in[0] };
    out = run(",ij->ij", NULL, EINC_REDUCE_SUM, 2, in2, EINC_F32, 2, shp);
    for (int i = 0; i < 12; i++)
        w[i] = get(&in[0], i) * get(&sc, 0);
    check(&out, w, 1e-6);
    free(out.data);
    free(sc.data);
    drop(in, 2);
}

static void test_dtypes(void **s)
{
    (void)s;
    /* int32 · float32 → float64, as numpy.result_type */
    arr in[2] = { mk(EINC_I32, 1, 7), mk(EINC_F32, 1, 7) };
    arr out = run("i,i", NULL, EINC_REDUCE_SUM, 2, in, EINC_F64, 0, NULL);
    double dot = 0;
    for (int i = 0; i < 7; i++)
        dot += get(&in[0], i) * get(&in[1], i);
    check(&out, &dot, 1e-6);
    free(out.data);
    drop(in, 2);
    /* bool einsum stays bool: any true product */
    arr b[2] = { mk(EINC_BOOL, 1, 6), mk(EINC_BOOL, 1, 6) };
    out = run("i,i", NULL, EINC_REDUCE_SUM, 2, b, EINC_BOOL, 0, NULL);
    double any = 0;
    for (int i = 0; i < 6; i++)
        any = any || (get(&b[0], i) && get(&b[1], i));
    check(&out, &any, 0);
    free(out.data);
    drop(b, 2);
    /* int32 einsum wraps in int32 like numpy */
    arr big = mk(EINC_I32, 1, 3);
    for (int i = 0; i < 3; i++)
        ((int32_t *)big.data)[i] = 2000000000;
    out = run("i->", NULL, EINC_REDUCE_SUM, 1, &big, EINC_I32, 0, NULL);
    double wrapped = (double)(int32_t)(uint32_t)(6000000000ull & 0xffffffffu);
    check(&out, &wrapped, 0);
    free(out.data);
    /* ... while an einops-style sum is numpy's sum: int64 */
    out = run("(i) ->", NULL, EINC_REDUCE_SUM, 1, &big, EINC_I64, 0, NULL);
    double exact = 6000000000.0;
    check(&out, &exact, 0);
    free(out.data);
    free(big.data);
}

/* ---- rearrange, reduce, repeat ------------------------------------------------------- */

static void test_rearrange_exact(void **s)
{
    (void)s;
    int B = 2, H = 3, W = 4, C = 5;
    arr x = mk(EINC_I32, 3, B, H * W, C);
    int64_t shp[4] = { B, H, W, C };
    arr out = run("b (h w) c -> b h w c", "h=3", EINC_REDUCE_SUM, 1, &x, EINC_I32, 4, shp);
    double w[120];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int ww = 0; ww < W; ww++)
                for (int c = 0; c < C; c++)
                    w[((b * H + h) * W + ww) * C + c] = get(&x, (b * H * W + h * W + ww) * C + c);
    check(&out, w, 0);
    free(out.data);
    /* and back: b h w c -> b (h w) c is the inverse */
    arr y = { .dtype = EINC_I32, .ndim = 4, .shape = { B, H, W, C }, .n = 120 };
    y.data = malloc(120 * 4);
    for (int i = 0; i < 120; i++)
        ((int32_t *)y.data)[i] = (int32_t)w[i];
    int64_t shp2[3] = { B, H * W, C };
    arr back = run("b h w c -> b (h w) c", NULL, EINC_REDUCE_SUM, 1, &y, EINC_I32, 3, shp2);
    double xv[120];
    for (int i = 0; i < 120; i++)
        xv[i] = get(&x, i);
    check(&back, xv, 0);
    free(back.data);
    free(y.data);
    free(x.data);
}

static void test_pixel_shuffle(void **s)
{
    (void)s;
    int B = 2, H = 3, P1 = 2, W = 2, P2 = 3, C = 2;
    arr x = mk(EINC_F32, 4, B, H * P1, W * P2, C);
    int64_t shp[4] = { B, H, W, P1 * P2 * C };
    arr out = run("b (h p1) (w p2) c -> b h w (p1 p2 c)", "p1=2 p2=3", EINC_REDUCE_SUM, 1, &x,
                  EINC_F32, 4, shp);
    double *w = calloc((size_t)out.n, sizeof *w);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int p1 = 0; p1 < P1; p1++)
                for (int ww = 0; ww < W; ww++)
                    for (int p2 = 0; p2 < P2; p2++)
                        for (int c = 0; c < C; c++)
                            w[((b * H + h) * W + ww) * (P1 * P2 * C) + (p1 * P2 + p2) * C + c] =
                                get(&x, ((b * H * P1 + h * P1 + p1) * W * P2 + ww * P2 + p2) * C + c);
    check(&out, w, 0);
    free(w);
    free(out.data);
    free(x.data);
}

static void test_reduce_ops(void **s)
{
    (void)s;
    int B = 2, C = 3, H = 4, W = 3;
    static const einc_dtype in_t[] = { EINC_F32, EINC_I32 };
    for (int ti = 0; ti < 2; ti++) {
        arr x = mk(in_t[ti], 4, B, C, H, W);
        for (int r = 0; r < EINC_REDUCE_COUNT; r++) {
            einc_dtype want = in_t[ti];
            if (in_t[ti] == EINC_I32)
                want = r == EINC_REDUCE_MEAN ? EINC_F64 : (r == EINC_REDUCE_MAX || r == EINC_REDUCE_MIN) ? EINC_I32 : EINC_I64;
            int64_t shp[2] = { B, C };
            arr out = run("b c h w -> b c", NULL, (einc_reduce)r, 1, &x, want, 2, shp);
            double w[6];
            for (int bc = 0; bc < B * C; bc++) {
                double acc = r == EINC_REDUCE_PROD ? 1 : r == EINC_REDUCE_MAX ? -INFINITY : r == EINC_REDUCE_MIN ? INFINITY : 0;
                for (int i = 0; i < H * W; i++) {
                    double v = get(&x, bc * H * W + i);
                    if (r == EINC_REDUCE_PROD) acc *= v;
                    else if (r == EINC_REDUCE_MAX) acc = fmax(acc, v);
                    else if (r == EINC_REDUCE_MIN) acc = fmin(acc, v);
                    else acc += v;
                }
                w[bc] = r == EINC_REDUCE_MEAN ? acc / (H * W) : acc;
            }
            check(&out, w, in_t[ti] == EINC_F32 ? 1e-5 : 1e-12);
            free(out.data);
        }
        free(x.data);
    }
}

static void test_reduce_edge_cases(void **s)
{
    (void)s;
    arr e = mk(EINC_F64, 2, 3, 0);
    int64_t three = 3;
    double zeros[3] = { 0, 0, 0 }, ones[3] = { 1, 1, 1 }, nans[3] = { NAN, NAN, NAN };
    arr out = run("i j -> i", NULL, EINC_REDUCE_SUM, 1, &e, EINC_F64, 1, &three);
    check(&out, zeros, 0);
    free(out.data);
    out = run("i j -> i", NULL, EINC_REDUCE_PROD, 1, &e, EINC_F64, 1, &three);
    check(&out, ones, 0);
    free(out.data);
    out = run("i j -> i", NULL, EINC_REDUCE_MEAN, 1, &e, EINC_F64, 1, &three);
    check(&out, nans, 0);
    free(out.data);
    free(e.data);
    /* max propagates NaN */
    arr x = mk(EINC_F64, 2, 2, 3);
    ((double *)x.data)[1] = NAN;
    int64_t two = 2;
    out = run("i j -> i", NULL, EINC_REDUCE_MAX, 1, &x, EINC_F64, 1, &two);
    assert_true(isnan(get(&out, 0)));
    assert_false(isnan(get(&out, 1)));
    free(out.data);
    free(x.data);
}

static void test_repeat(void **s)
{
    (void)s;
    arr x = mk(EINC_I64, 2, 2, 3);
    int64_t shp[2] = { 2, 6 };
    arr out = run("h w -> h (w r)", "r=2", EINC_REDUCE_SUM, 1, &x, EINC_I64, 2, shp);
    double w[12];
    for (int h = 0; h < 2; h++)
        for (int ww = 0; ww < 3; ww++)
            for (int r = 0; r < 2; r++)
                w[h * 6 + ww * 2 + r] = get(&x, h * 3 + ww);
    check(&out, w, 0);
    free(out.data);
    int64_t shp2[2] = { 6, 3 };
    out = run("h w -> (r h) w", "r=3", EINC_REDUCE_SUM, 1, &x, EINC_I64, 2, shp2);
    double w2[18];
    for (int r = 0; r < 3; r++)
        for (int h = 0; h < 2; h++)
            for (int ww = 0; ww < 3; ww++)
                w2[(r * 2 + h) * 3 + ww] = get(&x, h * 3 + ww);
    check(&out, w2, 0);
    free(out.data);
    int64_t shp3[3] = { 2, 3, 4 };
    out = run("h w -> h w 4", NULL, EINC_REDUCE_SUM, 1, &x, EINC_I64, 3, shp3);
    double w3[24];
    for (int i = 0; i < 24; i++)
        w3[i] = get(&x, i / 4);
    check(&out, w3, 0);
    free(out.data);
    free(x.data);
}

static void test_einsum_composition(void **s)
{
    (void)s;
    int B = 3, H = 2, D = 4, E = 5;
    arr in[2] = { mk(EINC_F64, 2, B, H * D), mk(EINC_F64, 2, D, E) };
    int64_t shp[3] = { B, H, E };
    arr out = run("b (h d), d e -> b h e", "h=2", EINC_REDUCE_SUM, 2, in, EINC_F64, 3, shp);
    double w[30] = { 0 };
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int e = 0; e < E; e++)
                for (int d = 0; d < D; d++)
                    w[(b * H + h) * E + e] += get(&in[0], b * H * D + h * D + d) * get(&in[1], d * E + e);
    check(&out, w, 1e-12);
    free(out.data);
    drop(in, 2);
}

static void test_strided_input(void **s)
{
    (void)s;
    /* A transposed view: shape (4, 3) over a (3, 4) buffer, strides (1, 4). */
    arr x = mk(EINC_F64, 2, 3, 4);
    int64_t shape[2] = { 4, 3 }, strides[2] = { 1, 4 };
    einc_tensor t = { EINC_F64, 2, shape, strides, x.data };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_options opt = { .target = target };
    assert_int_equal(einc_compile(ctx, "ij->j", &opt, &k, NULL), EINC_OK);
    double out[3];
    int64_t three = 3;
    einc_tensor o = { EINC_F64, 1, &three, NULL, out };
    assert_int_equal(einc_kernel_run(k, 1, &t, &o, NULL), EINC_OK);
    for (int j = 0; j < 3; j++) {
        double w = 0;
        for (int i = 0; i < 4; i++)
            w += get(&x, j * 4 + i);
        assert_true(fabs(out[j] - w) < 1e-12);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    free(x.data);
}

/* ---- the dialect asked for -------------------------------------------------------------- */

static void test_dialect_forced(void **s)
{
    (void)s;
    /* einops.einsum(v, 'index ->'): one axis named index, summed (45 on arange(10)) */
    arr v = mk(EINC_F64, 1, 10);
    double want = 0;
    for (int i = 0; i < 10; i++) {
        ((double *)v.data)[i] = i;
        want += i;
    }
    arr out = run_as(EINC_DIALECT_EINOPS, "index ->", NULL, EINC_REDUCE_SUM, 1, &v, EINC_F64, 0,
                     NULL);
    assert_true(want == 45);
    check(&out, &want, 0);
    free(out.data);
    /* read automatically, 'index' is numpy's five axes, which a vector does not have */
    expect_error(EINC_DIALECT_AUTO, "index ->", NULL, EINC_REDUCE_SUM, 1, &v,
                 "operand 0 ('index') has 5 axes but its array has 1 dimension, shape (10,)");
    free(v.data);
    arr x = mk(EINC_F32, 1, 7);
    want = 0;
    for (int i = 0; i < 7; i++)
        want += get(&x, i);
    out = run_as(EINC_DIALECT_EINOPS, "index ->", NULL, EINC_REDUCE_SUM, 1, &x, EINC_F32, 0, NULL);
    check(&out, &want, 1e-6);
    free(out.data);
    free(x.data);

    /* einops.reduce(x, ' ... -> ', 'min'): the minimum of everything, a 0-d array */
    arr m = mk(EINC_I32, 2, 3, 4);
    want = get(&m, 0);
    for (int i = 1; i < 12; i++)
        want = fmin(want, get(&m, i));
    out = run_as(EINC_DIALECT_EINOPS, " ... -> ", NULL, EINC_REDUCE_MIN, 1, &m, EINC_I32, 0, NULL);
    check(&out, &want, 0);
    free(out.data);
    /* numpy's reading ('...->' has nowhere to put the dimensions) is today's default */
    expect_error(EINC_DIALECT_AUTO, " ... -> ", NULL, EINC_REDUCE_MIN, 1, &m,
                 "the inputs' '...' covers 2 dimensions but the output has no '...' to "
                 "broadcast them into");
    free(m.data);
    arr d = mk(EINC_F64, 1, 10);
    want = get(&d, 0);
    for (int i = 1; i < 10; i++)
        want = fmin(want, get(&d, i));
    out = run_as(EINC_DIALECT_EINOPS, " ... -> ", NULL, EINC_REDUCE_MIN, 1, &d, EINC_F64, 0, NULL);
    check(&out, &want, 0);
    free(out.data);
    free(d.data);

    /* numpy skips spaces inside subscripts: 'i j -> j i' is numpy's transpose */
    arr t = mk(EINC_F32, 2, 3, 4);
    int64_t shp[2] = { 4, 3 };
    double w[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            w[j * 3 + i] = get(&t, i * 4 + j);
    out = run_as(EINC_DIALECT_NUMPY, "i j -> j i", NULL, EINC_REDUCE_SUM, 1, &t, EINC_F32, 2, shp);
    check(&out, w, 0);
    free(out.data);
    free(t.data);
    /* and 'index' is five axes to it */
    arr f = mk(EINC_F64, 5, 2, 1, 3, 1, 2);
    want = 0;
    for (int i = 0; i < 12; i++)
        want += get(&f, i);
    out = run_as(EINC_DIALECT_NUMPY, "index ->", NULL, EINC_REDUCE_SUM, 1, &f, EINC_F64, 0, NULL);
    check(&out, &want, 1e-12);
    free(out.data);
    free(f.data);
    /* what selects einops automatically is not a numpy subscript */
    expect_error(EINC_DIALECT_NUMPY, "b (h w) -> b h w", NULL, EINC_REDUCE_SUM, 0, NULL,
                 "invalid subscript '(': numpy-style subscripts are the letters a-z and A-Z "
                 "(the numpy dialect was asked for)");
    expect_error(EINC_DIALECT_NUMPY, "a1->a", NULL, EINC_REDUCE_SUM, 0, NULL,
                 "invalid subscript '1': numpy-style subscripts are the letters a-z and A-Z "
                 "(the numpy dialect was asked for)");
    expect_error(EINC_DIALECT_NUMPY, "my_axis->", NULL, EINC_REDUCE_SUM, 0, NULL,
                 "invalid subscript '_': numpy-style subscripts are the letters a-z and A-Z "
                 "(the numpy dialect was asked for)");
    /* einops has no implicit output */
    expect_error(EINC_DIALECT_EINOPS, "ij,jk", NULL, EINC_REDUCE_SUM, 0, NULL,
                 "an einops pattern needs '->' and an output (e.g. 'b c h w -> b h w c')");
    expect_error((einc_dialect)7, "ij->", NULL, EINC_REDUCE_SUM, 0, NULL, "unknown dialect");
}

/* Two readings of one text in one context: each runs its own kernel. */
static void test_dialect_one_context(void **s)
{
    (void)s;
    arr x = mk(EINC_I32, 2, 4, 5);
    einc_tensor in = view(&x);
    einc_ctx *ctx = einc_ctx_new();
    /* numpy: einsum, int32 that wraps as numpy's does; einops: numpy's sum, int64 */
    const einc_dialect dl[2] = { EINC_DIALECT_NUMPY, EINC_DIALECT_EINOPS };
    const einc_dtype dt[2] = { EINC_I32, EINC_I64 };
    for (int r = 0; r < 4; r++) {
        einc_options o = { .target = target, .dialect = dl[r % 2] };
        einc_kernel *k = NULL;
        einc_error err = { 0 };
        if (einc_compile(ctx, "a b -> a", &o, &k, &err))
            fail_msg("%s", err.message);
        int64_t four = 4, buf[4];
        einc_tensor out = { dt[r % 2], 1, &four, NULL, buf };
        einc_dtype got;
        int nd;
        int64_t shape[EINC_MAX_RANK];
        assert_int_equal(einc_kernel_output(k, 1, &in, &got, &nd, shape, &err), EINC_OK);
        assert_int_equal(got, dt[r % 2]);
        if (einc_kernel_run(k, 1, &in, &out, &err))
            fail_msg("%s", err.message);
        for (int a = 0; a < 4; a++) {
            int64_t want = 0;
            for (int b = 0; b < 5; b++)
                want += (int64_t)get(&x, a * 5 + b);
            assert_int_equal(dt[r % 2] == EINC_I32 ? ((int32_t *)buf)[a] : buf[a], want);
        }
        einc_kernel_free(k);
    }
    einc_ctx_free(ctx);
    free(x.data);
}

/* ---- einops.einsum's repeated axes: traces and diagonals ---------------------------------- */

static void test_einops_diagonals(void **s)
{
    (void)s;
    const einc_dtype types[2] = { EINC_F64, EINC_I32 };
    for (int ti = 0; ti < 2; ti++) {
        einc_dtype dt = types[ti];
        double tol = dt == EINC_F64 ? 1e-12 : 0;
        /* 'i i ->': the trace; einsum keeps the type (int32 stays int32) */
        const int ns[4] = { 0, 1, 3, 5 };
        for (int q = 0; q < 4; q++) {
            int n = ns[q];
            arr m = mk(dt, 2, n, n);
            double want = 0;
            for (int i = 0; i < n; i++)
                want += get(&m, i * n + i);
            arr out = run("i i ->", NULL, EINC_REDUCE_SUM, 1, &m, dt, 0, NULL);
            check(&out, &want, tol);
            free(out.data);
            /* 'i i -> i': the diagonal */
            int64_t nn = n;
            double d[5];
            for (int i = 0; i < n; i++)
                d[i] = get(&m, i * n + i);
            out = run("i i -> i", NULL, EINC_REDUCE_SUM, 1, &m, dt, 1, &nn);
            check(&out, d, 0);
            free(out.data);
            free(m.data);
        }
        /* 'i middle i -> middle' */
        const int im[3][2] = { { 2, 3 }, { 1, 0 }, { 4, 1 } };
        for (int q = 0; q < 3; q++) {
            int I = im[q][0], M = im[q][1];
            arr x = mk(dt, 3, I, M, I);
            int64_t mm = M;
            double w[3] = { 0 };
            for (int mid = 0; mid < M; mid++)
                for (int i = 0; i < I; i++)
                    w[mid] += get(&x, (i * M + mid) * I + i);
            arr out = run("i middle i -> middle", NULL, EINC_REDUCE_SUM, 1, &x, dt, 1, &mm);
            check(&out, w, tol);
            free(out.data);
            free(x.data);
        }
        /* 'i ... i -> ...': the ellipsis covers 2, 1 and 0 dimensions */
        arr y = mk(dt, 4, 2, 3, 4, 2);
        int64_t shp[2] = { 3, 4 };
        double w[12] = { 0 };
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++)
                for (int i = 0; i < 2; i++)
                    w[a * 4 + b] += get(&y, ((i * 3 + a) * 4 + b) * 2 + i);
        arr out = run("i ... i -> ...", NULL, EINC_REDUCE_SUM, 1, &y, dt, 2, shp);
        check(&out, w, tol);
        free(out.data);
        free(y.data);
        arr y1 = mk(dt, 3, 3, 5, 3);
        int64_t five = 5;
        double w1[5] = { 0 };
        for (int a = 0; a < 5; a++)
            for (int i = 0; i < 3; i++)
                w1[a] += get(&y1, (i * 5 + a) * 3 + i);
        out = run("i ... i -> ...", NULL, EINC_REDUCE_SUM, 1, &y1, dt, 1, &five);
        check(&out, w1, tol);
        free(out.data);
        free(y1.data);
        arr y0 = mk(dt, 2, 4, 4);
        double w0 = 0;
        for (int i = 0; i < 4; i++)
            w0 += get(&y0, i * 5);
        out = run("i ... i -> ...", NULL, EINC_REDUCE_SUM, 1, &y0, dt, 0, NULL);
        check(&out, &w0, tol);
        free(out.data);
        free(y0.data);
        /* 'one one one -> one' */
        const int cs[3] = { 3, 1, 0 };
        for (int q = 0; q < 3; q++) {
            int n = cs[q];
            arr z = mk(dt, 3, n, n, n);
            int64_t nn = n;
            double d[3];
            for (int i = 0; i < n; i++)
                d[i] = get(&z, (i * n + i) * n + i);
            out = run("one one one -> one", NULL, EINC_REDUCE_SUM, 1, &z, dt, 1, &nn);
            check(&out, d, 0);
            free(out.data);
            free(z.data);
        }
        /* several operands, the diagonal in either */
        arr in[2] = { mk(dt, 2, 3, 3), mk(dt, 2, 3, 4) };
        int64_t four = 4;
        double w2[4] = { 0 };
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 3; i++)
                w2[j] += get(&in[0], i * 4) * get(&in[1], i * 4 + j);
        out = run("i i, i j -> j", NULL, EINC_REDUCE_SUM, 2, in, dt, 1, &four);
        check(&out, w2, tol);
        free(out.data);
        drop(in, 2);
        arr in2[2] = { mk(dt, 1, 2), mk(dt, 3, 3, 2, 3) };
        int64_t three = 3;
        double w3[3] = { 0 };
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 2; b++)
                w3[a] += get(&in2[0], b) * get(&in2[1], (a * 2 + b) * 3 + a);
        out = run("b, a b a -> a", NULL, EINC_REDUCE_SUM, 2, in2, dt, 1, &three);
        check(&out, w3, tol);
        free(out.data);
        drop(in2, 2);
    }

    /* Where einops refuses: rearrange/reduce/repeat take no repeated axis */
    arr m = mk(EINC_F32, 2, 3, 3);
    expect_error(EINC_DIALECT_AUTO, "i i -> i", NULL, EINC_REDUCE_MAX, 1, &m,
                 "axis 'i' appears twice in the input: a diagonal is only summed, as "
                 "einops.einsum does; einops.reduce refuses a repeated axis, and so does "
                 "--reduce=max");
    expect_error(EINC_DIALECT_AUTO, "i i -> i c", "c=2", EINC_REDUCE_SUM, 1, &m,
                 "axis 'i' appears twice in the input and 'c' is new in the output: "
                 "einops.repeat refuses a repeated axis, and einops.einsum a new one");
    expect_error(EINC_DIALECT_AUTO, "i i -> i i", NULL, EINC_REDUCE_SUM, 1, &m,
                 "index 'i' appears more than once in the output");
    free(m.data);
    /* The lengths a diagonal runs over must agree; einops broadcasts no length 1 */
    arr r = mk(EINC_F32, 2, 2, 3), r1 = mk(EINC_F32, 2, 1, 3);
    expect_error(EINC_DIALECT_AUTO, "i i ->", NULL, EINC_REDUCE_SUM, 1, &r,
                 "operand 0 repeats axis 'i' (a diagonal) over dimensions of different "
                 "lengths, 2 and 3");
    expect_error(EINC_DIALECT_AUTO, "one one one -> one", NULL, EINC_REDUCE_SUM, 1, &r1,
                 "operand 0 ('one one one') has 3 axes but its array has 2 dimensions, "
                 "shape (1, 3)");
    expect_error(EINC_DIALECT_EINOPS, "i i ->", NULL, EINC_REDUCE_SUM, 1, &r1,
                 "operand 0 repeats axis 'i' (a diagonal) over dimensions of different "
                 "lengths, 1 and 3");
    arr two[2] = { mk(EINC_F32, 2, 2, 3), mk(EINC_F32, 2, 3, 4) };
    expect_error(EINC_DIALECT_AUTO, "a b, b b -> a", NULL, EINC_REDUCE_SUM, 2, two,
                 "operand 1 repeats axis 'b' (a diagonal) over dimensions of different "
                 "lengths, 3 and 4");
    drop(two, 2);
    free(r.data);
    free(r1.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_random_sizes),
        cmocka_unit_test(test_batched_and_implicit),
        cmocka_unit_test(test_trace_diagonal),
        cmocka_unit_test(test_ellipsis_broadcast),
        cmocka_unit_test(test_label_broadcast_and_0d),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_rearrange_exact),
        cmocka_unit_test(test_pixel_shuffle),
        cmocka_unit_test(test_reduce_ops),
        cmocka_unit_test(test_reduce_edge_cases),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_einsum_composition),
        cmocka_unit_test(test_strided_input),
        cmocka_unit_test(test_dialect_forced),
        cmocka_unit_test(test_dialect_one_context),
        cmocka_unit_test(test_einops_diagonals),
    };
    int rc = cmocka_run_group_tests_name("interp", tests, NULL, NULL);
    /* the same tests on the CPU JIT, when this build has one */
    if (th_have_jit()) {
        target = EINC_TARGET_CPU;
        rc |= cmocka_run_group_tests_name("cpu-jit", tests, NULL, NULL);
    }
    return rc;
}
