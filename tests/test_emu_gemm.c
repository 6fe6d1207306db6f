/*
 * test_emu_gemm.c — the CUDA contraction kernel (codegen/cuda_gemm.c) on the emulator
 * (EINC_CUDA_EMU=1) against the interpreter, with each block's threads forward and in
 * reverse (a missing barrier between a slice's store and its use reads poisoned shared
 * memory in one of them): `ik,kj->ij` at sizes of 1, primes, a tile ±1 and K = 0; the
 * transposed operands `ki,kj->ij` and `ik,jk->ij` (each factor read along m or n instead of
 * k, 16-byte loads where the extents allow, scalar ones where not); batch axes of 1 and 3;
 * attention scores `bhid,bhjd->bhij`; groups of several axes that merge, and ones whose
 * strides do not (the kernel's plain fallback); a final expression (scaled, shifted); float64;
 * a linear layer of a model (the bias stored first, the sum accumulated onto it).  Inputs
 * are small integers, so every float sum is exact in any order and results are compared
 * exactly.  Each float case's kernel text must be the gemm form; int32 stays on the plain one.
 * The CUDA target refuses strided views, and its allocations are aligned, so misaligned
 * pointers are not reachable from here: the refusal is checked instead.
 * Built twice (tests/meson.build): as it is, and with EMU_TF32, where every kernel is compiled
 * with TF32 allowed: then each float32 case must be the tensor-core variant (mma.sync through
 * a cp.async pipeline, codegen/cuda_gemm_tc.c), exact too since small integers are TF32
 * values, and float64 and int32 the forms they have without it; K of several slices (the
 * pipeline's three stages wrap) and not a multiple of 4 (scalar loads) are among the cases;
 * test_tf32_rounds shows the TF32 kernel rounds its inputs and never serves a call that did
 * not allow it (einc_options.allow_tf32 and EINC_ALLOW_TF32).
 * float16 and bfloat16 factors (test_half, in both builds) always take the 16-bit
 * tensor-core variant (mma.sync m16n8k16 on ldmatrix fragments, codegen/cuda_gemm_h.c) over
 * the same shape classes; the interpreter sums in float32 and rounds once on store, as the
 * kernel must, so the results' bits are compared.
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
#ifdef EMU_TF32
enum { TF32 = 1 };
#else
enum { TF32 = -1 };
#endif
static einc_ctx *ctx[3];         /* the interpreter's; EINC_CUDA_EMU_ORDER forward, reverse */

typedef struct gcase {
    const char *what;           /* an expression, or a model when it has a newline */
    einc_reduce reduce;
    einc_dtype dtype;
    int ninput;
    int ndim[3];
    int64_t shape[3][5];
    bool gemm;                  /* the kernel must be the gemm form */
} gcase;

static size_t elem_size(einc_dtype t) { return dtype_is_half(t) ? 2 : th_dtype_size(t); }

/* Small integers: every product and sum of these cases is exact in float32.  (-4 .. 4 as
   float16 and as bfloat16 bits.) */
static void *make(einc_dtype t, int ndim, const int64_t *shape, uint64_t seed)
{
    static const uint16_t f16[5] = { 0x0000, 0x3c00, 0x4000, 0x4200, 0x4400 };
    static const uint16_t bf16[5] = { 0x0000, 0x3f80, 0x4000, 0x4040, 0x4080 };
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    void *p = malloc((size_t)(n ? n : 1) * elem_size(t));
    assert_non_null(p);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        int v = (int)floor(th_uniform(&s, -4, 5));
        if (dtype_is_half(t))
            ((uint16_t *)p)[i] = (uint16_t)((t == EINC_F16 ? f16 : bf16)[v < 0 ? -v : v] | (v < 0 ? 0x8000 : 0));
        else
            th_put(t, p, i, v);
    }
    return p;
}

static einc_status compile(einc_ctx *x, const gcase *c, einc_target tg, einc_kernel **k, einc_error *err)
{
    einc_options o = { .reduce = c->reduce, .target = tg, .allow_tf32 = TF32 };
    return strchr(c->what, '\n') ? einc_compile_model(x, c->what, &o, k, err)
                                 : einc_compile(x, c->what, &o, k, err);
}

/* Is c's kernel the gemm form?  (The emitted .cu is the text the runtime compiles.)  With
   TF32 allowed a float32 one must be the tensor-core variant, and say so; others not. */
