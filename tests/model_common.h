/*
 * model_common.h — what the layer language's tests share (test_model.c, which test_emu.c
 * includes whole, and test_model_text.c): arrays with their dtype and shape, references in
 * double precision with their tolerance, running a model on every target into a poisoned
 * output, the reference computations the resblock needs, and the context.
 */
#ifndef EINC_TEST_MODEL_COMMON_H
#define EINC_TEST_MODEL_COMMON_H

#include "einc.h"
#include "helpers.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static einc_ctx *ctx;
static int jit_runs, jit_skips;

/* ---- arrays -------------------------------------------------------------------------------- */

typedef struct arr {
    einc_dtype dtype;
    int ndim;
    int64_t shape[8];
    void *data;
} arr;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t next(void) { return th_next(&rng); }
static inline double uniform(double lo, double hi) { return th_uniform(&rng, lo, hi); }

static inline int64_t elems(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}
static inline int64_t count(const arr *a) { return elems(a->ndim, a->shape); }

static inline arr mk(einc_dtype t, int ndim, const int64_t *shape)
{
    arr a = { .dtype = t, .ndim = ndim };
    if (ndim)
        memcpy(a.shape, shape, sizeof *shape * (size_t)ndim);
    a.data = calloc((size_t)(count(&a) ? count(&a) : 1), th_dtype_size(t));
    assert_non_null(a.data);
    return a;
}

/* float32, uniform in [lo, hi) */
static inline arr rnd(int ndim, const int64_t *shape, double lo, double hi)
{
    arr a = mk(EINC_F32, ndim, shape);
    for (int64_t i = 0; i < count(&a); i++)
        ((float *)a.data)[i] = (float)uniform(lo, hi);
    return a;
}

/* integer labels in [lo, hi] */
static inline arr labels(einc_dtype t, int ndim, const int64_t *shape, int lo, int hi)
{
    arr a = mk(t, ndim, shape);
    for (int64_t i = 0; i < count(&a); i++) {
        int64_t v = lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
        if (t == EINC_I32)
            ((int32_t *)a.data)[i] = (int32_t)v;
        else
            ((int64_t *)a.data)[i] = v;
    }
    return a;
}

static inline double get(const arr *a, int64_t i) { return th_get(a->dtype, a->data, i); }

static inline void set(arr *a, int64_t i, double v) { th_put(a->dtype, a->data, i, v); }

static inline void free_arrs(int n, arr *a)
{
    for (int i = 0; i < n; i++) {
        free(a[i].data);
        a[i].data = NULL;
    }
}

static inline void poison(arr *a)
{
    for (int64_t i = 0; i < count(a); i++)
        set(a, i, a->dtype == EINC_F32 || a->dtype == EINC_F64 ? NAN : -777777);
}

static inline einc_tensor tensor_of(const arr *a)
{
    return (einc_tensor){ .dtype = a->dtype, .ndim = a->ndim, .shape = a->shape, .data = a->data };
}

/* ---- the expected result ------------------------------------------------------------------- */

typedef struct ref {
    einc_dtype dtype;
    int ndim;
    int64_t shape[8];
    double *v;              /* row-major, count(shape) values */
    double K;               /* the longest reduction behind an element (1 for elementwise) */
} ref;

static inline ref mkref(einc_dtype t, int ndim, const int64_t *shape, double K)
{
    ref r = { .dtype = t, .ndim = ndim, .K = K };
    if (ndim)
        memcpy(r.shape, shape, sizeof *shape * (size_t)ndim);
    r.v = calloc((size_t)(elems(ndim, shape) ? elems(ndim, shape) : 1), sizeof *r.v);
    assert_non_null(r.v);
    return r;
}

/* A reference's values seen as a float64 array (shared, not copied), to feed another reference. */
static inline arr view_of(const ref *r)
{
    arr a = { .dtype = EINC_F64, .ndim = r->ndim, .data = r->v };
    memcpy(a.shape, r->shape, sizeof a.shape);
    return a;
}

/* float32 rounding, reduction length K: a few ulps per term, relative to the larger of 1, |ref| */
static inline double tolerance(double K) { return 8.0 * FLT_EPSILON * (K + 4.0); }

/* ---- running a model ------------------------------------------------------------------------ */

static const einc_target targets[] = { EINC_TARGET_INTERP, EINC_TARGET_CPU };
static inline const char *target_name(einc_target t) { return t == EINC_TARGET_CPU ? "cpu" : "interp"; }

/*
 * Compiles src for target and runs it on in[0..n) into a fresh poisoned output *out.
 * Returns false (and leaves *out empty) when the target is the JIT and this build has none.
 */
