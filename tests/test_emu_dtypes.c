/*
 * test_emu_dtypes.c — the CUDA kernels on the types beyond the five classic ones (README,
 * "Dtypes"): int8, int16, uint8, uint16, uint32, uint64, float16 and bfloat16, on the
 * emulator (EINC_CUDA_EMU=1) against the interpreter, for every kernel form: elementwise
 * (the grid-stride form), a transpose (the copy form, which moves the 2-byte bits), a
 * contraction (the plain form; float16 and bfloat16 the gemm form's 16-bit tensor-core variant,
 * codegen/cuda_gemm_h.c, which test_emu_gemm covers shape by shape), sum, max, min, prod and
 * mean to rows (the rows form), to a scalar (two stages) and to columns, at edge sizes (1,
 * 31, 32, 33, 37, 1031), and the softmax and layernorm models in float16 and bfloat16.
 * Cases alternate between the threads of a block forward and reversed.
 *
 * Integers are random bits, so products and sums overflow their type and must wrap as the
 * interpreter's do, bit for bit.  float16 and bfloat16 data are small integers where the
 * float32 arithmetic is exact, so the one rounding on store gives the interpreter's bits;
 * a mean and a prod are compared within one rounding of the 16-bit type (the interpreter
 * computes in double), the models within two roundings at the result's largest magnitude
 * (the interpreter rounds each temporary to the 16-bit type, the fused kernel keeps them
 * in float32, and layernorm's + b cancels), and a float mean of integers
 * within float64's rounding of a sum taken in another order.  A product of two 16-bit floats is exact in float32,
 * so 65536 products of random bit patterns (NaN, infinities, subnormals included) check
 * the round to nearest even of einc_f2h and einc_f2bf against the interpreter's bits.
 * Without a C++ compiler every test skips and says why.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "ir.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool have_cxx;
static einc_ctx *ctx[2];        /* EINC_CUDA_EMU_ORDER forward, reverse */
static einc_ctx *ref;           /* the interpreter's */
static int turn;                /* which of ctx the next case runs on */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double get(einc_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case EINC_F32: return ((const float *)p)[i];
    case EINC_F64: return ((const double *)p)[i];
    case EINC_I8: return ((const int8_t *)p)[i];
    case EINC_I16: return ((const int16_t *)p)[i];
    case EINC_I32: return ((const int32_t *)p)[i];
    case EINC_I64: return (double)((const int64_t *)p)[i];
    case EINC_U16: return ((const uint16_t *)p)[i];
    case EINC_U32: return ((const uint32_t *)p)[i];
    case EINC_U64: return (double)((const uint64_t *)p)[i];
    case EINC_F16: return f16_to_double(((const uint16_t *)p)[i]);
    case EINC_BF16: return bf16_to_double(((const uint16_t *)p)[i]);
    default: return ((const uint8_t *)p)[i];
    }
}

/* small integers in [-4, 4] for the 16-bit floats (exact float32 arithmetic), random bits
   for the integers (and every type when raw); special: NaN, infinities, a subnormal and a
   large value among them */
static void fill(einc_dtype t, void *p, int64_t n, bool special, bool raw)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next();
        if (!dtype_is_half(t) || raw) {
            memcpy((char *)p + i * (int64_t)dtype_size(t), &r, dtype_size(t));
            continue;
        }
        double v = (double)(int)(r % 9) - 4;
        if (special) {
            static const double sp[] = { NAN, INFINITY, -INFINITY, 0x1p-20, 60000, -0.0, 1.5 };
            v = r % 3 == 0 ? sp[(r >> 8) % 7] : v;
        }
        ((uint16_t *)p)[i] = t == EINC_F16 ? f16_from_double(v) : bf16_from_double(v);
    }
}

/* the spacing of the 16-bit float type t at v: one rounding's worth */
static double ulp_at(einc_dtype t, double v)
{
    uint16_t h = t == EINC_F16 ? f16_from_double(fabs(v)) : bf16_from_double(fabs(v));
    uint16_t up = (uint16_t)(h + 1);
    double a = t == EINC_F16 ? f16_to_double(h) : bf16_to_double(h);
    double b = t == EINC_F16 ? f16_to_double(up) : bf16_to_double(up);
    return fabs(b - a);
}