static bool is_gemm(const gcase *c)
{
    einc_error err = { 0 };
    einc_kernel *k = NULL;
    if (compile(ctx[0], c, EINC_TARGET_CUDA, &k, &err))
        fail_msg("%s: compile: %s", c->what, err.message);
    char *s = einc_kernel_emit(k, EINC_EMIT_CUDA, "g", c->dtype, NULL, &err);
    if (!s)
        fail_msg("%s: emit: %s", c->what, err.message);
    bool tc = strstr(s, "einc_tc_block(einc_a") != NULL;
    if (tc != (TF32 > 0 && c->dtype == EINC_F32) ||
        tc != (strstr(s, " gemm on TF32 tensor cores (mma.sync m16n8k8): 256 threads") != NULL))
        fail_msg("%s (%s): %s the tensor-core variant", c->what, einc_dtype_name(c->dtype), tc ? "unexpectedly" : "not");
    /* float16 and bfloat16: the 16-bit variant whenever the gemm form is taken */
    bool hc = strstr(s, "einc_hc_block<") != NULL;
    if (hc != (dtype_is_half(c->dtype) && c->gemm) ||
        hc != (strstr(s, " gemm on 16-bit tensor cores (mma.sync m16n8k16, float32 sums): 256 threads") != NULL))
        fail_msg("%s (%s): %s the 16-bit tensor-core variant", c->what, einc_dtype_name(c->dtype),
                 hc ? "unexpectedly" : "not");
    bool g = tc || hc || strstr(s, "einc_gemm_block<") != NULL;
    free(s);
    einc_kernel_free(k);
    return g;
}

static void run_case(const gcase *c)
{
    /* (kernels are emitted in float types only: an integer case checks its values alone) */
    if (dtype_is_float(c->dtype) && is_gemm(c) != c->gemm)
        fail_msg("%s: %s the gemm form", c->what, c->gemm ? "not" : "unexpectedly");
    void *data[3];
    einc_tensor in[3];
    for (int i = 0; i < c->ninput; i++) {
        data[i] = make(c->dtype, c->ndim[i], c->shape[i], 0x9e3779b97f4a7c15ULL + (uint64_t)i);
        in[i] = (einc_tensor){ c->dtype, c->ndim[i], c->shape[i], NULL, data[i] };
    }
    void *res[3] = { 0 };
    einc_dtype ot = EINC_F32;
    int ond = 0;
    int64_t osh[EINC_MAX_RANK], on = 1;
    for (int g = 0; g < 3; g++) {
        einc_error err = { 0 };
        einc_kernel *k = NULL;
        if (compile(ctx[g], c, g ? EINC_TARGET_CUDA : EINC_TARGET_INTERP, &k, &err))
            fail_msg("%s: compile: %s", c->what, err.message);
        if (einc_kernel_output(k, c->ninput, in, &ot, &ond, osh, &err))
            fail_msg("%s: output: %s", c->what, err.message);
        on = 1;
        for (int i = 0; i < ond; i++)
            on *= osh[i];
        res[g] = malloc((size_t)(on ? on : 1) * elem_size(ot));
        assert_non_null(res[g]);
        memset(res[g], 0xA5, (size_t)(on ? on : 1) * elem_size(ot));
        einc_tensor out = { ot, ond, osh, NULL, res[g] };
        if (einc_kernel_run(k, c->ninput, in, &out, &err))
            fail_msg("%s: run (%s): %s", c->what, g ? "cuda" : "interp", err.message);
        einc_kernel_free(k);
    }
    for (int g = 1; g < 3; g++)
        for (int64_t e = 0; e < on; e++) {
            /* a 16-bit float's bits (as their integer) */
            double a = dtype_is_half(ot) ? ((uint16_t *)res[0])[e] : th_get(ot, res[0], e);
            double b = dtype_is_half(ot) ? ((uint16_t *)res[g])[e] : th_get(ot, res[g], e);
            if (a != b)
                fail_msg("%s [%lld %lld %lld] (%s): element %lld: the interpreter %.9g, the emulated GPU %.9g",
                         c->what, (long long)c->shape[0][0], (long long)c->shape[0][1],
                         (long long)c->shape[1][c->ndim[1] - 1], g == 1 ? "threads forward" : "threads reversed",
                         (long long)e, a, b);
        }
    for (int i = 0; i < 3; i++)
        free(res[i]);
    for (int i = 0; i < c->ninput; i++)
        free(data[i]);
}

#define SKIP_NO_CXX() do { (void)state; if (!have_cxx) skip(); } while (0)

