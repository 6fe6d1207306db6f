/*
 * test_jit.c — the CPU JIT against the interpreter, and the C API's contracts.
 *
 *   - a table of expressions on random shapes (0, 1, sizes that are not multiples of the
 *     vector width, large enough to take the GEMM path), every dtype, C-contiguous and
 *     strided (a transposed view through strides) inputs;
 *   - the kernel cache: the same expression and signature invokes LLVM once;
 *   - 8 threads compiling and running identical and different expressions at once (CI
 *     also runs this under ThreadSanitizer);
 *   - API misuse: NULL handles, wrong buffer counts, mismatched shapes give errors.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "helpers.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct jcase {
    const char *expr;
    const char *sizes;
    einc_reduce reduce;
} jcase;

/* Shapes are drawn per axis letter; sizes words give the rest. */
static const jcase cases[] = {
    { "ik,kj->ij", NULL, EINC_REDUCE_SUM },
    { "ki,kj->ij", NULL, EINC_REDUCE_SUM },
    { "ik,jk->ij", NULL, EINC_REDUCE_SUM },
    { "bij,bjk->bik", NULL, EINC_REDUCE_SUM },
    { "bhid,bhjd->bhij", NULL, EINC_REDUCE_SUM },
    { "ijk,jl,kl->il", NULL, EINC_REDUCE_SUM },
    { "ij,jk,kl,lm->im", NULL, EINC_REDUCE_SUM },
    { "ab,bc,cd,de,ef->af", NULL, EINC_REDUCE_SUM },
    { "i,ij,j->", NULL, EINC_REDUCE_SUM },
    { "bi,bj,bk->ijk", NULL, EINC_REDUCE_SUM },
    { "ij->", NULL, EINC_REDUCE_SUM },
    { "ij->j", NULL, EINC_REDUCE_SUM },
    { "ii->i", NULL, EINC_REDUCE_SUM },
    { "abcd->dcba", NULL, EINC_REDUCE_SUM },
    { "i,j->ij", NULL, EINC_REDUCE_SUM },
    { "b c h w -> b h w c", NULL, EINC_REDUCE_SUM },
    { "b c h w -> b c", NULL, EINC_REDUCE_MEAN },
    { "b c h w -> b c", NULL, EINC_REDUCE_MAX },
    { "b c h w -> c", NULL, EINC_REDUCE_MIN },
    { "i j -> j", NULL, EINC_REDUCE_PROD },
    { "i j -> i", NULL, EINC_REDUCE_MEAN },
    { "h w -> h (w r)", "r=3", EINC_REDUCE_SUM },
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { return th_next(&rng); }

static void set(einc_dtype t, void *p, int64_t i, int v)
{
    switch (t) {
    case EINC_F32: ((float *)p)[i] = (float)v / 8; break;
    case EINC_F64: ((double *)p)[i] = (double)v / 8; break;
    case EINC_I32: ((int32_t *)p)[i] = v; break;
    case EINC_I64: ((int64_t *)p)[i] = v; break;
    default: ((uint8_t *)p)[i] = (uint8_t)(v & 1); break;
    }
}

/* Operand i's axis letters: the text between commas (numpy) or its space-separated names. */
static int operand_axes(const char *expr, int i, char ax[][16])
{
    const char *arrow = strstr(expr, "->");
    const char *p = expr;
    for (int k = 0; k < i; k++)
        p = strchr(p, ',') + 1;
    const char *end = strchr(p, ',');
    if (!end || end > arrow)
        end = arrow;
    int n = 0;
    bool spaced = strchr(expr, ' ') != NULL;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            break;
        int len = spaced ? (int)strcspn(p, " ,-") : 1;
        if (p + len > end)
            len = (int)(end - p);
        snprintf(ax[n++], 16, "%.*s", len, p);
        p += len;
    }
    return n;
}

static int noperands(const char *expr)
{
    int n = 1;
    for (const char *p = expr; *p && p < strstr(expr, "->"); p++)
        n += *p == ',';
    return n;
}

typedef struct sized {
    char name[128];
    int64_t size;
} sized;

static int many_operands;      /* sizes stay <= 7 so the interpreter finishes */

static int64_t size_of(sized *s, int *ns, const char *name, int big)
{
    for (int i = 0; i < *ns; i++)
        if (strcmp(s[i].name, name) == 0)
            return s[i].size;
    static const int64_t small[] = { 0, 1, 2, 3, 5, 7, 13, 17, 31, 33 };
    int64_t v = big ? 40 + (int64_t)(next() % 30) : small[next() % (many_operands ? 6 : 10)];
    snprintf(s[*ns].name, sizeof s[*ns].name, "%s", name);
    s[(*ns)++].size = v;
    return v;
}