static inline bool run_model(einc_target t, const char *src, int n, const arr *in, const einc_size *sizes,
                      int nsizes, arr *out)
{
    einc_options opt = { .target = t, .nsizes = nsizes, .sizes = sizes };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status st = einc_compile_model(ctx, src, &opt, &k, &err);
    if (t == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED) {
        jit_skips++;
        return false;
    }
    if (st != EINC_OK)
        fail_msg("%s: compile failed: %s [%d, %d)\n%s", target_name(t), err.message, err.begin, err.end, src);
    assert_int_equal(einc_kernel_ninputs(k), n);
    einc_tensor ti[16];
    for (int i = 0; i < n; i++)
        ti[i] = tensor_of(&in[i]);
    einc_dtype dt;
    int nd;
    int64_t sh[EINC_MAX_RANK];
    st = einc_kernel_output(k, n, ti, &dt, &nd, sh, &err);
    if (st != EINC_OK)
        fail_msg("%s: einc_kernel_output failed: %s [%d, %d)\n%s", target_name(t), err.message, err.begin,
                 err.end, src);
    *out = mk(dt, nd, sh);
    poison(out);
    einc_tensor to = tensor_of(out);
    st = einc_kernel_run(k, n, ti, &to, &err);
    if (st != EINC_OK)
        fail_msg("%s: run failed: %s [%d, %d)\n%s", target_name(t), err.message, err.begin, err.end, src);
    einc_kernel_free(k);
    if (t == EINC_TARGET_CPU)
        jit_runs++;
    return true;
}

static inline void compare(einc_target t, const char *src, const arr *got, const ref *r)
{
    if (got->dtype != r->dtype)
        fail_msg("%s: dtype %s, expected %s\n%s", target_name(t), einc_dtype_name(got->dtype),
                 einc_dtype_name(r->dtype), src);
    assert_int_equal(got->ndim, r->ndim);
    for (int d = 0; d < r->ndim; d++)
        if (got->shape[d] != r->shape[d])
            fail_msg("%s: output dimension %d is %lld, expected %lld\n%s", target_name(t), d,
                     (long long)got->shape[d], (long long)r->shape[d], src);
    bool exact = got->dtype != EINC_F32 && got->dtype != EINC_F64;
    double tol = tolerance(r->K);
#ifdef MODEL_DEBUG
    double worst = 0;
    for (int64_t i = 0; i < count(got); i++)
        worst = fmax(worst, fabs(get(got, i) - r->v[i]) / (tol * fmax(1.0, fabs(r->v[i]))));
    fprintf(stderr, "DEBUG %s worst %.3f K %g n %lld: %s\n", target_name(t), worst, r->K, (long long)count(got), strrchr(src, '\n') ? src : src);
#endif
    for (int64_t i = 0; i < count(got); i++) {
        double g = get(got, i), e = r->v[i];
        bool ok = exact || isinf(e) ? g == e : isnan(e) ? isnan(g) : fabs(g - e) <= tol * fmax(1.0, fabs(e));
        if (!ok)
            fail_msg("%s: element %lld is %.9g, expected %.9g (tolerance %.3g)\n%s", target_name(t),
                     (long long)i, g, e, exact ? 0.0 : tol * fmax(1.0, fabs(e)), src);
    }
}

/* src on every target against r; frees nothing of the caller's. */
static inline void check_sized(const char *src, int n, const arr *in, const einc_size *sizes, int nsizes, const ref *r)
{
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        arr out = { 0 };
        if (!run_model(targets[i], src, n, in, sizes, nsizes, &out))
            continue;
        compare(targets[i], src, &out, r);
        free(out.data);
    }
}

static inline void check(const char *src, int n, const arr *in, const ref *r) { check_sized(src, n, in, NULL, 0, r); }

/* ---- references ------------------------------------------------------------------------------- */

/* y[..., o] = Σ_i x[..., i] w[o, i] (+ b[o]) */
static inline ref ref_linear(const arr *x, const arr *w, const arr *b)
{
    int64_t in = x->shape[x->ndim - 1], out = w->shape[0], rows = count(x) / in;
    int64_t sh[8];
    memcpy(sh, x->shape, sizeof sh);
    sh[x->ndim - 1] = out;
    ref r = mkref(EINC_F32, x->ndim, sh, (double)in);
    for (int64_t m = 0; m < rows; m++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? get(b, o) : 0;
            for (int64_t i = 0; i < in; i++)
                s += get(x, m * in + i) * get(w, o * in + i);
            r.v[m * out + o] = s;
        }
    return r;
}

typedef struct convp {
    int64_t stride[2], pad_lo[2], pad_hi[2], dil[2], groups;
} convp;