/* ik,kj->ij: M, K, N of 1, primes, a tile (128) and its neighbours, K = 0 */
static void test_matmul(void **state)
{
    SKIP_NO_CXX();
    static const int64_t mkn[][3] = {
        { 1, 1, 1 }, { 7, 13, 31 }, { 31, 7, 13 }, { 1, 9, 129 }, { 129, 9, 1 }, { 63, 17, 65 },
        { 127, 8, 129 }, { 128, 16, 128 }, { 65, 3, 64 }, { 5, 0, 7 }, { 0, 4, 5 },
        /* K of several 32-wide slices (a three-stage ring wraps), and not a multiple of 4 */
        { 129, 100, 127 }, { 128, 128, 128 }, { 33, 257, 17 }, { 1, 67, 1 }, { 130, 97, 131 },
    };
    for (size_t i = 0; i < sizeof mkn / sizeof *mkn; i++) {
        gcase c = { "ik,kj->ij", EINC_REDUCE_SUM, EINC_F32, 2, { 2, 2 },
                    { { mkn[i][0], mkn[i][1] }, { mkn[i][1], mkn[i][2] } }, true };
        run_case(&c);
    }
}

/* the factors read along m or n: ki (A along m), jk (B along k) */
static void test_transposed(void **state)
{
    SKIP_NO_CXX();
    static const int64_t mkn[][3] = { { 33, 12, 65 }, { 64, 16, 64 }, { 13, 7, 5 } };
    for (size_t i = 0; i < sizeof mkn / sizeof *mkn; i++) {
        int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
        gcase a = { "ki,kj->ij", EINC_REDUCE_SUM, EINC_F32, 2, { 2, 2 }, { { k, m }, { k, n } }, true };
        run_case(&a);
        gcase b = { "ik,jk->ij", EINC_REDUCE_SUM, EINC_F32, 2, { 2, 2 }, { { m, k }, { n, k } }, true };
        run_case(&b);
        gcase t = { "ki,jk->ji", EINC_REDUCE_SUM, EINC_F32, 2, { 2, 2 }, { { k, m }, { n, k } }, true };
        run_case(&t);
    }
}

/* batch axes (of 1 and 3), attention scores */
static void test_batched(void **state)
{
    SKIP_NO_CXX();
    gcase one = { "bik,bkj->bij", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 3 }, { { 1, 33, 20 }, { 1, 20, 17 } }, true };
    run_case(&one);
    gcase three = { "bik,bkj->bij", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 3 }, { { 3, 65, 8 }, { 3, 8, 64 } }, true };
    run_case(&three);
    gcase att = { "bhid,bhjd->bhij", EINC_REDUCE_SUM, EINC_F32, 2, { 4, 4 },
                  { { 2, 3, 17, 8 }, { 2, 3, 33, 8 } }, true };
    run_case(&att);
    gcase mid = { "ibk,bkj->bij", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 3 }, { { 9, 2, 5 }, { 2, 5, 11 } }, true };
    run_case(&mid);
}

/* groups of several axes: merged where the strides allow, else the plain fallback */
static void test_groups(void **state)
{
    SKIP_NO_CXX();
    gcase m2 = { "abk,kc->abc", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 2 }, { { 3, 5, 7 }, { 7, 11 } }, true };
    run_case(&m2);
    gcase k2 = { "ikl,klj->ij", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 3 }, { { 9, 3, 4 }, { 3, 4, 10 } }, true };
    run_case(&k2);
    /* M = (a, b) in the output's order, which A stores the other way round */
    gcase no = { "bak,kc->abc", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 2 }, { { 5, 3, 7 }, { 7, 11 } }, true };
    run_case(&no);
    /* K = (k, l) read in different orders by the two factors */
    gcase nok = { "ikl,lkj->ij", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 3 }, { { 9, 3, 4 }, { 4, 3, 10 } }, true };
    run_case(&nok);
    gcase ones = { "abk,kc->abc", EINC_REDUCE_SUM, EINC_F32, 2, { 3, 2 }, { { 1, 5, 7 }, { 7, 1 } }, true };
    run_case(&ones);
}