typedef struct dcase {
    const char *what;           /* an expression, or a model when it has a newline */
    einc_reduce reduce;
    const char *form;           /* text the launch comment of --emit=cuda holds, or NULL */
    int nin;
    int ndim[3];
    int64_t shape[3][2];
    einc_dtype in_type[3];      /* 0: the case's type */
    bool special;
    bool exact;                 /* the 16-bit floats too */
    uint64_t *bits;             /* when set: the first input's elements (n of them), and
                                   the others' random bits */
} dcase;

static einc_kernel *compile(einc_ctx *x, const dcase *c, einc_target target, einc_error *err)
{
    einc_options o = { .reduce = c->reduce, .target = target };
    einc_kernel *k = NULL;
    einc_status st = strchr(c->what, '\n') ? einc_compile_model(x, c->what, &o, &k, err)
                                           : einc_compile(x, c->what, &o, &k, err);
    if (st)
        fail_msg("%s: compile: %s", c->what, err->message);
    return k;
}

/* Runs c in type t on the interpreter and on an emulated GPU; compares. */
static void run_case(einc_dtype t, const dcase *c)
{
    void *data[3];
    einc_tensor in[3];
    for (int i = 0; i < c->nin; i++) {
        einc_dtype it = c->in_type[i] ? c->in_type[i] : t;
        int64_t n = 1;
        for (int d = 0; d < c->ndim[i]; d++)
            n *= c->shape[i][d];
        data[i] = malloc((size_t)(n ? n : 1) * dtype_size(it));
        assert_non_null(data[i]);
        fill(it, data[i], n, c->special, c->bits != NULL);
        if (c->bits && i == 0)
            for (int64_t e = 0; e < n; e++)
                memcpy((char *)data[i] + e * (int64_t)dtype_size(it), &c->bits[e], dtype_size(it));
        in[i] = (einc_tensor){ it, c->ndim[i], c->shape[i], NULL, data[i] };
    }
    void *res[2] = { 0 };
    einc_dtype ot = EINC_F32;
    int ond = 0;
    int64_t osh[EINC_MAX_RANK], on = 1;
    einc_ctx *gpu = ctx[turn++ % 2];
    for (int g = 0; g < 2; g++) {
        einc_error err = { 0 };
        einc_kernel *k = compile(g ? gpu : ref, c, g ? EINC_TARGET_CUDA : EINC_TARGET_INTERP, &err);
        if (einc_kernel_output(k, c->nin, in, &ot, &ond, osh, &err))
            fail_msg("%s: output: %s", c->what, err.message);
        on = 1;
        for (int i = 0; i < ond; i++)
            on *= osh[i];
        res[g] = malloc((size_t)(on ? on : 1) * dtype_size(ot));
        assert_non_null(res[g]);
        memset(res[g], 0xA5, (size_t)(on ? on : 1) * dtype_size(ot));
        einc_tensor out = { ot, ond, osh, NULL, res[g] };
        if (einc_kernel_run(k, c->nin, in, &out, &err))
            fail_msg("%s (%s) [%lld x %lld]: run (%s): %s", c->what, einc_dtype_name(t),
                     (long long)c->shape[0][0], (long long)c->shape[0][1], g ? "cuda" : "interp",
                     err.message);
        if (g && c->form) {     /* the kernel form the case is for */
            char *cu = einc_kernel_emit(k, EINC_EMIT_CUDA, NULL, t, NULL, &err);
            if (!cu)
                fail_msg("%s (%s): emit: %s", c->what, einc_dtype_name(t), err.message);
            if (!strstr(cu, c->form))
                fail_msg("%s (%s): the kernel is not '%s'", c->what, einc_dtype_name(t), c->form);
            free(cu);
        }
        einc_kernel_free(k);
    }
    double amax = 0;    /* the result's largest magnitude: a model's tolerance */
    for (int64_t e = 0; e < on; e++)
        if (isfinite(get(ot, res[0], e)))
            amax = fmax(amax, fabs(get(ot, res[0], e)));
    for (int64_t e = 0; e < on; e++) {
        double a = get(ot, res[0], e), b = get(ot, res[1], e);
        bool same = dtype_is_float(ot) ? a == b || (isnan(a) && isnan(b))
                                       : memcmp((char *)res[0] + e * (int64_t)dtype_size(ot),
                                                (char *)res[1] + e * (int64_t)dtype_size(ot),
                                                dtype_size(ot)) == 0;
        /* a model's temporaries are 16-bit arrays in the interpreter, each a rounding, and
           float32 registers in the GPU's fused kernel; layernorm's + b cancels: two
           roundings at the result's largest magnitude */
        if (!same && dtype_is_half(ot) && !c->exact && isfinite(a))
            same = fabs(a - b) <= (strchr(c->what, '\n') ? 2 * ulp_at(ot, amax) : ulp_at(ot, a)) * (1 + 1e-6);
        /* a float mean of integers: the same sum in another order */
        if (!same && (ot == EINC_F32 || ot == EINC_F64) && !c->exact && isfinite(a))
            same = fabs(a - b) <= fabs(a) * (ot == EINC_F32 ? 1e-6 : 1e-13);
        if (!same)
            fail_msg("%s (%s) [%lld x %lld]: element %lld of %s: the interpreter %.9g, the emulated GPU "
                     "%.9g", c->what, einc_dtype_name(t), (long long)c->shape[0][0],
                     (long long)c->shape[0][1], (long long)e, einc_dtype_name(ot), a, b);
    }
    for (int i = 0; i < 2; i++)
        free(res[i]);
    for (int i = 0; i < c->nin; i++)
        free(data[i]);
}

