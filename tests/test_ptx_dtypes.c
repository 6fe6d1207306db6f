/*
 * test_ptx_dtypes.c — what NVRTC says of the CUDA kernels on the types beyond the classic
 * five (README, "Dtypes"), without a GPU: for int8, int16, uint8, uint16, uint32, uint64,
 * float16 and bfloat16, each kernel form (elementwise, transpose, contraction, rows, two-stage
 * reduce) and the float16/bfloat16 softmax and layernorm models, the kernel text compiled for
 * sm_90 with -Xptxas=-v must build and spill nothing; a float16 kernel that computes
 * rounds with cvt.rn.f16.f32 (bfloat16: cvt.rn.bf16.f32) and a transpose of them converts
 * nothing (it moves the bits); each model is one kernel with warp shuffles.  Skips, saying why, when NVRTC cannot be loaded.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "ptx_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static bool have_nvrtc;
static char why[256];
static einc_ctx *ctx;

/* The kernels of k's .cu in type t: no #include, nothing past the kernels (the launcher). */
static char *kernels_of(einc_kernel *k, einc_dtype t)
{
    einc_error err = { 0 };
    char *cu = einc_kernel_emit(k, EINC_EMIT_CUDA, "r", t, NULL, &err);
    if (!cu)
        fail_msg("emit: %s", err.message);
    static const char *const host[] = { "\n#ifndef EINC_CUDA_GEOMETRY", "\n#ifndef EINC_CUDA_GRID",
                                        "\nextern \"C\" size_t", "\nextern \"C\" cudaError_t ",
                                        "\nstatic cudaError_t " };
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) {
        char *p = strstr(cu, host[i]);
        if (p)
            p[1] = '\0';
    }
    for (char *p; (p = strstr(cu, "#include <"));)
        memset(p, ' ', strcspn(p, "\n"));
    return cu;
}

/* Compiles what (an expression, or a model when it has a newline) in type t; checks. */
static void check(const char *what, einc_dtype t, einc_reduce reduce, bool copy)
{
    einc_size sz[2] = { { "N", 4096 }, { "C", 4096 } };     /* a model's */
    bool model = strchr(what, '\n') != NULL;
    einc_options o = { .reduce = reduce, .nsizes = model ? 2 : 0, .sizes = model ? sz : NULL };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status st = strchr(what, '\n') ? einc_compile_model(ctx, what, &o, &k, &err)
                                        : einc_compile(ctx, what, &o, &k, &err);
    if (st)
        fail_msg("%s: compile: %s", what, err.message);
    char *src = kernels_of(k, t), msg[4096];
    einc_kernel_free(k);
    ptx_build b;
    int rc = ptx_build_src(src, &b, msg, sizeof msg);
    if (rc)
        fail_msg("%s (%s): %s\n%s", what, einc_dtype_name(t), msg, src);
    assert_true(b.n >= 1);
    if (model && (b.n != 1 || !strstr(b.ptx, "shfl.sync.bfly")))    /* one rows kernel */
        fail_msg("%s (%s): %d entries, or no shfl.sync.bfly:\n%s", what, einc_dtype_name(t), b.n, b.ptx);
    for (int i = 0; i < b.n; i++) {
        char lean[256];
        if (*ptx_lean(&b, b.e[i].name, 256, lean, sizeof lean))
            fail_msg("%s (%s): %s\n%s", what, einc_dtype_name(t), lean, b.log);
    }
    if (t == EINC_F16 || t == EINC_BF16) {  /* the one kernel's PTX */
        const char *cvt = t == EINC_F16 ? "cvt.rn.f16.f32" : "cvt.rn.bf16.f32";
        char *body = ptx_body(&b, b.e[b.n - 1].name);
        assert_non_null(body);
        bool has = strstr(body, cvt) != NULL;
        if (has == copy)
            fail_msg("%s (%s): %s %s in the PTX:\n%s", what, einc_dtype_name(t), cvt,
                     copy ? "found" : "missing", body);
        free(body);
    }
    ptx_build_free(&b);
    free(src);
}

static void test_forms(void **state)
{
    (void)state;
    if (!have_nvrtc)
        skip();
    static const einc_dtype types[] = { EINC_I8, EINC_I16, EINC_U8, EINC_U16, EINC_U32, EINC_U64,
                                        EINC_F16, EINC_BF16 };
    static const struct { const char *what; einc_reduce r; bool copy; } forms[] = {
        { "ij,ij->ij", EINC_REDUCE_SUM, false },
        { "ij->ji", EINC_REDUCE_SUM, true },
        { "ik,kj->ij", EINC_REDUCE_SUM, false },
        { "i j -> i", EINC_REDUCE_MAX, false },
        { "i j -> i", EINC_REDUCE_SUM, false },
        { "ij->", EINC_REDUCE_SUM, false },
    };
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t f = 0; f < sizeof forms / sizeof *forms; f++)
            check(forms[f].what, types[t], forms[f].r, forms[f].copy);
}

static void test_models(void **state)
{
    (void)state;
    if (!have_nvrtc)
        skip();
    check("input x: f16[N, C]\nreturn softmax(x)\n", EINC_F16, EINC_REDUCE_SUM, false);
    check("input x: bf16[N, C]\nreturn softmax(x)\n", EINC_BF16, EINC_REDUCE_SUM, false);
    check("input x: f16[N, C]\nparam w: f16[C]\nparam b: f16[C]\nreturn layernorm(x, w, b)\n", EINC_F16,
          EINC_REDUCE_SUM, false);
    check("input x: bf16[N, C]\nparam w: bf16[C]\nparam b: bf16[C]\nreturn layernorm(x, w, b)\n", EINC_BF16,
          EINC_REDUCE_SUM, false);
}

int main(void)
{
    nvrtc_lib L;
    have_nvrtc = nvrtc_open(&L, why, sizeof why) == 0;
    if (have_nvrtc)
        nvrtc_close(&L);
    else
        fprintf(stderr, "test_ptx_dtypes: skipped: %s\n", why);
    ctx = einc_ctx_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_models),
    };
    int rc = cmocka_run_group_tests_name("ptx dtypes", tests, NULL, NULL);
    einc_ctx_free(ctx);
    return rc;
}