static void run_case(const jcase *c, einc_dtype dt, bool big, bool strided)
{
    sized sz[16];
    int nsz = 0;
    int nin = noperands(c->expr);
    many_operands = nin > 3;
    int64_t shape[8][8], tshape[8][8], tstr[8][8];
    int ndim[8];
    void *data[8];
    einc_tensor in[8], in_t[8];
    for (int i = 0; i < nin; i++) {
        char ax[8][16];
        ndim[i] = operand_axes(c->expr, i, ax);
        int64_t n = 1;
        for (int d = 0; d < ndim[i]; d++) {
            shape[i][d] = size_of(sz, &nsz, ax[d], big);
            n *= shape[i][d];
        }
        data[i] = malloc((size_t)(n ? n : 1) * th_dtype_size(dt));
        for (int64_t e = 0; e < n; e++)
            set(dt, data[i], e, (int)(next() % 17) - 8);
        in[i] = (einc_tensor){ dt, ndim[i], shape[i], NULL, data[i] };
        /* The strided variant reads the same logical array through reversed dimensions:
         * a buffer laid out in reverse axis order, viewed with strides. */
        in_t[i] = in[i];
        if (strided && ndim[i] >= 2) {
            void *rev = malloc((size_t)(n ? n : 1) * th_dtype_size(dt));
            int64_t rs = 1;
            for (int d = 0; d < ndim[i]; d++) {   /* dimension d has stride Π shape[0..d) */
                tstr[i][d] = rs;
                rs *= shape[i][d];
                tshape[i][d] = shape[i][d];
            }
            int64_t idx[8] = { 0 };
            for (int64_t e = 0; e < n; e++) {
                int64_t off = 0;
                for (int d = 0; d < ndim[i]; d++)
                    off += idx[d] * tstr[i][d];
                memcpy((char *)rev + off * (int64_t)th_dtype_size(dt), (char *)data[i] + e * (int64_t)th_dtype_size(dt), th_dtype_size(dt));
                for (int d = ndim[i] - 1; d >= 0 && ++idx[d] == shape[i][d]; d--)
                    idx[d] = 0;
            }
            in_t[i] = (einc_tensor){ dt, ndim[i], tshape[i], tstr[i], rev };
        }
    }
    char names[8][32];
    einc_size given[8];
    int ng = c->sizes ? th_parse_sizes(c->sizes, names, given, 8) : 0;
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *ki = NULL, *kj = NULL;
    einc_error err;
    einc_options oi = { .reduce = c->reduce, .target = EINC_TARGET_INTERP, .nsizes = ng, .sizes = given }, oj = oi;
    oj.target = EINC_TARGET_CPU;
    if (einc_compile(ctx, c->expr, &oi, &ki, &err) || einc_compile(ctx, c->expr, &oj, &kj, &err))
        fail_msg("%s: %s", c->expr, err.message);
    einc_dtype odt;
    int ondim;
    int64_t oshape[EINC_MAX_RANK];
    if (einc_kernel_output(ki, nin, in, &odt, &ondim, oshape, &err)) {
        /* max/min over an empty axis: both targets must refuse it the same way */
        assert_int_equal(einc_kernel_output(kj, nin, in, &odt, &ondim, oshape, &err), EINC_ERR_SHAPE);
        goto done;
    }
    int64_t on = 1;
    for (int d = 0; d < ondim; d++)
        on *= oshape[d];
    size_t ob = (size_t)(on ? on : 1) * th_dtype_size(odt);
    void *want = malloc(ob), *got = malloc(ob);
    memset(got, 0x5A, ob);
    einc_tensor wo = { odt, ondim, oshape, NULL, want }, go = { odt, ondim, oshape, NULL, got };
    if (einc_kernel_run(ki, nin, in, &wo, &err))
        fail_msg("interp %s: %s", c->expr, err.message);
    if (einc_kernel_run(kj, nin, in_t, &go, &err))
        fail_msg("jit %s: %s", c->expr, err.message);
    int64_t red = 1;
    for (int i = 0; i < nsz; i++)
        red *= sz[i].size > 0 ? sz[i].size : 1;
    double tol = (odt == EINC_F32 ? 1e-6 : 1e-13) * sqrt((double)red) * 4;
    for (int64_t e = 0; e < on; e++) {
        double w = th_get(odt, want, e), g = th_get(odt, got, e);
        if (isnan(w) && isnan(g))
            continue;
        if (!(fabs(w - g) <= tol * (1 + fabs(w))))
            fail_msg("%s (%s%s%s): element %lld of %lld: jit %.9g, interp %.9g", c->expr,
                     einc_dtype_name(dt), big ? ", big" : "", strided ? ", strided" : "",
                     (long long)e, (long long)on, g, w);
    }
    free(want);
    free(got);
done:
    for (int i = 0; i < nin; i++) {
        if (in_t[i].data != data[i])
            free(in_t[i].data);
        free(data[i]);
    }
    einc_kernel_free(ki);
    einc_kernel_free(kj);
    einc_ctx_free(ctx);
}

static void test_table(void **state)
{
    (void)state;
    static const einc_dtype dts[] = { EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_BOOL };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int rep = 0; rep < 6; rep++) {
            einc_dtype dt = dts[rep % 5];
            if (dt == EINC_BOOL && cases[c].reduce != EINC_REDUCE_SUM)
                dt = EINC_I32;
            /* the interpreter walks every axis at once: many operands stay small */
            bool big = rep == 5 && noperands(cases[c].expr) <= 3;
            run_case(&cases[c], dt, big, rep % 2 == 1);
        }
}

/*
 * The GEMM tile's paths: full 6-row tiles and a last partial one, partial column blocks
 * (tiles of 4, 2 and 1 vectors: float64's are 8 lanes, float32's 16), several k blocks,
 * several blocks of MC rows (252 float32 rows with a 2 MiB L2, 126 float64 ones; 600 rows
 * are 300 a thread on two), a transposed b (packed through register transposes), batches,
 * a second reduced axis (a loop around the GEMM, or run together with k), float32 and
 * float64.
 */
static void run_gemm(const char *expr, einc_dtype dt, int nin, const int64_t *sa, int na,
                     const int64_t *sb, int nb)
{
    size_t es = th_dtype_size(dt);
    int64_t ea = 1, eb = 1;
    for (int d = 0; d < na; d++)
        ea *= sa[d];
    for (int d = 0; d < nb; d++)
        eb *= sb[d];
    void *a = malloc((size_t)ea * es), *b = malloc((size_t)eb * es);
    for (int64_t i = 0; i < ea; i++)
        set(dt, a, i, (int)(next() % 17) - 8);
    for (int64_t i = 0; i < eb; i++)
        set(dt, b, i, (int)(next() % 17) - 8);
    einc_tensor in[2] = { { dt, na, sa, NULL, a }, { dt, nb, sb, NULL, b } };
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *ki = NULL, *kj = NULL;
    einc_options oi = { .target = EINC_TARGET_INTERP }, oj = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, expr, &oi, &ki, NULL), EINC_OK);
    assert_int_equal(einc_compile(ctx, expr, &oj, &kj, NULL), EINC_OK);
    einc_dtype odt;
    int ond;
    int64_t os[EINC_MAX_RANK], on = 1;
    assert_int_equal(einc_kernel_output(ki, nin, in, &odt, &ond, os, NULL), EINC_OK);
    for (int d = 0; d < ond; d++)
        on *= os[d];
    void *w = malloc((size_t)on * es), *g = malloc((size_t)on * es);
    memset(g, 0x77, (size_t)on * es);
    einc_tensor wo = { odt, ond, os, NULL, w }, go = { odt, ond, os, NULL, g };
    assert_int_equal(einc_kernel_run(ki, nin, in, &wo, NULL), EINC_OK);
    assert_int_equal(einc_kernel_run(kj, nin, in, &go, NULL), EINC_OK);
    for (int64_t i = 0; i < on; i++)   /* small integers in, so the sums are exact */
        if (th_get(odt, w, i) != th_get(odt, g, i))
            fail_msg("%s (%s): element %lld: jit %.9g, interp %.9g", expr, einc_dtype_name(dt),
                     (long long)i, th_get(odt, g, i), th_get(odt, w, i));
    free(w);
    free(g);
    free(a);
    free(b);
    einc_kernel_free(ki);
    einc_kernel_free(kj);
    einc_ctx_free(ctx);
}