static const int64_t sizes[] = { 1, 31, 32, 33, 37, 1031 };
enum { NSIZE = sizeof sizes / sizeof *sizes };

#define PLAIN "256 threads on min(ceil(W/256), 4096) blocks"
#define COPY "a copy (shared-memory tiles"
#define REDUCE "reduce: a warp or a block per row"
#define GEMM16 "gemm on 16-bit tensor cores (mma.sync m16n8k16, float32 sums)"

/* Every kernel form on type t, at every edge size (all: else 1, 33 and 1031). */
static void forms(einc_dtype t, bool all)
{
    bool half = dtype_is_half(t);
    for (int s = 0; s < NSIZE; s++) {
        int64_t n = sizes[s], m = n > 100 ? 3 : 5;
        if (!all && n != 1 && n != 33 && n != 1031)
            continue;
        const dcase cs[] = {
            { "ij,ij->ij", EINC_REDUCE_SUM, PLAIN, 2, { 2, 2 }, { { m, n }, { m, n } }, { 0 }, false, true, NULL },
            { "ij->ji", EINC_REDUCE_SUM, COPY, 1, { 2 }, { { n, 37 } }, { 0 }, false, true, NULL },
            { "ik,kj->ij", EINC_REDUCE_SUM, half ? GEMM16 : PLAIN, 2, { 2, 2 }, { { m, n }, { n, 7 } }, { 0 }, false, true, NULL },
            { "i j -> i", EINC_REDUCE_SUM, REDUCE, 1, { 2 }, { { m, n } }, { 0 }, false, true, NULL },
            { "i j -> i", EINC_REDUCE_MAX, REDUCE, 1, { 2 }, { { m, n } }, { 0 }, false, true, NULL },
            { "i j -> j", EINC_REDUCE_MIN, REDUCE, 1, { 2 }, { { n, m } }, { 0 }, false, true, NULL },
            { "ij->", EINC_REDUCE_SUM, REDUCE, 1, { 2 }, { { 7, n * 13 } }, { 0 }, false, true, NULL },
            { "i j ->", EINC_REDUCE_MAX, REDUCE, 1, { 2 }, { { 7, n * 13 } }, { 0 }, false, true, NULL },
            { "i j -> i", EINC_REDUCE_PROD, NULL, 1, { 2 }, { { m, n } }, { 0 }, false, !half, NULL },
            { "i j -> i", EINC_REDUCE_MEAN, NULL, 1, { 2 }, { { m, n } }, { 0 }, false, false, NULL },
        };
        for (size_t i = 0; i < sizeof cs / sizeof *cs; i++)
            run_case(t, &cs[i]);
    }
}