/* the epilogue: a final expression (a scale and a shift), float64, int32 (the plain form), a linear layer */
static void test_epilogue(void **state)
{
    SKIP_NO_CXX();
    gcase scaled = { "input a: f32[M, K]\ninput b: f32[K, N]\nreturn einsum('i k, k j -> i j', a, b) / 8 + 1\n",
                     EINC_REDUCE_SUM, EINC_F32, 2, { 2, 2 }, { { 19, 8 }, { 8, 23 } }, true };
    run_case(&scaled);
    gcase f64 = { "ik,kj->ij", EINC_REDUCE_SUM, EINC_F64, 2, { 2, 2 }, { { 65, 9 }, { 9, 33 } }, true };
    run_case(&f64);
    gcase f64t = { "ki,jk->ij", EINC_REDUCE_SUM, EINC_F64, 2, { 2, 2 }, { { 9, 65 }, { 33, 9 } }, true };
    run_case(&f64t);
    gcase i32 = { "ik,kj->ij", EINC_REDUCE_SUM, EINC_I32, 2, { 2, 2 }, { { 9, 5 }, { 5, 7 } }, false };
    run_case(&i32);
    gcase lin = { "input x: f32[B, D]\nparam w: f32[H, D]\nparam b: f32[H]\nreturn relu(linear(x, w, b))\n",
                  EINC_REDUCE_SUM, EINC_F32, 3, { 2, 2, 1 }, { { 70, 12 }, { 33, 12 }, { 33 } }, true };
    run_case(&lin);
}

/*
 * float16 and bfloat16 factors, every shape class: sizes of 1, primes, a tile +-1, K = 0, K
 * of several slices (the ring wraps), extents multiples of 8 (cp.async) and not (scalar
 * loads), each factor along k or not (ldmatrix and its .trans), batch axes of 1 and 3,
 * attention's two products, merged groups and the plain fallback.
 */
static void test_half(void **state)
{
    SKIP_NO_CXX();
    static const int64_t mkn[][3] = {
        { 1, 1, 1 }, { 7, 13, 31 }, { 1, 9, 129 }, { 129, 9, 1 }, { 127, 8, 129 }, { 128, 32, 128 },
        { 5, 0, 7 }, { 129, 100, 127 }, { 33, 257, 17 }, { 130, 96, 136 }, { 64, 64, 64 },
    };
    static const einc_dtype dts[2] = { EINC_F16, EINC_BF16 };
    for (int d = 0; d < 2; d++) {
        einc_dtype t = dts[d];
        for (size_t i = 0; i < sizeof mkn / sizeof *mkn; i++) {
            int64_t m = mkn[i][0], k = mkn[i][1], n = mkn[i][2];
            gcase c = { "ik,kj->ij", EINC_REDUCE_SUM, t, 2, { 2, 2 }, { { m, k }, { k, n } }, true };
            run_case(&c);
        }
        static const int64_t tr[][3] = { { 33, 12, 65 }, { 64, 16, 64 }, { 129, 40, 8 } };
        for (size_t i = 0; i < sizeof tr / sizeof *tr; i++) {
            int64_t m = tr[i][0], k = tr[i][1], n = tr[i][2];
            gcase a = { "ki,kj->ij", EINC_REDUCE_SUM, t, 2, { 2, 2 }, { { k, m }, { k, n } }, true };
            run_case(&a);
            gcase b = { "ik,jk->ij", EINC_REDUCE_SUM, t, 2, { 2, 2 }, { { m, k }, { n, k } }, true };
            run_case(&b);
            gcase u = { "ki,jk->ji", EINC_REDUCE_SUM, t, 2, { 2, 2 }, { { k, m }, { n, k } }, true };
            run_case(&u);
        }
        gcase one = { "bik,bkj->bij", EINC_REDUCE_SUM, t, 2, { 3, 3 }, { { 1, 33, 20 }, { 1, 20, 17 } }, true };
        run_case(&one);
        gcase three = { "bik,bkj->bij", EINC_REDUCE_SUM, t, 2, { 3, 3 }, { { 3, 65, 8 }, { 3, 8, 64 } }, true };
        run_case(&three);
        gcase att = { "bhid,bhjd->bhij", EINC_REDUCE_SUM, t, 2, { 4, 4 }, { { 2, 3, 17, 8 }, { 2, 3, 33, 8 } }, true };
        run_case(&att);
        gcase att64 = { "bhid,bhjd->bhij", EINC_REDUCE_SUM, t, 2, { 4, 4 }, { { 1, 2, 40, 64 }, { 1, 2, 24, 64 } }, true };
        run_case(&att64);
        gcase pv = { "bhij,bhjd->bhid", EINC_REDUCE_SUM, t, 2, { 4, 4 }, { { 1, 2, 17, 24 }, { 1, 2, 24, 16 } }, true };
        run_case(&pv);
        gcase m2 = { "abk,kc->abc", EINC_REDUCE_SUM, t, 2, { 3, 2 }, { { 3, 5, 7 }, { 7, 11 } }, true };
        run_case(&m2);
        gcase no = { "bak,kc->abc", EINC_REDUCE_SUM, t, 2, { 3, 2 }, { { 5, 3, 7 }, { 7, 11 } }, true };
        run_case(&no);
    }
}