static void test_gemm_paths(void **state)
{
    (void)state;
    static const einc_dtype dts[] = { EINC_F32, EINC_F64 };
    for (int i = 0; i < 2; i++) {
        einc_dtype dt = dts[i];
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 67, 300 }, 2, (int64_t[]){ 300, 130 }, 2);
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 12, 513 }, 2, (int64_t[]){ 513, 64 }, 2);
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 600, 530 }, 2, (int64_t[]){ 530, 70 }, 2);
        /* narrower tiles for the last column block: 96 = 64 + 32, 20, 40 */
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 13, 40 }, 2, (int64_t[]){ 40, 96 }, 2);
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 13, 40 }, 2, (int64_t[]){ 40, 20 }, 2);
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 13, 40 }, 2, (int64_t[]){ 40, 40 }, 2);
        run_gemm("ik,jk->ij", dt, 2, (int64_t[]){ 25, 70 }, 2, (int64_t[]){ 129, 70 }, 2);
        run_gemm("bij,bjk->bik", dt, 2, (int64_t[]){ 3, 13, 40 }, 3, (int64_t[]){ 3, 40, 70 }, 3);
        run_gemm("bhid,bhjd->bhij", dt, 2, (int64_t[]){ 2, 2, 9, 16 }, 4, (int64_t[]){ 2, 2, 66, 16 }, 4);
        run_gemm("bik,kj->bij", dt, 2, (int64_t[]){ 2, 7, 33 }, 3, (int64_t[]){ 33, 65 }, 2);
        /* an empty k: the GEMM, which writes its output itself, writes zeros */
        run_gemm("ik,kj->ij", dt, 2, (int64_t[]){ 13, 0 }, 2, (int64_t[]){ 0, 70 }, 2);
        /* a GEMM inside a loop over a second reduced axis, parallel over its rows */
        run_gemm("jik,kjl->il", dt, 2, (int64_t[]){ 5, 40, 33 }, 3, (int64_t[]){ 33, 5, 70 }, 3);
        /* two reduced axes adjacent in a run as one k (j*k), the longer one outer or inner */
        run_gemm("ijk,kjl->il", dt, 2, (int64_t[]){ 40, 5, 33 }, 3, (int64_t[]){ 33, 5, 70 }, 3);
        run_gemm("ijk,jkl->il", dt, 2, (int64_t[]){ 40, 33, 5 }, 3, (int64_t[]){ 33, 5, 70 }, 3);
        run_gemm("ijk,jkl->il", dt, 2, (int64_t[]){ 40, 3, 37 }, 3, (int64_t[]){ 3, 37, 20 }, 3);
    }
}

/*
 * The C API's auto on small arrays interprets (nothing compiles) until the interpreter's
 * estimated time adds up to a compile's; from then on the compiled kernel runs.  The
 * answers are the same throughout.
 */
static void test_auto_small(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new_with(&(einc_ctx_options){ .disk_cache = -1 });
    einc_kernel *k = NULL;
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", NULL, &k, NULL), EINC_OK);
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, 0, 1, 1, 1 }, c[4];
    int64_t sa[2] = { 2, 3 }, sb[2] = { 3, 2 }, sc[2] = { 2, 2 };
    einc_tensor in[2] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor out = { EINC_F32, 2, sc, NULL, c };
    /* 2000 + 12 iterations * 40 ns = 2.48 us a call: the 8065th reaches 20 ms */
    for (int i = 0; i < 8064; i++) {
        memset(c, 0, sizeof c);
        assert_int_equal(einc_kernel_run(k, 2, in, &out, NULL), EINC_OK);
        assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    }
    assert_int_equal(einc_ctx_jit_compiles(ctx), 0);
    memset(c, 0, sizeof c);
    assert_int_equal(einc_kernel_run(k, 2, in, &out, NULL), EINC_OK);
    assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    assert_int_equal(einc_ctx_jit_compiles(ctx), 1);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

/* c = a b for m x k and k x n, a read through strides sa (NULL: contiguous), in doubles */
static void naive_mm(int64_t m, int64_t k, int64_t n, const double *a, const int64_t *sa, const double *b,
                     double *c)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++)
                s += a[sa ? i * sa[0] + l * sa[1] : i * k + l] * b[l * n + j];
            c[i * n + j] = s;
        }
}

/*
 * A kernel run again on the shapes, dtypes and strided flags of an earlier run skips
 * binding (einc.c, memo_find): each run must still be the one its own arrays ask for.
 * Small integers, so every sum is exact.  Six shapes (more than the kernel keeps) twice
 * over, with fresh data each time; a strided view and float64 of a shape already run;
 * a wrong output after all that.
 */