#define SKIP_NO_CXX() do { (void)state; if (!have_cxx) skip(); } while (0)

static void test_int8(void **state) { SKIP_NO_CXX(); forms(EINC_I8, true); }
static void test_int16(void **state) { SKIP_NO_CXX(); forms(EINC_I16, false); }
static void test_uint8(void **state) { SKIP_NO_CXX(); forms(EINC_U8, false); }
static void test_uint16(void **state) { SKIP_NO_CXX(); forms(EINC_U16, false); }
static void test_uint32(void **state) { SKIP_NO_CXX(); forms(EINC_U32, false); }
static void test_uint64(void **state) { SKIP_NO_CXX(); forms(EINC_U64, true); }
static void test_float16(void **state) { SKIP_NO_CXX(); forms(EINC_F16, true); }
static void test_bfloat16(void **state) { SKIP_NO_CXX(); forms(EINC_BF16, true); }

/* A narrow product wraps before max compares it (relu), as numpy's int8 arithmetic. */
static void test_wrap_before_max(void **state)
{
    SKIP_NO_CXX();
    static const char *const models[] = {
        "input x: i8[N, C]\ninput y: i8[N, C]\nreturn relu(x * y)\n",
        "input x: i16[N, C]\ninput y: i16[N, C]\nreturn relu(x * y)\n",
        "input x: u8[N, C]\ninput y: u8[N, C]\nreturn relu(x * y - y)\n",
        "input x: u32[N, C]\ninput y: u32[N, C]\nreturn relu(x * y)\n",
    };
    static const einc_dtype types[] = { EINC_I8, EINC_I16, EINC_U8, EINC_U32 };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        dcase c = { models[i], EINC_REDUCE_SUM, NULL, 2, { 2, 2 }, { { 9, 33 }, { 9, 33 } }, { 0 }, false, true, NULL };
        run_case(types[i], &c);
    }
}

/* NaN, infinities, subnormals and overflow to infinity in float16 and bfloat16. */
static void test_special_values(void **state)
{
    SKIP_NO_CXX();
    static const einc_dtype types[] = { EINC_F16, EINC_BF16 };
    for (size_t ti = 0; ti < 2; ti++)
        for (int s = 0; s < NSIZE; s++) {
            int64_t n = sizes[s];
            const dcase cs[] = {
                { "ij,ij->ij", EINC_REDUCE_SUM, NULL, 2, { 2, 2 }, { { 3, n }, { 3, n } }, { 0 }, true, true, NULL },
                { "i j -> i", EINC_REDUCE_MAX, NULL, 1, { 2 }, { { 4, n } }, { 0 }, true, true, NULL },
                { "i j -> i", EINC_REDUCE_MIN, NULL, 1, { 2 }, { { 4, n } }, { 0 }, true, true, NULL },
                { "i j -> i", EINC_REDUCE_SUM, NULL, 1, { 2 }, { { 4, n } }, { 0 }, true, false, NULL },
                { "ij->ji", EINC_REDUCE_SUM, NULL, 1, { 2 }, { { n, 5 } }, { 0 }, true, true, NULL },
            };
            for (size_t i = 0; i < sizeof cs / sizeof *cs; i++)
                run_case(types[ti], &cs[i]);
        }
}

/*
 * Every bit pattern of the 16-bit type times random patterns: a product of two is exact in
 * float32, so the GPU's result is its one rounding (einc_f2h, einc_f2bf) of the exact value,
 * the interpreter's bits; and times random float32 patterns into float32, every pattern's
 * widening (einc_h2f, einc_bf2f), then one float32 rounding, as the interpreter's.
 */
static void test_conversions(void **state)
{
    SKIP_NO_CXX();
    uint64_t *bits = malloc(65536 * sizeof *bits);
    assert_non_null(bits);
    for (uint64_t i = 0; i < 65536; i++)
        bits[i] = i;
    static const einc_dtype types[] = { EINC_F16, EINC_BF16 };
    for (size_t ti = 0; ti < 2; ti++) {
        dcase rt = { "ij,ij->ij", EINC_REDUCE_SUM, NULL, 2, { 2, 2 }, { { 256, 256 }, { 256, 256 } }, { 0 },
                     false, true, bits };
        run_case(types[ti], &rt);
        dcase widen = { "ij,ij->ij", EINC_REDUCE_SUM, NULL, 2, { 2, 2 }, { { 256, 256 }, { 256, 256 } },
                        { 0, EINC_F32 }, false, true, bits };
        run_case(types[ti], &widen);
    }
    free(bits);
}