/* torch.nn.functional.conv2d with explicit (possibly asymmetric) padding */
static inline ref ref_conv(const arr *x, const arr *w, const arr *b, convp p)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], Cg = w->shape[1], KH = w->shape[2], KW = w->shape[3];
    int64_t Og = O / p.groups;
    assert_int_equal(Cg * p.groups, C);
    int64_t OH = (H + p.pad_lo[0] + p.pad_hi[0] - p.dil[0] * (KH - 1) - 1) / p.stride[0] + 1;
    int64_t OW = (W + p.pad_lo[1] + p.pad_hi[1] - p.dil[1] * (KW - 1) - 1) / p.stride[1] + 1;
    ref r = mkref(EINC_F32, 4, (int64_t[]){ N, O, OH, OW }, (double)(Cg * KH * KW));
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t g = o / Og;
                    double s = b ? get(b, o) : 0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ih = oh * p.stride[0] + kh * p.dil[0] - p.pad_lo[0];
                                int64_t iw = ow * p.stride[1] + kw * p.dil[1] - p.pad_lo[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                s += get(x, ((n * C + g * Cg + c) * H + ih) * W + iw) *
                                     get(w, ((o * Cg + c) * KH + kh) * KW + kw);
                            }
                    r.v[((n * O + o) * OH + oh) * OW + ow] = s;
                }
    return r;
}

/* batchnorm2d: running statistics (training 0) or the batch's, biased variance (training 1) */
static inline ref ref_bn(const arr *x, const arr *mean, const arr *var, const arr *w, const arr *b, bool training,
                  double eps)
{
    int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    ref r = mkref(EINC_F32, 4, x->shape, training ? (double)(N * HW) : 1.0);
    for (int64_t c = 0; c < C; c++) {
        double m = 0, v = 0;
        if (training) {
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < HW; i++)
                    m += get(x, (n * C + c) * HW + i);
            m /= (double)(N * HW);
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < HW; i++) {
                    double d = get(x, (n * C + c) * HW + i) - m;
                    v += d * d;
                }
            v /= (double)(N * HW);
        } else {
            m = get(mean, c);
            v = get(var, c);
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t e = (n * C + c) * HW + i;
                double y = (get(x, e) - m) / sqrt(v + eps);
                if (w)
                    y *= get(w, c);
                if (b)
                    y += get(b, c);
                r.v[e] = y;
            }
    }
    return r;
}

/* layernorm over the trailing dims dimensions */
static inline ref ref_ln(const arr *x, int dims, const arr *w, const arr *b, double eps)
{
    int64_t M = 1;
    for (int d = x->ndim - dims; d < x->ndim; d++)
        M *= x->shape[d];
    int64_t rows = count(x) / M;
    ref r = mkref(EINC_F32, x->ndim, x->shape, (double)M);
    for (int64_t i = 0; i < rows; i++) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < M; j++)
            m += get(x, i * M + j);
        m /= (double)M;
        for (int64_t j = 0; j < M; j++)
            v += (get(x, i * M + j) - m) * (get(x, i * M + j) - m);
        v /= (double)M;
        for (int64_t j = 0; j < M; j++) {
            double y = (get(x, i * M + j) - m) / sqrt(v + eps);
            if (w)
                y *= get(w, j);
            if (b)
                y += get(b, j);
            r.v[i * M + j] = y;
        }
    }
    return r;
}

/* softmax or log_softmax along dim (already wrapped to [0, ndim)) */
static inline ref ref_softmax(const arr *x, int dim, bool logsm)
{
    int64_t outer = elems(dim, x->shape), len = x->shape[dim];
    int64_t inner = elems(x->ndim - dim - 1, x->shape + dim + 1);
    ref r = mkref(EINC_F32, x->ndim, x->shape, (double)len);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < len; j++)
                mx = fmax(mx, get(x, (o * len + j) * inner + i));
            for (int64_t j = 0; j < len; j++)
                s += exp(get(x, (o * len + j) * inner + i) - mx);
            for (int64_t j = 0; j < len; j++) {
                double d = get(x, (o * len + j) * inner + i) - mx;
                r.v[(o * len + j) * inner + i] = logsm ? d - log(s) : exp(d) / s;
            }
        }
    return r;
}

static inline double f_relu(double x) { return x > 0 ? x : 0; }
static inline double f_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

/* conv2d(padding=1) → batchnorm2d → relu → + x, with C channels */
static inline ref ref_resblock(const arr *in, double eps)
{
    ref c = ref_conv(&in[0], &in[1], NULL, (convp){ { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 });
    arr ca = view_of(&c);
    ref b = ref_bn(&ca, &in[2], &in[3], &in[4], &in[5], false, eps);
    for (int64_t e = 0; e < count(&ca); e++)
        b.v[e] = get(&in[0], e) + f_relu(b.v[e]);
    b.K = c.K;
    free(c.v);
    return b;
}

static inline void resblock_inputs(arr *in, int64_t N, int64_t C, int64_t H, int64_t W)
{
    in[0] = rnd(4, (int64_t[]){ N, C, H, W }, -1, 1);
    in[1] = rnd(4, (int64_t[]){ C, C, 3, 3 }, -0.5, 0.5);
    in[2] = rnd(1, &C, -0.5, 0.5);
    in[3] = rnd(1, &C, 0.5, 2);
    in[4] = rnd(1, &C, -1.5, 1.5);
    in[5] = rnd(1, &C, -1, 1);
}

static inline int setup(void **state)
{
    (void)state;
    ctx = einc_ctx_new();
    return ctx ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    einc_ctx_free(ctx);
    return 0;
}

#endif