/* a strided view: the CUDA target's refusal, word for word */
static void test_strided(void **state)
{
    SKIP_NO_CXX();
    float a[6 * 4] = { 0 }, b[4 * 3] = { 0 }, out[3 * 3];
    int64_t sa[2] = { 3, 4 }, sta[2] = { 8, 1 }, sb[2] = { 4, 3 }, so[2] = { 3, 3 };
    einc_tensor in[2] = { { EINC_F32, 2, sa, sta, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor o = { EINC_F32, 2, so, NULL, out };
    einc_error err = { 0 };
    einc_kernel *k = NULL;
    einc_options opt = { .target = EINC_TARGET_CUDA };
    assert_int_equal(einc_compile(ctx[1], "ik,kj->ij", &opt, &k, &err), EINC_OK);
    assert_int_equal(einc_kernel_run(k, 2, in, &o, &err), EINC_ERR_UNSUPPORTED);
    assert_string_equal(err.message, "strided arrays are not supported on the CUDA target yet");
    einc_kernel_free(k);
}

/*
 * a = 1 + 2^-12 is no TF32 value (10 mantissa bits): a TF32 product a * 1 is 1, an exact
 * one a.  Calls with and without TF32 alternate on one context, each keeping its own kernel.
 */
static void test_tf32_rounds(void **state)
{
    SKIP_NO_CXX();
    const float want[3] = { 1.0f + 0x1p-12f, 1.0f, 1.0f + 0x1p-12f };   /* off, on, off */
    float a[4 * 8], b[8 * 4], out[4 * 4];
    for (int i = 0; i < 32; i++) {
        a[i] = i % 8 ? 0.0f : 1.0f + 0x1p-12f;      /* a[m][0] only */
        b[i] = i / 4 ? 0.0f : 1.0f;                 /* b[0][n] only */
    }
    int64_t sa[2] = { 4, 8 }, sb[2] = { 8, 4 }, so[2] = { 4, 4 };
    einc_tensor in[2] = { { EINC_F32, 2, sa, NULL, a }, { EINC_F32, 2, sb, NULL, b } };
    einc_tensor o = { EINC_F32, 2, so, NULL, out };
    for (int env = 0; env < 2; env++)
        for (int i = 0; i < 3; i++) {
            bool on = i == 1;
            /* by the field, or by the environment with the field left 0 */
            if (env)
                setenv("EINC_ALLOW_TF32", on ? "1" : "0", 1);
            einc_options opt = { .target = EINC_TARGET_CUDA, .allow_tf32 = env ? 0 : on ? 1 : -1 };
            einc_error err = { 0 };
            einc_kernel *k = NULL;
            assert_int_equal(einc_compile(ctx[1], "ik,kj->ij", &opt, &k, &err), EINC_OK);
            memset(out, 0xA5, sizeof out);
            if (einc_kernel_run(k, 2, in, &o, &err))
                fail_msg("run: %s", err.message);
            for (int e = 0; e < 16; e++)
                if (out[e] != want[i])
                    fail_msg("TF32 %s (by %s): element %d is %a, not %a", on ? "allowed" : "not allowed",
                             env ? "EINC_ALLOW_TF32" : "allow_tf32", e, (double)out[e], (double)want[i]);
            einc_kernel_free(k);
        }
    unsetenv("EINC_ALLOW_TF32");
}

int main(void)
{
    setenv("EINC_CUDA_EMU", "1", 1);
    setenv("EINC_CACHE", "0", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu_gemm: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
    ctx[0] = einc_ctx_new();
    assert_non_null(ctx[0]);
    for (int g = 1; g < 3; g++) {
        setenv("EINC_CUDA_EMU_ORDER", g == 2 ? "reverse" : "forward", 1);
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
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_transposed),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_epilogue),
        cmocka_unit_test(test_half),
        cmocka_unit_test(test_strided),
        cmocka_unit_test(test_tf32_rounds),
    };
    int rc = cmocka_run_group_tests_name("emu gemm", tests, NULL, NULL);
    for (int g = 0; g < 3; g++)
        einc_ctx_free(ctx[g]);
    return rc;
}