/* softmax and layernorm in the 16-bit floats: one rows kernel each, within one rounding */
static void test_models(void **state)
{
    SKIP_NO_CXX();
    static const char *const models[2][2] = {
        { "input x: f16[N, C]\nreturn softmax(x)\n",
          "input x: f16[N, C]\nparam w: f16[C]\nparam b: f16[C]\nreturn layernorm(x, w, b)\n" },
        { "input x: bf16[N, C]\nreturn softmax(x)\n",
          "input x: bf16[N, C]\nparam w: bf16[C]\nparam b: bf16[C]\nreturn layernorm(x, w, b)\n" },
    };
    static const einc_dtype types[] = { EINC_F16, EINC_BF16 };
    for (size_t ti = 0; ti < 2; ti++)
        for (int s = 0; s < NSIZE; s++) {
            int64_t n = sizes[s];
            dcase sm = { models[ti][0], EINC_REDUCE_SUM, NULL, 1, { 2 }, { { 5, n } }, { 0 }, false, false, NULL };
            dcase ln = { models[ti][1], EINC_REDUCE_SUM, NULL, 3, { 2, 1, 1 }, { { 5, n }, { n }, { n } }, { 0 },
                         false, false, NULL };
            run_case(types[ti], &sm);
            run_case(types[ti], &ln);
        }
}

/* complex stays refused by name on CUDA, run and emit alike, before any device is opened */
static void test_complex_refused(void **state)
{
    (void)state;
    static const einc_dtype types[] = { EINC_C64, EINC_C128 };
    for (size_t i = 0; i < 2; i++) {
        char buf[64] = { 0 }, out[64] = { 0 };
        int64_t shape[1] = { 2 };
        einc_tensor in = { types[i], 1, shape, NULL, buf }, o = { types[i], 1, shape, NULL, out };
        einc_kernel *k = NULL;
        einc_error e = { 0 };
        einc_options opt = { .target = EINC_TARGET_CUDA };
        assert_int_equal(einc_compile(ctx[0], "i->i", &opt, &k, &e), EINC_OK);
        assert_int_equal(einc_kernel_run(k, 1, &in, &o, &e), EINC_ERR_UNSUPPORTED);
        assert_string_equal(e.message, "the CUDA target does not compute this dtype yet (complex runs on "
                                       "the CPU): use --target=cpu, interp or auto");
        assert_null(einc_kernel_emit(k, EINC_EMIT_CUDA, NULL, types[i], NULL, &e));
        assert_int_equal(e.status, EINC_ERR_DTYPE);
        assert_string_equal(e.message, "this dtype is emitted as C or header only today (--emit=c or "
                                       "--emit=header; CUDA takes every dtype but complex, LLVM IR, "
                                       "assembly and objects float32 or float64)");
        assert_memory_equal(out, (char[64]){ 0 }, 64);     /* nothing written */
        einc_kernel_free(k);
    }
}

int main(void)
{
    setenv("EINC_CUDA_EMU", "1", 1);
    setenv("EINC_CACHE", "0", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu_dtypes: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
    ref = einc_ctx_new();
    assert_non_null(ref);
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
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_int16),
        cmocka_unit_test(test_uint8),
        cmocka_unit_test(test_uint16),
        cmocka_unit_test(test_uint32),
        cmocka_unit_test(test_uint64),
        cmocka_unit_test(test_float16),
        cmocka_unit_test(test_bfloat16),
        cmocka_unit_test(test_wrap_before_max),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_complex_refused),
    };
    int rc = cmocka_run_group_tests_name("emu dtypes", tests, NULL, NULL);
    einc_ctx_free(ref);
    einc_ctx_free(ctx[0]);
    einc_ctx_free(ctx[1]);
    return rc;
}