static void test_run_again(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new_with(&(einc_ctx_options){ .disk_cache = -1 });
    einc_kernel *k = NULL;
    einc_options o = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", &o, &k, NULL), EINC_OK);
    static const int64_t mkn[][3] = { { 2, 3, 4 }, { 3, 2, 5 }, { 1, 3, 4 }, { 4, 4, 4 }, { 2, 2, 2 }, { 5, 1, 3 } };
    enum { NS = sizeof mkn / sizeof *mkn };
    long compiles = 0;
    for (int pass = 0; pass < 4; pass++) {
        for (int s = 0; s < NS; s++) {
            int64_t m = mkn[s][0], kk = mkn[s][1], n = mkn[s][2];
            int64_t sa[2] = { m, kk }, sb[2] = { kk, n }, sc[2] = { m, n }, st[2] = { 1, m };
            bool view = pass == 2, f64 = pass == 3;
            double a[32], b[32], want[32], got[32];
            float af[32], bf[32], cf[32];
            for (int64_t i = 0; i < m * kk; i++)
                af[i] = (float)(a[i] = (double)(next() % 7) - 3);
            for (int64_t i = 0; i < kk * n; i++)
                bf[i] = (float)(b[i] = (double)(next() % 7) - 3);
            /* the view: a's elements at [i, l] = i + l m, a transposed buffer's */
            naive_mm(m, kk, n, a, view ? st : NULL, b, want);
            einc_tensor in[2] = { { f64 ? EINC_F64 : EINC_F32, 2, sa, view ? st : NULL, f64 ? (void *)a : af },
                                  { f64 ? EINC_F64 : EINC_F32, 2, sb, NULL, f64 ? (void *)b : bf } };
            einc_tensor out = { f64 ? EINC_F64 : EINC_F32, 2, sc, NULL, f64 ? (void *)got : cf };
            assert_int_equal(einc_kernel_run(k, 2, in, &out, NULL), EINC_OK);
            for (int64_t i = 0; i < m * n; i++)
                assert_true((f64 ? got[i] : (double)cf[i]) == want[i]);
        }
        if (pass == 0)
            compiles = einc_ctx_jit_compiles(ctx);
        if (pass == 1)      /* the same signatures: nothing compiled again */
            assert_int_equal(einc_ctx_jit_compiles(ctx), compiles);
    }
    assert_true(einc_ctx_jit_compiles(ctx) > compiles);    /* the view and float64 were new */
    float a[6] = { 0 }, b[6] = { 0 }, c[6];
    int64_t sa[2] = { 2, 3 }, sb[2] = { 3, 2 }, sc[2] = { 3, 2 };
    einc_tensor in[2] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor out = { EINC_F32, 2, sc, NULL, c };
    einc_error e;
    assert_int_equal(einc_kernel_run(k, 2, in, &out, &e), EINC_ERR_SHAPE);
    assert_string_equal(e.message, "the output array's dtype or shape is not the expression's (ask einc_kernel_output)");
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

/* y = x reduced over j ('ij->i') with o, for x 2 x 3 = 1..6 */
static void reduce_rows(einc_ctx *ctx, const einc_options *o, float *y)
{
    einc_kernel *k = NULL;
    float x[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t sx[1][2] = { { 2, 3 } }, sy[1] = { 2 };
    einc_tensor in = { EINC_F32, 2, sx[0], NULL, x }, out = { EINC_F32, 1, sy, NULL, y };
    assert_int_equal(einc_compile(ctx, "ij->i", o, &k, NULL), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_OK);
    einc_kernel_free(k);
}

/*
 * A text compiled again in a context shares the first kernel's parse and run memos
 * (runtime/memo.h): each kernel still runs as its own text and options say, outlives the
 * others, and fails as the first did.  More texts than the context keeps (max_memory
 * makes each key new) give kernels of their own.
 */
static void test_same_text(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new_with(&(einc_ctx_options){ .disk_cache = -1 });
    einc_options o = { .target = EINC_TARGET_CPU };
    float y[2];
    for (int r = 0; r < 3; r++) {       /* sum, max, sum: the options are part of the key */
        o.reduce = r == 1 ? EINC_REDUCE_MAX : EINC_REDUCE_SUM;
        reduce_rows(ctx, &o, y);
        assert_true(r == 1 ? y[0] == 3 && y[1] == 6 : y[0] == 6 && y[1] == 15);
    }
    assert_int_equal(einc_ctx_jit_compiles(ctx), 2);
    o.reduce = EINC_REDUCE_SUM;
    einc_kernel *k1 = NULL, *k2 = NULL;
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", &o, &k1, NULL), EINC_OK);
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", &o, &k2, NULL), EINC_OK);
    assert_ptr_not_equal(k1, k2);
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, 0, 1, 1, 1 }, c[4];
    int64_t sa[2] = { 2, 3 }, sb[2] = { 3, 2 }, sc[2] = { 2, 2 }, got[EINC_MAX_RANK];
    einc_tensor in[2] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor out = { EINC_F32, 2, sc, NULL, c };
    assert_int_equal(einc_kernel_run(k1, 2, in, &out, NULL), EINC_OK);
    einc_kernel_free(k1);
    einc_dtype dt;
    int nd;
    assert_int_equal(einc_kernel_output(k2, 2, in, &dt, &nd, got, NULL), EINC_OK);
    assert_true(dt == EINC_F32 && nd == 2 && got[0] == 2 && got[1] == 2);
    memset(c, 0, sizeof c);
    assert_int_equal(einc_kernel_run(k2, 2, in, &out, NULL), EINC_OK);
    assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    assert_int_equal(einc_ctx_jit_compiles(ctx), 3);
    int64_t sb2[2] = { 3, 5 };      /* a shape k2 has not run: its output is bound */
    in[1].shape = sb2;
    assert_int_equal(einc_kernel_output(k2, 2, in, &dt, &nd, got, NULL), EINC_OK);
    assert_true(nd == 2 && got[0] == 2 && got[1] == 5);
    einc_kernel_free(k2);
    for (int i = 0; i < 2; i++) {   /* a text that fails keeps failing, with its message */
        einc_error e;
        assert_int_equal(einc_compile(ctx, "ij->ii", &o, &k1, &e), EINC_ERR_SYNTAX);
        assert_null(k1);
        assert_string_equal(e.message, "index 'i' appears more than once in the output");
    }
    enum { N = 300 };
    einc_kernel *ks[N];
    for (int i = 0; i < N; i++) {
        o.max_memory = 1000000 + i;
        assert_int_equal(einc_compile(ctx, "ij->i", &o, &ks[i], NULL), EINC_OK);
    }
    for (int i = 0; i < N; i += 37) {
        float x[6] = { 1, 2, 3, 4, 5, 6 };
        int64_t sx[2] = { 2, 3 }, sy[1] = { 2 };
        einc_tensor xi = { EINC_F32, 2, sx, NULL, x }, yo = { EINC_F32, 1, sy, NULL, y };
        assert_int_equal(einc_kernel_run(ks[i], 1, &xi, &yo, NULL), EINC_OK);
        assert_true(y[0] == 6 && y[1] == 15);
    }
    for (int i = 0; i < N; i++)
        einc_kernel_free(ks[i]);
    einc_ctx_free(ctx);
}

static void test_cache(void **state)
{
    (void)state;
    /* the in-process cache alone: a kernel from disk would not count as a compilation */
    einc_ctx *ctx = einc_ctx_new_with(&(einc_ctx_options){ .disk_cache = -1 });
    einc_kernel *k1 = NULL, *k2 = NULL;
    einc_options o = { .target = EINC_TARGET_CPU };
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", &o, &k1, NULL), EINC_OK);
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", &o, &k2, NULL), EINC_OK);
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, 0, 1, 1, 1 }, c[4];
    int64_t sa[2] = { 2, 3 }, sb[2] = { 3, 2 }, sc[2] = { 2, 2 };
    einc_tensor in[2] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor out = { EINC_F32, 2, sc, NULL, c };
    assert_int_equal(einc_ctx_jit_compiles(ctx), 0);
    assert_int_equal(einc_kernel_run(k1, 2, in, &out, NULL), EINC_OK);
    assert_int_equal(einc_ctx_jit_compiles(ctx), 1);
    assert_int_equal(einc_kernel_run(k2, 2, in, &out, NULL), EINC_OK);
    assert_int_equal(einc_kernel_run(k1, 2, in, &out, NULL), EINC_OK);
    assert_int_equal(einc_ctx_jit_compiles(ctx), 1);   /* two kernels, one compilation */
    assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    /* other sizes of the same ranks reuse the code: sizes are run-time arguments */
    float a2[3] = { 1, 2, 3 }, b2[3] = { 1, 1, 1 }, c2[1];
    int64_t sa2[2] = { 1, 3 }, sb2[2] = { 3, 1 }, sc2[2] = { 1, 1 };
    einc_tensor in2[2] = { { EINC_F32, 2, sa2, NULL, a2 }, { EINC_F32, 2, sb2, NULL, b2 } };
    einc_tensor out2 = { EINC_F32, 2, sc2, NULL, c2 };
    assert_int_equal(einc_kernel_run(k1, 2, in2, &out2, NULL), EINC_OK);
    assert_true(c2[0] == 6);
    assert_int_equal(einc_ctx_jit_compiles(ctx), 2);   /* length-1 dims are another kernel */
    einc_kernel_free(k1);
    einc_kernel_free(k2);
    einc_ctx_free(ctx);
}

typedef struct tjob {
    einc_ctx *ctx;
    int id;
    int ok;
    einc_target target;
} tjob;

static void *worker(void *v)
{
    tjob *j = v;
    static const char *const exprs[] = { "ij,jk->ik", "ij->ji", "i j -> j", "ij,jk->ik" };
    const char *e = exprs[j->id % 4];
    j->ok = 1;
    for (int rep = 0; rep < 20; rep++) {
        einc_kernel *k = NULL;
        if (einc_compile(j->ctx, e, &(einc_options){ .target = j->target }, &k, NULL)) {
            j->ok = 0;
            return NULL;
        }
        int64_t n = 3 + (j->id + rep) % 5;
        int64_t s[2] = { n, n };
        double a[64], b[64], c[64], w[64];
        for (int i = 0; i < n * n; i++) {
            a[i] = i % 7 - 3;
            b[i] = (i * 5) % 11 - 5;
        }
        einc_tensor in[2] = { { EINC_F64, 2, s, NULL, a }, { EINC_F64, 2, s, NULL, b } };
        int nin = einc_kernel_ninputs(k);
        einc_dtype odt;
        int ond;
        int64_t os[EINC_MAX_RANK];
        einc_kernel_output(k, nin, in, &odt, &ond, os, NULL);
        einc_tensor out = { odt, ond, os, NULL, c };
        if (einc_kernel_run(k, nin, in, &out, NULL))
            j->ok = 0;
        /* the reference, by hand */
        for (int i = 0; i < n; i++)
            for (int jj = 0; jj < n; jj++) {
                double v = 0;
                if (j->id % 4 == 1)
                    v = a[jj * n + i];
                else if (j->id % 4 == 2)
                    v = 0;
                else
                    for (int q = 0; q < n; q++)
                        v += a[i * n + q] * b[q * n + jj];
                w[i * n + jj] = v;
            }
        if (j->id % 4 == 2)
            for (int jj = 0; jj < n; jj++) {
                double v = 0;
                for (int i = 0; i < n; i++)
                    v += a[i * n + jj];
                if (c[jj] != v)
                    j->ok = 0;
            }
        else
            for (int i = 0; i < n * n; i++)
                if (c[i] != w[i])
                    j->ok = 0;
        einc_kernel_free(k);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new();
    /* auto interprets these small arrays; cpu compiles them, and the threads running one
       text share its kernel's run memos, five shapes for four slots (einc.c, memo.h) */
    pthread_t t[16];
    tjob jobs[16];
    for (int i = 0; i < 16; i++) {
        jobs[i] = (tjob){ ctx, i, 0, i < 8 ? EINC_TARGET_AUTO : EINC_TARGET_CPU };
        assert_int_equal(pthread_create(&t[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].ok, 1);
    }
    einc_ctx_free(ctx);
}

/* x reduced whole by kernel k into one value of type dt (float32 or float64). */
static double reduce_all(einc_kernel *k, einc_dtype dt, int nd, const int64_t *shape, const void *x)
{
    double r = 0;
    float rf = 0;
    einc_tensor in = { dt, nd, shape, NULL, (void *)x }, out = { dt, 0, NULL, NULL, dt == EINC_F32 ? (void *)&rf : (void *)&r };
    einc_error e;
    if (einc_kernel_run(k, 1, &in, &out, &e))
        fail_msg("%s", e.message);
    return dt == EINC_F32 ? rf : r;
}

/*
 * A full reduction over several axes runs in two steps, the first in parallel
 * (split_reductions): sum, max, min and prod over 2 and 3 axes, sizes 0, 1 and odd,
 * against a direct loop (small integers: the sums are exact in any order), and a sum of
 * arbitrary floats that is the same to the bit on 1 and on 2 threads.
 */
static void test_split_reduction(void **state)
{
    (void)state;
    static const struct { const char *expr; einc_reduce op; } rc[] = {
        { "ij->", EINC_REDUCE_SUM }, { "i j k ->", EINC_REDUCE_SUM }, { "i j -> ", EINC_REDUCE_MAX },
        { "i j k -> ", EINC_REDUCE_MIN }, { "i j -> ", EINC_REDUCE_PROD },
    };
    static const int64_t shapes[][3] = { { 0, 5, 3 }, { 1, 1, 1 }, { 37, 1, 5 }, { 1000, 3, 7 }, { 300, 301, 2 } };
    einc_ctx *ctx = einc_ctx_new();
    for (size_t c = 0; c < sizeof rc / sizeof *rc; c++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
            for (int f = 0; f < 2; f++) {
                einc_dtype dt = f ? EINC_F64 : EINC_F32;
                int nd = strchr(rc[c].expr, 'k') ? 3 : 2;
                int64_t n = 1;
                for (int d = 0; d < nd; d++)
                    n *= shapes[sh][d];
                void *x = malloc((size_t)(n ? n : 1) * th_dtype_size(dt));
                double want = rc[c].op == EINC_REDUCE_SUM ? 0 : rc[c].op == EINC_REDUCE_PROD ? 1
                            : rc[c].op == EINC_REDUCE_MAX ? -INFINITY : INFINITY;
                for (int64_t i = 0; i < n; i++) {
                    /* prod: mostly 1, a few 2 and -1, so the product stays exact */
                    int v = rc[c].op == EINC_REDUCE_PROD ? (next() % 9973 == 0 ? 2 : next() % 4001 == 0 ? -1 : 1)
                                                         : (int)(next() % 33) - 16;
                    if (dt == EINC_F32)
                        ((float *)x)[i] = (float)v;
                    else
                        ((double *)x)[i] = v;
                    want = rc[c].op == EINC_REDUCE_SUM ? want + v : rc[c].op == EINC_REDUCE_PROD ? want * v
                         : rc[c].op == EINC_REDUCE_MAX ? fmax(want, v) : fmin(want, v);
                }
                einc_kernel *k = NULL;
                einc_options o = { .target = EINC_TARGET_CPU, .reduce = rc[c].op };
                assert_int_equal(einc_compile(ctx, rc[c].expr, &o, &k, NULL), EINC_OK);
                if (n == 0 && (rc[c].op == EINC_REDUCE_MAX || rc[c].op == EINC_REDUCE_MIN)) {
                    float r0;   /* as numpy: a maximum of nothing is an error */
                    einc_tensor in = { dt, nd, shapes[sh], NULL, x }, out = { dt, 0, NULL, NULL, &r0 };
                    assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_ERR_SHAPE);
                    einc_kernel_free(k);
                    free(x);
                    continue;
                }
                double got = reduce_all(k, dt, nd, shapes[sh], x);
                if (got != want)
                    fail_msg("%s (%s) over %lld x %lld x %lld: %.17g, want %.17g", rc[c].expr,
                             einc_dtype_name(dt), (long long)shapes[sh][0], (long long)shapes[sh][1],
                             (long long)shapes[sh][2], got, want);
                einc_kernel_free(k);
                free(x);
            }
    einc_ctx_free(ctx);

    /* the same bits on 1 and on 2 threads */
    int64_t shape[2] = { 2048, 1031 };
    float *x = malloc(sizeof *x * 2048 * 1031);
    for (int64_t i = 0; i < 2048 * 1031; i++)
        x[i] = (float)(next() % 1000003) / 1000003.0f - 0.3f;
    const char *old = getenv("EINC_NUM_THREADS");
    char *saved = old ? strdup(old) : NULL;
    double r[2];
    for (int t = 0; t < 2; t++) {
        setenv("EINC_NUM_THREADS", t ? "2" : "1", 1);
        einc_ctx *cx = einc_ctx_new();
        einc_kernel *k = NULL;
        einc_options o = { .target = EINC_TARGET_CPU };
        assert_int_equal(einc_compile(cx, "ij->", &o, &k, NULL), EINC_OK);
        r[t] = reduce_all(k, EINC_F32, 2, shape, x);
        einc_kernel_free(k);
        einc_ctx_free(cx);
    }
    if (saved)
        setenv("EINC_NUM_THREADS", saved, 1);
    else
        unsetenv("EINC_NUM_THREADS");
    free(saved);
    double ref = 0;
    for (int64_t i = 0; i < 2048 * 1031; i++)
        ref += x[i];
    assert_true(r[0] == r[1]);
    assert_true(fabs(r[0] - ref) <= 1e-5 * fabs(ref) + 1e-2);
    free(x);
}

/*
 * Views with negative and zero strides (issue #24).  A reversed dimension has a negative
 * stride and the data pointer at the view's element 0, so the view reads memory before
 * that pointer; a broadcast dimension has stride 0.  The interpreter and the JIT run on
 * the view; the interpreter on the same logical array made contiguous gives the answer:
 * the interpreter's must be identical (it adds in the same order), the JIT's within the
 * table's tolerance.  Transposes, contractions (GEMM tiles and dot products), reductions
 * (sums, mean, max, prod over rows, columns, everything), diagonals and traces, on three
 * kinds of view of every operand: all dimensions reversed; the first broadcast, the others
 * reversed; the last broadcast.
 */
typedef struct vcase {
    const char *expr;
    einc_reduce reduce;
    int nin;
    int ndim[2];
    int64_t shape[2][3];
} vcase;

static const vcase vcases[] = {
    { "ij->ji", EINC_REDUCE_SUM, 1, { 2 }, { { 37, 19 } } },
    { "abc->cab", EINC_REDUCE_SUM, 1, { 3 }, { { 5, 33, 7 } } },
    { "ik,kj->ij", EINC_REDUCE_SUM, 2, { 2, 2 }, { { 13, 40 }, { 40, 70 } } },
    { "i,i->", EINC_REDUCE_SUM, 2, { 1, 1 }, { { 300 }, { 300 } } },
    { "ij,j->i", EINC_REDUCE_SUM, 2, { 2, 1 }, { { 9, 70 }, { 70 } } },
    { "ij->", EINC_REDUCE_SUM, 1, { 2 }, { { 33, 70 } } },
    { "ij->i", EINC_REDUCE_SUM, 1, { 2 }, { { 9, 1100 } } },
    { "ij->j", EINC_REDUCE_SUM, 1, { 2 }, { { 33, 70 } } },
    { "ii->i", EINC_REDUCE_SUM, 1, { 2 }, { { 17, 17 } } },
    { "ii->", EINC_REDUCE_SUM, 1, { 2 }, { { 17, 17 } } },
    { "i j -> i", EINC_REDUCE_MEAN, 1, { 2 }, { { 9, 70 } } },
    { "i j -> j", EINC_REDUCE_MAX, 1, { 2 }, { { 33, 20 } } },
    { "i j ->", EINC_REDUCE_PROD, 1, { 2 }, { { 4, 9 } } },
};

/* A view of the logical array of shape s (nd dimensions) whose elements are x (C order). */
typedef struct view {
    void *mem;                  /* what it points into */
    einc_tensor t;
    int64_t shape[3], strides[3];
} view;

/*
 * zero: the dimension that is broadcast (stride 0; x must not vary along it), or -1; every
 * other dimension is reversed when rev.
 */
static void make_view(view *v, einc_dtype dt, int nd, const int64_t *s, const void *x, int zero, bool rev)
{
    int64_t ms[3], mst[3], n = 1, base = 0;
    for (int d = nd - 1; d >= 0; d--) {
        ms[d] = d == zero ? 1 : s[d];
        mst[d] = n;
        n *= ms[d];
    }
    size_t es = th_dtype_size(dt);
    v->mem = malloc((size_t)(n ? n : 1) * es);
    for (int d = 0; d < nd; d++) {
        v->shape[d] = s[d];
        v->strides[d] = d == zero ? 0 : rev ? -mst[d] : mst[d];
        if (d != zero && rev)
            base += (ms[d] - 1) * mst[d];
    }
    int64_t idx[3] = { 0 };
    for (int64_t e = 0; e < n; e++) {   /* element idx of the view, from x's copy of it */
        int64_t at = 0, from = 0, xs = 1;
        for (int d = nd - 1; d >= 0; d--) {
            at += (d != zero && rev ? ms[d] - 1 - idx[d] : idx[d]) * mst[d];
            from += idx[d] * xs;
            xs *= s[d];
        }
        memcpy((char *)v->mem + at * (int64_t)es, (const char *)x + from * (int64_t)es, es);
        for (int d = nd - 1; d >= 0 && ++idx[d] == ms[d]; d--)
            idx[d] = 0;
    }
    v->t = (einc_tensor){ dt, nd, v->shape, v->strides, (char *)v->mem + base * (int64_t)es };
}

static void run_view_case(einc_ctx *ctx, const vcase *vc, einc_dtype dt, int mode)
{
    void *x[2];
    view vw[2];
    einc_tensor in[2];
    for (int i = 0; i < vc->nin; i++) {
        int nd = vc->ndim[i], zero = mode == 0 ? -1 : mode == 1 ? 0 : nd - 1;
        int64_t n = 1;
        for (int d = 0; d < nd; d++)
            n *= vc->shape[i][d];
        x[i] = malloc((size_t)n * th_dtype_size(dt));
        int64_t idx[3] = { 0 };
        for (int64_t e = 0; e < n; e++) {   /* random, but constant along the broadcast axis */
            int64_t key = 0;
            for (int d = 0; d < nd; d++)
                key = key * 1009 + (d == zero ? 0 : idx[d]);
            uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull + (uint64_t)mode * 77 + (uint64_t)i;
            h ^= h >> 29;
            int v = vc->reduce == EINC_REDUCE_PROD ? (int)(h % 3) + 7 : (int)(h % 17) - 8;
            set(dt, x[i], e, v);
            for (int d = nd - 1; d >= 0 && ++idx[d] == vc->shape[i][d]; d--)
                idx[d] = 0;
        }
        in[i] = (einc_tensor){ dt, nd, vc->shape[i], NULL, x[i] };
        make_view(&vw[i], dt, nd, vc->shape[i], x[i], zero, mode != 2);
    }
    einc_tensor views[2] = { vw[0].t, vw[1].t };
    einc_kernel *ki = NULL, *kj = NULL;
    einc_options oi = { .reduce = vc->reduce, .target = EINC_TARGET_INTERP }, oj = oi;
    oj.target = EINC_TARGET_CPU;
    einc_error err;
    if (einc_compile(ctx, vc->expr, &oi, &ki, &err) || einc_compile(ctx, vc->expr, &oj, &kj, &err))
        fail_msg("%s: %s", vc->expr, err.message);
    einc_dtype odt;
    int ond;
    int64_t os[EINC_MAX_RANK], on = 1, red = 1;
    assert_int_equal(einc_kernel_output(ki, vc->nin, in, &odt, &ond, os, NULL), EINC_OK);
    for (int d = 0; d < ond; d++)
        on *= os[d];
    for (int i = 0; i < vc->nin; i++)
        for (int d = 0; d < vc->ndim[i]; d++)
            red *= vc->shape[i][d];
    size_t ob = (size_t)(on ? on : 1) * th_dtype_size(odt);
    void *want = malloc(ob), *gi = malloc(ob), *gj = malloc(ob);
    memset(gi, 0x5A, ob);
    memset(gj, 0x5A, ob);
    einc_tensor wo = { odt, ond, os, NULL, want }, io = wo, jo = wo;
    io.data = gi;
    jo.data = gj;
    if (einc_kernel_run(ki, vc->nin, in, &wo, &err) || einc_kernel_run(ki, vc->nin, views, &io, &err) ||
        einc_kernel_run(kj, vc->nin, views, &jo, &err))
        fail_msg("%s: %s", vc->expr, err.message);
    static const char *const how[3] = { "reversed", "broadcast first, reversed", "broadcast last" };
    double tol = (odt == EINC_F32 ? 1e-6 : 1e-13) * sqrt((double)red) * 4;
    for (int64_t e = 0; e < on; e++) {
        double w = th_get(odt, want, e), a = th_get(odt, gi, e), b = th_get(odt, gj, e);
        if (memcmp((char *)want + e * (int64_t)th_dtype_size(odt), (char *)gi + e * (int64_t)th_dtype_size(odt), th_dtype_size(odt)))
            fail_msg("%s (%s, %s views): element %lld: the interpreter gives %.17g on the view, %.17g "
                     "on a contiguous copy", vc->expr, einc_dtype_name(dt), how[mode], (long long)e, a, w);
        if (!(fabs(w - b) <= tol * (1 + fabs(w))))
            fail_msg("%s (%s, %s views): element %lld: the JIT gives %.17g, the interpreter %.17g",
                     vc->expr, einc_dtype_name(dt), how[mode], (long long)e, b, w);
    }
    free(want);
    free(gi);
    free(gj);
    for (int i = 0; i < vc->nin; i++) {
        free(x[i]);
        free(vw[i].mem);
    }
    einc_kernel_free(ki);
    einc_kernel_free(kj);
}

static void test_views(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new();
    static const einc_dtype dts[] = { EINC_F32, EINC_F64, EINC_I32 };
    for (size_t c = 0; c < sizeof vcases / sizeof *vcases; c++)
        for (int t = 0; t < 3; t++)
            for (int mode = 0; mode < 3; mode++)
                run_view_case(ctx, &vcases[c], dts[t], mode);

    /* the repro: 'i->i' on arange(8)[::-1] */
    double a[8], got[8];
    for (int i = 0; i < 8; i++)
        a[i] = i;
    int64_t n8 = 8, back = -1;
    einc_tensor in = { EINC_F64, 1, &n8, &back, &a[7] }, out = { EINC_F64, 1, &n8, NULL, got };
    for (int t = 0; t < 2; t++) {
        einc_kernel *k = NULL;
        einc_options o = { .target = t ? EINC_TARGET_CPU : EINC_TARGET_INTERP };
        assert_int_equal(einc_compile(ctx, "i->i", &o, &k, NULL), EINC_OK);
        memset(got, 0x5A, sizeof got);
        assert_int_equal(einc_kernel_run(k, 1, &in, &out, NULL), EINC_OK);
        for (int i = 0; i < 8; i++)
            if (got[i] != 7 - i)
                fail_msg("'i->i' on arange(8)[::-1] (%s): element %d is %g", t ? "JIT" : "interpreter", i, got[i]);
        einc_kernel_free(k);
    }
    einc_ctx_free(ctx);
}

/*
 * The numerics through the C API, as the CLI runs them (the CPU pipeline splits
 * full reductions; the interpreter does not), on both targets.  numpy's values, from
 * /usr/bin/python3 with numpy 1.24: x = np.arange(1, 5833.); x /= x.mean();
 * np.prod(x.reshape(2, 2916)) -> 0.0 and np.prod(x[::-1].reshape(2, 2916)) -> inf (its
 * running product underflows or overflows first and stays there: row products meet as
 * 0 * inf = NaN); np.sum(np.full(10**6, 1 + 8196 * eps)) -> 1000000.0000018191, 7.72e-10
 * below the exact 1000000.0000018199.
 */
static void test_numpy_numerics(void **state)
{
    (void)state;
    einc_ctx *ctx = einc_ctx_new();
    double *x = malloc(sizeof *x * 1000000);
    int64_t s2[2] = { 2, 2916 }, s1[1] = { 1000000 };
    for (int down = 0; down < 2; down++) {
        for (int i = 0; i < 5832; i++)
            x[i] = (double)(down ? 5832 - i : i + 1) / 2916.5;
        for (int t = 0; t < 2; t++) {
            einc_kernel *k = NULL;
            einc_options o = { .target = t ? EINC_TARGET_CPU : EINC_TARGET_INTERP, .reduce = EINC_REDUCE_PROD };
            assert_int_equal(einc_compile(ctx, "a b ->", &o, &k, NULL), EINC_OK);
            double got = reduce_all(k, EINC_F64, 2, s2, x);
            if (down ? got != INFINITY : got != 0.0)
                fail_msg("'a b ->' prod of the %s ramp (%s): %.17g, numpy %s", down ? "downward" : "upward",
                         t ? "JIT" : "interpreter", got, down ? "inf" : "0.0");
            einc_kernel_free(k);
        }
    }
    for (int i = 0; i < 1000000; i++)
        x[i] = 1 + 8196 * DBL_EPSILON;
    for (int t = 0; t < 2; t++) {
        einc_kernel *k = NULL;
        einc_options o = { .target = t ? EINC_TARGET_CPU : EINC_TARGET_INTERP };
        assert_int_equal(einc_compile(ctx, "i->", &o, &k, NULL), EINC_OK);
        double got = reduce_all(k, EINC_F64, 1, s1, x);
        if (!(fabs(got - 1000000.0000018199) <= 7.72e-10))
            fail_msg("'i->' of 10^6 (1 + 8196 eps) (%s): %.17g, exactly 1000000.0000018199, numpy "
                     "1000000.0000018191", t ? "JIT" : "interpreter", got);
        einc_kernel_free(k);
    }
    free(x);
    einc_ctx_free(ctx);
}

static void test_misuse(void **state)
{
    (void)state;
    einc_error err;
    einc_kernel *k = NULL;
    assert_int_equal(einc_compile(NULL, "ij->ji", NULL, &k, &err), EINC_ERR_ARG);
    einc_ctx *ctx = einc_ctx_new();
    assert_int_equal(einc_compile(ctx, NULL, NULL, &k, &err), EINC_ERR_ARG);
    assert_int_equal(einc_compile(ctx, "ij->ji", NULL, NULL, &err), EINC_ERR_ARG);
    einc_options bad = { .reduce = (einc_reduce)99 };
    assert_int_equal(einc_compile(ctx, "ij->ji", &bad, &k, &err), EINC_ERR_ARG);
    assert_null(k);
    assert_int_equal(einc_compile(ctx, "ij,jk->ik", NULL, &k, &err), EINC_OK);
    float a[6] = { 0 }, c[4];
    int64_t s23[2] = { 2, 3 }, s22[2] = { 2, 2 }, s33[2] = { 3, 3 };
    einc_tensor in[2] = { { EINC_F32, 2, s23, NULL, a }, { EINC_F32, 2, s23, NULL, a } };
    einc_tensor out = { EINC_F32, 2, s22, NULL, c };
    /* wrong buffer count */
    assert_int_equal(einc_kernel_run(k, 1, in, &out, &err), EINC_ERR_ARG);
    assert_string_equal(err.message, "the expression takes 2 operands but 1 was given");
    /* mismatched shapes: j is 3 in in0 and 2 in in1 */
    assert_int_equal(einc_kernel_run(k, 2, in, &out, &err), EINC_ERR_SHAPE);
    /* an output of the wrong shape */
    in[1].shape = (int64_t[]){ 3, 2 };
    out.shape = s33;
    assert_int_equal(einc_kernel_run(k, 2, in, &out, &err), EINC_ERR_SHAPE);
    /* NULL handles and pointers */
    assert_int_equal(einc_kernel_run(NULL, 2, in, &out, &err), EINC_ERR_ARG);
    assert_int_equal(einc_kernel_run(k, 2, NULL, &out, &err), EINC_ERR_ARG);
    assert_int_equal(einc_kernel_run(k, 2, in, NULL, &err), EINC_ERR_ARG);
    in[0].data = NULL;
    out.shape = s22;
    assert_int_equal(einc_kernel_run(k, 2, in, &out, &err), EINC_ERR_ARG);
    assert_int_equal(einc_kernel_output(NULL, 2, in, NULL, NULL, NULL, &err), EINC_ERR_ARG);
    assert_null(einc_kernel_explain(NULL, 0, NULL, &err));
    assert_int_equal(einc_kernel_ninputs(NULL), -1);
    einc_kernel_free(NULL);
    einc_ctx_free(NULL);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
}

int main(void)
{
    bool have_jit = th_have_jit();
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_gemm_paths),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_auto_small),
        cmocka_unit_test(test_run_again),
        cmocka_unit_test(test_same_text),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_split_reduction),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_numpy_numerics),
    };
    (void)have_jit;
    /* CI runs the concurrency test alone under ThreadSanitizer: EINC_TEST_FILTER=test_threads */
    if (getenv("EINC_TEST_FILTER"))
        cmocka_set_test_filter(getenv("EINC_TEST_FILTER"));
    return cmocka_run_group_tests_name("jit", all, NULL, NULL);
}
